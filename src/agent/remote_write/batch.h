// What a sender sends in one request: samples grouped by series, plus the
// source position the batch ends at (acknowledged once the batch is done).
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <vector>

#include "agent/model/labels.h"

namespace promsidecar::remote_write {

// A point in a sample source (the WAL): opaque to the sender, which only hands
// it back through SampleSource::Ack. `index` lets a source mark positions
// inside one record (the n-th sample of the record at `offset`).
struct Position {
  uint64_t segment = 0;
  uint64_t offset = 0;
  uint64_t index = 0;
  friend auto operator<=>(const Position&, const Position&) = default;
};

struct Batch {
  struct Series {
    // Shared with the batcher's series table, so a batch stays valid while
    // the table changes (series are replaced or removed).
    std::shared_ptr<const model::Labels> labels;
    uint32_t first = 0;  // index into samples
    uint32_t count = 0;
  };
  std::vector<Series> series;
  // Grouped by series; within a series in the order they were appended.
  std::vector<model::Sample> samples;
  // Everything up to here is covered by this batch.
  Position end;

  void Clear() {
    series.clear();
    samples.clear();
    end = {};
  }
  bool empty() const { return samples.empty(); }
};

}  // namespace promsidecar::remote_write
