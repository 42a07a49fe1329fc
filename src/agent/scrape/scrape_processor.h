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
#include "agent/textparse/protoparse.h"

namespace promsidecar::scrape {

struct TargetSettings {
  // job, instance and static labels (after relabel_configs), canonical, no
  // "__" labels.
  model::Labels target_labels;
  bool honor_labels = false;
  bool honor_timestamps = true;
  Limits limits;
  std::vector<relabel::Rule> metric_relabel;
  // Protobuf pages: native histograms or only their classic part, and the
  // classic part beside native ones (always_scrape_classic_histograms).
  textparse::ProtoParser::Options proto;
  // native_histogram_bucket_limit (0: none): more buckets lower the
  // resolution; when even the lowest cannot fit, the scrape fails.
  uint64_t native_histogram_bucket_limit = 0;
  // native_histogram_min_bucket_factor as a schema: finer histograms are
  // reduced to it (kExponentialSchemaMax: no reduction).
  int32_t native_histogram_max_schema = model::kExponentialSchemaMax;
  // created-timestamp-zero-ingestion: a sample with a created timestamp newer
  // than the series' last sample is preceded by a zero sample at that time.
  bool created_timestamp_zero_ingestion = false;
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
  uint64_t histograms = 0;            // native histogram samples appended
  uint64_t exemplars = 0;             // exemplars appended (new ones only)
  uint64_t exemplars_dropped = 0;     // exemplars over the 128-character label limit
  uint64_t metadata_updates = 0;      // series whose metadata was written (new or changed)
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
    uint64_t meta_version = 0;    // the family metadata version last written for it (0: none)
    uint64_t exemplar_hash = 0;   // the last exemplar appended (Prometheus keeps no duplicates)
    int64_t last_ts = INT64_MIN;  // the last sample's timestamp (created-timestamp zero samples)
  };
  // Metadata of a metric family as the page declared it, with a version that
  // changes whenever it does (so each series writes it once per change).
  struct FamilyMeta {
    model::Metadata metadata;
    uint64_t version = 0;
    uint64_t last_seen = 0;
  };
  enum class Synthetic { kUp, kDuration, kScraped, kPostRelabel, kSeriesAdded, kCount };

  // Labels for a parsed series: exposed labels + target labels (honor_labels),
  // then metric relabeling. nullopt: dropped by relabeling.
  std::optional<model::Labels> BuildLabels(std::string_view name,
                                           std::span<const textparse::LabelView> labels) const;
  // The body through either parser (the same loop for both).
  template <typename P>
  void ProcessEntries(P& parser, int64_t scrape_ts_ms, Appender& appender, ScrapeReport& report,
                      std::string& failure);
  // The family's metadata entry, refreshed from what this page declared.
  FamilyMeta& Family(const std::string& family, const model::Metadata& declared);
  void AppendExemplar(CacheEntry& entry, const textparse::Exemplar& ex, int64_t sample_ts, Appender& appender,
                      ScrapeReport& report);
  void AppendSynthetic(Appender& appender, int64_t ts_ms, bool up, double duration_s, const ScrapeReport& r);
  ScrapeReport FailAfterRollback(ScrapeReport report, int64_t ts_ms, double duration_s, Appender& appender);
  void EvictUnused();
  // Opens the transaction and drops the cache if the store forgot series.
  void Begin(Appender& appender);

  TargetSettings settings_;
  std::unordered_map<std::string, CacheEntry> cache_;
  std::unordered_map<std::string, FamilyMeta> families_;
  uint64_t next_meta_version_ = 1;
  // The metadata lines of the family being declared (HELP/TYPE/UNIT come
  // before the family's samples in every format).
  std::string declaring_;
  model::Metadata declared_;
  model::Histogram histogram_;  // scratch: the current native histogram after limits
  model::Exemplar exemplar_;    // scratch
  std::vector<std::string> added_this_scrape_;
  StalenessTracker staleness_;
  SeriesRef synthetic_refs_[static_cast<int>(Synthetic::kCount)] = {};
  bool synthetic_declared_ = false;
  uint64_t iteration_ = 0;
  uint64_t forget_epoch_ = 0;
  // Reused across scrapes: once its buffers have grown to the page, parsing
  // allocates nothing.
  textparse::Parser parser_{std::string_view(), textparse::Format::kPrometheusText};
  textparse::ProtoParser proto_parser_;
};

}  // namespace promsidecar::scrape
