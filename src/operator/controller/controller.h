// The reconciling side of the operator: for every Sidecar PrometheusAgent,
// one rendered Secret (render::RenderSharedConfig) in each namespace that holds
// pods it injected and that its namespaceSelector admits; status, events and
// cleanup (a finalizer, since owner references cannot cross namespaces).
//
// What it watches (and nothing more, see deploy/rbac.yaml):
//   PrometheusAgents, Secrets, ConfigMaps  only in Options::agent_namespaces
//   Pods                                   only with our injection label (label selector)
//   Namespaces, Nodes, LimitRanges         cluster-wide (labels, kubelet versions, clamping)
// Rendered Secrets outside the agent namespaces are read with GET and written
// with create/update/delete; they are never listed or watched.
//
// Besides, a metadata-only list of every pod (the repair report, every
// Options::repair_interval) finds annotated pods without a sidecar; with
// repair enabled, and for agents with updateStrategy Rollout, their owners
// (Deployment, StatefulSet, DaemonSet) are restarted, which needs the
// optional RBAC in deploy/optional/restart-workloads-rbac.yaml (also `patch`
// on pods, for updateStrategy InPlace). See docs/operator.md.
//
// Informers run on every replica (readiness); reconciles, the repair report
// and upgrades run only while SetLeading(true) (leader election).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"
#include "common/kube/informer.h"
#include "common/metrics/metrics.h"
#include "operator/api/agent.h"
#include "operator/controller/rate_limiter.h"
#include "operator/controller/repair.h"
#include "operator/controller/upgrade.h"
#include "operator/controller/workqueue.h"
#include "operator/inject/inject.h"

namespace promsidecar::controller {

inline constexpr const char* kFinalizer = "promsidecar.io/rendered-secrets";
inline constexpr const char* kComponent = "promsidecar-operator";

struct Options {
  std::vector<std::string> agent_namespaces;  // required, non-empty
  api::AgentApiGroup api_group;
  inject::OperatorSettings settings;
  // How often cached knowledge of rendered Secrets is dropped (re-read with GET
  // on the next reconcile) and every agent is reconciled again.
  std::chrono::seconds resync_period{600};
  // Pod events (Injected/InjectionSkipped) only for pods younger than this, so
  // a restarted or new leader does not repeat them for old pods.
  std::chrono::seconds pod_event_max_age{600};

  // The repair report: a metadata-only list of every pod (served from the API
  // server's watch cache, which ignores `limit` there: keep this long).
  std::chrono::seconds repair_interval{600};
  // Restart the owners of pods the report finds (otherwise only reported).
  bool repair_enabled = false;
  // Act on spec.sidecar.updateStrategy: Rollout (restarting workloads is an
  // install-time permission, so agents cannot turn it on by themselves).
  bool rollout_enabled = false;
  // Owner restarts (repair and updateStrategy Rollout together) per minute,
  // and the least time between two restarts of one workload.
  int max_restarts_per_minute = 5;
  std::chrono::seconds min_restart_interval{3600};
  // In-place agent image patches (updateStrategy InPlace) per minute.
  int max_in_place_per_minute = 30;
  // An in-place upgrade whose container status has not confirmed it by then
  // is given up on (counted, logged).
  std::chrono::seconds in_place_confirm_timeout{3600};
};

// Pure pieces, exposed for tests.

// Whether the agent may serve pods of namespace `ns` with labels `labels`:
// its namespaceSelector, or only its own namespace when it has none.
bool NamespaceAdmitted(const api::Agent& agent, const std::string& ns, const api::Labels& labels);

// True when the pod's injected-hash or agent-version annotation differs from
// what Decide would inject now, or Decide would not inject it at all
// (CheckInjectedPod in upgrade.h says how it differs).
bool PodOutdated(const nlohmann::json& pod, const inject::ClusterFacts& facts);

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

class Controller {
 public:
  Controller(kube::Client& client, Options options, metrics::Registry* registry);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the informers and the worker thread (which reconciles only while leading).
  void Start();
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  bool Synced() const;
  // Leadership gained: reconcile every agent; lost: stop reconciling.
  void SetLeading(bool leading);
  void Stop();

  // One reconcile of "ns/name" (tests call it directly).
  Status Reconcile(const std::string& key);
  // One repair report (the leader runs it every Options::repair_interval).
  Status RunRepair();

 private:
  struct Metrics;
  struct OutdatedPod {
    nlohmann::json pod;
    PodCheck check;
  };
  struct PendingUpgrade {
    std::string ns, name, agent, image;
    AgentContainerStatus before;
    std::chrono::steady_clock::time_point since;
  };
  enum class RestartOutcome {
    kRestarted,
    kNotRestartable,
    kRecentlyRestarted,
    kRateLimited,
    kForbidden,
    kFailed
  };
  void RepairLoop();
  void ApplyUpdateStrategy(const std::string& key, const api::Agent& agent, const nlohmann::json& involved,
                           const std::vector<OutdatedPod>& outdated);
  void UpgradeInPlace(const std::string& key, const api::Agent& agent, const nlohmann::json& involved,
                      const std::vector<OutdatedPod>& outdated);
  RestartOutcome RestartOwnerOf(const nlohmann::json& pod, const std::string& reason, const std::string& why);
  void CheckPendingUpgrade(const nlohmann::json& pod);
  void ExpirePendingUpgrades();
  // An Event with a deterministic name, sent once per process (a new leader
  // gets AlreadyExists): for conditions re-found on every reconcile.
  // An updateStrategy the operator's RBAC does not allow, once per agent and strategy.
  void EmitUpgradeForbidden(const nlohmann::json& involved, const api::Agent& agent,
                            const std::string& strategy, const std::string& action);
  void EmitEventOnce(const nlohmann::json& involved, const std::string& type, const std::string& reason,
                     const std::string& message, const std::string& name);
  // Logs a 403 once per verb and resource, with what needs it and the fix.
  void ReportForbidden(const std::string& verb, const std::string& resource, const std::string& needed_by,
                       const std::string& fix);
  inject::ClusterFacts BaseFacts() const;
  void AddNamespaceFacts(const std::string& ns, inject::ClusterFacts* facts) const;
  void EnqueueAgentsInNamespace(const std::string& ns);
  void EnqueueAll();
  void EnqueueForPod(const nlohmann::json& pod);
  void MaybePodEvent(const nlohmann::json& pod);
  void Worker();
  kube::Informer* SecretsIn(const std::string& ns);
  kube::Informer* ConfigMapsIn(const std::string& ns);
  inject::ClusterFacts FactsFor(const std::string& ns) const;
  Status Finalize(const api::Agent& agent, const nlohmann::json& object);
  Status EnsureSecret(const std::string& key, const api::Agent& agent, const nlohmann::json& desired,
                      const std::string& hash, bool* wrote);
  Status DeleteSecret(const std::string& ns, const std::string& name);
  void EmitEvent(const nlohmann::json& involved, const std::string& type, const std::string& reason,
                 const std::string& message, const std::string& name_hint = "");
  void CountCall(const std::string& verb, const std::string& resource, bool ok);

  kube::Client& client_;
  Options options_;
  std::unique_ptr<Metrics> metrics_;
  kube::Resource agents_resource_;
  std::vector<std::unique_ptr<kube::Informer>> agent_informers_;
  std::map<std::string, std::unique_ptr<kube::Informer>> secret_informers_;
  std::map<std::string, std::unique_ptr<kube::Informer>> config_map_informers_;
  std::unique_ptr<kube::Informer> pods_, namespaces_, nodes_, limit_ranges_;
  std::string apiserver_version_;
  WorkQueue queue_;
  std::atomic<bool> leading_{false};
  std::atomic<bool> stop_{false};
  std::thread worker_;
  std::mutex mu_;
  // (agent key) → namespace → data hash known to be in the cluster.
  std::map<std::string, std::map<std::string, std::string>> known_;
  std::set<std::string> kubelet_versions_;
  std::chrono::steady_clock::time_point last_resync_;

  std::thread repair_thread_;
  std::atomic<bool> repair_due_{true};
  SlidingWindowLimiter restart_limiter_;
  OncePerKey restarted_owners_;
  SlidingWindowLimiter in_place_limiter_;
  // Guarded by mu_: the last repair report (agent key → pods without a
  // sidecar), pods already reported by an Event (UIDs; pruned to the last
  // list), in-place upgrades waiting for the kubelet (pod UID → upgrade),
  // permission errors already logged, one-time Events sent.
  std::map<std::string, int> uninjected_;
  std::set<std::string> reported_uninjected_;
  std::map<std::string, PendingUpgrade> pending_upgrades_;
  std::set<std::string> forbidden_logged_;
  std::set<std::string> once_events_;
  bool repair_left_over_ = false;  // the last report left owners to the restart rate limit
};

// Shared by controller.cc and pod_actions.cc; owned by the Registry.
struct Controller::Metrics {
  metrics::Counter* reconciles = nullptr;
  metrics::Counter* errors = nullptr;
  metrics::Family<metrics::Counter>* api_calls = nullptr;
  metrics::Counter* secret_writes = nullptr;
  metrics::Family<metrics::Gauge>* uninjected = nullptr;
  metrics::Family<metrics::Counter>* repair_runs = nullptr;
  metrics::Family<metrics::Counter>* owner_restarts = nullptr;
  metrics::Family<metrics::Counter>* in_place = nullptr;
};

}  // namespace promsidecar::controller
