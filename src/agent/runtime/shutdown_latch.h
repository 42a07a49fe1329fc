// A one-way "shutdown was requested" flag that threads can wait on: set from
// the signal-handling thread, waited on by main(). Shared by the agent and the renderer.
#pragma once

#include <condition_variable>
#include <mutex>

namespace promsidecar::agent {

class ShutdownLatch {
 public:
  void Request() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requested_ = true;
    }
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return requested_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false;
};

}  // namespace promsidecar::agent
