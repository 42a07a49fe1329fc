#include "fake_cluster.h"

namespace promsidecar::cache::testing {

using nlohmann::json;

void FakeCluster::AddAgent(const json& object) {
  auto a = ToAgentObject(object);
  agents_[a->Key()] = a;
  auto list = std::make_shared<std::vector<api::Agent>>();
  for (const auto& [key, o] : agents_) {
    if (o->ok()) list->push_back(o->agent);
  }
  snapshot_ = std::move(list);
}

void FakeCluster::AddNamespace(const std::string& name, const api::Labels& labels, bool terminating) {
  json labels_json = json::object();
  for (const auto& [k, v] : labels) labels_json[k] = v;
  labels_json["kubernetes.io/metadata.name"] = name;
  json ns = {{"metadata", {{"name", name}, {"labels", labels_json}}}};
  if (terminating) ns["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  namespaces_[name] = ToNamespaceMeta(ns);
}

void FakeCluster::SetKubeletVersions(std::vector<std::string> versions) {
  kubelets_ = std::make_shared<const std::vector<std::string>>(std::move(versions));
}

void FakeCluster::AddLimitRange(const json& object) {
  limit_ranges_[object["metadata"]["namespace"].get<std::string>()].push_back(
      std::make_shared<const json>(object));
}

bool FakeCluster::AddPod(const json& pod) {
  auto p = ToPodMeta(pod);
  if (!p) return false;
  pods_[p->Ref()] = p;
  return true;
}

void FakeCluster::SetSecretVersions(const std::string& ns, std::map<std::string, std::string> versions) {
  secrets_[ns] = std::move(versions);
}

void FakeCluster::SetConfigMapVersions(const std::string& ns, std::map<std::string, std::string> versions) {
  config_maps_[ns] = std::move(versions);
}

std::shared_ptr<const std::vector<api::Agent>> FakeCluster::Agents() const {
  return snapshot_;
}

ObjectPtr<AgentObject> FakeCluster::Agent(std::string_view ns, std::string_view name) const {
  auto it = agents_.find(std::string(ns) + "/" + std::string(name));
  return it == agents_.end() ? nullptr : it->second;
}

ObjectPtr<NamespaceMeta> FakeCluster::Namespace(std::string_view name) const {
  auto it = namespaces_.find(std::string(name));
  return it == namespaces_.end() ? nullptr : it->second;
}

std::shared_ptr<const std::vector<std::string>> FakeCluster::KubeletVersions() const {
  return kubelets_;
}

std::vector<ObjectPtr<json>> FakeCluster::LimitRanges(std::string_view ns) const {
  auto it = limit_ranges_.find(std::string(ns));
  return it == limit_ranges_.end() ? std::vector<ObjectPtr<json>>() : it->second;
}

std::vector<ObjectPtr<PodMeta>> FakeCluster::Pods(std::string_view ns) const {
  std::vector<ObjectPtr<PodMeta>> out;
  for (const auto& [key, p] : pods_) {
    if (p->ns == ns) out.push_back(p);
  }
  return out;
}

ObjectPtr<PodMeta> FakeCluster::Pod(std::string_view ns, std::string_view name) const {
  auto it = pods_.find(std::string(ns) + "/" + std::string(name));
  return it == pods_.end() ? nullptr : it->second;
}

std::map<std::string, int> FakeCluster::NamespacesOfAgent(std::string_view agent_label) const {
  std::map<std::string, int> out;
  for (const auto& [key, p] : pods_) {
    if (p->agent_label == agent_label) ++out[std::string(p->ns)];
  }
  return out;
}

std::vector<ObjectPtr<PodMeta>> FakeCluster::UnhandledPods() const {
  std::vector<ObjectPtr<PodMeta>> out;
  for (const auto& [key, p] : pods_) {
    if (p->injection == Injection::kNone && !p->status_annotation && (p->scrape || p->legacy_scrape)) {
      out.push_back(p);
    }
  }
  return out;
}

std::optional<std::map<std::string, std::string>> FakeCluster::SecretVersions(std::string_view ns) const {
  auto it = secrets_.find(std::string(ns));
  if (it == secrets_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::map<std::string, std::string>> FakeCluster::ConfigMapVersions(std::string_view ns) const {
  auto it = config_maps_.find(std::string(ns));
  if (it == config_maps_.end()) return std::nullopt;
  return it->second;
}

}  // namespace promsidecar::cache::testing
