// Remote write request encoding: hand-written streaming protobuf writers for
// 1.0's WriteRequest (Encoder) and 2.0's io.prometheus.write.v2.Request
// (EncoderV2, symbols interned per request), each followed by snappy *block*
// compression.
//
// Both buffers of an encoder are owned by it and reused from request to
// request, so steady-state encoding allocates nothing beyond what a larger
// request needs. Not thread-safe: one encoder per sender.
//
//   Encoder enc;
//   enc.Begin();
//   enc.AddSeries(labels, samples);      // any number of times
//   std::string_view body = enc.Compress();
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/model/histogram.h"
#include "agent/model/labels.h"

namespace promsidecar::remote_write {

// Remote write 1.0 (prometheus.WriteRequest), with Prometheus's additions:
// exemplars and native histograms per series, metadata per family.
class Encoder {
 public:
  // Starts a new WriteRequest, forgetting the previous one (buffers keep
  // their capacity).
  void Begin();

  // Appends one TimeSeries with these labels, samples, native histograms and
  // exemplars, written in the given order. Labels are written as given: the
  // caller has validated them. Empty names/values and zero values/timestamps
  // are omitted from the wire, as proto3 does; a decoder reads them back as
  // the defaults.
  void AddSeries(const model::Labels& labels, std::span<const model::Sample> samples,
                 std::span<const model::HistogramSample> histograms = {},
                 std::span<const model::Exemplar> exemplars = {});

  // Appends MetricMetadata entries (WriteRequest field 3), one per family.
  void AddMetadata(std::span<const std::shared_ptr<const model::Metadata>> metadata);

  // The uncompressed protobuf bytes of the request so far.
  std::string_view proto() const { return proto_; }
  size_t series() const { return series_; }

  // Snappy block-compresses proto() into the encoder's second buffer. The view
  // stays valid until the next Begin() or Compress().
  std::string_view Compress();

 private:
  std::string proto_;
  std::string compressed_;  // sized to the largest MaxCompressedLength seen
  size_t series_ = 0;
};

// Remote write 2.0 (io.prometheus.write.v2.Request): every label name and
// value, exemplar label, help text and unit is written once in `symbols`
// (symbols[0] is "") and referenced by index. A series with both float
// samples and native histograms (a histogram series' staleness marker is a
// float sample) becomes two TimeSeries, as the spec requires.
class EncoderV2 {
 public:
  void Begin();
  // Copies what it needs: the arguments need not outlive the call.
  void AddSeries(const model::Labels& labels, const model::Metadata* metadata,
                 std::span<const model::Sample> samples, std::span<const model::HistogramSample> histograms,
                 std::span<const model::Exemplar> exemplars);
  // Assembles symbols + timeseries into proto() and compresses it.
  std::string_view Compress();
  std::string_view proto() const { return proto_; }
  size_t series() const { return series_; }
  size_t symbols() const { return symbols_.size(); }

 private:
  uint32_t Symbol(std::string_view s);
  // A copy of `s` that lives until the next Begin() (symbols and their
  // index point into these chunks, which never move).
  std::string_view Intern(std::string_view s);
  void LabelRefs(const model::Labels& labels, std::vector<uint32_t>& out);
  void TimeSeries(const std::vector<uint32_t>& refs, const model::Metadata* metadata,
                  std::span<const model::Sample> samples, std::span<const model::HistogramSample> histograms,
                  std::span<const model::Exemplar> exemplars);

  std::unordered_map<std::string_view, uint32_t> symbol_ids_;
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::vector<size_t> chunk_sizes_;
  size_t chunk_ = 0;       // the chunk being filled
  size_t chunk_used_ = 0;  // bytes used in it
  std::vector<std::string_view> symbols_;
  std::vector<uint32_t> refs_, exemplar_refs_;
  std::string series_bytes_;  // TimeSeries fields, referencing symbols
  std::string proto_;
  std::string compressed_;
  size_t series_ = 0;
};

}  // namespace promsidecar::remote_write
