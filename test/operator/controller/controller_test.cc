// Unit tests of the controller's pure pieces: namespace admission, stripping
// an injected pod back to its original, outdated detection with Decide's
// hash, status comparison, the work queue and lease expiry.
#include "operator/controller/controller.h"

#include <gtest/gtest.h>

#include "operator/api/well_known.h"
#include "operator/controller/workqueue.h"
#include "operator/leader/leader.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;

api::Agent SidecarAgent(const std::string& ns, const std::string& name) {
  auto a =
      api::ParseAgent(json{{"apiVersion", "promsidecar.io/v1alpha1"},
                           {"kind", "PrometheusAgent"},
                           {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "u1"}}},
                           {"spec",
                            {{"mode", "Sidecar"},
                             {"remoteWrite", json::array({{{"url", "https://rw.example.com/write"}}})},
                             {"sidecar", {{"namespaceSelector", {{"matchLabels", {{"metrics", "on"}}}}}}}}}});
  EXPECT_TRUE(a.ok()) << a.message();
  return *a;
}

TEST(NamespaceAdmitted, SelectorDecides) {
  const api::Agent agent = SidecarAgent("mon", "a");
  EXPECT_TRUE(NamespaceAdmitted(agent, "team-a", {{"metrics", "on"}}));
  EXPECT_FALSE(NamespaceAdmitted(agent, "team-b", {}));
  EXPECT_FALSE(NamespaceAdmitted(agent, "team-b", {{"metrics", "off"}}));
}

TEST(NamespaceAdmitted, WithoutSelectorOnlyOwnNamespace) {
  api::Agent agent = SidecarAgent("mon", "a");
  agent.sidecar.namespace_selector.reset();
  EXPECT_TRUE(NamespaceAdmitted(agent, "mon", {}));
  EXPECT_FALSE(NamespaceAdmitted(agent, "team-a", {{"metrics", "on"}}));
}

json AppPod(const std::string& ns) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", "app"},
            {"namespace", ns},
            {"labels", {{"app", "web"}}},
            {"annotations", {{api::kScrapeAnnotation, "true"}, {"prometheus.operator.io/port", "8080"}}}}},
          {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "nginx"}}})}}}};
}

json ApplyPatch(const json& pod, const json& patch) {
  return pod.patch(patch);
}

inject::ClusterFacts Facts(const api::Agent& agent) {
  inject::ClusterFacts facts;
  facts.agents = {agent};
  facts.namespace_labels = {{"metrics", "on"}};
  facts.apiserver_version = "v1.34.0";
  facts.node_kubelet_versions = {"v1.34.0"};
  return facts;
}

TEST(PodOutdated, FreshInjectionIsCurrentAndStripRestoresThePod) {
  api::Agent agent = SidecarAgent("mon", "a");
  const json pod = AppPod("team-a");
  auto facts = Facts(agent);
  json with_selector = pod;
  with_selector["metadata"]["annotations"][api::kAgentSelectorAnnotation] = "mon/a";
  const auto r = inject::Decide(with_selector, "team-a", facts);
  ASSERT_EQ(r.outcome, inject::Outcome::kInjected) << r.message;
  const json injected = ApplyPatch(with_selector, r.patch);
  EXPECT_EQ(StripInjection(injected), with_selector);
  EXPECT_FALSE(PodOutdated(injected, facts));

  // A new default agent image changes what would be injected: outdated.
  facts.settings.agent_image = "ghcr.io/promsidecar/promsidecar-agent:v9.9.9";
  EXPECT_TRUE(PodOutdated(injected, facts));
}

TEST(PodOutdated, RemoteWriteChangeDoesNotMakePodsOutdated) {
  api::Agent agent = SidecarAgent("mon", "a");
  json pod = AppPod("team-a");
  pod["metadata"]["annotations"][api::kAgentSelectorAnnotation] = "mon/a";
  auto facts = Facts(agent);
  const json injected = ApplyPatch(pod, inject::Decide(pod, "team-a", facts).patch);
  facts.agents[0].remote_write[0].url = "https://elsewhere.example.com/write";
  EXPECT_FALSE(PodOutdated(injected, facts));
}

TEST(Status, LastTransitionTimeKeptWhenStatusUnchanged) {
  AgentStatus s;
  s.observed_generation = 3;
  s.injected_pods = 2;
  s.namespaces = 2;
  s.rendered_namespaces = {"a", "b"};
  s.conditions = {{"Reconciled", "True", "ConfigRendered", "ok"}};
  const json first = StatusJson(s, json(), "2026-01-01T00:00:00Z");
  EXPECT_EQ(first["namespaces"], 2);
  EXPECT_EQ(first["conditions"][0]["lastTransitionTime"], "2026-01-01T00:00:00Z");
  const json second = StatusJson(s, first, "2026-01-02T00:00:00Z");
  EXPECT_EQ(second, first);
  EXPECT_TRUE(StatusEquivalent(first, second));

  s.conditions[0].status = "False";
  const json third = StatusJson(s, first, "2026-01-03T00:00:00Z");
  EXPECT_EQ(third["conditions"][0]["lastTransitionTime"], "2026-01-03T00:00:00Z");
  EXPECT_FALSE(StatusEquivalent(first, third));

  s.conditions[0].status = "True";
  s.outdated_pods = 1;
  EXPECT_FALSE(StatusEquivalent(first, StatusJson(s, first, "x")));
}

TEST(WorkQueue, DeduplicatesAndRequeuesWhileProcessing) {
  WorkQueue q;
  q.Add("a");
  q.Add("a");
  q.Add("b");
  EXPECT_EQ(q.Len(), 2u);
  auto k = q.Get(std::chrono::milliseconds(10));
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, "a");
  q.Add("a");  // while processing: comes back after Done
  EXPECT_EQ(q.Len(), 1u);
  q.Done("a");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(*q.Get(std::chrono::milliseconds(10)), "b");
  EXPECT_EQ(*q.Get(std::chrono::milliseconds(10)), "a");
  EXPECT_FALSE(q.Get(std::chrono::milliseconds(10)));
}

TEST(WorkQueue, RateLimitedRetriesBackOff) {
  WorkQueue q(std::chrono::milliseconds(20), std::chrono::milliseconds(1000));
  q.AddRateLimited("x");
  EXPECT_EQ(q.Failures("x"), 1);
  // Not ready at once; ready within a generous deadline.
  EXPECT_FALSE(q.Get(std::chrono::milliseconds(0)));
  auto k = q.Get(std::chrono::seconds(10));
  ASSERT_TRUE(k);
  q.Done("x");
  q.AddRateLimited("x");
  EXPECT_EQ(q.Failures("x"), 2);
  q.Forget("x");
  EXPECT_EQ(q.Failures("x"), 0);
  q.ShutDown();
  EXPECT_FALSE(q.Get(std::chrono::seconds(10)));
}

TEST(Lease, ExpiryUsesObservationTime) {
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  EXPECT_FALSE(leader::LeaseExpired(t0, t0 + std::chrono::seconds(15), std::chrono::seconds(15)));
  EXPECT_TRUE(leader::LeaseExpired(t0, t0 + std::chrono::seconds(16), std::chrono::seconds(15)));
}

}  // namespace
}  // namespace promsidecar::controller
