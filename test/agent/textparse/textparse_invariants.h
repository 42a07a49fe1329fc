// Properties every parse must have, whatever the input. Shared by the fuzz
// target (test/fuzz/fuzz_textparse.cc) and the regression replay test, so a
// crash file found by fuzzing fails a unit test for the same reason.
#pragma once

#include <string>
#include <string_view>

#include "agent/textparse/parser.h"

namespace promsidecar::textparse::testing {

// The fuzz input convention: the first byte's low bit picks the format
// (0: Prometheus text, 1: OpenMetrics), the rest is the body.
Format FuzzFormat(std::string_view data);
std::string_view FuzzBody(std::string_view data);

// Parses `body` to the end and returns "" if every invariant holds, else a
// description of the first one broken.
std::string CheckParserInvariants(std::string_view body, Format format);

}  // namespace promsidecar::textparse::testing
