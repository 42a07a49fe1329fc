// Time for the sender: a clock and an interruptible wait, injectable so
// tests neither sleep nor depend on the machine's speed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace promsidecar::remote_write {

// A flag that wakes a waiting sender (shutdown, new configuration).
class Wakeup {
 public:
  void Notify() {
    {
      std::lock_guard lock(mu_);
      notified_ = true;
    }
    cv_.notify_all();
  }
  bool notified() const {
    std::lock_guard lock(mu_);
    return notified_;
  }
  void Reset() {
    std::lock_guard lock(mu_);
    notified_ = false;
  }
  // Waits for Notify() or `deadline` (real time); true if notified.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [this] { return notified_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() = 0;
  virtual std::chrono::system_clock::time_point WallNow() = 0;
  // Returns at `t` or earlier when `wakeup` is notified.
  virtual void SleepUntil(TimePoint t, Wakeup& wakeup) = 0;
};

class RealClock : public Clock {
 public:
  TimePoint Now() override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point WallNow() override { return std::chrono::system_clock::now(); }
  void SleepUntil(TimePoint t, Wakeup& wakeup) override { wakeup.WaitUntil(t); }
};

}  // namespace promsidecar::remote_write
