// The repair report's pure pieces: which pods lack a sidecar they should
// have (created while the webhook was unreachable: failurePolicy Ignore lets
// them through), and which workload to restart so that the webhook sees
// their pods again.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/cache/objects.h"
#include "operator/inject/inject.h"

namespace promsidecar::controller {

// The annotation `kubectl rollout restart` sets on a pod template.
inline constexpr const char* kRestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt";

// The agent ("ns/name") that should have injected this pod, or "" when the
// pod is not a repair case. The pod is known by its metadata (the cache's
// PodMeta): Decide runs on its class (ClassPod, upgrade.h), so opt-in
// (including legacy prometheus.io/scrape where the chosen agent honours it),
// excluded namespaces, agent selection and namespace admission are decided
// exactly as the webhook would. Pods that carry our status annotation, our
// injection label or a deletionTimestamp are not repair cases.
std::string UninjectedAgent(const cache::PodMeta& pod, const inject::ClusterFacts& facts);

// What restarting a pod's owner means. A ReplicaSet's owner is its
// Deployment, which needs the ReplicaSet object: the first call (without it)
// answers kNeedReplicaSet, the second (with it) the workload.
struct Workload {
  enum class Kind { kNone, kDeployment, kStatefulSet, kDaemonSet };
  Kind kind = Kind::kNone;
  std::string ns, name;
  std::string why;               // kNone: why it is only reported (for logs and Events)
  std::string need_replica_set;  // set: fetch this ReplicaSet and call again
  std::string Key() const;       // "Deployment/ns/name"
  std::string KindName() const;  // "Deployment"
  std::string Plural() const;    // "deployments"
};
// `owner` is the pod's controlling owner (cache::ControllerOf).
Workload ResolveWorkload(const std::string& ns, const std::optional<cache::OwnerRef>& owner,
                         const nlohmann::json& replica_set = nullptr);

// The merge patch `kubectl rollout restart` sends: the pod template's
// restartedAt annotation set to `now` (RFC 3339).
nlohmann::json RestartPatch(const std::string& now);

// Whether the workload's template carries a restartedAt newer than
// `now - interval` (a restart by us, another replica before a leader change,
// or kubectl): then it is not restarted again.
bool RestartedWithin(const nlohmann::json& workload, std::chrono::system_clock::time_point now,
                     std::chrono::seconds interval);

}  // namespace promsidecar::controller
