#include "agent/scrape/scrape_processor.h"

#include <bit>
#include <type_traits>
#include <unordered_set>

#include "common/util/hash.h"

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

std::optional<model::Labels> TargetState::BuildLabels(std::string_view name,
                                                      std::span<const textparse::LabelView> exposed) const {
  model::Labels labels;
  labels.reserve(exposed.size() + settings_.target_labels.size() + 1);
  labels.push_back({std::string(model::kMetricName), std::string(name)});
  for (const auto& l : exposed) {
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

TargetState::FamilyMeta& TargetState::Family(const std::string& family, const model::Metadata& declared) {
  auto it = families_.find(family);
  if (it == families_.end()) it = families_.emplace(family, FamilyMeta{}).first;
  FamilyMeta& f = it->second;
  if (f.version == 0 || f.metadata.type != declared.type || f.metadata.help != declared.help ||
      f.metadata.unit != declared.unit) {
    f.metadata = declared;
    f.metadata.family = family;
    f.version = next_meta_version_++;
  }
  f.last_seen = iteration_;
  return f;
}

namespace {

uint64_t ExemplarHash(const model::Exemplar& e) {
  Fnv1a64 h(model::Hash(e.labels));  // continues from the labels' hash
  h.AddWord(std::bit_cast<uint64_t>(e.value));
  h.AddWord(static_cast<uint64_t>(e.timestamp_ms));
  return h.value();
}

}  // namespace

void TargetState::AppendExemplar(CacheEntry& entry, const textparse::Exemplar& ex, int64_t sample_ts,
                                 Appender& appender, ScrapeReport& report) {
  if (!ex.WithinLengthLimit()) {
    ++report.exemplars_dropped;
    return;
  }
  exemplar_.labels.clear();
  for (const auto& l : ex.labels) exemplar_.labels.push_back({std::string(l.name), std::string(l.value)});
  model::Canonicalize(exemplar_.labels);
  exemplar_.value = ex.value;
  // Prometheus stamps an exemplar without a timestamp with its sample's.
  exemplar_.has_timestamp = true;
  exemplar_.timestamp_ms = ex.timestamp_ms ? *ex.timestamp_ms : sample_ts;
  if (ex.timestamp_out_of_range) {
    ++report.exemplars_dropped;
    return;
  }
  uint64_t h = ExemplarHash(exemplar_);
  if (h == entry.exemplar_hash) return;  // the page repeats its exemplar: keep it once
  entry.exemplar_hash = h;
  appender.AppendExemplar(entry.ref, exemplar_);
  ++report.exemplars;
}

template <typename P>
void TargetState::ProcessEntries(P& parser, int64_t scrape_ts_ms, Appender& appender, ScrapeReport& report,
                                 std::string& failure) {
  constexpr bool kProto = std::is_same_v<P, textparse::ProtoParser>;
  std::unordered_set<SeriesRef> seen;
  std::string key;
  std::string_view current_family;  // valid until the next Next(); compared by value
  FamilyMeta* family = nullptr;
  std::string family_name;
  declaring_.clear();
  declared_ = model::Metadata{};
  for (textparse::Entry e = parser.Next(); e != textparse::Entry::kEof; e = parser.Next()) {
    if (e == textparse::Entry::kInvalid) {
      failure = "parse error: " + parser.error().message;
      return;
    }
    if (e == textparse::Entry::kHelp || e == textparse::Entry::kType || e == textparse::Entry::kUnit) {
      if (parser.metric_name() != declaring_) {
        declaring_.assign(parser.metric_name());
        declared_ = model::Metadata{};
      }
      if (e == textparse::Entry::kHelp) declared_.help.assign(parser.help());
      if (e == textparse::Entry::kType) declared_.type = parser.declared_type();
      if (e == textparse::Entry::kUnit) declared_.unit.assign(parser.unit());
      family = nullptr;
      continue;
    }
    if (e != textparse::Entry::kSeries && e != textparse::Entry::kHistogram) continue;
    ++report.samples_scraped;
    key.assign(parser.series());
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      auto labels = BuildLabels(parser.metric_name(), parser.labels());
      CacheEntry entry;
      entry.last_seen = iteration_;
      if (!labels) {
        entry.dropped = true;
      } else {
        if (std::string why = InvalidLabelsReason(*labels); !why.empty()) {
          failure = std::move(why);
          return;
        }
        if (auto why = CheckLabelLimits(*labels, settings_.limits)) {
          failure = std::move(*why);
          return;
        }
        entry.ref = appender.AddSeries(*labels);
        ++report.series_added;
      }
      it = cache_.emplace(key, entry).first;
      added_this_scrape_.push_back(key);
    }
    CacheEntry& entry = it->second;
    entry.last_seen = iteration_;
    if (entry.dropped) continue;
    ++report.samples_post_relabel;
    if (auto why = CheckSampleLimit(report.samples_post_relabel, settings_.limits)) {
      failure = std::move(*why);
      // As Prometheus does, scrape_samples_scraped still counts the whole
      // page (what a user needs to size the spike); nothing more is cached
      // or appended, so memory stays bounded by the limit.
      for (e = parser.Next(); e != textparse::Entry::kEof && e != textparse::Entry::kInvalid;
           e = parser.Next()) {
        if (e == textparse::Entry::kSeries || e == textparse::Entry::kHistogram) ++report.samples_scraped;
      }
      return;
    }
    if (settings_.honor_timestamps && parser.timestamp_out_of_range()) {
      // Valid syntax, but no storage takes it (Prometheus counts it in
      // prometheus_target_scrapes_sample_out_of_bounds_total); the scrape goes on.
      ++report.out_of_bounds;
      continue;
    }
    const SeriesRef ref = entry.ref;
    if (!seen.insert(ref).second) {
      ++report.duplicates;  // Prometheus keeps the first sample of a series
      continue;
    }
    int64_t ts = scrape_ts_ms;
    if (settings_.honor_timestamps && parser.timestamp_ms()) ts = *parser.timestamp_ms();

    // Metadata: looked up once per family, written once per series and change.
    if (family == nullptr || parser.family_name() != current_family) {
      family_name.assign(parser.family_name());
      family = &Family(family_name, family_name == declaring_ ? declared_ : model::Metadata{});
      current_family = parser.family_name();
    }
    if (entry.meta_version != family->version) {
      if (!family->metadata.empty()) {
        appender.SetMetadata(ref, family->metadata);
        ++report.metadata_updates;
      }
      entry.meta_version = family->version;
    }

    const bool histogram = kProto && e == textparse::Entry::kHistogram;
    if (settings_.created_timestamp_zero_ingestion) {
      if (auto ct = parser.created_timestamp_ms(); ct && *ct<ts&& * ct> entry.last_ts) {
        if (histogram) {
          // An empty histogram of the same kind and schema, as Prometheus writes it.
          model::Histogram zero;
          if constexpr (kProto) {
            zero.is_float = parser.histogram().is_float;
            zero.schema = parser.histogram().schema;
            zero.zero_threshold = parser.histogram().zero_threshold;
            zero.custom_values = parser.histogram().custom_values;
          }
          appender.AppendHistogram(ref, *ct, zero);
        } else {
          appender.Append(ref, *ct, 0);
        }
        ++report.samples_appended;
      }
    }
    if constexpr (kProto) {
      if (histogram) {
        histogram_ = parser.histogram();
        if (model::IsExponentialSchema(histogram_.schema) &&
            histogram_.schema > settings_.native_histogram_max_schema) {
          model::ReduceResolution(histogram_, settings_.native_histogram_max_schema);
        }
        if (!model::ApplyBucketLimit(histogram_, settings_.native_histogram_bucket_limit)) {
          failure = "native_histogram_bucket_limit " +
                    std::to_string(settings_.native_histogram_bucket_limit) + " exceeded: histogram " +
                    std::string(parser.metric_name()) + " has " + std::to_string(histogram_.bucket_count()) +
                    " buckets even at the lowest resolution; raise the limit";
          return;
        }
        appender.AppendHistogram(ref, ts, histogram_);
        ++report.histograms;
        for (const auto& ex : parser.histogram_exemplars()) AppendExemplar(entry, ex, ts, appender, report);
      }
    }
    if (!histogram) {
      appender.Append(ref, ts, parser.value());
      if (const textparse::Exemplar* ex = parser.exemplar()) AppendExemplar(entry, *ex, ts, appender, report);
    }
    entry.last_ts = ts;
    staleness_.Seen(ref);
    ++report.samples_appended;
  }
}

ScrapeReport TargetState::Process(std::string_view body, textparse::Format format, int64_t scrape_ts_ms,
                                  double duration_s, Appender& appender) {
  ++iteration_;
  Begin(appender);
  ScrapeReport report;
  added_this_scrape_.clear();
  staleness_.BeginScrape();
  std::string failure;
  if (format == textparse::Format::kProtobuf) {
    proto_parser_.Reset(body, settings_.proto);
    ProcessEntries(proto_parser_, scrape_ts_ms, appender, report, failure);
  } else {
    parser_.Reset(body, format);
    ProcessEntries(parser_, scrape_ts_ms, appender, report, failure);
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
  std::erase_if(families_,
                [&](const auto& kv) { return iteration_ - kv.second.last_seen >= kCacheTtlScrapes; });
}

}  // namespace promsidecar::scrape
