// The executor of spec.sidecar.updateStrategy for outdated pods (docs/operator.md):
//   None     nothing (they are counted in status.outdatedPods);
//   InPlace  the one pod is read (GET) and, when only the agent container's
//            image differs (CheckInjectedPod), that image is patched in place;
//            the upgrade is confirmed by the container status, read again with
//            a GET when the pod changes;
//   Rollout  with --rollout.enabled, the pod's workload is restarted (Restarter).
// Bounded by rate limits; Warning Events when it may not act.
//
// Thread-safety: Apply and CheckPending run on the reconcile worker;
// ExpirePending on the repair loop; the rest anywhere.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/kube/client.h"
#include "common/metrics/metrics.h"
#include "operator/cache/objects.h"
#include "operator/controller/api_calls.h"
#include "operator/controller/events.h"
#include "operator/controller/rate_limiter.h"
#include "operator/controller/restarts.h"
#include "operator/controller/upgrade.h"

namespace promsidecar::controller {

// A pod whose injected hash is not what its agent would inject now, and
// that hash (CheckPodMeta's want_hash).
struct OutdatedPod {
  cache::ObjectPtr<cache::PodMeta> pod;
  std::string want_hash;
};

struct UpgraderOptions {
  // Act on updateStrategy: Rollout (restarting workloads is an install-time
  // permission, so agents cannot turn it on by themselves).
  bool rollout_enabled = false;
  int max_in_place_per_minute = 30;
  // An in-place upgrade whose container status has not confirmed it by then
  // is given up on (counted, logged).
  std::chrono::seconds confirm_timeout{3600};
};

class Upgrader {
 public:
  // `in_place`: promsidecar_operator_in_place_upgrades_total{outcome}.
  Upgrader(kube::Client& client, ApiCalls& calls, EventRecorder& events, Restarter& restarter,
           metrics::Family<metrics::Counter>* in_place, UpgraderOptions options);

  // Carries out the agent's strategy for its outdated pods. `facts_for`
  // gives the facts of a namespace; `kubelets` the kubelet versions that
  // count; `leading` stops it when leadership is lost. Returns how long to
  // wait before coming back when a rate limit stopped it.
  std::optional<std::chrono::milliseconds> Apply(
      const cache::AgentObject& agent, const std::vector<OutdatedPod>& outdated,
      const std::function<inject::ClusterFacts(const std::string& ns)>& facts_for,
      const std::vector<std::string>& kubelets, const std::function<bool()>& leading);

  bool IsPending(const std::string& uid) const;
  // A pending pod changed: read it and confirm the upgrade when its agent
  // container runs the new image.
  void CheckPending(const std::string& ns, const std::string& name);
  // The pod is gone.
  void Forget(const std::string& uid);
  void ExpirePending();
  size_t PendingCount() const;

 private:
  struct Pending {
    std::string ns, name, agent, image;
    AgentContainerStatus before;
    std::chrono::steady_clock::time_point since;
  };
  void InPlace(const cache::AgentObject& agent, const std::vector<OutdatedPod>& outdated,
               const std::function<inject::ClusterFacts(const std::string& ns)>& facts_for,
               const std::vector<std::string>& kubelets, const std::function<bool()>& leading,
               std::optional<std::chrono::milliseconds>* come_back);
  // A Warning on the agent, once per process per agent and cause.
  void WarnOnce(const cache::AgentObject& agent, const std::string& reason, const std::string& id,
                const std::string& note);

  kube::Client& client_;
  ApiCalls& calls_;
  EventRecorder& events_;
  Restarter& restarter_;
  metrics::Family<metrics::Counter>* in_place_;
  UpgraderOptions options_;
  SlidingWindowLimiter limiter_;
  mutable std::mutex mu_;
  std::map<std::string, Pending> pending_;        // by pod UID
  std::map<std::string, std::string> ruled_out_;  // pod UID → want hash: read, not image-only
  std::set<std::string> warned_;
};

}  // namespace promsidecar::controller
