// The controller's series per PrometheusAgent: reconcile errors by agent and
// stage, and outdated sidecars by agent and namespace. Their cardinality is
// bounded by the agents times the namespaces holding their pods (never a
// pod): an agent's series go with the agent, a namespace's outdated series
// with its last outdated pod.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "common/metrics/metrics.h"

namespace promsidecar::controller {

// What a failed reconcile was doing: the `stage` label of
// promsidecar_operator_reconcile_errors_total.
enum class ReconcileStage {
  kKey,        // the work-queue key names no agent
  kFinalizer,  // adding or removing the agent's finalizer
  kSecrets,    // creating, updating or deleting rendered Secrets
  kStatus,     // writing the agent's status
};
std::string_view StageName(ReconcileStage stage);

// The agent ("ns/name") a work-queue key belongs to: an agent key itself, or
// the agent of a per-namespace key ("ns/name@target").
std::string_view AgentOfKey(std::string_view key);

class AgentSeries {
 public:
  // Registers promsidecar_operator_reconcile_errors_total{agent,stage} and
  // promsidecar_operator_outdated_pods{agent,pod_namespace}. The namespace
  // label is not `namespace`: the scrape of the operator sets that target
  // label (the operator's own namespace) and would rename ours.
  explicit AgentSeries(metrics::Registry& registry);

  // A failed reconcile of work-queue key `key`.
  void CountError(std::string_view key, ReconcileStage stage);
  // What a whole reconcile of `agent` found: outdated pods per namespace.
  // Replaces the agent's outdated series: namespaces absent from the map or
  // at 0 have none.
  void SetOutdated(const std::string& agent, const std::map<std::string, int>& by_namespace);
  // The agent is gone: every series of it goes.
  void Forget(const std::string& agent);

 private:
  metrics::Family<metrics::Counter>& errors_;
  metrics::Family<metrics::Gauge>& outdated_;
  std::mutex mu_;                                                     // guards what follows
  std::map<std::string, std::set<std::string>> error_stages_;         // agent → stages counted
  std::map<std::string, std::set<std::string>> outdated_namespaces_;  // agent → namespaces with a series
};

}  // namespace promsidecar::controller
