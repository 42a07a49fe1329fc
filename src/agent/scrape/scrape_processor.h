// Turns one scrape's body into appends, with Prometheus's semantics: target
// labels (honor_labels), metric relabeling, limits, honor_timestamps,
// duplicates, staleness, and the synthetic series (up, scrape_duration_seconds,
// scrape_samples_scraped, scrape_samples_post_metric_relabeling,
// scrape_series_added). No I/O: the caller fetches the body and owns the
// Appender.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/model/labels.h"
#include "agent/relabel/relabel.h"
#include "agent/scrape/appender.h"
#include "agent/scrape/limits.h"
#include "agent/scrape/staleness.h"
#include "agent/textparse/parser.h"

namespace promsidecar::scrape {

struct TargetSettings {
  // job, instance and static labels (after relabel_configs), canonical, no
  // "__" labels.
  model::Labels target_labels;
  bool honor_labels = false;
  bool honor_timestamps = true;
  Limits limits;
  std::vector<relabel::Rule> metric_relabel;
};

// What one scrape did; the caller turns it into metrics and logs.
struct ScrapeReport {
  bool ok = false;
  std::string error;                  // why the scrape failed (no secrets, no label values)
  uint64_t samples_scraped = 0;       // samples in the body
  uint64_t samples_post_relabel = 0;  // after metric relabeling (what sample_limit counts)
  uint64_t series_added = 0;          // series new in the cache this scrape
  uint64_t duplicates = 0;            // samples of a series seen twice in one body
  uint64_t out_of_bounds = 0;         // samples whose timestamp no storage can hold (dropped)
  uint64_t stale_markers = 0;
  uint64_t samples_appended = 0;  // incl. stale markers and synthetic series
};

// The per-target state that survives between scrapes: the series cache (raw
// series text → ref, so relabeling runs only for new series) and staleness.
// Entries unseen for `kCacheTtlScrapes` scrapes are forgotten (checked every
// kCacheTtlScrapes scrapes, so within twice that), so memory is
// bounded by what the target exposes.
class TargetState {
 public:
  static constexpr uint64_t kCacheTtlScrapes = 10;
  explicit TargetState(TargetSettings settings) : settings_(std::move(settings)) {}

  const TargetSettings& settings() const { return settings_; }
  size_t cached_series() const { return cache_.size(); }

  // Processes a fetched body. On a parse error or a broken limit nothing of
  // the body is appended; stale markers for the previous scrape's series and
  // the synthetic series (up=0) are. Calls appender.Commit() once.
  ScrapeReport Process(std::string_view body, textparse::Format format, int64_t scrape_ts_ms,
                       double duration_s, Appender& appender);
  // A scrape that produced no body (connection refused, timeout, HTTP 500,
  // body too large): up=0 with `reason`, previous series go stale.
  ScrapeReport Fail(std::string reason, int64_t scrape_ts_ms, double duration_s, Appender& appender);
  // The target goes away (reload, shutdown): stale markers for all its series,
  // its synthetic series included. Commits.
  Status Drop(int64_t ts_ms, Appender& appender);

 private:
  struct CacheEntry {
    SeriesRef ref = 0;
    bool dropped = false;  // metric relabeling dropped it
    uint64_t last_seen = 0;
  };
  enum class Synthetic { kUp, kDuration, kScraped, kPostRelabel, kSeriesAdded, kCount };

  // Labels for a parsed series: exposed labels + target labels (honor_labels),
  // then metric relabeling. nullopt: dropped by relabeling.
  std::optional<model::Labels> BuildLabels(const textparse::Parser& parser) const;
  void AppendSynthetic(Appender& appender, int64_t ts_ms, bool up, double duration_s, const ScrapeReport& r);
  ScrapeReport FailAfterRollback(ScrapeReport report, int64_t ts_ms, double duration_s, Appender& appender);
  void EvictUnused();
  // Opens the transaction and drops the cache if the store forgot series.
  void Begin(Appender& appender);

  TargetSettings settings_;
  std::unordered_map<std::string, CacheEntry> cache_;
  std::vector<std::string> added_this_scrape_;
  StalenessTracker staleness_;
  SeriesRef synthetic_refs_[static_cast<int>(Synthetic::kCount)] = {};
  bool synthetic_declared_ = false;
  uint64_t iteration_ = 0;
  uint64_t forget_epoch_ = 0;
  // Reused across scrapes: once its buffers have grown to the page, parsing
  // allocates nothing.
  textparse::Parser parser_{std::string_view(), textparse::Format::kPrometheusText};
};

}  // namespace promsidecar::scrape
