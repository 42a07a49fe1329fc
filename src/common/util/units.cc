#include "common/util/units.h"

#include <array>
#include <limits>

namespace promsidecar::units {
namespace {

struct Unit {
  std::string_view suffix;
  int64_t millis;
};

// Longest suffixes first where one is a prefix of another ("ms" before "m").
constexpr std::array<Unit, 7> kDurationUnits{{
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
}};

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

Result<Millis> ParseDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return MakeError("invalid duration \"" + std::string(text) + "\": " + std::string(why) +
                     " (use e.g. 30s, 1m30s, 2h, 500ms)");
  };
  if (text.empty()) return bad("empty");
  if (text == "0") return Millis(0);
  int64_t total = 0;
  size_t next_unit = 0;  // units must appear in kDurationUnits order, once each
  size_t i = 0;
  while (i < text.size()) {
    if (!IsDigit(text[i])) return bad("expected a number");
    int64_t n = 0;
    while (i < text.size() && IsDigit(text[i])) {
      if (n > (std::numeric_limits<int64_t>::max() - 9) / 10) return bad("too large");
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    size_t end = i;
    while (end < text.size() && !IsDigit(text[end])) ++end;
    std::string_view suffix = text.substr(i, end - i);
    if (suffix.empty()) return bad("missing unit");
    size_t u = next_unit;
    while (u < kDurationUnits.size() && kDurationUnits[u].suffix != suffix) ++u;
    if (u == kDurationUnits.size()) return bad("unknown or repeated unit \"" + std::string(suffix) + "\"");
    if (n != 0 && kDurationUnits[u].millis > std::numeric_limits<int64_t>::max() / n) return bad("too large");
    int64_t add = n * kDurationUnits[u].millis;
    if (total > std::numeric_limits<int64_t>::max() - add) return bad("too large");
    total += add;
    next_unit = u + 1;
    i = end;
  }
  return Millis(total);
}

std::string FormatDuration(Millis d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (const Unit& u : kDurationUnits) {
    // Prometheus prints weeks and years only when exact; days always fold in.
    if (u.suffix == "y" || u.suffix == "w") {
      if (ms % u.millis != 0) continue;
    }
    if (ms >= u.millis) {
      out += std::to_string(ms / u.millis);
      out += u.suffix;
      ms %= u.millis;
    }
  }
  return out;
}

Result<uint64_t> ParseBytes(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return MakeError("invalid size \"" + std::string(text) + "\": " + std::string(why) +
                     " (use e.g. 512KB, 10MB, 1GiB; units are powers of 1024)");
  };
  size_t i = 0;
  uint64_t n = 0;
  if (text.empty()) return bad("empty");
  while (i < text.size() && IsDigit(text[i])) {
    if (n > (std::numeric_limits<uint64_t>::max() - 9) / 10) return bad("too large");
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) return bad("expected a number");
  std::string_view suffix = text.substr(i);
  if (suffix.empty() && n == 0) return uint64_t{0};
  static constexpr std::array<std::string_view, 7> kPrefixes{"", "K", "M", "G", "T", "P", "E"};
  for (size_t p = 0; p < kPrefixes.size(); ++p) {
    std::string b = std::string(kPrefixes[p]) + "B";
    std::string ib = p == 0 ? b : std::string(kPrefixes[p]) + "iB";
    if (suffix == b || suffix == ib) {
      uint64_t mult = uint64_t{1} << (10 * p);
      if (n != 0 && mult > std::numeric_limits<uint64_t>::max() / n) return bad("too large");
      return n * mult;
    }
  }
  return bad(suffix.empty() ? "missing unit" : "unknown unit \"" + std::string(suffix) + "\"");
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr std::array<std::string_view, 7> kUnits{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  size_t u = 0;
  while (u + 1 < kUnits.size() && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++u;
  }
  return std::to_string(bytes) + std::string(kUnits[u]);
}

}  // namespace promsidecar::units
