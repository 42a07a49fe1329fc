// A remote-write sender's sample source: its own WAL reader (with a durable
// position) feeding a Batcher. Series records define what the batcher sends
// for a ref; samples are batched in WAL order, so a series' samples are never
// reordered. A batch may exceed max_samples_per_send by at most one WAL
// record (the WAL writes at most Options::max_samples_per_record per record).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "agent/remote_write/batcher.h"
#include "agent/remote_write/source.h"
#include "agent/wal/wal.h"

namespace promsidecar::storage {

class WalSampleSource : public remote_write::SampleSource {
 public:
  WalSampleSource(std::unique_ptr<wal::Reader> reader, remote_write::BatcherOptions options);

  bool NextBatch(remote_write::Batch& batch, std::chrono::steady_clock::time_point deadline,
                 bool flush) override;
  void Ack(const remote_write::Position& end) override;

  const remote_write::BatcherStats& batcher_stats() const { return batcher_.stats(); }
  uint64_t pending() const { return batcher_.pending(); }
  uint64_t read_errors() const { return read_errors_; }
  uint64_t checkpoint_errors() const { return checkpoint_errors_; }

 private:
  // Feeds one WAL entry into the batcher.
  void Feed(const wal::Entry& entry);
  bool Take(remote_write::Batch& batch);

  std::unique_ptr<wal::Reader> reader_;
  remote_write::Batcher batcher_;
  wal::Position fed_;     // position after the last entry fed
  wal::Position handed_;  // end of the last batch handed out
  uint64_t read_errors_ = 0;
  uint64_t checkpoint_errors_ = 0;
};

}  // namespace promsidecar::storage
