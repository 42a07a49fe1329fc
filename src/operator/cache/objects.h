// What the operator's cache keeps of each kind it watches: small immutable
// structs holding only the fields some reader reads, made once per object
// version by the pure transforms below (JSON in, struct out, JSON freed).
//
//   Pod            metadata only: injection labels and annotations, the few
//                  annotations inject::Decide reads, the controlling owner
//                  (PodMeta). Pods that neither opted in nor were handled by
//                  the webhook are not kept at all.
//   Namespace      labels and whether it is terminating (NamespaceMeta)
//   Node           its kubelet version (the selector is applied server-side)
//   PrometheusAgent  parsed once per resourceVersion, with the metadata and
//                  status the controller compares (AgentObject)
//   Secret, ConfigMap in agent namespaces: metadata only (names and
//                  resourceVersions; the data of referenced ones is read with
//                  a GET when their resourceVersion changes)
//   LimitRange     the object (few, small; Decide reads them whole)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/informer.h"
#include "operator/api/agent.h"

namespace promsidecar::cache {

template <class T>
using ObjectPtr = kube::ObjectPtr<T>;

// metadata.ownerReferences[] with controller: true.
struct OwnerRef {
  std::string_view api_version;  // interned
  std::string_view kind;         // interned
  std::string name;
  std::string uid;
};

enum class Injection : uint8_t { kNone, kInjected, kSkipped };

// A pod as the operator knows it (metadata only). String views are interned
// (util::Intern): values shared by many pods are stored once.
struct PodMeta {
  std::string_view ns;
  std::string name;
  std::string uid;
  Injection injection = Injection::kNone;  // prometheus.operator.io/injection
  bool status_annotation = false;          // prometheus.operator.io/injection-status is set
  bool deleting = false;                   // metadata.deletionTimestamp is set
  // The opt-in annotations ("true").
  bool scrape = false;
  bool legacy_scrape = false;
  // Decide's other inputs from metadata: the agent a pod names, its native
  // sidecar override and whether a Job owns it.
  std::string_view agent_selector;
  std::string_view native_override;
  bool job = false;
  // Stamped at injection: the pod's terminationGracePeriodSeconds
  // (api::kInjectionClassAnnotation); nullopt for pods injected before it.
  std::optional<int64_t> grace_seconds;
  std::string_view agent_label;    // prometheus.operator.io/agent
  std::string_view injected_hash;  // prometheus.operator.io/injected-hash
  std::string_view agent_version;  // prometheus.operator.io/agent-version
  std::string_view skip_reason;    // prometheus.operator.io/injection-skip-reason (skipped pods)
  std::optional<OwnerRef> owner;
  int64_t created_unix = 0;  // metadata.creationTimestamp; 0 when unreadable

  // Not being deleted (the watch's field selector leaves out finished pods).
  bool Active() const { return !deleting; }
  std::string Ref() const { return std::string(ns) + "/" + name; }
};

// Whether a pod is worth keeping: handled by the webhook (labelled or
// annotated as injected) or opted in (a repair candidate).
ObjectPtr<PodMeta> ToPodMeta(const nlohmann::json& pod);

// metadata.ownerReferences[] with controller: true, from any object.
std::optional<OwnerRef> ControllerOf(const nlohmann::json& object);

struct NamespaceMeta {
  std::string name;
  api::Labels labels;
  bool terminating = false;
};
ObjectPtr<NamespaceMeta> ToNamespaceMeta(const nlohmann::json& ns);

struct NodeMeta {
  std::string name;
  std::string kubelet_version;  // status.nodeInfo.kubeletVersion
};
ObjectPtr<NodeMeta> ToNodeMeta(const nlohmann::json& node);

// Names and versions only (Secrets and ConfigMaps in agent namespaces).
struct ObjectName {
  std::string ns, name, resource_version;
};
ObjectPtr<ObjectName> ToObjectName(const nlohmann::json& object);

// A PrometheusAgent, parsed once per resourceVersion.
struct AgentObject {
  api::Agent agent;         // valid when parse_error is empty
  std::string parse_error;  // why it does not parse (logged; the agent is left alone)
  std::string api_version;
  std::string resource_version;
  int64_t generation = 0;
  bool deleting = false;
  std::vector<std::string> finalizers;
  nlohmann::json status;  // as stored (null when absent)

  bool ok() const { return parse_error.empty(); }
  bool HasFinalizer(std::string_view f) const;
  std::string Key() const { return agent.namespace_ + "/" + agent.name; }
};
ObjectPtr<AgentObject> ToAgentObject(const nlohmann::json& object);

// The RFC 3339 "2026-01-02T03:04:05Z" of Kubernetes timestamps as Unix
// seconds; 0 when unreadable.
int64_t ParseTimestamp(std::string_view text);

}  // namespace promsidecar::cache
