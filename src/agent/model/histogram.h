// Native histograms, exemplars and metric metadata: the parts of the data
// model beyond float samples, shared by scrape, WAL and remote write. The
// shapes follow Prometheus's model/histogram and the remote-write protobufs,
// so encoding is a field-by-field copy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/model/labels.h"

namespace promsidecar::model {

// The metric type of a family, as in OpenMetrics (and the remote-write 2.0
// Metadata enum, which numbers them the same way from 1).
enum class MetricType : uint8_t {
  kUnknown = 0,
  kCounter = 1,
  kGauge = 2,
  kHistogram = 3,
  kGaugeHistogram = 4,
  kSummary = 5,
  kInfo = 6,
  kStateset = 7,
};
// "unknown", "counter", ... as written in OpenMetrics TYPE lines.
std::string_view ToString(MetricType type);

// What a scrape says about a metric family. Prometheus keeps it per series
// (every series of a family carries its family's metadata).
struct Metadata {
  MetricType type = MetricType::kUnknown;
  std::string help;
  std::string unit;
  // The family's name as the page declared it (`foo` for OpenMetrics' `foo_total`):
  // remote write 1.0 sends metadata per family name.
  std::string family;
  // Nothing declared (the family name alone is no metadata).
  bool empty() const { return type == MetricType::kUnknown && help.empty() && unit.empty(); }
  friend bool operator==(const Metadata&, const Metadata&) = default;
};

struct Exemplar {
  Labels labels;  // canonical
  double value = 0;
  int64_t timestamp_ms = 0;
  bool has_timestamp = false;
  friend bool operator==(const Exemplar&, const Exemplar&) = default;
};

struct BucketSpan {
  int32_t offset = 0;  // gap to the previous span (the first: the first bucket's index)
  uint32_t length = 0;
  friend bool operator==(const BucketSpan&, const BucketSpan&) = default;
};

// Counter-reset hint of a histogram, numbered as in the protobufs.
enum class ResetHint : uint8_t { kUnknown = 0, kYes = 1, kNo = 2, kGauge = 3 };

// Schemas: -4..8 exponential (bucket boundaries at powers of 2^(2^-schema)),
// -53 custom bucket boundaries (custom_values).
inline constexpr int32_t kExponentialSchemaMin = -4;
inline constexpr int32_t kExponentialSchemaMax = 8;
inline constexpr int32_t kCustomBucketsSchema = -53;

// A native histogram. An integer histogram keeps its bucket counts as deltas
// (each bucket's count minus the previous bucket's, per side) and its counts
// in the *_int fields; a float histogram keeps absolute bucket counts and
// the *_float fields. Exactly one representation is used (is_float).
struct Histogram {
  bool is_float = false;
  ResetHint reset_hint = ResetHint::kUnknown;
  int32_t schema = 0;
  double zero_threshold = 0;
  uint64_t count_int = 0;
  double count_float = 0;
  uint64_t zero_count_int = 0;
  double zero_count_float = 0;
  double sum = 0;
  std::vector<BucketSpan> positive_spans;
  std::vector<BucketSpan> negative_spans;
  std::vector<int64_t> positive_deltas;  // integer histograms
  std::vector<int64_t> negative_deltas;
  std::vector<double> positive_counts;  // float histograms
  std::vector<double> negative_counts;
  std::vector<double> custom_values;  // schema kCustomBucketsSchema: upper bounds, ascending

  size_t bucket_count() const {
    return is_float ? positive_counts.size() + negative_counts.size()
                    : positive_deltas.size() + negative_deltas.size();
  }
  double count() const { return is_float ? count_float : static_cast<double>(count_int); }
  friend bool operator==(const Histogram&, const Histogram&) = default;
};

// A native histogram at a time (what a series holds instead of a float sample).
struct HistogramSample {
  int64_t timestamp_ms = 0;
  Histogram histogram;
  friend bool operator==(const HistogramSample&, const HistogramSample&) = default;
};

bool IsExponentialSchema(int32_t schema);

// Why a histogram is malformed (spans that need another number of buckets
// than given, a negative span offset after the first, an unknown schema,
// custom buckets without bounds or with bounds out of order), or nullopt.
std::optional<std::string> ValidateHistogram(const Histogram& h);

// Merges buckets so the schema becomes `target` (< h.schema, exponential
// only), as Prometheus's Histogram.ReduceResolution does. The histogram must
// be valid. Returns false (unchanged) when the schema cannot be lowered.
bool ReduceResolution(Histogram& h, int32_t target);

// The largest schema whose bucket growth factor is at least `factor`, as
// Prometheus picks it for native_histogram_min_bucket_factor.
int32_t PickSchema(double factor);

// Prometheus's native_histogram_bucket_limit: lowers the resolution until
// there are at most `limit` buckets. False when that is impossible (custom
// buckets, or the lowest schema still has too many): the scrape fails.
bool ApplyBucketLimit(Histogram& h, size_t limit);

}  // namespace promsidecar::model
