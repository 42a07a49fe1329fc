// The client-side bound on how fast a process writes to the API server: a
// token bucket of `qps` tokens per second holding at most `burst`. Time is
// passed in, so it is pure and table-testable; thread-safe.
#pragma once

#include <chrono>
#include <mutex>

namespace promsidecar::kube {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  // Starts full. qps <= 0 never delays.
  TokenBucket(double qps, int burst, Clock::time_point now);

  // Takes a token and returns how long the caller must wait before using it
  // (zero when one was there). Tokens are reserved in call order, so callers
  // that each write one request at a time interleave: a leader-election
  // renewal waits for at most one queued write, not for a whole fan-out.
  Clock::duration Reserve(Clock::time_point now);

 private:
  const double qps_;
  const double burst_;
  std::mutex mu_;
  double tokens_;  // may go negative: tokens promised to waiting callers
  Clock::time_point last_;
};

}  // namespace promsidecar::kube
