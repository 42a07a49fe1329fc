#include "agent/storage/wal_sample_source.h"

#include <thread>
#include <variant>

#include "common/log/log.h"

namespace promsidecar::storage {
namespace {

remote_write::Position ToBatchPosition(wal::Position p) {
  return {p.segment, p.offset, 0};
}

}  // namespace

WalSampleSource::WalSampleSource(std::unique_ptr<wal::Reader> reader, remote_write::BatcherOptions options)
    : reader_(std::move(reader)), batcher_(std::move(options)) {
  fed_ = reader_->position();
  handed_ = fed_;
}

void WalSampleSource::Feed(const wal::Entry& entry) {
  auto now = std::chrono::steady_clock::now();
  if (const auto* series = std::get_if<wal::SeriesRecord>(&entry.record)) {
    for (const auto& s : series->series) batcher_.SetSeries(s.ref, s.labels);
  } else if (const auto* samples = std::get_if<wal::SamplesRecord>(&entry.record)) {
    for (const auto& s : samples->samples)
      batcher_.Append(s.ref, model::Sample{s.timestamp_ms, s.value}, now);
  }
  fed_ = entry.end;
  batcher_.MarkPosition(ToBatchPosition(fed_));
}

bool WalSampleSource::Take(remote_write::Batch& batch) {
  batcher_.TakeBatch(batch);
  handed_ = fed_;
  return true;
}

bool WalSampleSource::NextBatch(remote_write::Batch& batch, std::chrono::steady_clock::time_point deadline,
                                bool flush) {
  while (true) {
    auto now = std::chrono::steady_clock::now();
    if (batcher_.ShouldFlush(now)) return Take(batch);
    auto next = reader_->Next();
    if (!next.ok()) {
      ++read_errors_;
      log::Warn("remote write: reading the WAL failed; retrying",
                {{"reader", reader_->name()}, {"err", next.message()}});
      if (now >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (next->has_value()) {
      Feed(**next);
      continue;
    }
    // Caught up with the WAL.
    bool advanced = fed_ != handed_;
    if (flush) {
      if (batcher_.pending() > 0 || advanced) return Take(batch);
      return false;
    }
    if (batcher_.pending() == 0 && advanced) {
      // Everything read was series records or dropped samples: hand out an
      // empty batch so the position is saved and the WAL can truncate.
      return Take(batch);
    }
    auto wait_until = deadline;
    if (auto fd = batcher_.FlushDeadline(); fd && *fd < wait_until) wait_until = *fd;
    if (now >= wait_until) {
      if (batcher_.ShouldFlush(now)) return Take(batch);
      return false;
    }
    reader_->WaitForData(std::chrono::duration_cast<std::chrono::milliseconds>(wait_until - now) +
                         std::chrono::milliseconds(1));
  }
}

void WalSampleSource::Ack(const remote_write::Position& end) {
  Status s = reader_->SaveCheckpoint(wal::Position{static_cast<uint32_t>(end.segment), end.offset});
  if (!s.ok()) {
    ++checkpoint_errors_;
    log::Warn("remote write: saving the WAL position failed",
              {{"reader", reader_->name()}, {"err", s.message()}});
  }
}

}  // namespace promsidecar::storage
