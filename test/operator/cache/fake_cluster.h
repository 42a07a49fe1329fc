// An in-memory ClusterReader for unit tests: what the shared cache would hold,
// set directly. Pods, namespaces and agents go through the same transforms
// as the real cache (from JSON objects), so tests describe objects as the
// API server sends them.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/cache/reader.h"

namespace promsidecar::cache::testing {

class FakeCluster : public ClusterReader {
 public:
  void SetApiserverVersion(std::string v) { apiserver_ = std::move(v); }
  // A PrometheusAgent object (JSON); replaces one of the same name.
  void AddAgent(const nlohmann::json& object);
  void AddNamespace(const std::string& name, const api::Labels& labels = {}, bool terminating = false);
  void SetKubeletVersions(std::vector<std::string> versions);
  void AddLimitRange(const nlohmann::json& object);
  // Kept only when the real cache would keep it (ToPodMeta); false otherwise.
  bool AddPod(const nlohmann::json& pod);
  void SetSecretVersions(const std::string& ns, std::map<std::string, std::string> versions);
  void SetConfigMapVersions(const std::string& ns, std::map<std::string, std::string> versions);

  bool HasSynced() const override { return true; }
  std::string ApiserverVersion() const override { return apiserver_; }
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
  std::string apiserver_ = "v1.34.0";
  std::map<std::string, ObjectPtr<AgentObject>> agents_;  // "ns/name"
  std::shared_ptr<const std::vector<api::Agent>> snapshot_ =
      std::make_shared<const std::vector<api::Agent>>();
  std::map<std::string, ObjectPtr<NamespaceMeta>> namespaces_;
  std::shared_ptr<const std::vector<std::string>> kubelets_ =
      std::make_shared<const std::vector<std::string>>();
  std::map<std::string, std::vector<ObjectPtr<nlohmann::json>>> limit_ranges_;
  std::map<std::string, ObjectPtr<PodMeta>> pods_;  // "ns/name"
  std::map<std::string, std::map<std::string, std::string>> secrets_, config_maps_;
};

}  // namespace promsidecar::cache::testing
