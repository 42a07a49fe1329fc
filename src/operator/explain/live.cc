#include "operator/explain/live.h"

#include "operator/cache/cache.h"
#include "operator/cache/objects.h"
#include "operator/controller/repair.h"

namespace promsidecar::explain {
namespace {

using nlohmann::json;

kube::Resource ResourceOf(const std::string& kind) {
  if (kind == "Pod") return kube::resources::Pods();
  if (kind == "Job") return {"batch", "v1", "jobs", true};
  if (kind == "CronJob") return {"batch", "v1", "cronjobs", true};
  std::string plural = kind + "s";
  for (char& c : plural) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return {"apps", "v1", plural, true};
}

// "cannot read <what>: <error>; <fix>", the fix depending on the failure.
Error ReadError(const std::string& what, const kube::ApiError& e, const std::string& verb,
                const std::string& resource, const std::string& ns) {
  std::string fix;
  if (kube::IsForbidden(e)) {
    fix = "explain needs " + verb + " on " + resource + (ns.empty() ? "" : " in namespace " + ns) +
          " (kubectl auth can-i " + verb + " " + resource + (ns.empty() ? "" : " -n " + ns) + ")";
  } else if (kube::IsUnauthorized(e)) {
    fix = "the credentials were refused; check --kubeconfig and --context";
  } else if (e.transport_failure()) {
    fix = "the API server did not answer; check --kubeconfig and --context";
  } else {
    fix = "retry, or check the API server's health";
  }
  return Error{"cannot read " + what + ": " + e.What() + "; " + fix};
}

Result<std::vector<json>> ListItems(kube::Client& client, const kube::Resource& r, const std::string& ns,
                                    const kube::ListOptions& options, const std::string& what) {
  auto list = client.ListAll(r, ns, options);
  if (!list.ok()) return ReadError(what, list.error(), "list", r.Name(), ns);
  std::vector<json> items;
  if (const auto it = list->find("items"); it != list->end() && it->is_array()) {
    for (json& item : *it) items.push_back(std::move(item));
  }
  return items;
}

}  // namespace

Result<Snapshot> ReadSnapshot(kube::Client& client, const Target& target, const LiveOptions& options) {
  Snapshot s;
  s.target = target;
  s.agent_namespaces = options.agent_namespaces;
  if (s.agent_namespaces.empty()) s.agent_namespaces.push_back("");
  s.node_selector = options.node_selector;

  const kube::Resource resource = ResourceOf(target.kind);
  auto object = client.Get(resource, target.ns, target.name);
  if (!object.ok()) {
    if (kube::IsNotFound(object.error())) {
      return MakeError(target.Ref() + " not found; list them with kubectl get " + target.Resource() + " -n " +
                       target.ns);
    }
    return ReadError(target.Ref(), object.error(), "get", resource.Name(), target.ns);
  }
  s.object = std::move(*object);

  auto ns = client.Get(kube::resources::Namespaces(), "", target.ns);
  if (!ns.ok()) return ReadError("namespace " + target.ns, ns.error(), "get", "namespaces", "");
  s.namespace_object = std::move(*ns);

  // As the cache: unknown when /version does not answer (Decide then assumes an old server).
  if (auto version = client.GetPath("/version"); version.ok()) {
    s.apiserver_version = version->value("gitVersion", "");
  }

  const kube::Resource agents = cache::AgentResource(options.group);
  for (const std::string& agent_ns : s.agent_namespaces) {
    auto listed = client.ListAll(agents, agent_ns);
    if (!listed.ok()) {
      if (kube::IsNotFound(listed.error())) {
        return MakeError("the API server does not serve " + agents.Name() +
                         "; install the CRD (deploy/crds) or pass the operator's --api-group");
      }
      return ReadError("PrometheusAgents" + (agent_ns.empty() ? std::string() : " in namespace " + agent_ns),
                       listed.error(), "list", agents.Name(), agent_ns);
    }
    for (json& item : (*listed)["items"]) s.agents.push_back(std::move(item));
  }

  auto nodes = ListItems(client, cache::NodesResource(), "", {.label_selector = options.node_selector},
                         "Nodes" + (options.node_selector.empty() ? "" : " (" + options.node_selector + ")"));
  if (!nodes.ok()) return nodes.error();
  s.nodes = std::move(*nodes);

  auto limit_ranges =
      ListItems(client, cache::LimitRangesResource(), target.ns, {}, "LimitRanges in namespace " + target.ns);
  if (!limit_ranges.ok()) return limit_ranges.error();
  s.limit_ranges = std::move(*limit_ranges);

  // The repair report resolves a ReplicaSet-owned pod to its Deployment.
  if (target.kind == "Pod") {
    const controller::Workload w = controller::ResolveWorkload(target.ns, cache::ControllerOf(s.object));
    if (!w.need_replica_set.empty()) {
      auto rs = client.Get(ResourceOf("ReplicaSet"), target.ns, w.need_replica_set);
      // Gone meanwhile: no Deployment controls the pod. Unreadable: the
      // report says the owner could not be read.
      if (rs.ok()) {
        s.replica_set = std::move(*rs);
      } else if (kube::IsNotFound(rs.error())) {
        s.replica_set = json::object();
      }
    }
  }
  return s;
}

}  // namespace promsidecar::explain
