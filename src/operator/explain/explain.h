// `promsidecar-operator explain` against a live cluster, the pure part: what
// was read (Snapshot) in, an Explanation out. The facts are assembled from
// the objects with the cache's own transforms, the decision is
// inject::Decide, and an existing pod's sidecar is judged by the controller's
// own functions (CheckInjectedPod for drift, UninjectedAgent and
// ResolveWorkload for the repair report): nothing here decides anything
// itself. The reads are in live.h.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/result.h"
#include "operator/api/label_selector.h"
#include "operator/inject/inject.h"

namespace promsidecar::explain {

// The pod template of workloads: where it sits, and the pod the workload's
// controller would create from it (in `ns`; owned by a Job for Jobs and
// CronJobs, which Decide reads).
bool IsWorkload(std::string_view kind);
nlohmann::json::json_pointer TemplatePointer(std::string_view kind);
nlohmann::json TemplatePod(const nlohmann::json& workload, const std::string& ns);

// What `explain` was asked about: "pod/web-0", "deployment/web", "web-0" (a pod).
struct Target {
  std::string kind;  // "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"
  std::string ns;
  std::string name;
  std::string Ref() const;       // "pod team-a/web-0" (for messages)
  std::string Resource() const;  // "pods" (what kubectl calls it)
};
Result<Target> ParseTarget(std::string_view arg, const std::string& ns);

// One read of what the webhook's facts are made of.
struct Snapshot {
  Target target;
  nlohmann::json object;                      // the pod or workload as read
  nlohmann::json namespace_object;            // the target's Namespace
  std::vector<std::string> agent_namespaces;  // where agents were listed ("" : all)
  std::vector<nlohmann::json> agents;         // PrometheusAgent objects found there
  std::string node_selector;                  // --webhook.node-selector the Nodes were listed with
  std::vector<nlohmann::json> nodes;          // the Nodes that count
  std::vector<nlohmann::json> limit_ranges;   // of the target's namespace
  std::string apiserver_version;              // empty: unknown
  // The pod's controlling ReplicaSet, read when the repair report needs it
  // to find the Deployment (controller::ResolveWorkload); null otherwise.
  nlohmann::json replica_set;
};

// The facts the webhook would use for the target's namespace: agents parsed
// by the cache's transform (those that do not parse are left out, as the
// cache leaves them out, and listed in `agent_errors`), sorted by
// namespace/name; distinct kubelet versions, sorted.
inject::ClusterFacts FactsOf(const Snapshot& snapshot, const inject::OperatorSettings& settings,
                             std::vector<std::string>* agent_errors);

// An existing pod's sidecar.
enum class SidecarState {
  kCurrent,   // injected, and what Decide injects now
  kOutdated,  // injected, but Decide injects something else now
  kUnwanted,  // injected, but Decide would not inject it now
  kMissing,   // no sidecar, and the repair report lists it
  kSkipped,   // the webhook skipped it (labelled skipped)
  kNone,      // no sidecar and none wanted
};
std::string_view SidecarStateName(SidecarState state);

struct SidecarReport {
  SidecarState state = SidecarState::kNone;
  std::string detail;                      // one sentence: which hash differs, why missing...
  std::string drift;                       // controller::DriftName for injected pods
  std::string have_hash, want_hash;        // prometheus.operator.io/injected-hash: the pod's, now
  std::string have_version, want_version;  // prometheus.operator.io/agent-version
  std::string have_image, want_image;      // the agent container's image
  std::string repair;                      // what the repair report says about it; empty: not listed
};

struct Explanation {
  std::string object;  // "Pod team-a/web-0", "Deployment shop/web (pod template)"
  // The webhook's decision for the pod as it would be created now (an
  // existing pod without what was injected into it).
  inject::InjectionResult decision;
  std::vector<std::string> agents;        // considered: "ns/name (mode, paused)"
  std::vector<std::string> agent_errors;  // ignored: "ns/name: why it does not parse"
  std::vector<std::string> agent_namespaces;
  std::string pod_agent_annotation;  // the agent the pod names, if any
  api::Labels namespace_labels;
  std::string namespace_admission;  // one sentence, from the decision
  std::string node_selector;
  std::vector<std::string> kubelet_versions;
  std::string apiserver_version;
  std::vector<std::string> limit_ranges;  // names
  std::optional<SidecarReport> sidecar;   // pods only
};

Explanation Explain(const Snapshot& snapshot, const inject::OperatorSettings& settings);

std::string FormatText(const Explanation& e);
nlohmann::json ToJson(const Explanation& e);

}  // namespace promsidecar::explain
