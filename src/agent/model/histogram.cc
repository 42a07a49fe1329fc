#include "agent/model/histogram.h"

#include <cmath>

namespace promsidecar::model {
namespace {

// Index of bucket `idx` of schema `origin` in the coarser schema `target`.
int32_t TargetIndex(int32_t idx, int32_t origin, int32_t target) {
  return ((idx - 1) >> (origin - target)) + 1;
}

// Prometheus's reduceResolution (model/histogram/generic.go) for one side:
// `delta` buckets hold differences to the previous bucket (integer
// histograms), otherwise absolute counts. Spans and buckets must agree.
template <typename Count>
void ReduceSide(std::vector<BucketSpan>& spans, std::vector<Count>& buckets, int32_t origin, int32_t target,
                bool delta) {
  std::vector<BucketSpan> out_spans;
  std::vector<Count> out_buckets;
  int32_t bucket_idx = 0;
  size_t count_idx = 0;
  int32_t last_target_idx = 0;
  Count last_count{};         // running absolute count in the origin (delta mode)
  Count last_target_count{};  // absolute count of the last target bucket (delta mode)
  for (const auto& span : spans) {
    bucket_idx += span.offset;
    for (uint32_t j = 0; j < span.length; ++j, ++bucket_idx, ++count_idx) {
      const Count b = buckets[count_idx];
      const int32_t target_idx = TargetIndex(bucket_idx, origin, target);
      if (out_spans.empty()) {
        out_spans.push_back({target_idx, 1});
        out_buckets.push_back(b);
        last_target_idx = target_idx;
        last_count = b;
        last_target_count = b;
      } else if (last_target_idx == target_idx) {
        if (delta) {
          last_count += b;
          out_buckets.back() += last_count;
          last_target_count += last_count;
        } else {
          out_buckets.back() += b;
        }
      } else {
        if (last_target_idx + 1 == target_idx) {
          ++out_spans.back().length;
        } else {
          out_spans.push_back({target_idx - last_target_idx - 1, 1});
        }
        last_target_idx = target_idx;
        if (delta) {
          last_count += b;
          out_buckets.push_back(last_count - last_target_count);
          last_target_count = last_count;
        } else {
          out_buckets.push_back(b);
        }
      }
    }
  }
  spans = std::move(out_spans);
  buckets = std::move(out_buckets);
}

template <typename Count>
std::optional<std::string> CheckSide(const char* side, const std::vector<BucketSpan>& spans,
                                     const std::vector<Count>& buckets) {
  uint64_t need = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i > 0 && spans[i].offset < 0) {
      return std::string(side) + " span " + std::to_string(i + 1) + " has a negative offset " +
             std::to_string(spans[i].offset);
    }
    need += spans[i].length;
  }
  if (need != buckets.size()) {
    return std::string(side) + " spans need " + std::to_string(need) + " buckets, have " +
           std::to_string(buckets.size());
  }
  return std::nullopt;
}

}  // namespace

std::string_view ToString(MetricType type) {
  switch (type) {
    case MetricType::kUnknown: return "unknown";
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kGaugeHistogram: return "gaugehistogram";
    case MetricType::kSummary: return "summary";
    case MetricType::kInfo: return "info";
    case MetricType::kStateset: return "stateset";
  }
  return "unknown";
}

bool IsExponentialSchema(int32_t schema) {
  return schema >= kExponentialSchemaMin && schema <= kExponentialSchemaMax;
}

std::optional<std::string> ValidateHistogram(const Histogram& h) {
  if (!IsExponentialSchema(h.schema) && h.schema != kCustomBucketsSchema) {
    return "unknown histogram schema " + std::to_string(h.schema);
  }
  auto bad = h.is_float ? CheckSide("positive", h.positive_spans, h.positive_counts)
                        : CheckSide("positive", h.positive_spans, h.positive_deltas);
  if (bad) return bad;
  bad = h.is_float ? CheckSide("negative", h.negative_spans, h.negative_counts)
                   : CheckSide("negative", h.negative_spans, h.negative_deltas);
  if (bad) return bad;
  if (h.schema == kCustomBucketsSchema) {
    if (!h.negative_spans.empty()) return "a histogram with custom buckets has negative buckets";
    for (size_t i = 1; i < h.custom_values.size(); ++i) {
      if (!(h.custom_values[i] > h.custom_values[i - 1])) return "custom bucket bounds are not ascending";
    }
  } else if (!h.custom_values.empty()) {
    return "custom bucket bounds on an exponential histogram";
  }
  return std::nullopt;
}

bool ReduceResolution(Histogram& h, int32_t target) {
  if (!IsExponentialSchema(h.schema) || !IsExponentialSchema(target) || target >= h.schema) return false;
  if (h.is_float) {
    ReduceSide(h.positive_spans, h.positive_counts, h.schema, target, false);
    ReduceSide(h.negative_spans, h.negative_counts, h.schema, target, false);
  } else {
    ReduceSide(h.positive_spans, h.positive_deltas, h.schema, target, true);
    ReduceSide(h.negative_spans, h.negative_deltas, h.schema, target, true);
  }
  h.schema = target;
  return true;
}

int32_t PickSchema(double factor) {
  if (factor <= 1) factor = 1.00271;
  double floor = std::floor(-std::log2(std::log2(factor)));
  if (floor >= kExponentialSchemaMax) return kExponentialSchemaMax;
  if (floor <= kExponentialSchemaMin) return kExponentialSchemaMin;
  return static_cast<int32_t>(floor);
}

bool ApplyBucketLimit(Histogram& h, size_t limit) {
  if (limit == 0 || h.bucket_count() <= limit) return true;
  if (!IsExponentialSchema(h.schema)) return false;
  while (h.bucket_count() > limit) {
    if (h.schema <= kExponentialSchemaMin) return false;
    ReduceResolution(h, h.schema - 1);
  }
  return true;
}

}  // namespace promsidecar::model
