// Durations and byte sizes in Prometheus syntax.
//
// Durations: "1y2w3d4h5m6s7ms" with each unit at most once and in that order,
// or "0" (what Prometheus's model.ParseDuration accepts). Sizes: a whole
// number with B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, PB/PiB or EB/EiB, all powers
// of 1024, as Prometheus's body_size_limit reads them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/util/result.h"

namespace promsidecar::units {

using Millis = std::chrono::milliseconds;

Result<Millis> ParseDuration(std::string_view text);
// The shortest Prometheus spelling of d, e.g. "1m30s"; "0s" for zero.
std::string FormatDuration(Millis d);

Result<uint64_t> ParseBytes(std::string_view text);
std::string FormatBytes(uint64_t bytes);

}  // namespace promsidecar::units
