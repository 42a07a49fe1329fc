// Encode -> snappy -> decode with the protoc-generated code -> compare: the
// oracle for the encoder's tests and fuzz target. Links protobuf, so it lives
// in its own library that the agent binary does not use.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "agent/model/labels.h"
#include "common/util/result.h"

namespace promsidecar::remote_write {

struct SeriesInput {
  model::Labels labels;
  std::vector<model::Sample> samples;
};

// Checks that `compressed` (a snappy block) decodes to exactly `expected`:
// same series in order, same labels, same samples with bit-identical values.
// The error says where the first difference is.
Status CheckDecodesTo(std::string_view compressed, std::span<const SeriesInput> expected);

// Encodes `series` with Encoder, then CheckDecodesTo.
Status RoundTrip(std::span<const SeriesInput> series);

}  // namespace promsidecar::remote_write
