#include "agent/remote_write/wal_source.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "common/log/log.h"

namespace promsidecar::remote_write {

using SteadyPoint = std::chrono::steady_clock::time_point;

WalSampleSource::WalSampleSource(std::unique_ptr<wal::Reader> reader, BatcherOptions options, Now now)
    : reader_(std::move(reader)), batcher_(std::move(options)), now_(std::move(now)) {
  if (!now_) now_ = [] { return std::chrono::steady_clock::now(); };
  marked_ = ToPosition(reader_->position());
  batcher_.MarkPosition(marked_);
  last_taken_ = marked_;
}

size_t WalSampleSource::CurrentSize() const {
  if (!current_) return 0;
  if (auto* s = std::get_if<wal::SamplesRecord>(&*current_)) return s->samples.size();
  if (auto* h = std::get_if<wal::HistogramsRecord>(&*current_)) return h->histograms.size();
  return std::get<wal::ExemplarsRecord>(*current_).exemplars.size();
}

void WalSampleSource::FeedCurrent(SteadyPoint now) {
  const size_t size = CurrentSize();
  if (auto* samples = std::get_if<wal::SamplesRecord>(&*current_)) {
    while (current_next_ < size && !batcher_.Full()) {
      const auto& s = samples->samples[current_next_++];
      batcher_.Append(s.ref, model::Sample{s.timestamp_ms, s.value}, now);
    }
  } else if (auto* histograms = std::get_if<wal::HistogramsRecord>(&*current_)) {
    while (current_next_ < size && !batcher_.Full()) {
      auto& h = histograms->histograms[current_next_++];
      batcher_.AppendHistogram(h.ref, model::HistogramSample{h.timestamp_ms, std::move(h.histogram)}, now);
    }
  } else {
    auto& exemplars = std::get<wal::ExemplarsRecord>(*current_).exemplars;
    while (current_next_ < size && !batcher_.Full()) {
      auto& e = exemplars[current_next_++];
      batcher_.AppendExemplar(e.ref, std::move(e.exemplar), now);
    }
  }
  if (current_next_ == size) {
    marked_ = ToPosition(current_end_);
    batcher_.MarkPosition(marked_);
    current_.reset();
  }
}

void WalSampleSource::Take(Batch& batch) {
  batcher_.TakeBatch(batch);
  last_taken_ = batch.end;
}

BatcherStats WalSampleSource::batcher_stats() const {
  BatcherStats s;
  s.series_dropped_relabel = series_dropped_relabel_.load();
  s.series_invalid = series_invalid_.load();
  s.samples_dropped_relabel = dropped_relabel_.load();
  s.samples_invalid = invalid_.load();
  s.samples_unknown_series = unknown_series_.load();
  return s;
}

void WalSampleSource::PublishStats() {
  const auto& s = batcher_.stats();
  series_dropped_relabel_.store(s.series_dropped_relabel);
  series_invalid_.store(s.series_invalid);
  dropped_relabel_.store(s.samples_dropped_relabel);
  invalid_.store(s.samples_invalid);
  unknown_series_.store(s.samples_unknown_series);
  uint64_t unfed = current_ ? CurrentSize() - current_next_ : 0;
  pending_.store(batcher_.pending() + unfed);
}

bool WalSampleSource::NextBatch(Batch& batch, SteadyPoint deadline, bool flush) {
  bool got = NextBatchImpl(batch, deadline, flush);
  PublishStats();
  return got;
}

bool WalSampleSource::NextBatchImpl(Batch& batch, SteadyPoint deadline, bool flush) {
  while (true) {
    SteadyPoint now = now_();
    if (current_) FeedCurrent(now);
    if (batcher_.Full()) {
      Take(batch);
      return true;
    }

    auto next = reader_->Next();
    if (!next.ok()) {
      ++read_errors_;
      log::Warn("remote write: reading the WAL failed; retrying",
                {{"reader", reader_->name()}, {"error", next.message()}});
      // Do not spin on a failing disk: wait out this call's deadline.
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      if (wait.count() > 0 && !flush) reader_->WaitForData(wait);
      return false;
    }
    if (*next) {
      wal::Entry& e = **next;
      if (auto* series = std::get_if<wal::SeriesRecord>(&e.record)) {
        for (const auto& s : series->series) batcher_.SetSeries(s.ref, s.labels);
        marked_ = ToPosition(e.end);
        batcher_.MarkPosition(marked_);
      } else if (auto* metadata = std::get_if<wal::MetadataRecord>(&e.record)) {
        for (const auto& m : metadata->metadata) batcher_.SetMetadata(m.ref, m.metadata);
        marked_ = ToPosition(e.end);
        batcher_.MarkPosition(marked_);
      } else {
        current_ = std::move(e.record);
        current_end_ = e.end;
        current_next_ = 0;
      }
      continue;
    }

    // Caught up with the WAL.
    bool progressed = last_taken_ != marked_;
    if (batcher_.pending() > 0 && (flush || batcher_.ShouldFlush(now))) {
      Take(batch);
      return true;
    }
    if (batcher_.pending() == 0 && progressed && (flush || now >= deadline)) {
      // Only series records or dropped samples since the last batch: an empty
      // batch lets the sender ack, so the WAL can truncate behind us.
      Take(batch);
      return true;
    }
    if (flush) return false;
    SteadyPoint wake = deadline;
    if (auto due = batcher_.FlushDeadline()) wake = std::min(wake, *due);
    if (now >= wake) {
      if (now >= deadline) return false;
      continue;  // the pending batch is due: the next pass takes it
    }
    reader_->WaitForData(std::chrono::ceil<std::chrono::milliseconds>(wake - now));
  }
}

void WalSampleSource::Ack(const Position& end) {
  auto st = reader_->SaveCheckpoint(wal::Position{static_cast<uint32_t>(end.segment), end.offset});
  if (!st.ok()) {
    ++checkpoint_errors_;
    log::Warn("remote write: saving the WAL position failed; the next ack retries",
              {{"reader", reader_->name()}, {"error", st.message()}});
  }
}

}  // namespace promsidecar::remote_write
