// Batching for one remote-write queue (pure: time is passed in).
//
// The reader of the sample source (the WAL) feeds series definitions and
// samples in source order; the batcher
//   - keeps a table series ref -> labels to send, computed once per series:
//     external labels are added where the series lacks that label name (the
//     series' own value wins, as in Prometheus), then the write-relabel hook
//     runs, then the result is validated against the remote-write 1.0 rules
//     (sorted unique names, no empty value, valid metric/label names, UTF-8
//     values). Dropped and invalid series are remembered so their samples are
//     counted, not sent;
//   - accumulates samples, native histograms and exemplars in arrival order
//     and hands them out as a Batch, grouped per series without reordering
//     any series; histograms and exemplars only when the endpoint sends them
//     (send_native_histograms, send_exemplars);
//   - keeps each series' latest metadata for the batch (remote write 2.0
//     sends it per series) and per family (1.0 sends it separately);
//   - says when to flush: max_samples_per_send items (samples + histograms +
//     exemplars, as Prometheus counts them) pending, or batch_send_deadline
//     since the first pending item.
// Not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "agent/model/labels.h"
#include "agent/remote_write/batch.h"

namespace promsidecar::remote_write {

using SeriesRef = uint64_t;
using SteadyTime = std::chrono::steady_clock::time_point;

// write_relabel_configs, applied by the caller's code: edits the labels in
// place and returns false to drop the series. Must leave the labels canonical
// (model::Canonicalize) if it keeps them.
using RelabelHook = std::function<bool(model::Labels&)>;

struct BatcherOptions {
  size_t max_samples_per_send = 2000;  // Prometheus's default
  std::chrono::milliseconds batch_send_deadline{5000};
  model::Labels external_labels;        // canonical
  RelabelHook relabel;                  // may be empty
  bool send_native_histograms = false;  // Prometheus's defaults
  bool send_exemplars = false;
  bool send_metadata = true;  // metadata_config.send
};

struct BatcherStats {
  uint64_t series_dropped_relabel = 0;
  uint64_t series_invalid = 0;
  uint64_t samples_dropped_relabel = 0;  // samples of series the hook dropped
  uint64_t samples_invalid = 0;          // samples of series with invalid labels
  uint64_t samples_unknown_series = 0;   // samples for a ref never defined
  uint64_t histograms_not_sent = 0;      // native histograms of an endpoint without send_native_histograms
  // Exemplars dropped because their series had no sample in two batches in a
  // row (an exemplar goes with a sample of its series; see TakeBatch).
  uint64_t exemplars_without_sample = 0;
};

// Why a label set may not be sent, or nullopt when it may. Pure.
std::optional<std::string> ValidateLabels(const model::Labels& labels);

// Adds each external label whose name the series lacks. Both canonical.
void AddExternalLabels(model::Labels& labels, const model::Labels& external);

class Batcher {
 public:
  explicit Batcher(BatcherOptions options);

  // Defines (or redefines) the labels of `ref`. Returns false when the series
  // will not be sent (dropped by relabeling or invalid; counted).
  bool SetSeries(SeriesRef ref, const model::Labels& labels);
  // Forgets `ref` (the source garbage-collected it). Samples of it that are
  // already pending are still sent.
  void RemoveSeries(SeriesRef ref);

  // Appends one sample of `ref`, received at `now`. Samples of dropped,
  // invalid or unknown series are counted and discarded.
  void Append(SeriesRef ref, const model::Sample& sample, SteadyTime now);
  // The same for a native histogram sample and an exemplar; both are
  // discarded (histograms counted) when the endpoint does not send them.
  void AppendHistogram(SeriesRef ref, model::HistogramSample&& histogram, SteadyTime now);
  void AppendExemplar(SeriesRef ref, model::Exemplar&& exemplar, SteadyTime now);
  // The metadata of `ref` from here on (unknown refs are ignored).
  void SetMetadata(SeriesRef ref, const model::Metadata& metadata);
  // The latest metadata of every family of the known series, one entry per
  // family name (remote write 1.0's metadata requests), sorted by name.
  std::vector<std::shared_ptr<const model::Metadata>> FamilyMetadata() const;
  // Records that everything fed so far ends at `pos` in the source; the next
  // batch taken covers the source up to here.
  void MarkPosition(const Position& pos) { position_ = pos; }

  size_t pending() const { return pending_.size(); }
  bool Full() const { return pending_.size() >= options_.max_samples_per_send; }
  const BatcherOptions& options() const { return options_; }
  // When the pending samples must be sent at the latest (nullopt if none).
  std::optional<SteadyTime> FlushDeadline() const;
  // Full, or the deadline has passed.
  bool ShouldFlush(SteadyTime now) const;

  // Moves every pending sample into `out` (cleared first; its buffers are
  // reused) and sets out.end to the last marked position. Exemplars of a
  // series that has no sample or histogram in this batch (the batch was cut
  // between them) are held for the next batch, once: remote write 2.0 sends
  // no series without samples. A held exemplar that never gets a sample is
  // lost if the agent crashes meanwhile (its position is acknowledged). A batch may be
  // empty yet carry a new position (everything read was dropped): acking it
  // still lets the source advance.
  void TakeBatch(Batch& out);

  const BatcherStats& stats() const { return stats_; }
  size_t series_count() const { return series_.size(); }

 private:
  static constexpr uint32_t kNoIndex = UINT32_MAX;
  struct Entry {
    std::shared_ptr<const model::Labels> labels;  // null: not sent
    std::shared_ptr<const model::Metadata> metadata;
    bool invalid = false;
    bool remove_after_take = false;
    uint32_t pending = 0;             // items of this series in pending_
    uint32_t pending_samples = 0;     // of which samples
    uint32_t pending_histograms = 0;  // of which histograms
    uint32_t batch_index = kNoIndex;  // scratch for TakeBatch
    bool hold_exemplars = false;      // scratch for TakeBatch
    uint32_t held = 0;                // exemplars in held_
  };
  enum class Kind : uint8_t { kSample, kHistogram, kExemplar };
  // One pending item: the sample itself, or the index of the histogram or
  // exemplar in its own vector (they are large; samples are not).
  struct Pending {
    Entry* entry;  // unordered_map nodes never move
    Kind kind;
    // kSample: the sample. Otherwise timestamp_ms holds the index, and for an
    // exemplar value 1 marks one that has waited across a batch already.
    model::Sample sample;
  };
  // The entry of `ref` if its items are to be sent; counts the rest.
  Entry* Accept(SeriesRef ref, SteadyTime now);

  BatcherOptions options_;
  std::unordered_map<SeriesRef, Entry> series_;
  std::vector<Pending> pending_;
  std::vector<model::HistogramSample> pending_histograms_;
  std::vector<model::Exemplar> pending_exemplars_;
  // Exemplars waiting for a sample of their series (not counted as pending:
  // they ride along with the next batch, they never cause one).
  struct Held {
    Entry* entry;
    model::Exemplar exemplar;
    bool waited;  // held across a batch with samples already
  };
  std::vector<Held> held_;
  std::vector<Entry*> take_order_;  // scratch for TakeBatch
  std::vector<SeriesRef> deferred_removals_;
  std::optional<SteadyTime> first_pending_;
  Position position_;
  BatcherStats stats_;
};

}  // namespace promsidecar::remote_write
