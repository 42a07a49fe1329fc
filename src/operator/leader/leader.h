// Leader election with a coordination.k8s.io/v1 Lease, as client-go does it:
// the holder renews spec.renewTime every retry period; another candidate takes
// the lease over once it has seen no renewal for leaseDurationSeconds (timed
// with its own clock from when it observed the record change, so clock skew
// between replicas does not matter); the holder gives up leadership when it
// could not renew within the renew deadline, and releases the lease on
// shutdown (holderIdentity cleared) so a successor takes over at once.
//
// Renewals are writes: the only writes an idle operator makes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"

namespace promsidecar::leader {

struct LeaseOptions {
  std::string ns;
  std::string name = "promsidecar-operator";
  std::string identity;  // unique per replica (pod name + random suffix)
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{2};
};

kube::Resource Leases();

// Pure: whether a candidate that last saw the record change at `observed`
// may take it over at `now`.
bool LeaseExpired(std::chrono::steady_clock::time_point observed, std::chrono::steady_clock::time_point now,
                  std::chrono::seconds lease_duration);

class LeaderElector {
 public:
  // `on_change(true)` when this replica becomes the leader, `on_change(false)`
  // when it stops being one; called from the elector's thread.
  LeaderElector(kube::Client& client, LeaseOptions options, std::function<void(bool)> on_change);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void Start();
  // Stops campaigning; a leader releases the lease first.
  void Stop();
  bool IsLeader() const { return leading_.load(); }
  const std::string& identity() const { return options_.identity; }

  // One acquire-or-renew attempt (tests); true when this replica holds the lease afterwards.
  bool TryAcquireOrRenew();

 private:
  void Run();
  void SetLeading(bool leading);
  void Release();

  kube::Client& client_;
  LeaseOptions options_;
  std::function<void(bool)> on_change_;
  std::atomic<bool> leading_{false};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  // The last record seen and when (our clock).
  std::string observed_record_;
  std::chrono::steady_clock::time_point observed_at_{};
  std::chrono::steady_clock::time_point last_renew_{};
};

}  // namespace promsidecar::leader
