// Fuzzes the remote-write encoder with a round trip through an independent
// decoder: the bytes become a list of series (labels + samples with arbitrary
// timestamps and arbitrary 64-bit value patterns, NaN payloads included),
// Encoder + snappy encode them, the protoc-generated code decodes them, and
// remote_write::RoundTrip demands bit-for-bit equality; then the same for
// remote write 2.0 (EncoderV2, RoundTripV2) with native histograms added. Label strings are
// valid UTF-8 (proto3 `string` fields must be, and the agent validates labels
// before they reach the encoder) but otherwise arbitrary: empty, NUL bytes,
// control characters, multi-byte sequences, long.
#include <fuzzer/FuzzedDataProvider.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/remote_write/roundtrip.h"
#include "common/util/utf8.h"

namespace {

std::string Utf8String(FuzzedDataProvider& in, size_t max_length) {
  std::string s = in.ConsumeRandomLengthString(max_length);
  if (!promsidecar::IsValidUtf8(s)) {
    for (char& c : s) c = static_cast<char>(static_cast<unsigned char>(c) & 0x7f);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace promsidecar;
  FuzzedDataProvider in(data, size);
  std::vector<remote_write::SeriesInput> series;
  size_t n_series = in.ConsumeIntegralInRange<size_t>(0, 64);
  for (size_t i = 0; i < n_series && in.remaining_bytes() > 0; ++i) {
    remote_write::SeriesInput s;
    size_t n_labels = in.ConsumeIntegralInRange<size_t>(0, 16);
    for (size_t j = 0; j < n_labels; ++j) {
      model::Label l;
      l.name = Utf8String(in, 256);
      l.value = Utf8String(in, 4096);
      s.labels.push_back(std::move(l));
    }
    size_t n_samples = in.ConsumeIntegralInRange<size_t>(0, 64);
    for (size_t j = 0; j < n_samples; ++j) {
      model::Sample sample;
      sample.timestamp_ms = in.ConsumeIntegral<int64_t>();
      sample.value = std::bit_cast<double>(in.ConsumeIntegral<uint64_t>());
      s.samples.push_back(sample);
    }
    series.push_back(std::move(s));
  }
  Status st = remote_write::RoundTrip(series);
  if (!st.ok()) {
    std::fprintf(stderr, "remote-write round trip broken: %s\n", st.message().c_str());
    std::abort();
  }
  // 2.0: the same series, some with a native histogram (arbitrary fields,
  // consistent spans) beside their samples.
  for (auto& s : series) {
    if (in.remaining_bytes() == 0 || !in.ConsumeBool()) continue;
    model::HistogramSample hs;
    hs.timestamp_ms = in.ConsumeIntegral<int64_t>();
    model::Histogram& h = hs.histogram;
    h.is_float = in.ConsumeBool();
    h.schema = in.ConsumeIntegral<int32_t>();
    h.reset_hint = static_cast<model::ResetHint>(in.ConsumeIntegralInRange<int>(0, 3));
    h.zero_threshold = std::bit_cast<double>(in.ConsumeIntegral<uint64_t>());
    h.sum = std::bit_cast<double>(in.ConsumeIntegral<uint64_t>());
    h.count_int = h.is_float ? 0 : in.ConsumeIntegral<uint64_t>();
    h.count_float = h.is_float ? std::bit_cast<double>(in.ConsumeIntegral<uint64_t>()) : 0;
    size_t n_spans = in.ConsumeIntegralInRange<size_t>(0, 4);
    for (size_t k = 0; k < n_spans; ++k) {
      model::BucketSpan span{in.ConsumeIntegral<int32_t>(), in.ConsumeIntegralInRange<uint32_t>(0, 8)};
      h.positive_spans.push_back(span);
      for (uint32_t b = 0; b < span.length; ++b) {
        if (h.is_float) {
          h.positive_counts.push_back(std::bit_cast<double>(in.ConsumeIntegral<uint64_t>()));
        } else {
          h.positive_deltas.push_back(in.ConsumeIntegral<int64_t>());
        }
      }
    }
    s.histograms.push_back(std::move(hs));
  }
  st = remote_write::RoundTripV2(series);
  if (!st.ok()) {
    std::fprintf(stderr, "remote-write 2.0 round trip broken: %s\n", st.message().c_str());
    std::abort();
  }
  return 0;
}
