// Agents, pods and cluster facts shared by the controller's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "operator/api/agent.h"
#include "operator/api/well_known.h"
#include "operator/inject/inject.h"

namespace promsidecar::controller::testing {

// A Sidecar agent admitting namespaces labelled metrics=on; `sidecar`
// is merged into spec.sidecar.
inline api::Agent SidecarAgent(const std::string& ns, const std::string& name,
                               const nlohmann::json& sidecar = nlohmann::json::object()) {
  nlohmann::json s = {{"namespaceSelector", {{"matchLabels", {{"metrics", "on"}}}}}};
  s.merge_patch(sidecar);
  auto a = api::ParseAgent(
      nlohmann::json{{"apiVersion", "promsidecar.io/v1alpha1"},
                     {"kind", "PrometheusAgent"},
                     {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "u1"}}},
                     {"spec",
                      {{"mode", "Sidecar"},
                       {"remoteWrite", nlohmann::json::array({{{"url", "https://rw.example.com/write"}}})},
                       {"sidecar", s}}}});
  EXPECT_TRUE(a.ok()) << a.message();
  return *a;
}

inline nlohmann::json AppPod(const std::string& ns, const std::string& name = "app") {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"uid", name + "-0123456789"},
            {"labels", {{"app", "web"}}},
            {"annotations",
             {{api::kScrapeAnnotation, "true"},
              {"prometheus.operator.io/port", "8080"},
              {api::kAgentSelectorAnnotation, "mon/a"}}}}},
          {"spec", {{"containers", nlohmann::json::array({{{"name", "app"}, {"image", "nginx"}}})}}}};
}

inline inject::ClusterFacts Facts(const api::Agent& agent) {
  inject::ClusterFacts facts;
  facts.agents = {agent};
  facts.namespace_labels = {{"metrics", "on"}};
  facts.apiserver_version = "v1.34.0";
  facts.node_kubelet_versions = {"v1.34.0"};
  return facts;
}

// The pod as the webhook leaves it.
inline nlohmann::json Injected(const nlohmann::json& pod, const inject::ClusterFacts& facts) {
  const auto r = inject::Decide(pod, pod["metadata"]["namespace"].get<std::string>(), facts);
  EXPECT_EQ(r.outcome, inject::Outcome::kInjected) << r.message;
  return pod.patch(r.patch);
}

}  // namespace promsidecar::controller::testing
