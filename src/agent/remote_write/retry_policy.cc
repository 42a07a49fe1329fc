#include "agent/remote_write/retry_policy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <utility>
#include <vector>

namespace promsidecar::remote_write {

using std::chrono::milliseconds;
using std::chrono::system_clock;

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kOk: return "ok";
    case Outcome::kRetry: return "retry";
    case Outcome::kDrop: return "drop";
  }
  return "unknown";
}

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseUint(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

int MonthIndex(std::string_view m) {
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == m) return static_cast<int>(i) + 1;
  }
  return 0;
}

// "HH:MM:SS"
bool ParseClock(std::string_view s, int& h, int& m, int& sec) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return false;
  int64_t a, b, c;
  if (!ParseUint(s.substr(0, 2), a) || !ParseUint(s.substr(3, 2), b) || !ParseUint(s.substr(6, 2), c)) {
    return false;
  }
  if (a > 23 || b > 59 || c > 60) return false;
  h = static_cast<int>(a);
  m = static_cast<int>(b);
  sec = static_cast<int>(c);
  return true;
}

std::vector<std::string_view> Fields(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == sep) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != sep) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<system_clock::time_point> ParseHttpDate(std::string_view s) {
  auto f = Fields(s, ' ');
  int day = 0, month = 0, h = 0, m = 0, sec = 0;
  int64_t year = 0, d = 0;
  if (f.size() == 6 && f[0].size() == 4 && f[0][3] == ',' && f[5] == "GMT") {
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    if (!ParseUint(f[1], d) || !ParseUint(f[3], year) || !ParseClock(f[4], h, m, sec)) return std::nullopt;
    month = MonthIndex(f[2]);
  } else if (f.size() == 4 && f[0].back() == ',' && f[3] == "GMT") {
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    auto dmy = Fields(f[1], '-');
    if (dmy.size() != 3 || !ParseUint(dmy[0], d) || !ParseUint(dmy[2], year) ||
        !ParseClock(f[2], h, m, sec)) {
      return std::nullopt;
    }
    month = MonthIndex(dmy[1]);
    if (dmy[2].size() == 2) year += year < 70 ? 2000 : 1900;  // RFC 9110: 50-year rule, simplified
  } else if (f.size() == 5) {
    // asctime: Sun Nov  6 08:49:37 1994
    if (!ParseUint(f[2], d) || !ParseClock(f[3], h, m, sec) || !ParseUint(f[4], year)) return std::nullopt;
    month = MonthIndex(f[1]);
  } else {
    return std::nullopt;
  }
  day = static_cast<int>(d);
  if (month == 0 || day < 1 || day > 31 || year < 1970 || year > 9999) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(static_cast<int>(year)), std::chrono::month(month),
                                  std::chrono::day(day)};
  if (!ymd.ok()) return std::nullopt;
  return system_clock::time_point(std::chrono::sys_days(ymd).time_since_epoch() + std::chrono::hours(h) +
                                  std::chrono::minutes(m) + std::chrono::seconds(sec));
}

}  // namespace

std::optional<milliseconds> ParseRetryAfter(std::string_view value, system_clock::time_point now) {
  value = Trim(value);
  int64_t secs = 0;
  if (ParseUint(value, secs)) {
    // Anything past a day is capped by the caller anyway; avoid overflow here.
    return milliseconds(std::min<int64_t>(secs, 86400) * 1000);
  }
  auto when = ParseHttpDate(value);
  if (!when) return std::nullopt;
  if (*when <= now) return milliseconds(0);
  return std::chrono::duration_cast<milliseconds>(*when - now);
}

Decision Classify(const Result<HttpResult>& result, const RetryOptions& options,
                  system_clock::time_point now) {
  Decision d;
  if (!result.ok()) {
    d.outcome = Outcome::kRetry;
    return d;
  }
  int status = result->status;
  if (status >= 200 && status < 300) {
    d.outcome = Outcome::kOk;
    return d;
  }
  bool retry = (status >= 500 && status < 600) || (status == 429 && options.retry_on_http_429);
  if (!retry) {
    d.outcome = Outcome::kDrop;
    return d;
  }
  d.outcome = Outcome::kRetry;
  if (!result->retry_after.empty()) {
    if (auto ra = ParseRetryAfter(result->retry_after, now)) {
      d.retry_after = std::min(*ra, options.max_retry_after);
    }
  }
  return d;
}

Backoff::Backoff(milliseconds min, milliseconds max, std::function<double()> uniform01)
    : min_(std::max(min, milliseconds(1))),
      max_(std::max(max, min_)),
      base_(min_),
      uniform01_(std::move(uniform01)) {}

milliseconds Backoff::Next() {
  milliseconds base = base_;
  base_ = std::min(base_ * 2, max_);
  if (!factor_) factor_ = uniform01_ ? std::clamp(uniform01_(), 0.0, 1.0) : 0.0;
  auto half = base / 2;
  return half + milliseconds(static_cast<int64_t>(static_cast<double>((base - half).count()) * *factor_));
}

milliseconds RetryDelay(const Decision& decision, const RetryOptions& options, Backoff& backoff) {
  milliseconds step = backoff.Next();
  if (decision.retry_after) return std::max(*decision.retry_after, options.min_backoff);
  return step;
}

}  // namespace promsidecar::remote_write
