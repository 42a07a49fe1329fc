// Encode -> snappy -> decode with the protoc-generated code -> compare: the
// oracle for the encoder's tests and fuzz target. Links protobuf, so it lives
// in its own library that the agent binary does not use.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/model/histogram.h"
#include "agent/model/labels.h"
#include "common/util/result.h"

namespace promsidecar::remote_write {

struct SeriesInput {
  model::Labels labels;
  std::vector<model::Sample> samples;
  std::vector<model::HistogramSample> histograms;  // RoundTripV2 only
};

// "" when `got` (a decoded Histogram of remote write 1.0's or 2.0's
// generated code: the fields are the same) is `want`, else what differs.
template <typename H>
std::string HistogramDiff(const H& got, const model::HistogramSample& want) {
  const auto& h = want.histogram;
  auto same = [](double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); };
  if (got.has_count_float() != h.is_float) return "integer/float kind";
  if (h.is_float ? !same(got.count_float(), h.count_float) : got.count_int() != h.count_int) return "count";
  if (h.is_float ? !same(got.zero_count_float(), h.zero_count_float)
                 : got.zero_count_int() != h.zero_count_int)
    return "zero count";
  if (got.schema() != h.schema || !same(got.sum(), h.sum) || !same(got.zero_threshold(), h.zero_threshold) ||
      got.timestamp() != want.timestamp_ms ||
      static_cast<int>(got.reset_hint()) != static_cast<int>(h.reset_hint))
    return "schema, sum, zero threshold, timestamp or reset hint";
  auto spans = [](const auto& g, const std::vector<model::BucketSpan>& w) {
    if (g.size() != static_cast<int>(w.size())) return false;
    for (int i = 0; i < g.size(); ++i) {
      if (g[i].offset() != w[i].offset || g[i].length() != w[i].length) return false;
    }
    return true;
  };
  if (!spans(got.positive_spans(), h.positive_spans) || !spans(got.negative_spans(), h.negative_spans))
    return "spans";
  if (std::vector<int64_t>(got.positive_deltas().begin(), got.positive_deltas().end()) != h.positive_deltas ||
      std::vector<int64_t>(got.negative_deltas().begin(), got.negative_deltas().end()) != h.negative_deltas)
    return "deltas";
  auto doubles = [&](const auto& g, const std::vector<double>& w) {
    if (g.size() != static_cast<int>(w.size())) return false;
    for (int i = 0; i < g.size(); ++i) {
      if (!same(g[i], w[i])) return false;
    }
    return true;
  };
  if (!doubles(got.positive_counts(), h.positive_counts) ||
      !doubles(got.negative_counts(), h.negative_counts) || !doubles(got.custom_values(), h.custom_values))
    return "counts or custom bounds";
  return {};
}

// Checks that `compressed` (a snappy block) decodes to exactly `expected`:
// same series in order, same labels, same samples with bit-identical values.
// The error says where the first difference is.
Status CheckDecodesTo(std::string_view compressed, std::span<const SeriesInput> expected);

// Encodes `series` with Encoder, then CheckDecodesTo.
Status RoundTrip(std::span<const SeriesInput> series);

// Encodes `series` with EncoderV2 (remote write 2.0) and decodes it with the
// protoc-generated io.prometheus.write.v2.Request: symbols[0] is "", every
// symbol once, labels resolved through the symbols, samples and histograms
// bit for bit (a series with both becomes two TimeSeries).
Status RoundTripV2(std::span<const SeriesInput> series);

}  // namespace promsidecar::remote_write
