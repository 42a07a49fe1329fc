// The informer-backed ClusterFactsSource and ValidationContextSource of the
// running operator: PrometheusAgents in the agent namespaces, Namespaces
// (labels), Nodes (kubelet versions) and LimitRanges, all from watches, so an
// admission request reads memory only. The apiserver version is read at
// Start(). Secret and ConfigMap names (validation warnings only) are listed
// live: agent writes are rare, and Secrets are never cached.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/kube/client.h"
#include "common/kube/informer.h"
#include "operator/admission/webhooks.h"
#include "operator/api/agent.h"

namespace promsidecar::admission {

struct ClusterCacheOptions {
  api::AgentApiGroup group;
  // Where PrometheusAgents live; empty: every namespace.
  std::vector<std::string> agent_namespaces;
  // Called (on an informer thread) after any PrometheusAgent changes, e.g. to
  // recompute the webhook's matchConditions (legacy annotations).
  std::function<void()> on_agents_changed;
  // Nodes that count for native-sidecar detection (empty: all), e.g. a node
  // pool label; tests narrow it to the Nodes they create.
  std::string node_label_selector;
};

class ClusterCache : public ClusterFactsSource, public ValidationContextSource {
 public:
  ClusterCache(kube::Client& client, ClusterCacheOptions options);
  ~ClusterCache() override;

  void Start();
  void Stop();
  bool WaitForSync(std::chrono::milliseconds timeout);
  bool HasSynced() const;

  // Every PrometheusAgent that parses (others are logged and left out).
  std::vector<api::Agent> Agents() const;

  Result<inject::ClusterFacts> FactsFor(const std::string& pod_namespace) override;
  Result<validate::ValidationContext> ContextFor(const std::string& agent_namespace) override;

 private:
  kube::Client& client_;
  ClusterCacheOptions options_;
  std::vector<std::unique_ptr<kube::Informer>> agents_;
  std::unique_ptr<kube::Informer> namespaces_;
  std::unique_ptr<kube::Informer> nodes_;
  std::unique_ptr<kube::Informer> limit_ranges_;
  mutable std::mutex mu_;
  std::string apiserver_version_;
};

kube::Resource AgentResource(const api::AgentApiGroup& group);
kube::Resource NodesResource();
kube::Resource LimitRangesResource();

}  // namespace promsidecar::admission
