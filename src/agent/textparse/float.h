// Number syntax of the exposition formats, shared by the parser, the fuzz
// target and CheckMetrics.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace promsidecar::textparse {

// Parses a sample value the way Prometheus does: Go's strconv.ParseFloat
// syntax ([+-] digits [. digits] [e [+-] digits], ".5", "5.", case-insensitive
// "inf"/"infinity" with an optional sign, "nan" without one), minus what
// Prometheus refuses on purpose (hex floats, '_' separators). Out of range
// ("1e400") is an error, underflow ("1e-400") rounds to 0, as in Go. Returns
// false on a syntax error. NaN comes back as-is: callers normalize it.
bool ParseFloatValue(std::string_view s, double* out);

// Decimal integer with optional sign, no overflow (the text format's
// millisecond timestamps: `{D}+` there, so callers pass digits only).
bool ParseInt64(std::string_view s, int64_t* out);

// OpenMetrics timestamp (seconds, maybe fractional) to milliseconds,
// truncated toward zero. Plain decimals are converted exactly ("1.001" is
// 1001 ms; Prometheus's float multiply gives 1000). Syntax errors, NaN and
// infinities are invalid. A finite value whose milliseconds do not fit in
// int64 (`12345678901234567890.1234567890` in the OpenMetrics test suite) is
// valid syntax but out of range: Prometheus accepts the page and cannot
// store that sample (its int64 conversion yields math.MinInt64, which no
// storage accepts); `*out` is left alone then.
enum class TimestampParse { kOk, kOutOfRange, kInvalid };
TimestampParse ParseSecondsToMillis(std::string_view s, int64_t* out);

// Prometheus's FormatOpenMetricsFloat: shortest round-trip form, "+Inf",
// "-Inf", "NaN", with ".0" appended to integers ("1" -> "1.0"). Used to
// normalize `le` and `quantile` label values as Prometheus 3 does. Writes to
// `out` (room for kMaxFormattedFloat bytes) and returns the length.
size_t FormatOpenMetricsFloat(double v, char* out);
inline constexpr size_t kMaxFormattedFloat = 32;

}  // namespace promsidecar::textparse
