// Fuzzes the remote-write encoder with a round trip through an independent
// decoder: the bytes become a list of series (labels + samples with arbitrary
// timestamps and arbitrary 64-bit value patterns, NaN payloads included),
// Encoder + snappy encode them, the protoc-generated code decodes them, and
// remote_write::RoundTrip demands bit-for-bit equality. Label strings are
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
#include "agent/textparse/utf8.h"

namespace {

std::string Utf8String(FuzzedDataProvider& in, size_t max_length) {
  std::string s = in.ConsumeRandomLengthString(max_length);
  if (!promsidecar::textparse::IsValidUtf8(s)) {
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
  return 0;
}
