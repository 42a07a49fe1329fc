// Properties every protobuf parse must have, whatever the bytes. Shared by
// the fuzz target (test/fuzz/fuzz_protoparse.cc) and the regression replay
// test, so an input found by fuzzing fails a unit test for the same reason.
#pragma once

#include <string>
#include <string_view>

#include "agent/textparse/protoparse.h"

namespace promsidecar::textparse::testing {

// The fuzz input convention: byte 0 bit 0 turns native histograms off, bit 1
// keeps classic histograms; the rest is the body.
ProtoParser::Options ProtoFuzzOptions(std::string_view data);
std::string_view ProtoFuzzBody(std::string_view data);

// Parses `body` to the end (twice, with one reused parser) and returns "" if
// every invariant holds, else the first one broken.
std::string CheckProtoParserInvariants(std::string_view body, ProtoParser::Options options);

}  // namespace promsidecar::textparse::testing
