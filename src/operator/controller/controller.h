// The reconciling side of the operator: for every Sidecar PrometheusAgent, one
// rendered Secret (render::RenderSharedConfig) in each namespace that holds
// pods it injected and that its namespaceSelector admits; status, Warning
// Events, the repair report and agent upgrades. It only wires: what to do is
// the pure plan (plan.h), reading is the shared cache (cache/reader.h), and
// writing is the executors' (fanout.h, events.h, upgrades.h, restarts.h,
// repairer.h).
//
// Work follows the change. Keys are per agent ("ns/name": finalizer,
// every namespace, status, upgrades) and per (agent, namespace)
// ("ns/name@target": that namespace's Secret only): a pod added or deleted
// touches its namespace's key; an agent, namespace-label, Node or LimitRange
// change touches whole agents. The status is written at most once per
// status_interval per agent (changes in between are coalesced), and only
// when it changed; an unchanged rendering writes nothing.
//
// The cache's informers run on every replica; reconciles, the repair report
// and upgrades only while SetLeading(true) (leader election).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"
#include "common/metrics/metrics.h"
#include "operator/api/agent.h"
#include "operator/cache/cache.h"
#include "operator/controller/agent_series.h"
#include "operator/controller/api_calls.h"
#include "operator/controller/events.h"
#include "operator/controller/fanout.h"
#include "operator/controller/plan.h"
#include "operator/controller/repairer.h"
#include "operator/controller/restarts.h"
#include "operator/controller/upgrades.h"
#include "operator/controller/webhook_ready.h"
#include "operator/controller/workqueue.h"
#include "operator/inject/inject.h"

namespace promsidecar::controller {

inline constexpr const char* kComponent = "promsidecar-operator";

struct Options {
  api::AgentApiGroup api_group;
  inject::OperatorSettings settings;
  // How often what is known of rendered Secrets is dropped (re-read with GET
  // on the next reconcile) and every agent is reconciled again.
  std::chrono::seconds resync_period{600};
  // Least time between two status writes of one agent.
  std::chrono::milliseconds status_interval{10'000};
  // InjectionSkipped Events only for pods younger than this (a new leader
  // does not count old pods again).
  std::chrono::seconds pod_event_max_age{600};
  // The repair report (from the cache: no API read).
  std::chrono::seconds repair_interval{600};
  // Restart the owners of pods the report finds (otherwise only reported).
  bool repair_enabled = false;
  RestarterOptions restarts;
  // The injection webhook's Service: workload restarts wait until it has a
  // ready endpoint (webhook_ready.h). Unset (webhooks by URL): never held.
  std::optional<WebhookReadiness::Options> webhook_service;
  UpgraderOptions upgrades;
  EventRecorderOptions events;
};

class Controller {
 public:
  // `cache` is the process's shared cache: subscribed to here (before it
  // starts), started by its owner. `api_calls` counts API calls
  // (promsidecar_operator_api_calls_total, also fed by the cache).
  Controller(kube::Client& client, cache::ClusterCache& cache, Options options, metrics::Registry* registry,
             metrics::Family<metrics::Counter>* api_calls);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the worker threads (which act only while leading).
  void Start();
  bool Synced() const { return cache_.HasSynced(); }
  // Leadership gained: reconcile every agent; lost: stop acting.
  void SetLeading(bool leading);
  void Stop();

 private:
  struct Metrics;
  // A reconcile's result: ok, or the stage that failed and why.
  struct Outcome {
    Status status;
    ReconcileStage stage = ReconcileStage::kKey;
  };
  void Worker();
  void Loop();  // repair report, event flushes, expiries
  Outcome ReconcileAgent(const std::string& key);
  Outcome ReconcileNamespace(const std::string& key, const std::string& ns);
  // The plan input for an agent: every namespace (whole) or one.
  PlanInput Gather(const cache::ObjectPtr<cache::AgentObject>& agent, const std::string& only_ns,
                   std::vector<OutdatedPod>* outdated);
  RestarterOptions RestarterOptionsWithGate();
  std::shared_ptr<const render::RenderedSecret> Render(const cache::AgentObject& agent, std::string* error);
  Outcome Execute(const cache::AgentObject& agent, const Plan& plan, bool whole);
  void OnPod(const cache::ObjectPtr<cache::PodMeta>& old_pod,
             const cache::ObjectPtr<cache::PodMeta>& new_pod);
  void OnAgent(const cache::ObjectPtr<cache::AgentObject>& old_agent,
               const cache::ObjectPtr<cache::AgentObject>& new_agent);
  void EnqueueAll();
  // The agent key whose label value this is ("" none).
  std::string AgentForLabel(std::string_view label) const;
  void ScheduleStatus(const std::string& key);

  kube::Client& client_;
  cache::ClusterCache& cache_;
  Options options_;
  std::unique_ptr<Metrics> metrics_;
  AgentSeries agent_series_;  // reconcile errors and outdated pods per agent
  ApiCalls calls_;
  KubeEventSink event_sink_;
  EventRecorder events_;
  SecretFanout fanout_;
  std::unique_ptr<WebhookReadiness> webhook_readiness_;  // null: restarts never held back
  Restarter restarter_;
  Upgrader upgrader_;
  Repairer repairer_;
  kube::Resource agents_resource_;
  WorkQueue queue_;
  std::atomic<bool> leading_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> repair_due_{true};
  std::thread worker_, loop_;

  mutable std::mutex mu_;                                           // guards what follows
  std::map<std::string, std::string, std::less<>> agent_by_label_;  // label value → "ns/name"
  std::map<std::string, std::chrono::steady_clock::time_point> last_status_;
  struct RenderCache {
    std::string fingerprint;  // agent resourceVersion + referenced objects' versions
    std::shared_ptr<const render::RenderedSecret> rendered;
    std::string error;
  };
  std::map<std::string, RenderCache> renders_;
  // Referenced Secret/ConfigMap data, by "kind/ns/name": resourceVersion and data.
  std::map<std::string, std::pair<std::string, std::map<std::string, std::string>>> references_;
  // What Decide gives per pod class, per namespace, kept across reconciles
  // while the namespace's facts are the same (the worker's only).
  PodChecker& CheckerFor(const std::string& ns);
  std::map<std::string, std::unique_ptr<PodChecker>> checkers_;
  std::chrono::steady_clock::time_point last_resync_;
};

}  // namespace promsidecar::controller
