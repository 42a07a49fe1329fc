#include "common/kube/retry.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace promsidecar::kube {

bool IsRetryable(const ApiError& error, http::FailureKind failure, bool idempotent) {
  if (error.transport_failure()) {
    switch (failure) {
      case http::FailureKind::kConnect: return true;
      case http::FailureKind::kConnectionLost:
      case http::FailureKind::kTimeout: return idempotent;
      default: return false;
    }
  }
  if (error.code == 429 || error.code == 503) return true;
  if (error.code >= 500 && error.code <= 599) return idempotent;
  return false;
}

std::optional<std::chrono::milliseconds> RetryDelay(const RetryPolicy& policy, int attempt,
                                                    std::optional<std::chrono::seconds> retry_after,
                                                    double jitter_sample) {
  double base = static_cast<double>(policy.initial_backoff.count()) *
                std::pow(policy.multiplier, static_cast<double>(std::max(0, attempt - 1)));
  base = std::min(base, static_cast<double>(policy.max_backoff.count()));
  double j = std::clamp(policy.jitter, 0.0, 1.0) * std::clamp(jitter_sample, 0.0, 1.0);
  auto delay = std::chrono::milliseconds(static_cast<int64_t>(base * (1.0 - j)));
  if (retry_after) {
    auto ra = std::chrono::duration_cast<std::chrono::milliseconds>(*retry_after);
    if (ra > policy.max_retry_after) return std::nullopt;
    delay = std::max(delay, ra);
  }
  return delay;
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  int64_t seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || ptr != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

}  // namespace promsidecar::kube
