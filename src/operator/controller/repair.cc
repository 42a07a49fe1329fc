#include "operator/controller/repair.h"

#include "common/util/json_access.h"
#include "common/util/time.h"
#include "operator/api/well_known.h"
#include "operator/controller/upgrade.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;

using util::At;
using util::Str;

}  // namespace

std::string UninjectedAgent(const cache::PodMeta& pod, const inject::ClusterFacts& facts) {
  if (pod.deleting || pod.status_annotation || pod.injection != cache::Injection::kNone) return "";
  const auto r = inject::Decide(ClassPod(pod), std::string(pod.ns), facts);
  return r.outcome == inject::Outcome::kInjected ? r.agent : "";
}

std::string Workload::KindName() const {
  switch (kind) {
    case Kind::kDeployment: return "Deployment";
    case Kind::kStatefulSet: return "StatefulSet";
    case Kind::kDaemonSet: return "DaemonSet";
    case Kind::kNone: break;
  }
  return "";
}

std::string Workload::Plural() const {
  switch (kind) {
    case Kind::kDeployment: return "deployments";
    case Kind::kStatefulSet: return "statefulsets";
    case Kind::kDaemonSet: return "daemonsets";
    case Kind::kNone: break;
  }
  return "";
}

std::string Workload::Key() const {
  return KindName() + "/" + ns + "/" + name;
}

Workload ResolveWorkload(const std::string& ns, const std::optional<cache::OwnerRef>& owner,
                         const json& replica_set) {
  Workload w;
  w.ns = ns;
  if (!owner) {
    w.why = "a bare pod (no controller owns it): delete and recreate it yourself";
    return w;
  }
  const bool apps = owner->api_version == "apps/v1";
  if (apps && owner->kind == "StatefulSet") {
    w.kind = Workload::Kind::kStatefulSet;
    w.name = owner->name;
    return w;
  }
  if (apps && owner->kind == "DaemonSet") {
    w.kind = Workload::Kind::kDaemonSet;
    w.name = owner->name;
    return w;
  }
  if (apps && owner->kind == "ReplicaSet") {
    if (replica_set.is_null()) {
      w.need_replica_set = owner->name;
      return w;
    }
    const auto rs_owner = cache::ControllerOf(replica_set);
    if (rs_owner && rs_owner->api_version == "apps/v1" && rs_owner->kind == "Deployment") {
      w.kind = Workload::Kind::kDeployment;
      w.name = rs_owner->name;
      return w;
    }
    w.why = "owned by ReplicaSet " + owner->name + ", which no Deployment controls";
    return w;
  }
  w.why =
      "owned by " + std::string(owner->kind) + " " + owner->name + ", which the operator does not restart";
  return w;
}

json RestartPatch(const std::string& now) {
  return {{"spec", {{"template", {{"metadata", {{"annotations", {{kRestartedAtAnnotation, now}}}}}}}}}};
}

bool RestartedWithin(const json& workload, std::chrono::system_clock::time_point now,
                     std::chrono::seconds interval) {
  const std::string at =
      Str(At(At(At(At(workload, "spec"), "template"), "metadata"), "annotations"), kRestartedAtAnnotation);
  const auto when = util::ParseRfc3339(at);
  return when && now - *when < interval;
}

}  // namespace promsidecar::controller
