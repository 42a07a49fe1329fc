#include "agent/scrape/staleness.h"

#include <algorithm>

namespace promsidecar::scrape {
namespace {
std::vector<SeriesRef> Sorted(std::vector<SeriesRef> v) {
  std::sort(v.begin(), v.end());  // deterministic order for the WAL and tests
  return v;
}
}  // namespace

void StalenessTracker::BeginScrape() {
  current_.clear();
}

std::vector<SeriesRef> StalenessTracker::EndScrape() {
  std::vector<SeriesRef> gone;
  for (SeriesRef ref : previous_) {
    if (!current_.contains(ref)) gone.push_back(ref);
  }
  previous_.swap(current_);
  current_.clear();
  return Sorted(std::move(gone));
}

std::vector<SeriesRef> StalenessTracker::FailScrape() {
  std::vector<SeriesRef> gone(previous_.begin(), previous_.end());
  previous_.clear();
  current_.clear();
  return Sorted(std::move(gone));
}

std::vector<SeriesRef> StalenessTracker::Drop() {
  return FailScrape();
}

}  // namespace promsidecar::scrape
