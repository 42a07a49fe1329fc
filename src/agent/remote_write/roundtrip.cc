#include "agent/remote_write/roundtrip.h"

#include <snappy.h>

#include <bit>
#include <cstdint>
#include <string>

#include "agent/remote_write/encoder.h"
#include "remote.pb.h"

namespace promsidecar::remote_write {

Status CheckDecodesTo(std::string_view compressed, std::span<const SeriesInput> expected) {
  std::string raw;
  if (!snappy::Uncompress(compressed.data(), compressed.size(), &raw)) {
    return MakeError("body is not a valid snappy block");
  }
  prompb::WriteRequest req;
  if (!req.ParseFromString(raw)) return MakeError("body is not a valid WriteRequest protobuf");
  if (static_cast<size_t>(req.timeseries_size()) != expected.size()) {
    return MakeError("decoded " + std::to_string(req.timeseries_size()) + " series, want " +
                     std::to_string(expected.size()));
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& got = req.timeseries(static_cast<int>(i));
    const auto& want = expected[i];
    std::string where = "series " + std::to_string(i);
    if (static_cast<size_t>(got.labels_size()) != want.labels.size()) {
      return MakeError(where + ": " + std::to_string(got.labels_size()) + " labels, want " +
                       std::to_string(want.labels.size()));
    }
    for (size_t j = 0; j < want.labels.size(); ++j) {
      const auto& gl = got.labels(static_cast<int>(j));
      if (gl.name() != want.labels[j].name || gl.value() != want.labels[j].value) {
        return MakeError(where + " label " + std::to_string(j) + ": got " + gl.name() + "=" + gl.value() +
                         ", want " + want.labels[j].name + "=" + want.labels[j].value);
      }
    }
    if (static_cast<size_t>(got.samples_size()) != want.samples.size()) {
      return MakeError(where + ": " + std::to_string(got.samples_size()) + " samples, want " +
                       std::to_string(want.samples.size()));
    }
    for (size_t j = 0; j < want.samples.size(); ++j) {
      const auto& gs = got.samples(static_cast<int>(j));
      const auto& ws = want.samples[j];
      if (gs.timestamp() != ws.timestamp_ms ||
          std::bit_cast<uint64_t>(gs.value()) != std::bit_cast<uint64_t>(ws.value)) {
        return MakeError(where + " sample " + std::to_string(j) + ": got (" + std::to_string(gs.timestamp()) +
                         ", bits " + std::to_string(std::bit_cast<uint64_t>(gs.value())) + "), want (" +
                         std::to_string(ws.timestamp_ms) + ", bits " +
                         std::to_string(std::bit_cast<uint64_t>(ws.value)) + ")");
      }
    }
  }
  return {};
}

Status RoundTrip(std::span<const SeriesInput> series) {
  Encoder enc;
  enc.Begin();
  for (const auto& s : series) enc.AddSeries(s.labels, s.samples);
  return CheckDecodesTo(enc.Compress(), series);
}

}  // namespace promsidecar::remote_write
