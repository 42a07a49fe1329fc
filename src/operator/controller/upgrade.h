// Outdated injected pods and what spec.sidecar.updateStrategy does about
// them. Pure: a pod plus the cluster facts in, a decision or a JSON patch
// out; the executors (upgrades.h) do the API calls.
//
// "What the agent would inject now" is always inject::Decide; the hash is
// Decide's fragment_hash, never recomputed here. The controller knows pods by
// their metadata only (cache::PodMeta): CheckPodMeta runs Decide on the pod's
// class (the metadata inputs Decide reads plus the grace period stamped at
// injection), once per class, not once per pod. Only for InPlace does a pod's
// spec matter (which container, which image): CheckInjectedPod on the one pod
// read with a GET.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/cache/objects.h"
#include "operator/inject/inject.h"

namespace promsidecar::controller {

enum class PodDrift {
  kCurrent,        // injected hash and agent version are what Decide gives now
  kImageOnly,      // only the agent container's image differs: an in-place patch suffices
  kNeedsRestart,   // something else differs: only a new pod can get it
  kNotInjectable,  // Decide would not inject the pod now (agent paused, namespace no longer admitted...)
  kOutdated,       // CheckPodMeta: differs; the spec (a GET) tells kImageOnly from kNeedsRestart
};
std::string_view DriftName(PodDrift drift);

struct PodCheck {
  PodDrift drift = PodDrift::kCurrent;
  std::string agent;         // the agent Decide picks now ("ns/name"); empty when none
  std::string want_hash;     // kInjectedHashAnnotation as Decide would set it now
  std::string want_version;  // kAgentVersionAnnotation as Decide would set it now
  std::string want_image;    // the agent container's image Decide would inject now
};

// Compares an injected pod with what Decide would inject now. kImageOnly is
// established by Decide too: pinned to the image the pod runs, Decide must
// reproduce the pod's injected hash exactly.
PodCheck CheckInjectedPod(const nlohmann::json& pod, const inject::ClusterFacts& facts);

// The pod Decide sees for a PodMeta: its namespace and the metadata Decide
// reads (opt-in, agent selector, native-sidecar override, Job ownership) and
// a spec holding only the grace period stamped at injection (30 s, the
// Kubernetes default, for pods injected before the stamp existed).
nlohmann::json ClassPod(const cache::PodMeta& pod);

// Compares a pod known by its metadata with what Decide would inject now:
// kCurrent, kNotInjectable or kOutdated. Agrees with CheckInjectedPod on the
// whole pod (kImageOnly and kNeedsRestart both read as kOutdated). The facts
// must be those of the pod's namespace; Decide runs once per class.
class PodChecker {
 public:
  explicit PodChecker(inject::ClusterFacts facts) : facts_(std::move(facts)) {}
  PodCheck Check(const cache::PodMeta& pod);
  const inject::ClusterFacts& facts() const { return facts_; }

 private:
  inject::ClusterFacts facts_;
  std::map<std::string, PodCheck> by_class_;
};

// The agent container in the pod's spec: "containers" or "initContainers"
// (a native sidecar), its index and image; nullopt when the pod has none.
struct AgentContainerRef {
  std::string list;
  size_t index = 0;
  std::string image;
};
std::optional<AgentContainerRef> FindAgentContainer(const nlohmann::json& pod);

// Whether the kubelets restart a container whose image was changed in place.
// Regular containers: always. Native sidecars (init containers with
// restartPolicy Always): only kubelets 1.32 and newer; older ones accept the
// new image without restarting the sidecar, so every Node must be 1.32+ (an
// unreadable version counts as old).
bool InPlaceAllowed(bool native_sidecar, const std::vector<std::string>& node_kubelet_versions);

// The JSON patch of an InPlace upgrade: `test` ops pin the container's name,
// its current image and the pod's current hash (a pod changed meanwhile makes
// the patch fail instead of writing the wrong index), then the new image and
// the agent-version/injected-hash annotations Decide gives now, so the pod no
// longer counts as outdated. nullopt when the pod has no agent container or
// no annotations.
std::optional<nlohmann::json> InPlacePatch(const nlohmann::json& pod, const PodCheck& check);

// The agent container as the kubelet reports it (status.containerStatuses or
// status.initContainerStatuses).
struct AgentContainerStatus {
  bool found = false;
  bool running = false;
  std::string image;
  std::string image_id;
};
AgentContainerStatus AgentStatusOf(const nlohmann::json& pod);

// An in-place upgrade is confirmed when the agent container runs again with
// another image or imageID than before the patch.
bool UpgradeConfirmed(const AgentContainerStatus& before, const AgentContainerStatus& now);

}  // namespace promsidecar::controller
