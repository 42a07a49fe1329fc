// Fuzzes the exposition parser (both formats: the first input byte picks
// one) and checks the invariants in textparse_invariants.h on every input,
// so logic bugs (stale NaN bits, duplicate labels, non-advancing parses,
// round-trip mismatches, CheckMetrics disagreeing) fail like crashes do.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "textparse_invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace promsidecar::textparse::testing;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string broken = CheckParserInvariants(FuzzBody(input), FuzzFormat(input));
  if (!broken.empty()) {
    std::fprintf(stderr, "textparse invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
