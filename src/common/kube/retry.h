// When and how long to wait before retrying an API request (pure).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "common/http/client.h"
#include "common/kube/errors.h"

namespace promsidecar::kube {

struct RetryPolicy {
  int max_attempts = 5;  // including the first
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5'000};
  double multiplier = 2.0;
  // A Retry-After longer than this is not waited for (the error is returned).
  std::chrono::milliseconds max_retry_after{30'000};
  // Fraction of the backoff replaced by jitter: delay in [b*(1-j), b].
  double jitter = 0.2;
};

// Whether an attempt that failed with `error` may be repeated. 429 and 503
// always (the server did not act); other 5xx and connections that broke or
// timed out mid-request only for idempotent requests; connection failures
// before anything was sent always.
bool IsRetryable(const ApiError& error, http::FailureKind failure, bool idempotent);

// The wait before attempt `attempt` + 1 (attempt counts from 1): exponential
// from initial_backoff, capped at max_backoff, with jitter drawn from
// `jitter_sample` in [0, 1); at least the server's Retry-After.
// nullopt: Retry-After exceeds max_retry_after, give up.
std::optional<std::chrono::milliseconds> RetryDelay(const RetryPolicy& policy, int attempt,
                                                    std::optional<std::chrono::seconds> retry_after,
                                                    double jitter_sample);

// Parses a Retry-After header value in seconds ("3"); HTTP dates are not
// sent by the API server and yield nullopt.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value);

}  // namespace promsidecar::kube
