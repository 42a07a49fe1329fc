// Per-scrape limits (Prometheus's sample_limit and label limits), checked
// after metric relabeling. Exceeding one fails the whole scrape: nothing of it
// is appended, up=0, and the previous series go stale. In a sidecar this is
// the per-pod cardinality guard.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "agent/model/labels.h"

namespace promsidecar::scrape {

// Zero means "no limit", as in Prometheus.
struct Limits {
  uint64_t sample_limit = 0;
  uint64_t label_limit = 0;
  uint64_t label_name_length_limit = 0;
  uint64_t label_value_length_limit = 0;
  uint64_t body_size_limit = 0;  // bytes; enforced while reading the body
};

// The reason a series breaks a label limit, or nullopt when it is fine.
std::optional<std::string> CheckLabelLimits(const model::Labels& labels, const Limits& limits);

// The reason `samples` (the count after metric relabeling) breaks
// sample_limit, or nullopt.
std::optional<std::string> CheckSampleLimit(uint64_t samples, const Limits& limits);

}  // namespace promsidecar::scrape
