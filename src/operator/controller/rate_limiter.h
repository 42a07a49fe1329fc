// Bounds on how fast the controller disturbs running workloads: at most N
// actions in any minute (SlidingWindowLimiter), and each target at most once
// per interval (OncePerKey). Time is passed in, so both are pure and
// table-testable; both are thread-safe (the repair loop and the reconcile
// worker share them).
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace promsidecar::controller {

class SlidingWindowLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // At most `max_per_window` acquisitions in any `window`; 0 allows none.
  explicit SlidingWindowLimiter(int max_per_window,
                                std::chrono::milliseconds window = std::chrono::minutes(1));

  // Takes a slot when one is free at `now`.
  bool TryAcquire(Clock::time_point now);
  // How long from `now` until TryAcquire can succeed (zero: now). The maximum
  // duration when max_per_window is 0.
  std::chrono::milliseconds WaitTime(Clock::time_point now) const;

 private:
  void ExpireLocked(Clock::time_point now) const;
  const int max_;
  const std::chrono::milliseconds window_;
  mutable std::mutex mu_;
  mutable std::deque<Clock::time_point> taken_;  // at most max_ entries
};

class OncePerKey {
 public:
  using Clock = std::chrono::steady_clock;
  explicit OncePerKey(std::chrono::milliseconds interval) : interval_(interval) {}

  // True when `key` was not marked within the interval before `now`.
  bool Due(const std::string& key, Clock::time_point now) const;
  // Records `key` at `now`; forgets keys older than the interval (the map
  // holds only keys marked in the last interval).
  void Mark(const std::string& key, Clock::time_point now);
  size_t Size() const;

 private:
  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::map<std::string, Clock::time_point> last_;
};

}  // namespace promsidecar::controller
