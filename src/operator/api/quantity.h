// Kubernetes resource quantities ("50m", "0.5", "64Mi", "1G", "1e3") as
// milli-units, the precision the API server itself compares limits at.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/util/result.h"

namespace promsidecar::api {

// Parses a non-negative quantity into thousandths of the base unit, rounding
// a finer fraction up (as resource.Quantity.MilliValue does).
Result<int64_t> ParseQuantityMilli(std::string_view text);

// Canonical spellings for values we write into pods: cpu as "5m" or "2";
// byte quantities as the largest exact binary unit ("64Mi"), rounded up to a
// whole byte.
std::string FormatCpuMilli(int64_t milli);
std::string FormatBytesMilli(int64_t milli);
// Chooses FormatCpuMilli for "cpu", FormatBytesMilli otherwise.
std::string FormatQuantityMilli(std::string_view resource, int64_t milli);

}  // namespace promsidecar::api
