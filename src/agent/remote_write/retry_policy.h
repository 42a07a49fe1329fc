// What to do with the result of one remote-write request, decided in one
// place (remote write 1.0, "Retries & Backoff"), and how long to wait before
// the next try. Pure: time and randomness are passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/util/result.h"

namespace promsidecar::remote_write {

// The part of an HTTP response the policy looks at.
struct HttpResult {
  int status = 0;
  std::string retry_after;  // the Retry-After header, verbatim ("" if absent)
  std::string body;         // the start of the body, for the log only
  // Remote write 2.0's X-Prometheus-Remote-Write-{Samples,Histograms,
  // Exemplars}-Written response headers, when present and numeric.
  std::optional<uint64_t> samples_written;
  std::optional<uint64_t> histograms_written;
  std::optional<uint64_t> exemplars_written;
  bool any_written_header() const { return samples_written || histograms_written || exemplars_written; }
};

enum class Outcome {
  kOk,     // 2xx: done
  kRetry,  // 5xx, 429 when allowed, network error or timeout: try again later
  kDrop,   // any other status: the request can never succeed; drop and count it
};
std::string_view OutcomeName(Outcome o);

struct Decision {
  Outcome outcome = Outcome::kOk;
  // The server's Retry-After, already capped (RetryOptions::max_retry_after),
  // when it sent one with a retryable answer.
  std::optional<std::chrono::milliseconds> retry_after;
};

struct RetryOptions {
  std::chrono::milliseconds min_backoff{30};  // Prometheus's defaults
  std::chrono::milliseconds max_backoff{5000};
  bool retry_on_http_429 = false;
  // A Retry-After above this is cut to it: a receiver asking for an hour
  // would otherwise stall this sender while the WAL grows (other senders are
  // unaffected). Five minutes keeps a throttled sender polite but alive.
  std::chrono::milliseconds max_retry_after{std::chrono::minutes(5)};
};

// Maps a transport result (an error means the request did not complete:
// connection failure, TLS failure, timeout) to an outcome. 3xx and 1xx are
// DROP: curl follows no redirects, and a 1.0 sender must not retry 4xx-like
// answers. Retry-After is honoured on 5xx and on retried 429.
Decision Classify(const Result<HttpResult>& result, const RetryOptions& options,
                  std::chrono::system_clock::time_point now);

// Retry-After: delay-seconds or an HTTP-date (IMF-fixdate, RFC 850 or asctime
// form, RFC 9110 10.2.3). A date in the past is zero; garbage is nullopt.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         std::chrono::system_clock::time_point now);

// Exponential backoff: min_backoff, doubling on every failure up to
// max_backoff, reset by a success. Thousands of sidecars that failed together
// must not retry together, so each wait is base * f, with f drawn uniformly
// from [1/2, 1] once per failure streak rather than per wait: the k-th retries
// of a fleet are then spread uniformly over half the time elapsed (per-wait
// draws average out and bunch up again), and one sender's waits still never
// shrink, which is what a receiver watching one sender expects of exponential
// backoff. The wait never exceeds max_backoff.
class Backoff {
 public:
  // `uniform01` returns a number in [0, 1); injectable for tests.
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, std::function<double()> uniform01);

  std::chrono::milliseconds Next();
  void Reset() {
    base_ = min_;
    factor_.reset();
  }
  std::chrono::milliseconds base() const { return base_; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds base_;
  std::optional<double> factor_;  // this streak's f, drawn at its first wait
  std::function<double()> uniform01_;
};

// The wait before the next try after a RETRY decision: the server's
// Retry-After when it gave one (never below min_backoff, so "0" does not spin),
// else the backoff's next step. Advances the backoff either way.
std::chrono::milliseconds RetryDelay(const Decision& decision, const RetryOptions& options, Backoff& backoff);

}  // namespace promsidecar::remote_write
