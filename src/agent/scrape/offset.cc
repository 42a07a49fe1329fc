#include "agent/scrape/offset.h"

#include "common/util/hash.h"

namespace promsidecar::scrape {

uint64_t TargetIdentityHash(std::string_view pod_uid, std::string_view job, std::string_view url) {
  Fnv1a64 fnv;  // stable across versions: a target keeps its phase through upgrades
  for (std::string_view part : {pod_uid, job, url}) fnv.AddField(part);
  uint64_t h = fnv.value();
  // FNV's low bits are weak for nearby inputs; a final avalanche spreads them.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

Millis DelayToNextSlot(uint64_t identity_hash, Millis interval, int64_t now_ms) {
  int64_t iv = interval.count();
  if (iv <= 0) return Millis(0);
  int64_t phase = static_cast<int64_t>(identity_hash % static_cast<uint64_t>(iv));
  int64_t now_phase = ((now_ms % iv) + iv) % iv;
  int64_t delay = phase - now_phase;
  if (delay < 0) delay += iv;
  return Millis(delay);
}

}  // namespace promsidecar::scrape
