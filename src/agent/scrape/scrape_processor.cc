#include "agent/scrape/scrape_processor.h"

#include <unordered_set>

namespace promsidecar::scrape {
namespace {

constexpr std::string_view kSyntheticNames[] = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
};

bool HasLabel(const model::Labels& labels, std::string_view name) {
  for (const auto& l : labels) {
    if (l.name == name) return true;
  }
  return false;
}

// Why a final label set cannot be stored, or empty.
std::string InvalidLabelsReason(const model::Labels& labels) {
  std::string_view name = model::Get(labels, model::kMetricName);
  if (name.empty()) return "a series has no metric name after metric relabeling";
  if (!model::IsValidMetricName(name)) return "invalid metric name \"" + std::string(name) + "\"";
  for (const auto& l : labels) {
    if (!model::IsValidLabelName(l.name) && l.name != model::kMetricName) {
      return "invalid label name \"" + l.name + "\" in series of " + std::string(name);
    }
  }
  return {};
}

}  // namespace

std::optional<model::Labels> TargetState::BuildLabels(const textparse::Parser& parser) const {
  model::Labels labels;
  labels.reserve(parser.labels().size() + settings_.target_labels.size() + 1);
  labels.push_back({std::string(model::kMetricName), std::string(parser.metric_name())});
  for (const auto& l : parser.labels()) {
    if (l.value.empty()) continue;  // an empty value means "no such label"
    labels.push_back({std::string(l.name), std::string(l.value)});
  }
  if (settings_.honor_labels) {
    // Exposed labels win; target labels fill in what is missing.
    for (const auto& t : settings_.target_labels) {
      if (!HasLabel(labels, t.name)) labels.push_back(t);
    }
  } else {
    // Target labels win; a clashing exposed label is kept as exported_<name>
    // (exported_exported_<name> if that is taken too, and so on).
    for (const auto& t : settings_.target_labels) {
      for (auto& l : labels) {
        if (l.name != t.name) continue;
        std::string renamed = "exported_" + l.name;
        while (HasLabel(labels, renamed) || HasLabel(settings_.target_labels, renamed)) {
          renamed = "exported_" + renamed;
        }
        l.name = std::move(renamed);
        break;
      }
    }
    for (const auto& t : settings_.target_labels) labels.push_back(t);
  }
  model::Canonicalize(labels);
  if (!settings_.metric_relabel.empty() && !relabel::Process(labels, settings_.metric_relabel)) {
    return std::nullopt;
  }
  return labels;
}

ScrapeReport TargetState::Process(std::string_view body, textparse::Format format, int64_t scrape_ts_ms,
                                  double duration_s, Appender& appender) {
  ++iteration_;
  Begin(appender);
  ScrapeReport report;
  added_this_scrape_.clear();
  staleness_.BeginScrape();
  std::unordered_set<SeriesRef> seen;
  std::string failure;

  textparse::Parser& parser = parser_;
  parser.Reset(body, format);
  std::string key;
  for (textparse::Entry e = parser.Next(); e != textparse::Entry::kEof; e = parser.Next()) {
    if (e == textparse::Entry::kInvalid) {
      failure = "parse error: " + parser.error().message;
      break;
    }
    if (e != textparse::Entry::kSeries) continue;
    ++report.samples_scraped;
    key.assign(parser.series());
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      auto labels = BuildLabels(parser);
      CacheEntry entry;
      entry.last_seen = iteration_;
      if (!labels) {
        entry.dropped = true;
      } else {
        if (std::string why = InvalidLabelsReason(*labels); !why.empty()) {
          failure = std::move(why);
          break;
        }
        if (auto why = CheckLabelLimits(*labels, settings_.limits)) {
          failure = std::move(*why);
          break;
        }
        entry.ref = appender.AddSeries(*labels);
        ++report.series_added;
      }
      it = cache_.emplace(key, entry).first;
      added_this_scrape_.push_back(key);
    }
    it->second.last_seen = iteration_;
    if (it->second.dropped) continue;
    ++report.samples_post_relabel;
    if (auto why = CheckSampleLimit(report.samples_post_relabel, settings_.limits)) {
      failure = std::move(*why);
      break;
    }
    if (settings_.honor_timestamps && parser.timestamp_out_of_range()) {
      // Valid syntax, but no storage takes it (Prometheus counts it in
      // prometheus_target_scrapes_sample_out_of_bounds_total); the scrape goes on.
      ++report.out_of_bounds;
      continue;
    }
    SeriesRef ref = it->second.ref;
    if (!seen.insert(ref).second) {
      ++report.duplicates;  // Prometheus keeps the first sample of a series
      continue;
    }
    int64_t ts = scrape_ts_ms;
    if (settings_.honor_timestamps && parser.timestamp_ms()) ts = *parser.timestamp_ms();
    appender.Append(ref, ts, parser.value());
    staleness_.Seen(ref);
    ++report.samples_appended;
  }

  if (!failure.empty()) {
    appender.Rollback();
    for (const auto& k : added_this_scrape_) cache_.erase(k);
    report.error = std::move(failure);
    return FailAfterRollback(std::move(report), scrape_ts_ms, duration_s, appender);
  }

  for (SeriesRef ref : staleness_.EndScrape()) {
    appender.Append(ref, scrape_ts_ms, model::StaleNaN());
    ++report.stale_markers;
    ++report.samples_appended;
  }
  report.ok = true;
  AppendSynthetic(appender, scrape_ts_ms, true, duration_s, report);
  if (Status s = appender.Commit(); !s.ok()) {
    report.ok = false;
    report.error = "write-ahead log: " + s.message();
    for (const auto& k : added_this_scrape_) cache_.erase(k);
    synthetic_declared_ = false;
    (void)staleness_.FailScrape();  // those markers could not be written either
    return report;
  }
  EvictUnused();
  return report;
}

ScrapeReport TargetState::Fail(std::string reason, int64_t scrape_ts_ms, double duration_s,
                               Appender& appender) {
  ++iteration_;
  Begin(appender);
  ScrapeReport report;
  report.error = std::move(reason);
  return FailAfterRollback(std::move(report), scrape_ts_ms, duration_s, appender);
}

ScrapeReport TargetState::FailAfterRollback(ScrapeReport report, int64_t ts_ms, double duration_s,
                                            Appender& appender) {
  report.ok = false;
  uint64_t scraped = report.samples_scraped;
  report.samples_appended = 0;
  report.series_added = 0;
  for (SeriesRef ref : staleness_.FailScrape()) {
    appender.Append(ref, ts_ms, model::StaleNaN());
    ++report.stale_markers;
    ++report.samples_appended;
  }
  // Prometheus reports what was scraped but 0 after relabeling on a failed scrape.
  report.samples_post_relabel = 0;
  report.samples_scraped = scraped;
  AppendSynthetic(appender, ts_ms, false, duration_s, report);
  if (Status s = appender.Commit(); !s.ok()) {
    synthetic_declared_ = false;
    report.error += "; write-ahead log: " + s.message();
  }
  EvictUnused();
  return report;
}

void TargetState::AppendSynthetic(Appender& appender, int64_t ts_ms, bool up, double duration_s,
                                  const ScrapeReport& r) {
  if (!synthetic_declared_) {
    for (int i = 0; i < static_cast<int>(Synthetic::kCount); ++i) {
      model::Labels labels = settings_.target_labels;
      model::Set(labels, model::kMetricName, kSyntheticNames[i]);
      synthetic_refs_[i] = appender.AddSeries(labels);
    }
    synthetic_declared_ = true;
  }
  const double values[] = {
      up ? 1.0 : 0.0,
      duration_s,
      static_cast<double>(r.samples_scraped),
      static_cast<double>(r.samples_post_relabel),
      static_cast<double>(r.series_added),
  };
  for (int i = 0; i < static_cast<int>(Synthetic::kCount); ++i) {
    appender.Append(synthetic_refs_[i], ts_ms, values[i]);
  }
}

void TargetState::Begin(Appender& appender) {
  appender.Begin();
  if (appender.ForgetEpoch() != forget_epoch_) {
    forget_epoch_ = appender.ForgetEpoch();
    cache_.clear();
    synthetic_declared_ = false;
  }
}

Status TargetState::Drop(int64_t ts_ms, Appender& appender) {
  Begin(appender);
  for (SeriesRef ref : staleness_.Drop()) appender.Append(ref, ts_ms, model::StaleNaN());
  if (synthetic_declared_) {
    for (SeriesRef ref : synthetic_refs_) appender.Append(ref, ts_ms, model::StaleNaN());
  }
  cache_.clear();
  synthetic_declared_ = false;
  return appender.Commit();
}

void TargetState::EvictUnused() {
  if (iteration_ % kCacheTtlScrapes != 0) return;
  std::erase_if(cache_, [&](const auto& kv) { return iteration_ - kv.second.last_seen >= kCacheTtlScrapes; });
}

}  // namespace promsidecar::scrape
