// Staleness bookkeeping for one target, as Prometheus does it: every series
// of the previous successful scrape that is missing from the current one gets
// a stale marker (model::StaleNaN) stamped with the current scrape's time; a
// failed scrape counts as empty; a target that goes away (reload, shutdown)
// marks everything it had, including its synthetic series.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <vector>

namespace promsidecar::scrape {

using SeriesRef = uint64_t;

class StalenessTracker {
 public:
  // Starts a scrape: the set of series seen so far becomes "previous".
  void BeginScrape();
  void Seen(SeriesRef ref) { current_.insert(ref); }
  // Ends a successful scrape: returns the series of the previous scrape that
  // were not seen in this one, which need a stale marker now.
  std::vector<SeriesRef> EndScrape();
  // A failed scrape: all previous series go stale, and the next successful
  // scrape starts from nothing.
  std::vector<SeriesRef> FailScrape();
  // The target goes away: everything it had goes stale.
  std::vector<SeriesRef> Drop();

  size_t size() const { return previous_.size(); }

 private:
  std::unordered_set<SeriesRef> previous_;
  std::unordered_set<SeriesRef> current_;
};

}  // namespace promsidecar::scrape
