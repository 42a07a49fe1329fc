// A zero-copy pull parser for the Prometheus protobuf exposition format:
// varint-length-delimited io.prometheus.client.MetricFamily messages
// (Content-Type application/vnd.google.protobuf;
// proto=io.prometheus.client.MetricFamily; encoding=delimited). Hand-written
// over the wire format (no protobuf library on the hot path), with the same
// pull interface as Parser, so the scrape processor drives both alike.
//
// What it yields is what Prometheus's ProtobufParser yields: per family a
// kHelp, a kUnit (only when the family has a unit) and a kType entry; then
// per metric one kSeries (counter, gauge, untyped), `_count`, `_sum` and one
// `{quantile="q"}` series per quantile (summary), and for histograms either a
// kHistogram (a native histogram: any span, a zero threshold or a zero count)
// or the classic series `_count`, `_sum`, `_bucket{le="b"}` per bucket plus
// `le="+Inf"` when the page has none — the classic series also after the
// native one when Options::keep_classic_histograms asks for them and the
// histogram has classic buckets. Empty families are skipped; a timestamp_ms
// of 0 means none (proto3 cannot tell).
//
// Deviations from Prometheus: metric and label names must be classic
// ([a-zA-Z_:][a-zA-Z0-9_:]*, [a-zA-Z_][a-zA-Z0-9_]*), as for the text formats.
//
// Ownership: views point into the body or into buffers owned by the parser,
// valid until the next Next(). Not thread-safe; one parser per target.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/model/histogram.h"
#include "agent/textparse/float.h"
#include "agent/textparse/parser.h"

namespace promsidecar::textparse {

class ProtoParser {
 public:
  struct Options {
    // scrape_native_histograms: false parses every histogram as classic.
    bool native_histograms = true;
    // always_scrape_classic_histograms.
    bool keep_classic_histograms = false;
  };

  ProtoParser() = default;
  // Starts over on a new body, keeping the buffers grown so far.
  void Reset(std::string_view body, Options options);

  // kSeries, kHistogram, kHelp, kType, kUnit, kEof or kInvalid (final).
  Entry Next();
  const ParseError& error() const { return error_; }

  // kSeries/kHistogram: the series' metric name (with _count/_sum/_bucket);
  // kHelp/kType/kUnit: the family name.
  std::string_view metric_name() const { return name_; }
  // The family the current series belongs to.
  std::string_view family_name() const { return family_.name; }
  // Labels in input order plus `le`/`quantile` last; names validated, values
  // valid UTF-8, no duplicates.
  std::span<const LabelView> labels() const { return labels_; }
  // A key unique to this series in the page and stable across scrapes.
  std::string_view series() const { return key_; }
  double value() const { return value_; }
  std::optional<int64_t> timestamp_ms() const { return timestamp_ms_; }
  // Created (start) timestamp of counters, summaries and histograms.
  std::optional<int64_t> created_timestamp_ms() const { return created_ms_; }
  bool timestamp_out_of_range() const { return false; }
  // kSeries: the sample's exemplar (counters, classic buckets), or nullptr.
  const Exemplar* exemplar() const { return has_exemplar_ ? &exemplars_[0] : nullptr; }
  // kHistogram: the native histogram (Histogram() in Prometheus) and its
  // exemplars — those with a timestamp only, as Prometheus keeps them.
  const model::Histogram& histogram() const { return histogram_; }
  std::span<const Exemplar> histogram_exemplars() const { return exemplars_; }
  // The type of the family of the current entry.
  MetricType type() const { return family_.type; }
  MetricType declared_type() const { return family_.type; }
  std::string_view help() const { return family_.help; }
  std::string_view unit() const { return family_.unit; }

 private:
  enum class Phase { kFamily, kHelp, kUnit, kType, kMetric };
  // The classic series still to emit for the current metric: -2 _count,
  // -1 _sum, 0.. quantiles or buckets, then (histograms) the +Inf bucket.
  struct Classic {
    bool active = false;
    int pos = -2;
    bool inf_pending = false;
  };
  struct Family {
    std::string_view name;
    std::string_view help;
    std::string_view unit;
    MetricType type = MetricType::kUnknown;
    int proto_type = 0;  // io.prometheus.client.MetricType
  };

  Entry Fail(std::string message);
  bool ReadFamily();
  bool LoadMetric(std::string_view metric);
  Entry EmitMetric();
  Entry EmitClassic();
  bool BuildLabels(std::string_view suffix, std::string_view magic_name, std::string_view magic_value);
  bool ParseHistogram(std::string_view msg);
  bool ParseExemplar(std::string_view bytes, Exemplar* out, std::vector<LabelView>* labels);

  std::string_view body_;
  size_t pos_ = 0;
  Options options_;
  bool done_ = false;
  Entry final_ = Entry::kEof;
  ParseError error_;
  size_t family_index_ = 0;

  Phase phase_ = Phase::kFamily;
  Family family_;
  std::vector<std::string_view> metrics_;  // the current family's Metric messages
  size_t metric_index_ = 0;

  // The current Metric, decoded field by field.
  std::vector<LabelView> metric_labels_;
  std::optional<int64_t> metric_ts_;
  double simple_value_ = 0;
  std::string_view counter_exemplar_;
  std::optional<int64_t> metric_created_;
  uint64_t summary_count_ = 0;
  double summary_sum_ = 0;
  std::vector<std::pair<double, double>> quantiles_;
  struct Bucket {
    double upper = 0;
    double cumulative = 0;
    std::string_view exemplar;
  };
  std::vector<Bucket> buckets_;
  uint64_t h_count_ = 0;
  double h_count_float_ = 0;
  double h_sum_ = 0;
  std::vector<std::string_view> h_exemplars_;
  bool native_ = false;
  Classic classic_;

  // What Next() returned.
  std::string_view name_;
  std::string name_buf_;
  std::vector<LabelView> labels_;
  std::string key_;
  char magic_buf_[kMaxFormattedFloat];
  double value_ = 0;
  std::optional<int64_t> timestamp_ms_;
  std::optional<int64_t> created_ms_;
  bool has_exemplar_ = false;
  std::vector<Exemplar> exemplars_;
  std::vector<std::vector<LabelView>> exemplar_labels_;
  model::Histogram histogram_;
};

}  // namespace promsidecar::textparse
