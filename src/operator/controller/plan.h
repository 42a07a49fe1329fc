// The reconcile of one Sidecar PrometheusAgent as a pure function: what the
// cache knows (the agent, the namespaces holding its pods, the rendered
// Secrets known to be in the cluster) in; the writes to make out: Secrets to
// ensure or delete, the finalizer, the status, Warning Events. No I/O and no
// clock (`now` is an input), so it is golden-tested
// (test/testdata/operator/plan/, PROMSIDECAR_UPDATE_GOLDEN=1 rewrites) and the
// executors (fanout.h, events.h) only carry it out.
//
// A plan covers either the whole agent (every namespace: Secrets, cleanup,
// status) or one namespace (its Secret only: what a pod add or delete there
// needs), so the work follows the change, not the cluster.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/result.h"
#include "operator/api/agent.h"
#include "operator/cache/objects.h"
#include "operator/render/render.h"

namespace promsidecar::controller {

// On agents whose rendered Secrets exist (owner references cannot cross
// namespaces, so deletion is ours to do).
inline constexpr const char* kFinalizer = "promsidecar.io/rendered-secrets";

struct NamespaceFacts {
  std::string name;
  bool exists = true;  // in the cache (a pod's namespace may lag behind)
  bool terminating = false;
  api::Labels labels;
  int injected_pods = 0;  // active pods the webhook injected with this agent
  int outdated_pods = 0;  // of those, what the agent would not inject now (whole plans)
  // The agent's rendered Secret there, as last written or read by this
  // process: its data hash; "" known absent; nullopt unknown (read it first).
  std::optional<std::string> secret_hash;
};

struct PlanInput {
  cache::ObjectPtr<cache::AgentObject> agent;
  // RenderSharedConfig's result (its namespace is set per target).
  std::shared_ptr<const render::RenderedSecret> rendered;
  std::string render_error;  // when rendered is null
  // whole: every namespace with the agent's pods or its Secret; else the one
  // namespace to settle (no status, no finalizer, no cleanup elsewhere).
  bool whole = true;
  std::vector<NamespaceFacts> namespaces;
  int uninjected_pods = 0;  // from the last repair report
  std::string now;          // RFC 3339, for condition transitions
};

struct PlannedEvent {
  std::string type;    // Warning
  std::string reason;  // e.g. ConfigRenderFailed
  std::string note;
};

struct Plan {
  enum class Finalizer { kKeep, kAdd, kRemove };
  Finalizer finalizer = Finalizer::kKeep;
  // The Secret to ensure in each of `ensure` (metadata.namespace left empty).
  std::optional<nlohmann::json> secret;
  std::string secret_hash;
  std::vector<std::string> ensure;
  // Namespaces whose rendered Secret must go (deleted, or confirmed absent).
  std::vector<std::string> remove;
  // Whole plans: the status to write when it changed (nullopt: unchanged).
  std::optional<nlohmann::json> status;
  std::vector<PlannedEvent> events;
  int injected_pods = 0, outdated_pods = 0;
  // outdated_pods by namespace, those with any only (what
  // promsidecar_operator_outdated_pods exports).
  std::map<std::string, int> outdated_by_namespace;
};

Plan PlanAgent(const PlanInput& in);

// Whether the agent may serve pods of namespace `ns` with labels `labels`:
// its namespaceSelector, or only its own namespace when it has none.
bool NamespaceAdmitted(const api::Agent& agent, const std::string& ns, const api::Labels& labels);

struct Condition {
  std::string type, status, reason, message;
};

struct AgentStatus {
  int64_t observed_generation = 0;
  int injected_pods = 0;
  int outdated_pods = 0;
  int uninjected_pods = 0;                       // from the last repair report
  int namespaces = 0;                            // admitted namespaces holding injected pods
  std::vector<std::string> rendered_namespaces;  // sorted: where a rendered Secret is (for cleanup)
  std::vector<Condition> conditions;             // Reconciled, Available
};

// The status object to write, keeping lastTransitionTime of conditions whose
// status did not change (from `old_status`); `now` is RFC 3339.
nlohmann::json StatusJson(const AgentStatus& status, const nlohmann::json& old_status,
                          const std::string& now);
// Equal apart from lastTransitionTime.
bool StatusEquivalent(const nlohmann::json& a, const nlohmann::json& b);

// The golden tests' forms: a plan input as JSON ({"agent": <PrometheusAgent>,
// "referenced": {"secrets": {...}, "configMaps": {...}}, "whole", "namespaces":
// [{"name", "exists", "terminating", "labels", "injectedPods", "outdatedPods",
// "secretHash"}], "uninjectedPods", "now"}; the agent is rendered from the
// referenced objects; secretHash "@rendered" stands for that rendering's hash)
// and a plan as JSON.
Result<PlanInput> PlanInputFromJson(const nlohmann::json& j);
nlohmann::json PlanToJson(const Plan& plan);

}  // namespace promsidecar::controller
