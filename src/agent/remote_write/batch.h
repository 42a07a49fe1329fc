// What a sender sends in one request: samples, native histograms and
// exemplars grouped by series, each series with its labels and metadata,
// plus the source position the batch ends at (acknowledged once the batch is
// done).
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <vector>

#include "agent/model/histogram.h"
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
    std::shared_ptr<const model::Metadata> metadata;  // null: none known (or not sent)
    uint32_t first = 0;                               // index into samples
    uint32_t count = 0;
    uint32_t histograms_first = 0;  // index into histograms
    uint32_t histograms_count = 0;
    uint32_t exemplars_first = 0;  // index into exemplars
    uint32_t exemplars_count = 0;
  };
  std::vector<Series> series;
  // Grouped by series; within a series in the order they were appended.
  std::vector<model::Sample> samples;
  std::vector<model::HistogramSample> histograms;
  std::vector<model::Exemplar> exemplars;
  // Everything up to here is covered by this batch.
  Position end;

  void Clear() {
    series.clear();
    samples.clear();
    histograms.clear();
    exemplars.clear();
    end = {};
  }
  // Samples + histograms + exemplars: what max_samples_per_send counts.
  size_t items() const { return samples.size() + histograms.size() + exemplars.size(); }
  bool empty() const { return items() == 0; }
};

}  // namespace promsidecar::remote_write
