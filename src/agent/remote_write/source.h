// Where a sender's batches come from. In production that is WalSampleSource
// (wal_source.h): a WAL reader, which owns the durable read position, feeding
// a Batcher; tests use in-memory sources.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "agent/remote_write/batch.h"

namespace promsidecar::remote_write {

class SampleSource {
 public:
  virtual ~SampleSource() = default;

  // Fills `batch` (reusing its buffers) with the next batch in source order,
  // waiting until `deadline` at most. Returns false when nothing is ready by
  // then. With `flush` (shutdown), returns at once whatever is pending, even a
  // batch that is neither full nor due. A returned batch may be empty yet advance the position (everything
  // read was dropped); the sender acks it without sending.
  // Returns the same data again after a restart unless it was acked.
  virtual bool NextBatch(Batch& batch, std::chrono::steady_clock::time_point deadline, bool flush) = 0;

  // Everything up to `end` is done with (sent, or deliberately dropped):
  // the source may persist this position and truncate behind it. Called in
  // order, once per batch, from the sender's thread.
  virtual void Ack(const Position& end) = 0;

  // The latest metadata of each metric family the source has seen (remote
  // write 1.0 sends it in requests of its own). From the sender's thread.
  virtual std::vector<std::shared_ptr<const model::Metadata>> FamilyMetadata() const = 0;
};

}  // namespace promsidecar::remote_write
