#include "agent/remote_write/roundtrip.h"

#include <snappy.h>

#include <bit>
#include <cstdint>
#include <string>

#include "agent/remote_write/encoder.h"
#include "remote.pb.h"
#include "write_v2.pb.h"

#include <set>

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

namespace {

std::string Bits(double d) {
  return std::to_string(std::bit_cast<uint64_t>(d));
}

}  // namespace

Status RoundTripV2(std::span<const SeriesInput> series) {
  EncoderV2 enc;
  enc.Begin();
  for (const auto& s : series) enc.AddSeries(s.labels, nullptr, s.samples, s.histograms, {});
  std::string_view compressed = enc.Compress();
  std::string raw;
  if (!snappy::Uncompress(compressed.data(), compressed.size(), &raw)) return MakeError("not a snappy block");
  io::prometheus::write::v2::Request req;
  if (!req.ParseFromString(raw)) return MakeError("not a valid io.prometheus.write.v2.Request");
  if (req.symbols_size() == 0 || !req.symbols(0).empty())
    return MakeError("symbols[0] is not the empty string");
  std::set<std::string> unique(req.symbols().begin(), req.symbols().end());
  if (unique.size() != static_cast<size_t>(req.symbols_size())) return MakeError("a symbol is written twice");
  int next = 0;
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& want = series[i];
    const bool split = !want.samples.empty() && !want.histograms.empty();
    for (int part = 0; part < (split ? 2 : 1); ++part) {
      const std::string where =
          "series " + std::to_string(i) + (split ? " part " + std::to_string(part) : "");
      if (next >= req.timeseries_size()) return MakeError(where + ": missing");
      const auto& got = req.timeseries(next++);
      if (got.labels_refs_size() != static_cast<int>(want.labels.size() * 2))
        return MakeError(where + ": label count");
      for (size_t j = 0; j < want.labels.size(); ++j) {
        uint32_t n = got.labels_refs(static_cast<int>(2 * j)),
                 v = got.labels_refs(static_cast<int>(2 * j + 1));
        if (n >= static_cast<uint32_t>(req.symbols_size()) ||
            v >= static_cast<uint32_t>(req.symbols_size()) ||
            req.symbols(static_cast<int>(n)) != want.labels[j].name ||
            req.symbols(static_cast<int>(v)) != want.labels[j].value) {
          return MakeError(where + " label " + std::to_string(j) + " resolves to other text");
        }
      }
      const bool samples = !split ? want.histograms.empty() : part == 0;
      if (samples) {
        if (got.histograms_size() != 0 || got.samples_size() != static_cast<int>(want.samples.size()))
          return MakeError(where + ": sample count");
        for (size_t j = 0; j < want.samples.size(); ++j) {
          const auto& gs = got.samples(static_cast<int>(j));
          if (gs.timestamp() != want.samples[j].timestamp_ms ||
              std::bit_cast<uint64_t>(gs.value()) != std::bit_cast<uint64_t>(want.samples[j].value)) {
            return MakeError(where + " sample " + std::to_string(j) + ": bits " + Bits(gs.value()) +
                             " want " + Bits(want.samples[j].value));
          }
        }
      } else {
        if (got.samples_size() != 0 || got.histograms_size() != static_cast<int>(want.histograms.size()))
          return MakeError(where + ": histogram count");
        for (size_t j = 0; j < want.histograms.size(); ++j) {
          if (auto diff = HistogramDiff(got.histograms(static_cast<int>(j)), want.histograms[j]);
              !diff.empty())
            return MakeError(where + " histogram " + std::to_string(j) + ": " + diff + " differs");
        }
      }
    }
  }
  if (next != req.timeseries_size()) return MakeError("extra TimeSeries in the request");
  return {};
}

}  // namespace promsidecar::remote_write
