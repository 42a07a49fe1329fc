// The injection decision: pod + agents + cluster facts → JSON Patch +
// warnings, as one pure function (no I/O, no clock). The mutating webhook,
// the `promsidecar-operator inject|explain` commands and the golden tests all
// call Decide.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/result.h"
#include "operator/api/agent.h"
#include "operator/api/label_selector.h"

namespace promsidecar::inject {

// Operator-wide settings (flags / Helm values).
struct OperatorSettings {
  std::string agent_image = "ghcr.io/promsidecar/promsidecar-agent:v0.1.0";
  std::string prometheus_image_repository = "quay.io/prometheus/prometheus";
  std::string prometheus_default_version = "v3.5.0";
  std::string operator_namespace = "promsidecar-system";
  // Never injected, besides the operator's own namespace.
  std::vector<std::string> excluded_namespaces{"kube-system", "kube-public", "kube-node-lease"};
  // When set ("key" or "key=value"), only namespaces carrying that label are served.
  std::string namespace_opt_in_label;
  // The agent's HTTP port: unusual and high so it rarely meets an app's port.
  int agent_port = 58391;
  // Upstream Prometheus's port (engine: prometheus), bound to 127.0.0.1.
  int prometheus_port = 9090;
  uint64_t default_wal_size_limit = 256ull << 20;
  // Init containers of service meshes; a native sidecar goes behind them so
  // its remote writes can use the mesh.
  std::vector<std::string> mesh_init_containers{"istio-init",
                                                "istio-validation",
                                                "istio-proxy",
                                                "linkerd-init",
                                                "linkerd-network-validator",
                                                "linkerd-proxy",
                                                "kuma-init",
                                                "kuma-sidecar",
                                                "consul-connect-inject-init"};
};

// The agents Decide chooses from: an immutable list shared by reference, so a
// webhook hands every admission the cache's current snapshot instead of a
// copy. Writers (the CLI, tests) copy on write.
class AgentList {
 public:
  using List = std::vector<api::Agent>;
  AgentList() : list_(std::make_shared<const List>()) {}
  AgentList(List agents) : list_(std::make_shared<const List>(std::move(agents))) {}  // NOLINT: implicit
  AgentList(std::initializer_list<api::Agent> agents) : list_(std::make_shared<const List>(agents)) {}
  explicit AgentList(std::shared_ptr<const List> shared) : list_(std::move(shared)) {}

  List::const_iterator begin() const { return list_->begin(); }
  List::const_iterator end() const { return list_->end(); }
  size_t size() const { return list_->size(); }
  bool empty() const { return list_->empty(); }
  const api::Agent& operator[](size_t i) const { return (*list_)[i]; }
  const List& get() const { return *list_; }

  // Copy on write.
  List& Mutable() {
    // Only this object (list_ and own_) holds its own copy: write in place.
    if (!own_ || own_.get() != list_.get() || own_.use_count() != 2) {
      own_ = std::make_shared<List>(*list_);
      list_ = own_;
    }
    return *own_;
  }
  void push_back(api::Agent agent) { Mutable().push_back(std::move(agent)); }
  api::Agent& operator[](size_t i) { return Mutable()[i]; }

 private:
  std::shared_ptr<const List> list_;
  std::shared_ptr<List> own_;  // set when list_ is this object's own copy
};

struct ClusterFacts {
  AgentList agents;                                // every PrometheusAgent the operator watches (any mode)
  api::Labels namespace_labels;                    // labels of the pod's namespace
  std::string apiserver_version;                   // e.g. "v1.34.0"; empty: unknown (treated as old)
  std::vector<std::string> node_kubelet_versions;  // every Node's status.nodeInfo.kubeletVersion
  std::vector<nlohmann::json> limit_ranges;        // LimitRange objects of the pod's namespace
  OperatorSettings settings;
};

enum class Outcome {
  kNotApplicable,    // not ours: no opt-in, excluded namespace; admitted untouched, silently
  kInjected,         // patch adds the sidecar
  kSkipped,          // opted in but not injected: patch adds the skipped label + reason
  kAlreadyInjected,  // our status annotation is present; patch empty or a reorder on reinvocation
};
std::string_view OutcomeName(Outcome outcome);

struct InjectionResult {
  Outcome outcome = Outcome::kNotApplicable;
  // Machine-readable cause for kSkipped/kNotApplicable (metrics, Events):
  // HostNetwork, Windows, JobWithoutNativeSidecar, NameCollision, NoAgent,
  // AgentNotFound, AmbiguousAgent, BadAgentSelector, AgentNotSidecar,
  // NamespaceNotAdmitted, AgentPaused, LimitRange, UnresolvedPortName,
  // NotOptedIn, NamespaceExcluded, InvalidPod.
  std::string reason;
  std::string message;                             // one human sentence: what happened and why
  nlohmann::json patch = nlohmann::json::array();  // RFC 6902, relative to the input pod
  std::vector<std::string> warnings;               // admission warnings
  std::string agent;                               // "<ns>/<name>" when one was selected
  bool native_sidecar = false;
  std::string fragment_hash;  // kInjected: hash of the injected containers + volumes
};

InjectionResult Decide(const nlohmann::json& pod, const std::string& pod_namespace,
                       const ClusterFacts& facts);

// The pod without what Decide injected: our containers, volumes, labels and
// annotations removed (imagePullSecrets and kubectl's default-container
// annotation stay: they change neither the decision nor the hash). The
// controller re-runs Decide on it to learn what would be injected now, and
// compares fragment_hash with the pod's kInjectedHashAnnotation.
nlohmann::json StripInjection(const nlohmann::json& pod);

// facts.json (test and CLI form): {"apiserverVersion", "nodeKubeletVersions",
// "namespaceLabels", "limitRanges", "settings": {"agentImage", "agentPort",
// "operatorNamespace", "excludedNamespaces", "namespaceOptInLabel",
// "prometheusPort", "prometheusImageRepository", "prometheusDefaultVersion",
// "defaultWalSizeLimit", "meshInitContainers"}}. Agents are given separately.
Result<ClusterFacts> ParseClusterFacts(const nlohmann::json& facts);

// "a/b~c" → "a~1b~0c" (RFC 6901).
std::string EscapeJsonPointer(std::string_view token);

// Major/minor of a Kubernetes version string ("v1.29.3-eks-1", "1.30+");
// false when it cannot be read.
bool ParseKubeVersion(std::string_view text, int* major, int* minor);

}  // namespace promsidecar::inject
