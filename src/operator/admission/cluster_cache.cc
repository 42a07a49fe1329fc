#include "operator/admission/cluster_cache.h"

#include <utility>

#include "common/log/log.h"

namespace promsidecar::admission {

using nlohmann::json;

kube::Resource AgentResource(const api::AgentApiGroup& group) {
  return {group.group, api::kAgentVersion, api::kAgentPlural, true};
}
kube::Resource NodesResource() {
  return {"", "v1", "nodes", false};
}
kube::Resource LimitRangesResource() {
  return {"", "v1", "limitranges", true};
}

ClusterCache::ClusterCache(kube::Client& client, ClusterCacheOptions options)
    : client_(client), options_(std::move(options)) {
  kube::InformerHandlers agent_handlers;
  if (options_.on_agents_changed) {
    auto changed = options_.on_agents_changed;
    agent_handlers.on_add = [changed](const json&) { changed(); };
    agent_handlers.on_update = [changed](const json&, const json&) { changed(); };
    agent_handlers.on_delete = [changed](const json&) { changed(); };
  }
  std::vector<std::string> namespaces = options_.agent_namespaces;
  if (namespaces.empty()) namespaces.push_back("");
  for (const auto& ns : namespaces) {
    agents_.push_back(std::make_unique<kube::Informer>(
        client_, kube::InformerOptions{.resource = AgentResource(options_.group), .ns = ns}, agent_handlers));
  }
  namespaces_ = std::make_unique<kube::Informer>(
      client_, kube::InformerOptions{.resource = kube::resources::Namespaces()}, kube::InformerHandlers{});
  nodes_ = std::make_unique<kube::Informer>(
      client_,
      kube::InformerOptions{.resource = NodesResource(), .label_selector = options_.node_label_selector},
      kube::InformerHandlers{});
  limit_ranges_ = std::make_unique<kube::Informer>(
      client_, kube::InformerOptions{.resource = LimitRangesResource()}, kube::InformerHandlers{});
}

ClusterCache::~ClusterCache() {
  Stop();
}

void ClusterCache::Start() {
  auto version = client_.GetPath("/version");
  if (version.ok() && version->is_object()) {
    std::lock_guard<std::mutex> lock(mu_);
    apiserver_version_ = version->value("gitVersion", "");
  } else if (!version.ok()) {
    log::Warn("cannot read the apiserver version; native sidecars only when forced",
              {{"error", version.error().message}});
  }
  for (auto& i : agents_) i->Start();
  namespaces_->Start();
  nodes_->Start();
  limit_ranges_->Start();
}

void ClusterCache::Stop() {
  for (auto& i : agents_) i->Stop();
  namespaces_->Stop();
  nodes_->Stop();
  limit_ranges_->Stop();
}

bool ClusterCache::HasSynced() const {
  for (const auto& i : agents_) {
    if (!i->HasSynced()) return false;
  }
  return namespaces_->HasSynced() && nodes_->HasSynced() && limit_ranges_->HasSynced();
}

bool ClusterCache::WaitForSync(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  };
  for (auto& i : agents_) {
    if (!i->WaitForSync(left())) return false;
  }
  return namespaces_->WaitForSync(left()) && nodes_->WaitForSync(left()) &&
         limit_ranges_->WaitForSync(left());
}

std::vector<api::Agent> ClusterCache::Agents() const {
  std::vector<api::Agent> out;
  for (const auto& informer : agents_) {
    for (const auto& object : informer->List()) {
      auto agent = api::ParseAgent(object);
      if (!agent.ok()) {
        log::Warn("ignoring a PrometheusAgent that does not parse",
                  {{"agent", kube::ObjectKey(object)}, {"error", agent.message()}});
        continue;
      }
      out.push_back(std::move(*agent));
    }
  }
  return out;
}

Result<inject::ClusterFacts> ClusterCache::FactsFor(const std::string& pod_namespace) {
  if (!HasSynced()) return MakeError("informer caches have not synced yet");
  inject::ClusterFacts facts;
  facts.agents = Agents();
  if (auto ns = namespaces_->Get("", pod_namespace)) {
    const json& labels = ns->value("metadata", json::object()).value("labels", json::object());
    for (const auto& [k, v] : labels.items()) {
      if (v.is_string()) facts.namespace_labels[k] = v.get<std::string>();
    }
  } else {
    // A namespace created a moment ago may not be in the cache yet; its
    // name label is always set by the apiserver.
    facts.namespace_labels["kubernetes.io/metadata.name"] = pod_namespace;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    facts.apiserver_version = apiserver_version_;
  }
  for (const auto& node : nodes_->List()) {
    const json& info = node.value("status", json::object()).value("nodeInfo", json::object());
    facts.node_kubelet_versions.push_back(info.value("kubeletVersion", ""));
  }
  for (const auto& lr : limit_ranges_->List()) {
    if (kube::Namespace(lr) == pod_namespace) facts.limit_ranges.push_back(lr);
  }
  return facts;
}

namespace {

Result<std::set<std::string>> Names(kube::Client& client, const kube::Resource& r, const std::string& ns) {
  auto list = client.ListAll(r, ns);
  if (!list.ok()) return MakeError(list.message());
  std::set<std::string> names;
  for (const auto& item : list->value("items", json::array())) names.insert(kube::Name(item));
  return names;
}

}  // namespace

Result<validate::ValidationContext> ClusterCache::ContextFor(const std::string& agent_namespace) {
  if (!HasSynced()) return MakeError("informer caches have not synced yet");
  validate::ValidationContext ctx;
  ctx.existing_agents = Agents();
  auto secrets = Names(client_, kube::resources::Secrets(), agent_namespace);
  auto config_maps = Names(client_, kube::resources::ConfigMaps(), agent_namespace);
  if (secrets.ok() && config_maps.ok()) {
    ctx.existing_secrets = std::move(*secrets);
    ctx.existing_config_maps = std::move(*config_maps);
  } else {
    ctx.references_known = false;
  }
  return ctx;
}

}  // namespace promsidecar::admission
