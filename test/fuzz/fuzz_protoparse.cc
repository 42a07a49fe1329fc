// Fuzzes the protobuf exposition parser (byte 0 picks the options) and checks
// the invariants in protoparse_invariants.h on every input: crashes, hangs,
// stale NaN bits, invalid names or histograms passed on, a reused parser
// disagreeing with itself, and histogram resolution reduction losing counts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protoparse_invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace promsidecar::textparse::testing;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string broken = CheckProtoParserInvariants(ProtoFuzzBody(input), ProtoFuzzOptions(input));
  if (!broken.empty()) {
    std::fprintf(stderr, "protoparse invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
