#include "operator/api/quantity.h"

#include <array>
#include <limits>
#include <utility>

namespace promsidecar::api {
namespace {

using Int128 = __int128;

struct Suffix {
  std::string_view text;
  int binary_shift;  // multiply by 2^shift
  int decimal_exp;   // multiply by 10^exp
};

constexpr std::array<Suffix, 13> kSuffixes{{
    {"Ki", 10, 0},
    {"Mi", 20, 0},
    {"Gi", 30, 0},
    {"Ti", 40, 0},
    {"Pi", 50, 0},
    {"Ei", 60, 0},
    {"n", 0, -9},
    {"u", 0, -6},
    {"m", 0, -3},
    {"k", 0, 3},
    {"M", 0, 6},
    {"G", 0, 9},
    {"T", 0, 12},
}};

constexpr Int128 kMaxMilli = std::numeric_limits<int64_t>::max();

}  // namespace

Result<int64_t> ParseQuantityMilli(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return MakeError("invalid quantity \"" + std::string(text) + "\": " + std::string(why) +
                     " (use e.g. 100m, 0.5, 64Mi, 1Gi)");
  };
  size_t i = 0;
  if (i < text.size() && text[i] == '+') ++i;
  Int128 mantissa = 0;
  int frac_digits = 0;
  int digits = 0;
  bool seen_dot = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.' && !seen_dot) {
      seen_dot = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    if (digits >= 30) return bad("too many digits");
    mantissa = mantissa * 10 + (c - '0');
    ++digits;
    if (seen_dot) ++frac_digits;
  }
  if (digits == 0) return bad("expected a number");
  std::string_view rest = text.substr(i);
  int shift = 0;
  int exp = 0;
  if (!rest.empty() && (rest[0] == 'e' || rest[0] == 'E') && rest.size() > 1) {
    size_t j = 1;
    bool negative = false;
    if (rest[j] == '+' || rest[j] == '-') negative = rest[j++] == '-';
    if (j >= rest.size()) return bad("incomplete exponent");
    int e = 0;
    for (; j < rest.size(); ++j) {
      if (rest[j] < '0' || rest[j] > '9') return bad("bad exponent");
      e = e * 10 + (rest[j] - '0');
      if (e > 30) return bad("exponent out of range");
    }
    exp = negative ? -e : e;
  } else if (!rest.empty()) {
    bool found = false;
    for (const Suffix& s : kSuffixes) {
      if (rest == s.text) {
        shift = s.binary_shift;
        exp = s.decimal_exp;
        found = true;
        break;
      }
    }
    if (rest == "P") exp = 15, found = true;
    if (rest == "E") exp = 18, found = true;
    if (!found) return bad("unknown suffix \"" + std::string(rest) + "\"");
  }
  // value = mantissa * 2^shift * 10^(exp - frac_digits); in milli: exponent + 3.
  int ten_exp = exp - frac_digits + 3;
  Int128 value = mantissa;
  for (int s = 0; s < shift; ++s) {
    value *= 2;
    if (value > kMaxMilli * 1000) return bad("too large");
  }
  for (; ten_exp > 0; --ten_exp) {
    value *= 10;
    if (value > kMaxMilli * 1000) return bad("too large");
  }
  for (; ten_exp < 0; ++ten_exp) value = (value + 9) / 10;  // round up, like MilliValue
  if (value > kMaxMilli) return bad("too large");
  return static_cast<int64_t>(value);
}

std::string FormatCpuMilli(int64_t milli) {
  if (milli % 1000 == 0) return std::to_string(milli / 1000);
  return std::to_string(milli) + "m";
}

std::string FormatBytesMilli(int64_t milli) {
  int64_t bytes = milli / 1000 + (milli % 1000 != 0 ? 1 : 0);
  static constexpr std::array<std::pair<int64_t, std::string_view>, 4> kUnits{{
      {int64_t{1} << 40, "Ti"},
      {int64_t{1} << 30, "Gi"},
      {int64_t{1} << 20, "Mi"},
      {int64_t{1} << 10, "Ki"},
  }};
  if (bytes == 0) return "0";
  for (const auto& [size, unit] : kUnits) {
    if (bytes % size == 0) return std::to_string(bytes / size) + std::string(unit);
  }
  return std::to_string(bytes);
}

std::string FormatQuantityMilli(std::string_view resource, int64_t milli) {
  return resource == "cpu" ? FormatCpuMilli(milli) : FormatBytesMilli(milli);
}

}  // namespace promsidecar::api
