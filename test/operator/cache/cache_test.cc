// The shared cache's pure parts: what the transforms keep of each object,
// and what the webhooks read through the ClusterReader (facts for Decide,
// the validation context) without copying what the cache shares.
#include "operator/cache/objects.h"

#include <gtest/gtest.h>

#include "fake_cluster.h"
#include "operator/admission/cache_facts.h"
#include "operator/api/well_known.h"
#include "operator/cache/reader.h"

namespace promsidecar::cache {
namespace {

using nlohmann::json;

json MetadataPod(json metadata) {
  return {
      {"apiVersion", "meta.k8s.io/v1"}, {"kind", "PartialObjectMetadata"}, {"metadata", std::move(metadata)}};
}

TEST(ToPodMeta, KeepsOnlyPodsTheOperatorReads) {
  struct Case {
    std::string name;
    json metadata;
    bool kept;
  };
  const std::vector<Case> cases = {
      {"plain pod", {{"name", "p"}, {"namespace", "a"}, {"labels", {{"app", "x"}}}}, false},
      {"opted in",
       {{"name", "p"}, {"namespace", "a"}, {"annotations", {{api::kScrapeAnnotation, "true"}}}},
       true},
      {"opted out",
       {{"name", "p"}, {"namespace", "a"}, {"annotations", {{api::kScrapeAnnotation, "false"}}}},
       false},
      {"legacy opt-in",
       {{"name", "p"}, {"namespace", "a"}, {"annotations", {{api::kLegacyScrapeAnnotation, "true"}}}},
       true},
      {"skipped by the webhook",
       {{"name", "p"}, {"namespace", "a"}, {"labels", {{api::kInjectionLabel, "skipped"}}}},
       true},
      {"injected, labels removed since",
       {{"name", "p"}, {"namespace", "a"}, {"annotations", {{api::kStatusAnnotation, "injected"}}}},
       true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ToPodMeta(MetadataPod(c.metadata)) != nullptr, c.kept) << c.name;
  }
}

TEST(ToPodMeta, ReadsWhatDecideAndTheControllerNeed) {
  const auto p = ToPodMeta(MetadataPod(
      {{"name", "web-7c5d-x1"},
       {"namespace", "team-a"},
       {"uid", "u-1"},
       {"creationTimestamp", "2026-01-02T03:04:05Z"},
       {"labels",
        {{api::kInjectionLabel, "injected"}, {api::kAgentLabel, "mon.fleet"}, {"job-name", "nightly"}}},
       {"annotations",
        {{api::kScrapeAnnotation, "true"},
         {api::kStatusAnnotation, "injected"},
         {api::kAgentSelectorAnnotation, "mon/fleet"},
         {api::kNativeSidecarAnnotation, "never"},
         {api::kInjectedHashAnnotation, "0123456789abcdef"},
         {api::kAgentVersionAnnotation, "v1.2.3"},
         {api::kInjectionClassAnnotation, "terminationGracePeriodSeconds=45"},
         {"unrelated", std::string(10000, 'x')}}},
       {"ownerReferences",
        {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "web-7c5d"}, {"uid", "rs-1"}},
         {{"apiVersion", "apps/v1"},
          {"kind", "ReplicaSet"},
          {"name", "web-7c5d"},
          {"uid", "rs-1"},
          {"controller", true}}}}}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->ns, "team-a");
  EXPECT_EQ(p->Ref(), "team-a/web-7c5d-x1");
  EXPECT_EQ(p->uid, "u-1");
  EXPECT_EQ(p->injection, Injection::kInjected);
  EXPECT_TRUE(p->status_annotation);
  EXPECT_TRUE(p->scrape);
  EXPECT_FALSE(p->legacy_scrape);
  EXPECT_EQ(p->agent_selector, "mon/fleet");
  EXPECT_EQ(p->native_override, "never");
  EXPECT_TRUE(p->job) << "a job-name label";
  EXPECT_EQ(p->grace_seconds, 45);
  EXPECT_EQ(p->agent_label, "mon.fleet");
  EXPECT_EQ(p->injected_hash, "0123456789abcdef");
  EXPECT_EQ(p->agent_version, "v1.2.3");
  ASSERT_TRUE(p->owner);
  EXPECT_EQ(p->owner->kind, "ReplicaSet");
  EXPECT_EQ(p->owner->name, "web-7c5d");
  EXPECT_EQ(p->created_unix, 1767323045);
  EXPECT_FALSE(p->deleting);
  // Values shared by many pods are stored once.
  const auto q = ToPodMeta(
      MetadataPod({{"name", "other"},
                   {"namespace", "team-a"},
                   {"labels", {{api::kAgentLabel, "mon.fleet"}, {api::kInjectionLabel, "injected"}}}}));
  EXPECT_EQ(p->ns.data(), q->ns.data());
  EXPECT_EQ(p->agent_label.data(), q->agent_label.data());
}

TEST(ToPodMeta, AnUnreadableClassIsUnknown) {
  for (const char* value : {"terminationGracePeriodSeconds=", "grace=30", "terminationGracePeriodSeconds=-1",
                            "terminationGracePeriodSeconds=3x"}) {
    const auto p = ToPodMeta(MetadataPod({{"name", "p"},
                                          {"namespace", "a"},
                                          {"labels", {{api::kInjectionLabel, "injected"}}},
                                          {"annotations", {{api::kInjectionClassAnnotation, value}}}}));
    ASSERT_NE(p, nullptr);
    EXPECT_FALSE(p->grace_seconds) << value;
  }
}

TEST(ToAgentObject, ParsedOnceWithWhatTheControllerCompares) {
  const auto a = ToAgentObject({{"apiVersion", "promsidecar.io/v1alpha1"},
                                {"kind", "PrometheusAgent"},
                                {"metadata",
                                 {{"name", "fleet"},
                                  {"namespace", "mon"},
                                  {"uid", "u"},
                                  {"generation", 4},
                                  {"resourceVersion", "99"},
                                  {"finalizers", {"promsidecar.io/rendered-secrets"}},
                                  {"deletionTimestamp", "2026-01-01T00:00:00Z"}}},
                                {"spec", {{"mode", "Sidecar"}, {"remoteWrite", {{{"url", "https://x/w"}}}}}},
                                {"status", {{"injectedPods", 3}}}});
  ASSERT_TRUE(a->ok()) << a->parse_error;
  EXPECT_EQ(a->Key(), "mon/fleet");
  EXPECT_EQ(a->generation, 4);
  EXPECT_EQ(a->resource_version, "99");
  EXPECT_TRUE(a->deleting);
  EXPECT_TRUE(a->HasFinalizer("promsidecar.io/rendered-secrets"));
  EXPECT_EQ(a->status["injectedPods"], 3);
  EXPECT_TRUE(a->agent.is_sidecar());

  const auto bad = ToAgentObject({{"metadata", {{"name", "b"}, {"namespace", "mon"}}},
                                  {"spec", {{"mode", "Sidecar"}, {"sampleLimit", "many"}}}});
  EXPECT_FALSE(bad->ok());
  EXPECT_EQ(bad->Key(), "mon/b");
}

json AgentJson(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "promsidecar.io/v1alpha1"},
          {"kind", "PrometheusAgent"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"mode", "Sidecar"}, {"remoteWrite", {{{"url", "https://x/w"}}}}}}};
}

// The webhook's facts share the cache's agent list (one pointer, whatever
// the number of agents) and carry the namespace's labels and LimitRanges.
TEST(FactsFor, SharesTheAgentsAndReadsTheNamespace) {
  testing::FakeCluster cluster;
  for (int i = 0; i < 50; ++i) cluster.AddAgent(AgentJson("team-" + std::to_string(i), "agent"));
  cluster.AddNamespace("team-a", {{"metrics", "on"}});
  cluster.SetKubeletVersions({"v1.33.5", "v1.34.4"});
  cluster.AddLimitRange({{"metadata", {{"name", "lr"}, {"namespace", "team-a"}}}});
  cluster.AddLimitRange({{"metadata", {{"name", "other"}, {"namespace", "team-b"}}}});
  inject::OperatorSettings settings;
  settings.agent_image = "example.com/agent:v9";
  const auto facts = FactsFor(cluster, "team-a", settings);
  EXPECT_EQ(&facts.agents.get(), cluster.Agents().get()) << "the agent list is shared, not copied";
  EXPECT_EQ(facts.agents.size(), 50u);
  EXPECT_EQ(facts.namespace_labels.at("metrics"), "on");
  EXPECT_EQ(facts.node_kubelet_versions, (std::vector<std::string>{"v1.33.5", "v1.34.4"}));
  ASSERT_EQ(facts.limit_ranges.size(), 1u);
  EXPECT_EQ(facts.limit_ranges[0]["metadata"]["name"], "lr");
  EXPECT_EQ(facts.settings.agent_image, "example.com/agent:v9");
  EXPECT_EQ(facts.apiserver_version, "v1.34.0");

  // A namespace the cache has not seen yet: its name label, as the API server sets it.
  const auto fresh = FactsFor(cluster, "brand-new", settings);
  EXPECT_EQ(fresh.namespace_labels, (api::Labels{{"kubernetes.io/metadata.name", "brand-new"}}));
}

TEST(CacheFacts, ValidationReadsNamesNotData) {
  testing::FakeCluster cluster;
  cluster.AddAgent(AgentJson("mon", "fleet"));
  cluster.SetSecretVersions("mon", {{"rw-creds", "12"}});
  cluster.SetConfigMapVersions("mon", {{"ca", "13"}});
  admission::CacheFacts facts(cluster);
  auto ctx = facts.ContextFor("mon");
  ASSERT_TRUE(ctx.ok()) << ctx.message();
  EXPECT_TRUE(ctx->references_known);
  EXPECT_EQ(ctx->existing_secrets, (std::set<std::string>{"rw-creds"}));
  EXPECT_EQ(ctx->existing_config_maps, (std::set<std::string>{"ca"}));
  ASSERT_EQ(ctx->existing_agents.size(), 1u);
  // Not an agent namespace: not watched, so references are not checked.
  auto elsewhere = facts.ContextFor("team-a");
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_FALSE(elsewhere->references_known);
  EXPECT_TRUE(elsewhere->api_audiences.empty());
}

TEST(CacheFacts, ValidationGetsTheApiServerAudiences) {
  testing::FakeCluster cluster;
  const std::vector<std::string> audiences{"https://issuer.example.com",
                                           "https://kubernetes.default.svc.cluster.local"};
  admission::CacheFacts facts(cluster, audiences);
  for (const char* ns : {"mon", "team-a"}) {
    auto ctx = facts.ContextFor(ns);
    ASSERT_TRUE(ctx.ok()) << ctx.message();
    EXPECT_EQ(ctx->api_audiences, audiences) << ns;
  }
}

}  // namespace
}  // namespace promsidecar::cache
