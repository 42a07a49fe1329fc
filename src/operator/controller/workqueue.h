// A deduplicating work queue of string keys with per-key exponential backoff
// for retries, like client-go's rate-limited queue reduced to one worker.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace promsidecar::controller {

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;
  explicit WorkQueue(std::chrono::milliseconds base_delay = std::chrono::milliseconds(200),
                     std::chrono::milliseconds max_delay = std::chrono::seconds(60))
      : base_delay_(base_delay), max_delay_(max_delay) {}

  // Queues `key` unless it is already queued.
  void Add(const std::string& key);
  // Queues `key` after its next backoff delay (doubling per consecutive failure).
  void AddRateLimited(const std::string& key);
  // Queues `key` once `delay` has passed (work deferred by a rate limit, not a
  // failure: the backoff is untouched). A key already due earlier is not added twice.
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);
  // Clears the failure count of `key` (call after a successful reconcile).
  void Forget(const std::string& key);
  // Blocks until a key is ready or `timeout` passes or ShutDown().
  std::optional<std::string> Get(std::chrono::milliseconds timeout);
  // Marks the key processed; re-queues it if it was added while processing.
  void Done(const std::string& key);
  void ShutDown();
  size_t Len() const;
  int Failures(const std::string& key) const;

 private:
  void PromoteDueLocked(Clock::time_point now);
  std::chrono::milliseconds base_delay_, max_delay_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> queued_;
  std::set<std::string> processing_;
  std::set<std::string> dirty_;  // added while processing
  std::multimap<Clock::time_point, std::string> delayed_;
  std::map<std::string, int> failures_;
  bool shutdown_ = false;
};

}  // namespace promsidecar::controller
