// The informer-backed ClusterReader: one per operator process, shared by the
// admission webhooks and the controller (see reader.h for what readers get
// and objects.h for what is kept of each kind).
//
// What it watches:
//   PrometheusAgents                in each agent namespace
//   Secrets, ConfigMaps (metadata)  in each agent namespace
//   Pods (metadata)                 cluster-wide, not finished
//                                   (status.phase!=Succeeded,status.phase!=Failed)
//   Namespaces (metadata)           cluster-wide
//   Nodes                           matching node_label_selector (--webhook.node-selector)
//   LimitRanges                     cluster-wide
// Each informer lists page by page and keeps transformed objects only.
// Subscribers (the controller, the webhook service) register handlers before
// Start(); handlers run on the informer threads after the cache and its
// indexes have been updated, so a reader called from a handler sees the new
// state.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/kube/client.h"
#include "common/kube/informer.h"
#include "common/metrics/metrics.h"
#include "operator/api/agent.h"
#include "operator/cache/reader.h"

namespace promsidecar::cache {

struct ClusterCacheOptions {
  api::AgentApiGroup group;
  // Where PrometheusAgents live (and the Secrets/ConfigMaps they reference);
  // empty: every namespace.
  std::vector<std::string> agent_namespaces;
  // Nodes that count for native-sidecar and in-place decisions (empty: all),
  // e.g. a node pool label; tests narrow it to the Nodes they create.
  std::string node_label_selector;
};

// What changed, for subscribers. Pointers are the old and new states
// (nullptr: did not exist).
struct CacheHandlers {
  std::function<void(const ObjectPtr<PodMeta>& old_pod, const ObjectPtr<PodMeta>& new_pod)> on_pod;
  std::function<void(const ObjectPtr<AgentObject>& old_agent, const ObjectPtr<AgentObject>& new_agent)>
      on_agent;
  std::function<void(const ObjectPtr<NamespaceMeta>& old_ns, const ObjectPtr<NamespaceMeta>& new_ns)>
      on_namespace;
  // The set of kubelet versions changed.
  std::function<void()> on_nodes;
  std::function<void(const std::string& ns)> on_limit_ranges;
  // kind: "Secret" or "ConfigMap", in an agent namespace.
  std::function<void(const std::string& kind, const std::string& ns, const std::string& name)> on_reference;
};

kube::Resource AgentResource(const api::AgentApiGroup& group);
kube::Resource NodesResource();
kube::Resource LimitRangesResource();
// The pods the cache watches: not finished.
inline constexpr const char* kActivePodsFieldSelector = "status.phase!=Succeeded,status.phase!=Failed";

class ClusterCache : public ClusterReader {
 public:
  ClusterCache(kube::Client& client, ClusterCacheOptions options);
  ~ClusterCache() override;
  ClusterCache(const ClusterCache&) = delete;
  ClusterCache& operator=(const ClusterCache&) = delete;

  // Before Start().
  void Subscribe(CacheHandlers handlers);
  // Mirrors the informers' list/watch counts into `api_calls`
  // ({verb, resource, outcome="informer"}) and adds a gauge of the objects kept.
  void RegisterMetrics(metrics::Registry& registry, metrics::Family<metrics::Counter>& api_calls);

  // Reads the API server version, starts every informer.
  void Start();
  void Stop();
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  // ClusterReader.
  bool HasSynced() const override;
  std::string ApiserverVersion() const override;
  std::shared_ptr<const std::vector<api::Agent>> Agents() const override;
  ObjectPtr<AgentObject> Agent(std::string_view ns, std::string_view name) const override;
  ObjectPtr<NamespaceMeta> Namespace(std::string_view name) const override;
  std::shared_ptr<const std::vector<std::string>> KubeletVersions() const override;
  std::vector<ObjectPtr<nlohmann::json>> LimitRanges(std::string_view ns) const override;
  std::vector<ObjectPtr<PodMeta>> Pods(std::string_view ns) const override;
  ObjectPtr<PodMeta> Pod(std::string_view ns, std::string_view name) const override;
  std::map<std::string, int> NamespacesOfAgent(std::string_view agent_label) const override;
  std::vector<ObjectPtr<PodMeta>> UnhandledPods() const override;
  std::optional<std::map<std::string, std::string>> SecretVersions(std::string_view ns) const override;
  std::optional<std::map<std::string, std::string>> ConfigMapVersions(std::string_view ns) const override;

 private:
  using AgentInformer = kube::Informer<AgentObject>;
  using NameInformer = kube::Informer<ObjectName>;
  void OnPod(const ObjectPtr<PodMeta>& old_pod, const ObjectPtr<PodMeta>& new_pod);
  void OnAgent(const ObjectPtr<AgentObject>& old_agent, const ObjectPtr<AgentObject>& new_agent);
  void OnNode(const ObjectPtr<NodeMeta>& old_node, const ObjectPtr<NodeMeta>& new_node);
  static std::optional<std::map<std::string, std::string>> Versions(
      const std::map<std::string, std::unique_ptr<NameInformer>>& informers, std::string_view ns);

  kube::Client& client_;
  ClusterCacheOptions options_;
  std::vector<CacheHandlers> subscribers_;

  std::map<std::string, std::unique_ptr<AgentInformer>> agents_;  // by agent namespace ("" all)
  std::map<std::string, std::unique_ptr<NameInformer>> secrets_;
  std::map<std::string, std::unique_ptr<NameInformer>> config_maps_;
  std::unique_ptr<kube::Informer<PodMeta>> pods_;
  std::unique_ptr<kube::Informer<NamespaceMeta>> namespaces_;
  std::unique_ptr<kube::Informer<NodeMeta>> nodes_;
  std::unique_ptr<kube::JsonInformer> limit_ranges_;

  // Once every informer has listed it stays true (a webhook asks per review).
  mutable std::atomic<bool> synced_{false};
  mutable std::shared_mutex mu_;  // guards what follows
  std::string apiserver_version_;
  std::shared_ptr<const std::vector<api::Agent>> agents_snapshot_;
  std::map<std::string, int> kubelet_versions_;  // version → Nodes
  std::shared_ptr<const std::vector<std::string>> kubelet_snapshot_;
  // agent label value → namespace → pods carrying it.
  std::map<std::string, std::map<std::string, int>, std::less<>> by_agent_;
  // "ns/name" of opted-in pods the webhook has not handled.
  std::set<std::string> unhandled_;
};

}  // namespace promsidecar::cache
