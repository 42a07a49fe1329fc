// Remote write 1.0 request encoding: a hand-written streaming protobuf writer
// for WriteRequest (field numbers from the spec) followed by snappy *block*
// compression.
//
// Both buffers are owned by the encoder and reused from request to request,
// so steady-state encoding allocates nothing. Not thread-safe: one encoder per
// sender.
//
//   Encoder enc;
//   enc.Begin();
//   enc.AddSeries(labels, samples);      // any number of times
//   std::string_view body = enc.Compress();
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "agent/model/labels.h"

namespace promsidecar::remote_write {

class Encoder {
 public:
  // Starts a new WriteRequest, forgetting the previous one (buffers keep
  // their capacity).
  void Begin();

  // Appends one TimeSeries with these labels and samples, written in the
  // given order. Labels are written as given: the caller has validated them.
  // Empty names/values and zero values/timestamps are omitted from the wire,
  // as proto3 does; a decoder reads them back as the defaults.
  void AddSeries(const model::Labels& labels, std::span<const model::Sample> samples);

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

}  // namespace promsidecar::remote_write
