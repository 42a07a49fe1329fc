#include "operator/controller/agent_series.h"

namespace promsidecar::controller {

std::string_view StageName(ReconcileStage stage) {
  switch (stage) {
    case ReconcileStage::kKey: return "key";
    case ReconcileStage::kFinalizer: return "finalizer";
    case ReconcileStage::kSecrets: return "secrets";
    case ReconcileStage::kStatus: return "status";
  }
  return "unknown";
}

std::string_view AgentOfKey(std::string_view key) {
  return key.substr(0, key.find('@'));
}

AgentSeries::AgentSeries(metrics::Registry& registry)
    : errors_(registry.AddCounterFamily(
          "promsidecar_operator_reconcile_errors_total",
          "Reconciles that failed (retried with backoff), by agent (namespace/name) and stage: finalizer, "
          "secrets (rendered Secret writes), status, key.",
          {"agent", "stage"})),
      outdated_(registry.AddGaugeFamily(
          "promsidecar_operator_outdated_pods",
          "Pods with the agent's sidecar that the webhook would inject differently now (another agent "
          "image or configuration) or not at all, by agent (namespace/name) and the pods' namespace, as of "
          "the agent's last whole reconcile; no series where there are none.",
          {"agent", "pod_namespace"})) {}

void AgentSeries::CountError(std::string_view key, ReconcileStage stage) {
  const std::string agent(AgentOfKey(key));
  const std::string name(StageName(stage));
  std::lock_guard<std::mutex> lock(mu_);
  error_stages_[agent].insert(name);
  errors_.With({agent, name}).Inc();
}

void AgentSeries::SetOutdated(const std::string& agent, const std::map<std::string, int>& by_namespace) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string>& had = outdated_namespaces_[agent];
  std::set<std::string> now;
  for (const auto& [ns, n] : by_namespace) {
    if (n <= 0) continue;
    outdated_.With({agent, ns}).Set(n);
    now.insert(ns);
  }
  for (const auto& ns : had) {
    if (!now.count(ns)) outdated_.Remove({agent, ns});
  }
  if (now.empty()) {
    outdated_namespaces_.erase(agent);
  } else {
    had = std::move(now);
  }
}

void AgentSeries::Forget(const std::string& agent) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = outdated_namespaces_.find(agent); it != outdated_namespaces_.end()) {
    for (const auto& ns : it->second) outdated_.Remove({agent, ns});
    outdated_namespaces_.erase(it);
  }
  if (auto it = error_stages_.find(agent); it != error_stages_.end()) {
    for (const auto& stage : it->second) errors_.Remove({agent, stage});
    error_stages_.erase(it);
  }
}

}  // namespace promsidecar::controller
