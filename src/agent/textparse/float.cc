#include "agent/textparse/float.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace promsidecar::textparse {
namespace {

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

bool EqualsIgnoreCase(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// from_chars reports both overflow and underflow as out of range; Go turns
// only overflow into an error, so tell them apart with strtod (rare path).
bool ParseOutOfRange(std::string_view digits, double* out) {
  std::string copy(digits);
  errno = 0;
  double v = std::strtod(copy.c_str(), nullptr);
  if (std::isinf(v)) return false;
  *out = v;
  return true;
}

}  // namespace

bool ParseFloatValue(std::string_view s, double* out) {
  if (s.empty()) return false;
  bool negative = false;
  std::string_view rest = s;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    rest.remove_prefix(1);
  }
  if (rest.empty()) return false;
  char first = rest[0];
  if (!IsDigit(first) && first != '.') {
    if (EqualsIgnoreCase(rest, "inf") || EqualsIgnoreCase(rest, "infinity")) {
      *out = negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
      return true;
    }
    if (rest.size() == s.size() && EqualsIgnoreCase(rest, "nan")) {
      *out = std::numeric_limits<double>::quiet_NaN();
      return true;
    }
    return false;
  }
  // One pass validates Go's syntax and gathers up to 19 significant digits;
  // when those fit in 53 bits and the power of ten is exact (|e| <= 22), one
  // IEEE multiply or divide is correctly rounded (Clinger's fast path), which
  // covers nearly every value an exporter writes. The rest go to from_chars.
  const char* p = rest.data();
  const char* const e = p + rest.size();
  uint64_t mantissa = 0;
  int digits = 0;    // significant digits in mantissa
  int exp10 = 0;     // value = mantissa * 10^exp10
  bool any = false;  // saw at least one mantissa digit
  bool exact = true;
  for (; p < e && IsDigit(*p); ++p) {
    any = true;
    if (mantissa == 0 && *p == '0') continue;
    if (digits < 19) {
      mantissa = mantissa * 10 + static_cast<uint64_t>(*p - '0');
      ++digits;
    } else {
      exact = false;
    }
  }
  if (p < e && *p == '.') {
    for (++p; p < e && IsDigit(*p); ++p) {
      any = true;
      if (mantissa == 0 && *p == '0') {
        --exp10;
        continue;
      }
      if (digits < 19) {
        mantissa = mantissa * 10 + static_cast<uint64_t>(*p - '0');
        ++digits;
        --exp10;
      } else {
        exact = false;
      }
    }
  }
  if (!any) return false;
  if (p < e && (*p == 'e' || *p == 'E')) {
    ++p;
    bool exp_negative = false;
    if (p < e && (*p == '+' || *p == '-')) exp_negative = *p++ == '-';
    if (p == e || !IsDigit(*p)) return false;
    int exp = 0;
    for (; p < e && IsDigit(*p); ++p) {
      if (exp < 100000) exp = exp * 10 + (*p - '0');
    }
    exp10 += exp_negative ? -exp : exp;
  }
  if (p != e) return false;

  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  double v = 0;
  if (mantissa == 0 && exact) {
    v = 0;
  } else if (exact && mantissa <= (uint64_t{1} << 53) && exp10 >= -22 && exp10 <= 22) {
    v = static_cast<double>(mantissa);
    v = exp10 < 0 ? v / kPow10[-exp10] : v * kPow10[exp10];
  } else {
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v, std::chars_format::general);
    if (ec == std::errc::result_out_of_range) {
      if (!ParseOutOfRange(rest, &v)) return false;
    } else if (ec != std::errc() || ptr != rest.data() + rest.size()) {
      return false;
    }
  }
  *out = negative ? -v : v;
  return true;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  const char* begin = s.data();
  if (*begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), *out, 10);
  return ec == std::errc() && ptr == s.data() + s.size();
}

TimestampParse ParseSecondsToMillis(std::string_view s, int64_t* out) {
  // Exact path for plain decimals: [sign] digits [. digits].
  std::string_view rest = s;
  bool negative = false;
  if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  size_t i = 0;
  while (i < rest.size() && IsDigit(rest[i])) ++i;
  size_t int_digits = i;
  bool plain = i > 0 && i <= 15;
  if (plain && i < rest.size()) {
    if (rest[i] != '.') {
      plain = false;
    } else {
      ++i;
      while (i < rest.size() && IsDigit(rest[i])) ++i;
      plain = i == rest.size();
    }
  }
  if (plain) {
    int64_t secs = 0;
    for (size_t k = 0; k < int_digits; ++k) secs = secs * 10 + (rest[k] - '0');
    int64_t millis = 0;
    size_t frac = int_digits + 1;
    for (int k = 0; k < 3; ++k) {
      millis *= 10;
      if (frac + k < rest.size()) millis += rest[frac + k] - '0';
    }
    int64_t total = secs * 1000 + millis;  // secs < 1e15, cannot overflow
    *out = negative ? -total : total;
    return TimestampParse::kOk;
  }
  double v = 0;
  if (!ParseFloatValue(s, &v) || !std::isfinite(v)) return TimestampParse::kInvalid;
  double ms = std::trunc(v * 1000);
  // 2^63 is exactly representable; anything at or beyond it does not fit.
  if (!(ms >= -9223372036854775808.0 && ms < 9223372036854775808.0)) return TimestampParse::kOutOfRange;
  *out = static_cast<int64_t>(ms);
  return TimestampParse::kOk;
}

size_t FormatOpenMetricsFloat(double v, char* out) {
  auto put = [out](std::string_view s) {
    std::memcpy(out, s.data(), s.size());
    return s.size();
  };
  if (std::isnan(v)) return put("NaN");
  if (std::isinf(v)) return put(v > 0 ? "+Inf" : "-Inf");
  // to_chars' shortest "general" form follows the same %g rule as Go's
  // FormatFloat(v, 'g', -1, 64): scientific below 1e-4 and from 1e6 on, and
  // at least two exponent digits (float_test pins a few of Go's outputs).
  auto [ptr, ec] = std::to_chars(out, out + kMaxFormattedFloat - 2, v, std::chars_format::general);
  (void)ec;  // cannot fail: the shortest form of a double fits in 24 bytes
  size_t n = static_cast<size_t>(ptr - out);
  if (std::memchr(out, '.', n) == nullptr && std::memchr(out, 'e', n) == nullptr) {
    out[n++] = '.';
    out[n++] = '0';
  }
  return n;
}

}  // namespace promsidecar::textparse
