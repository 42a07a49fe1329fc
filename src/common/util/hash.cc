#include "common/util/hash.h"

namespace promsidecar {

std::string HashHex(uint64_t hash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (size_t i = 16; i-- > 0; hash >>= 4) out[i] = kHex[hash & 0xf];
  return out;
}

}  // namespace promsidecar
