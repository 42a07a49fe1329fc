// The repair report over a fake cache: pods without their sidecar are
// counted per agent and counted into one Warning Event per workload, with no
// API read at all.
#include "operator/controller/repairer.h"

#include <gtest/gtest.h>

#include "fake_cluster.h"
#include "operator/api/well_known.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;

class NoApi : public kube::Transport {
 public:
  Result<http::Response> Do(const http::Request& req, http::FailureKind*) override {
    ADD_FAILURE() << "the repair report called the API: " << req.method << " " << req.url;
    return MakeError("no API here");
  }
};

class RecordingSink : public EventSink {
 public:
  Result<json, kube::ApiError> Create(const std::string&, const json& event) override {
    created.push_back(event);
    return event;
  }
  Result<json, kube::ApiError> Get(const std::string&, const std::string&) override { return json(); }
  Result<json, kube::ApiError> Patch(const std::string&, const std::string&, const json&) override {
    return json();
  }
  std::vector<json> created;
};

json Pod(const std::string& ns, const std::string& name, const json& owner = nullptr) {
  json pod = {
      {"metadata",
       {{"name", name},
        {"namespace", ns},
        {"uid", name + "-uid"},
        {"annotations", {{api::kScrapeAnnotation, "true"}, {api::kAgentSelectorAnnotation, "mon/fleet"}}}}}};
  if (!owner.is_null()) pod["metadata"]["ownerReferences"] = json::array({owner});
  return pod;
}

TEST(Repairer, CountsPerAgentAndAggregatesEventsPerWorkload) {
  cache::testing::FakeCluster cluster;
  cluster.AddAgent({{"apiVersion", "promsidecar.io/v1alpha1"},
                    {"kind", "PrometheusAgent"},
                    {"metadata", {{"name", "fleet"}, {"namespace", "mon"}}},
                    {"spec",
                     {{"mode", "Sidecar"},
                      {"remoteWrite", {{{"url", "https://x/w"}}}},
                      {"sidecar", {{"namespaceSelector", {{"matchLabels", {{"metrics", "on"}}}}}}}}}});
  cluster.AddNamespace("team-a", {{"metrics", "on"}});
  cluster.AddNamespace("team-b");  // not admitted
  const json rs = {{"apiVersion", "apps/v1"},
                   {"kind", "ReplicaSet"},
                   {"name", "web-7c5d"},
                   {"uid", "rs"},
                   {"controller", true}};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cluster.AddPod(Pod("team-a", "web-7c5d-" + std::to_string(i), rs)));
  ASSERT_TRUE(cluster.AddPod(Pod("team-a", "bare")));
  ASSERT_TRUE(cluster.AddPod(Pod("team-b", "elsewhere")));
  json injected = Pod("team-a", "fine", rs);
  injected["metadata"]["labels"] = {{api::kInjectionLabel, "injected"}};
  ASSERT_TRUE(cluster.AddPod(injected));

  kube::Client client(kube::Config{.server = "https://api.invalid"}, std::make_shared<NoApi>());
  ApiCalls calls(nullptr);
  RecordingSink sink;
  EventRecorder events(sink, {});
  Restarter restarter(client, calls, events, nullptr, {});
  metrics::Registry registry;
  auto& gauge = registry.AddGaugeFamily("uninjected", "help", {"agent"});
  Repairer repairer(cluster, events, restarter, /*repair_enabled=*/false, &gauge, nullptr);

  const auto report = repairer.Run({}, [] { return true; });
  EXPECT_EQ(report.changed_agents, (std::vector<std::string>{"mon/fleet"}));
  EXPECT_EQ(repairer.Uninjected("mon/fleet"), 4);
  EXPECT_EQ(gauge.With({"mon/fleet"}).Value(), 4);
  events.Flush();
  ASSERT_EQ(sink.created.size(), 2u) << "one Event for the ReplicaSet's three pods, one for the bare pod";
  std::map<std::string, json> by_kind;
  for (const auto& e : sink.created) by_kind[e["regarding"]["kind"].get<std::string>()] = e;
  EXPECT_EQ(by_kind["ReplicaSet"]["series"]["count"], 3);
  EXPECT_EQ(by_kind["ReplicaSet"]["reason"], "NotInjected");
  EXPECT_FALSE(by_kind["Pod"].contains("series"));

  // A second report finds the same pods: no new occurrence, nothing changed.
  const auto again = repairer.Run({}, [] { return true; });
  EXPECT_TRUE(again.changed_agents.empty());
  events.Flush();
  EXPECT_EQ(sink.created.size(), 2u);
}

}  // namespace
}  // namespace promsidecar::controller
