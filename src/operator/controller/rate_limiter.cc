#include "operator/controller/rate_limiter.h"

#include <algorithm>

namespace promsidecar::controller {

SlidingWindowLimiter::SlidingWindowLimiter(int max_per_window, std::chrono::milliseconds window)
    : max_(std::max(0, max_per_window)), window_(window) {}

void SlidingWindowLimiter::ExpireLocked(Clock::time_point now) const {
  while (!taken_.empty() && now - taken_.front() >= window_) taken_.pop_front();
}

bool SlidingWindowLimiter::TryAcquire(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now);
  if (static_cast<int>(taken_.size()) >= max_) return false;
  taken_.push_back(now);
  return true;
}

std::chrono::milliseconds SlidingWindowLimiter::WaitTime(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (max_ == 0) return std::chrono::milliseconds::max();
  ExpireLocked(now);
  if (static_cast<int>(taken_.size()) < max_) return std::chrono::milliseconds(0);
  // The oldest slot frees first; round up so a retry at now+WaitTime succeeds.
  auto left = taken_.front() + window_ - now;
  return std::chrono::ceil<std::chrono::milliseconds>(left);
}

bool OncePerKey::Due(const std::string& key, Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = last_.find(key);
  return it == last_.end() || now - it->second >= interval_;
}

void OncePerKey::Mark(const std::string& key, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = last_.begin(); it != last_.end();) {
    it = now - it->second >= interval_ ? last_.erase(it) : std::next(it);
  }
  last_[key] = now;
}

size_t OncePerKey::Size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_.size();
}

}  // namespace promsidecar::controller
