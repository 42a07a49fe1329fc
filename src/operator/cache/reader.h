// The operator's one view of the cluster, shared by the webhooks and the
// controller (the shape of controller-runtime's cache Reader): every kind is
// watched once per process, and readers get immutable objects, snapshots or
// per-namespace slices, never a copy of the whole cache. ClusterCache
// (cache.h) is the informer-backed implementation; tests use a fake.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/cache/objects.h"
#include "operator/inject/inject.h"

namespace promsidecar::cache {

class ClusterReader {
 public:
  virtual ~ClusterReader() = default;

  // Every informer has listed once.
  virtual bool HasSynced() const = 0;
  // gitVersion of the API server, read at start; empty when unknown.
  virtual std::string ApiserverVersion() const = 0;

  // Every PrometheusAgent that parses, ordered by namespace/name: one shared
  // immutable list, replaced when an agent changes.
  virtual std::shared_ptr<const std::vector<api::Agent>> Agents() const = 0;
  // One agent object (parsed or not); nullptr when absent.
  virtual ObjectPtr<AgentObject> Agent(std::string_view ns, std::string_view name) const = 0;

  virtual ObjectPtr<NamespaceMeta> Namespace(std::string_view name) const = 0;
  // Distinct kubelet versions of the Nodes that count (those matching
  // --webhook.node-selector), sorted: what native-sidecar and in-place
  // decisions read, the same for the webhook and the controller.
  virtual std::shared_ptr<const std::vector<std::string>> KubeletVersions() const = 0;
  virtual std::vector<ObjectPtr<nlohmann::json>> LimitRanges(std::string_view ns) const = 0;

  // Kept pods (see PodMeta) of one namespace, by name.
  virtual std::vector<ObjectPtr<PodMeta>> Pods(std::string_view ns) const = 0;
  virtual ObjectPtr<PodMeta> Pod(std::string_view ns, std::string_view name) const = 0;
  // Namespaces holding pods labelled with this agent label value (any
  // state), with how many.
  virtual std::map<std::string, int> NamespacesOfAgent(std::string_view agent_label) const = 0;
  // Pods that opted in but carry neither the injection label nor the status
  // annotation (the repair report's candidates).
  virtual std::vector<ObjectPtr<PodMeta>> UnhandledPods() const = 0;

  // Names of the Secrets / ConfigMaps in an agent namespace with their
  // resourceVersions; nullopt for a namespace that is not watched.
  virtual std::optional<std::map<std::string, std::string>> SecretVersions(std::string_view ns) const = 0;
  virtual std::optional<std::map<std::string, std::string>> ConfigMapVersions(std::string_view ns) const = 0;
};

// What inject::Decide needs for a pod in `ns`, from the reader: the agents
// snapshot (shared, not copied), the namespace's labels and LimitRanges, the
// API server and kubelet versions. Allocates in proportion to the namespace,
// never to the number of Nodes or agents.
inject::ClusterFacts FactsFor(const ClusterReader& reader, std::string_view ns,
                              const inject::OperatorSettings& settings);

}  // namespace promsidecar::cache
