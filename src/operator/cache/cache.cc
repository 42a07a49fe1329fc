#include "operator/cache/cache.h"

#include <algorithm>

#include "common/log/log.h"

namespace promsidecar::cache {

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

inject::ClusterFacts FactsFor(const ClusterReader& reader, std::string_view ns,
                              const inject::OperatorSettings& settings) {
  inject::ClusterFacts facts;
  facts.settings = settings;
  facts.agents = inject::AgentList(reader.Agents());
  if (auto n = reader.Namespace(ns)) {
    facts.namespace_labels = n->labels;
  } else {
    // A namespace created a moment ago may not be in the cache yet; its
    // name label is always set by the API server.
    facts.namespace_labels["kubernetes.io/metadata.name"] = std::string(ns);
  }
  facts.apiserver_version = reader.ApiserverVersion();
  facts.node_kubelet_versions = *reader.KubeletVersions();
  for (const auto& lr : reader.LimitRanges(ns)) facts.limit_ranges.push_back(*lr);
  return facts;
}

namespace {

template <class T>
kube::Transform<T> From(ObjectPtr<T> (*fn)(const json&)) {
  return [fn](json&& object) { return fn(object); };
}

}  // namespace

ClusterCache::ClusterCache(kube::Client& client, ClusterCacheOptions options)
    : client_(client),
      options_(std::move(options)),
      agents_snapshot_(std::make_shared<const std::vector<api::Agent>>()),
      kubelet_snapshot_(std::make_shared<const std::vector<std::string>>()) {
  std::vector<std::string> namespaces = options_.agent_namespaces;
  if (namespaces.empty()) namespaces.push_back("");
  for (const auto& ns : namespaces) {
    agents_[ns] = std::make_unique<AgentInformer>(
        client_, kube::InformerOptions{.resource = AgentResource(options_.group), .ns = ns},
        From(&ToAgentObject),
        kube::InformerHandlers<AgentObject>{
            .on_add = [this](const ObjectPtr<AgentObject>& a) { OnAgent(nullptr, a); },
            .on_update = [this](const ObjectPtr<AgentObject>& o,
                                const ObjectPtr<AgentObject>& a) { OnAgent(o, a); },
            .on_delete = [this](const ObjectPtr<AgentObject>& a) { OnAgent(a, nullptr); }});
    for (auto [kind, informers, resource] :
         {std::tuple{"Secret", &secrets_, kube::resources::Secrets()},
          std::tuple{"ConfigMap", &config_maps_, kube::resources::ConfigMaps()}}) {
      auto notify = [this, kind = std::string(kind)](const ObjectPtr<ObjectName>& o) {
        for (const auto& s : subscribers_) {
          if (s.on_reference) s.on_reference(kind, o->ns, o->name);
        }
      };
      (*informers)[ns] = std::make_unique<NameInformer>(
          client_, kube::InformerOptions{.resource = resource, .ns = ns, .metadata_only = true},
          From(&ToObjectName),
          kube::InformerHandlers<ObjectName>{
              .on_add = notify,
              .on_update = [notify](const ObjectPtr<ObjectName>&,
                                    const ObjectPtr<ObjectName>& o) { notify(o); },
              .on_delete = notify});
    }
  }
  pods_ = std::make_unique<kube::Informer<PodMeta>>(
      client_,
      kube::InformerOptions{.resource = kube::resources::Pods(),
                            .field_selector = kActivePodsFieldSelector,
                            .metadata_only = true},
      From(&ToPodMeta),
      kube::InformerHandlers<PodMeta>{
          .on_add = [this](const ObjectPtr<PodMeta>& p) { OnPod(nullptr, p); },
          .on_update = [this](const ObjectPtr<PodMeta>& o, const ObjectPtr<PodMeta>& p) { OnPod(o, p); },
          .on_delete = [this](const ObjectPtr<PodMeta>& p) { OnPod(p, nullptr); }});
  auto on_ns = [this](const ObjectPtr<NamespaceMeta>& o, const ObjectPtr<NamespaceMeta>& n) {
    for (const auto& s : subscribers_) {
      if (s.on_namespace) s.on_namespace(o, n);
    }
  };
  namespaces_ = std::make_unique<kube::Informer<NamespaceMeta>>(
      client_, kube::InformerOptions{.resource = kube::resources::Namespaces(), .metadata_only = true},
      From(&ToNamespaceMeta),
      kube::InformerHandlers<NamespaceMeta>{
          .on_add = [on_ns](const ObjectPtr<NamespaceMeta>& n) { on_ns(nullptr, n); },
          .on_update = on_ns,
          .on_delete = [on_ns](const ObjectPtr<NamespaceMeta>& n) { on_ns(n, nullptr); }});
  nodes_ = std::make_unique<kube::Informer<NodeMeta>>(
      client_,
      kube::InformerOptions{.resource = NodesResource(), .label_selector = options_.node_label_selector},
      From(&ToNodeMeta),
      kube::InformerHandlers<NodeMeta>{
          .on_add = [this](const ObjectPtr<NodeMeta>& n) { OnNode(nullptr, n); },
          .on_update = [this](const ObjectPtr<NodeMeta>& o, const ObjectPtr<NodeMeta>& n) { OnNode(o, n); },
          .on_delete = [this](const ObjectPtr<NodeMeta>& n) { OnNode(n, nullptr); }});
  auto on_lr = [this](const ObjectPtr<json>& lr) {
    const std::string ns = kube::Namespace(*lr);
    for (const auto& s : subscribers_) {
      if (s.on_limit_ranges) s.on_limit_ranges(ns);
    }
  };
  limit_ranges_ = std::make_unique<kube::JsonInformer>(
      client_, kube::InformerOptions{.resource = LimitRangesResource()}, kube::KeepJson,
      kube::InformerHandlers<json>{
          .on_add = on_lr,
          .on_update = [on_lr](const ObjectPtr<json>&, const ObjectPtr<json>& lr) { on_lr(lr); },
          .on_delete = on_lr});
}

ClusterCache::~ClusterCache() {
  Stop();
}

void ClusterCache::Subscribe(CacheHandlers handlers) {
  subscribers_.push_back(std::move(handlers));
}

void ClusterCache::RegisterMetrics(metrics::Registry& registry,
                                   metrics::Family<metrics::Counter>& api_calls) {
  registry.AddCollector([this, &api_calls] {
    auto mirror = [&api_calls](const std::string& resource, uint64_t lists, uint64_t watches) {
      api_calls.With({"list", resource, "informer"}).SetTotal(static_cast<double>(lists));
      api_calls.With({"watch", resource, "informer"}).SetTotal(static_cast<double>(watches));
    };
    // Informers of one resource in several namespaces add up.
    auto sum = [&](const auto& informers, const std::string& resource) {
      uint64_t l = 0, w = 0;
      for (const auto& [ns, i] : informers) l += i->lists(), w += i->watches();
      mirror(resource, l, w);
    };
    sum(agents_, api::kAgentPlural);
    sum(secrets_, "secrets");
    sum(config_maps_, "configmaps");
    mirror("pods", pods_->lists(), pods_->watches());
    mirror("namespaces", namespaces_->lists(), namespaces_->watches());
    mirror("nodes", nodes_->lists(), nodes_->watches());
    mirror("limitranges", limit_ranges_->lists(), limit_ranges_->watches());
  });
  auto& kept = registry.AddGaugeFamily("promsidecar_operator_cache_objects",
                                       "Objects the shared cache keeps, by kind.", {"kind"});
  registry.AddCollector([this, &kept] {
    kept.With({"pods"}).Set(static_cast<double>(pods_->Size()));
    kept.With({"namespaces"}).Set(static_cast<double>(namespaces_->Size()));
    kept.With({"nodes"}).Set(static_cast<double>(nodes_->Size()));
    size_t agents = 0;
    for (const auto& [ns, i] : agents_) agents += i->Size();
    kept.With({"prometheusagents"}).Set(static_cast<double>(agents));
  });
}

void ClusterCache::Start() {
  auto version = client_.GetPath("/version");
  if (version.ok() && version->is_object()) {
    std::unique_lock lock(mu_);
    apiserver_version_ = version->value("gitVersion", "");
  } else if (!version.ok()) {
    log::Warn("cannot read the API server version; native sidecars only when forced",
              {{"error", version.error().message}});
  }
  for (auto& [ns, i] : agents_) i->Start();
  for (auto& [ns, i] : secrets_) i->Start();
  for (auto& [ns, i] : config_maps_) i->Start();
  pods_->Start();
  namespaces_->Start();
  nodes_->Start();
  limit_ranges_->Start();
}

void ClusterCache::Stop() {
  for (auto& [ns, i] : agents_) i->Stop();
  for (auto& [ns, i] : secrets_) i->Stop();
  for (auto& [ns, i] : config_maps_) i->Stop();
  pods_->Stop();
  namespaces_->Stop();
  nodes_->Stop();
  limit_ranges_->Stop();
}

bool ClusterCache::HasSynced() const {
  if (synced_.load(std::memory_order_acquire)) return true;
  auto all = [](const auto& informers) {
    return std::all_of(informers.begin(), informers.end(),
                       [](const auto& kv) { return kv.second->HasSynced(); });
  };
  const bool synced = all(agents_) && all(secrets_) && all(config_maps_) && pods_->HasSynced() &&
                      namespaces_->HasSynced() && nodes_->HasSynced() && limit_ranges_->HasSynced();
  if (synced) synced_.store(true, std::memory_order_release);
  return synced;
}

bool ClusterCache::WaitForSync(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!HasSynced()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void ClusterCache::OnPod(const ObjectPtr<PodMeta>& old_pod, const ObjectPtr<PodMeta>& new_pod) {
  auto unhandled = [](const PodMeta& p) {
    return p.injection == Injection::kNone && !p.status_annotation && (p.scrape || p.legacy_scrape);
  };
  {
    std::unique_lock lock(mu_);
    if (old_pod) {
      if (!old_pod->agent_label.empty()) {
        auto a = by_agent_.find(old_pod->agent_label);
        if (a != by_agent_.end()) {
          auto n = a->second.find(std::string(old_pod->ns));
          if (n != a->second.end() && --n->second <= 0) a->second.erase(n);
          if (a->second.empty()) by_agent_.erase(a);
        }
      }
      if (unhandled(*old_pod)) unhandled_.erase(old_pod->Ref());
    }
    if (new_pod) {
      if (!new_pod->agent_label.empty())
        ++by_agent_[std::string(new_pod->agent_label)][std::string(new_pod->ns)];
      if (unhandled(*new_pod)) unhandled_.insert(new_pod->Ref());
    }
  }
  for (const auto& s : subscribers_) {
    if (s.on_pod) s.on_pod(old_pod, new_pod);
  }
}

void ClusterCache::OnAgent(const ObjectPtr<AgentObject>& old_agent, const ObjectPtr<AgentObject>& new_agent) {
  // Parsed once per resourceVersion (by the transform); here only the
  // shared list is rebuilt, which agent writes (rare) pay for.
  auto list = std::make_shared<std::vector<api::Agent>>();
  for (const auto& [ns, informer] : agents_) {
    for (const auto& a : informer->List()) {
      if (a->ok()) list->push_back(a->agent);
    }
  }
  std::sort(list->begin(), list->end(),
            [](const api::Agent& x, const api::Agent& y) { return x.Ref() < y.Ref(); });
  if (new_agent && !new_agent->ok() && (!old_agent || old_agent->parse_error != new_agent->parse_error)) {
    log::Warn("ignoring a PrometheusAgent that does not parse",
              {{"agent", new_agent->Key()}, {"error", new_agent->parse_error}});
  }
  {
    std::unique_lock lock(mu_);
    agents_snapshot_ = std::move(list);
  }
  for (const auto& s : subscribers_) {
    if (s.on_agent) s.on_agent(old_agent, new_agent);
  }
}

void ClusterCache::OnNode(const ObjectPtr<NodeMeta>& old_node, const ObjectPtr<NodeMeta>& new_node) {
  bool changed = false;
  {
    std::unique_lock lock(mu_);
    if (old_node) {
      auto it = kubelet_versions_.find(old_node->kubelet_version);
      if (it != kubelet_versions_.end() && --it->second <= 0) {
        kubelet_versions_.erase(it);
        changed = true;
      }
    }
    if (new_node && ++kubelet_versions_[new_node->kubelet_version] == 1) changed = true;
    if (changed) {
      auto versions = std::make_shared<std::vector<std::string>>();
      for (const auto& [v, n] : kubelet_versions_) versions->push_back(v);
      kubelet_snapshot_ = std::move(versions);
    }
  }
  if (!changed) return;
  for (const auto& s : subscribers_) {
    if (s.on_nodes) s.on_nodes();
  }
}

std::string ClusterCache::ApiserverVersion() const {
  std::shared_lock lock(mu_);
  return apiserver_version_;
}

std::shared_ptr<const std::vector<api::Agent>> ClusterCache::Agents() const {
  std::shared_lock lock(mu_);
  return agents_snapshot_;
}

ObjectPtr<AgentObject> ClusterCache::Agent(std::string_view ns, std::string_view name) const {
  auto it = agents_.find(std::string(ns));
  if (it == agents_.end()) it = agents_.find("");
  return it == agents_.end() ? nullptr : it->second->Get(ns, name);
}

ObjectPtr<NamespaceMeta> ClusterCache::Namespace(std::string_view name) const {
  return namespaces_->Get("", name);
}

std::shared_ptr<const std::vector<std::string>> ClusterCache::KubeletVersions() const {
  std::shared_lock lock(mu_);
  return kubelet_snapshot_;
}

std::vector<ObjectPtr<json>> ClusterCache::LimitRanges(std::string_view ns) const {
  return limit_ranges_->ListNamespace(ns);
}

std::vector<ObjectPtr<PodMeta>> ClusterCache::Pods(std::string_view ns) const {
  return pods_->ListNamespace(ns);
}

ObjectPtr<PodMeta> ClusterCache::Pod(std::string_view ns, std::string_view name) const {
  return pods_->Get(ns, name);
}

std::map<std::string, int> ClusterCache::NamespacesOfAgent(std::string_view agent_label) const {
  std::shared_lock lock(mu_);
  auto it = by_agent_.find(agent_label);
  return it == by_agent_.end() ? std::map<std::string, int>() : it->second;
}

std::vector<ObjectPtr<PodMeta>> ClusterCache::UnhandledPods() const {
  std::vector<std::string> keys;
  {
    std::shared_lock lock(mu_);
    keys.assign(unhandled_.begin(), unhandled_.end());
  }
  std::vector<ObjectPtr<PodMeta>> out;
  for (const auto& key : keys) {
    const size_t slash = key.find('/');
    if (auto p = pods_->Get(key.substr(0, slash), key.substr(slash + 1))) out.push_back(std::move(p));
  }
  return out;
}

std::optional<std::map<std::string, std::string>> ClusterCache::Versions(
    const std::map<std::string, std::unique_ptr<NameInformer>>& informers, std::string_view ns) {
  auto it = informers.find(std::string(ns));
  if (it == informers.end()) it = informers.find("");
  if (it == informers.end()) return std::nullopt;
  std::map<std::string, std::string> out;
  for (const auto& o : it->second->ListNamespace(ns)) out.emplace(o->name, o->resource_version);
  return out;
}

std::optional<std::map<std::string, std::string>> ClusterCache::SecretVersions(std::string_view ns) const {
  return Versions(secrets_, ns);
}

std::optional<std::map<std::string, std::string>> ClusterCache::ConfigMapVersions(std::string_view ns) const {
  return Versions(config_maps_, ns);
}

}  // namespace promsidecar::cache
