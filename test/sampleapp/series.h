// The sample app's metrics: N counter series that grow by one per tick, and
// the knob that changes N at run time (staleness when series disappear,
// cardinality spikes when N jumps).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/result.h"

namespace promsidecar::sampleapp {

// Largest series count the knob accepts: keeps a typo from eating memory.
inline constexpr int64_t kMaxSeries = 10'000'000;

// Parses a series count ("250", surrounding whitespace allowed). `what`
// names the source in the error (a flag, a query parameter, a file).
Result<int64_t> ParseSeriesCount(std::string_view text, std::string_view what);

// SeriesSet is thread-safe: the HTTP handlers and the ticker share it.
class SeriesSet {
 public:
  explicit SeriesSet(int64_t count);

  // Sets the number of series. Series above the new count disappear; series
  // added later start again at zero (a counter reset, as for a new process).
  void SetCount(int64_t count);
  int64_t count() const;

  // Adds one to every series.
  void Tick();

  // The Prometheus text exposition (format 0.0.4) of all series, and
  // `sampleapp_scrapes_total`, which counts the calls: consecutive scrapes
  // get consecutive values, so a receiver can count every scrape lost.
  std::string Render();

 private:
  mutable std::mutex mu_;
  std::vector<uint64_t> values_;
  uint64_t scrapes_ = 0;
};

}  // namespace promsidecar::sampleapp
