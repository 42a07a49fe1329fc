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
// Informers run on every replica (readiness); reconciles run only while
// SetLeading(true) (leader election).
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
};

// Pure pieces, exposed for tests.

// Whether the agent may serve pods of namespace `ns` with labels `labels`:
// its namespaceSelector, or only its own namespace when it has none.
bool NamespaceAdmitted(const api::Agent& agent, const std::string& ns, const api::Labels& labels);

// The pod as it was before injection: our containers, volumes, labels and
// annotations removed, so Decide can say what it would inject now.
nlohmann::json StripInjection(const nlohmann::json& pod);

// True when the pod's injected-hash annotation differs from what Decide
// would inject now (or Decide would not inject it at all).
bool PodOutdated(const nlohmann::json& pod, const inject::ClusterFacts& facts);

struct Condition {
  std::string type, status, reason, message;
};

struct AgentStatus {
  int64_t observed_generation = 0;
  int injected_pods = 0;
  int outdated_pods = 0;
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

 private:
  struct Metrics;
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
};

}  // namespace promsidecar::controller
