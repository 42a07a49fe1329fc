// The SampleSource a sender reads in production: one WAL reader (its own
// durable position) feeding a Batcher.
//
// Batches are cut at exactly max_samples_per_send, also inside a WAL record;
// a batch's end position is then the end of the last record it covers
// completely, so after a crash a partly sent record is read again (at-least-
// once delivery, as with Prometheus). Ack saves the position as the reader's
// checkpoint, which lets the WAL truncate behind it.
//
// NextBatch/Ack from the sender's thread only; the statistics from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "agent/remote_write/batcher.h"
#include "agent/remote_write/source.h"
#include "agent/wal/wal.h"

namespace promsidecar::remote_write {

class WalSampleSource : public SampleSource {
 public:
  using Now = std::function<std::chrono::steady_clock::time_point()>;
  // `now` defaults to steady_clock::now.
  WalSampleSource(std::unique_ptr<wal::Reader> reader, BatcherOptions options, Now now = {});

  bool NextBatch(Batch& batch, std::chrono::steady_clock::time_point deadline, bool flush) override;
  void Ack(const Position& end) override;
  std::vector<std::shared_ptr<const model::Metadata>> FamilyMetadata() const override {
    return batcher_.FamilyMetadata();
  }

  // Thread-safe snapshots, refreshed at the end of every NextBatch call.
  BatcherStats batcher_stats() const;
  uint64_t pending() const { return pending_.load(); }  // read but not yet in a batch
  // Read or checkpoint errors so far (each is logged; reading is retried).
  uint64_t read_errors() const { return read_errors_.load(); }
  uint64_t checkpoint_errors() const { return checkpoint_errors_.load(); }
  const wal::Reader& reader() const { return *reader_; }

 private:
  static Position ToPosition(const wal::Position& p) { return Position{p.segment, p.offset, 0}; }
  // Feeds the current data record (samples, histograms or exemplars) to the
  // batcher until it is consumed or the batch is full.
  void FeedCurrent(std::chrono::steady_clock::time_point now);
  size_t CurrentSize() const;
  void Take(Batch& batch);
  void PublishStats();
  bool NextBatchImpl(Batch& batch, std::chrono::steady_clock::time_point deadline, bool flush);

  std::unique_ptr<wal::Reader> reader_;
  Batcher batcher_;
  Now now_;
  // A data record being fed, and how far.
  std::optional<wal::Record> current_;
  wal::Position current_end_;
  size_t current_next_ = 0;
  // The last position handed out in a batch (to notice progress made only by
  // dropped samples or series records).
  Position last_taken_;
  Position marked_;
  std::atomic<uint64_t> read_errors_{0};
  std::atomic<uint64_t> checkpoint_errors_{0};
  std::atomic<uint64_t> pending_{0};
  std::atomic<uint64_t> dropped_relabel_{0}, invalid_{0}, unknown_series_{0};
  std::atomic<uint64_t> series_dropped_relabel_{0}, series_invalid_{0};
};

}  // namespace promsidecar::remote_write
