// When in its interval a target is scraped. Prometheus spreads targets by a
// hash of their identity so they keep a steady phase and do not all fire at
// once. In a sidecar every target is 127.0.0.1:<port>, identical across pods,
// so the pod's UID must be part of the identity: otherwise every agent on a
// node would scrape in lockstep.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace promsidecar::scrape {

using Millis = std::chrono::milliseconds;

uint64_t TargetIdentityHash(std::string_view pod_uid, std::string_view job, std::string_view url);

// The delay from `now_ms` (Unix ms) until the target's next scrape slot:
// slots are at times t with t % interval == hash % interval.
Millis DelayToNextSlot(uint64_t identity_hash, Millis interval, int64_t now_ms);

}  // namespace promsidecar::scrape
