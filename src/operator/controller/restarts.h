// Workload restarts, the way `kubectl rollout restart` does them, for the
// repair report (--repair.enabled) and updateStrategy Rollout: resolve the
// pod's Deployment (through its ReplicaSet), StatefulSet or DaemonSet, patch
// its template's restartedAt, leave a Normal Event on it. Bounded: at most
// max_per_minute restarts (both callers together), and a workload restarted
// within min_interval (by us, a previous leader or kubectl) is left alone.
// Held back (as if rate-limited) while the injection webhook is unreachable
// (webhook_ready.h): the restarted pods would come up without the sidecar.
//
// Thread-safety: the reconcile worker and the repair loop share it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "common/kube/client.h"
#include "common/metrics/metrics.h"
#include "operator/cache/objects.h"
#include "operator/controller/api_calls.h"
#include "operator/controller/events.h"
#include "operator/controller/rate_limiter.h"

namespace promsidecar::controller {

// The optional RBAC that restarting workloads and patching pods need.
inline constexpr const char* kOptionalRbac = "deploy/optional/restart-workloads-rbac.yaml";
inline constexpr const char* kOptionalRbacFix =
    "kubectl apply -f deploy/optional/restart-workloads-rbac.yaml (binds the ClusterRole "
    "promsidecar-restart-workloads to the operator's ServiceAccount)";

struct RestarterOptions {
  int max_per_minute = 5;
  std::chrono::seconds min_interval{3600};
  // Whether the injection webhook can be reached now; unset: always.
  std::function<bool()> webhook_reachable;
};

class Restarter {
 public:
  enum class Outcome { kRestarted, kNotRestartable, kRecentlyRestarted, kRateLimited, kForbidden, kFailed };

  // `restarts`: promsidecar_operator_owner_restarts_total{reason,outcome}.
  Restarter(kube::Client& client, ApiCalls& calls, EventRecorder& events,
            metrics::Family<metrics::Counter>* restarts, RestarterOptions options);

  // reason: "repair" or "rollout"; why: for the log and the Event.
  Outcome RestartOwnerOf(const cache::PodMeta& pod, const std::string& reason, const std::string& why);
  // How long until the rate limit (or the webhook's readiness) allows a restart.
  std::chrono::milliseconds WaitTime() const;

 private:
  kube::Client& client_;
  ApiCalls& calls_;
  EventRecorder& events_;
  metrics::Family<metrics::Counter>* restarts_;
  RestarterOptions options_;
  SlidingWindowLimiter limiter_;
  OncePerKey restarted_;
  std::atomic<bool> held_for_webhook_{false};
};

}  // namespace promsidecar::controller
