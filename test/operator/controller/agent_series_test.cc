// The controller's per-agent series as /metrics shows them: reconcile errors
// by agent and stage, outdated pods by agent and namespace, and no series
// left behind by a namespace or an agent that is gone.
#include "operator/controller/agent_series.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace promsidecar::controller {
namespace {

// The samples of family `name` in the registry's exposition: series → value.
std::map<std::string, double> Samples(const metrics::Registry& registry, const std::string& name) {
  std::map<std::string, double> out;
  std::istringstream in(registry.Render());
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(name + "{") && !line.starts_with(name + " ")) continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

constexpr const char* kErrors = "promsidecar_operator_reconcile_errors_total";
constexpr const char* kOutdated = "promsidecar_operator_outdated_pods";

TEST(AgentOfKey, AgentAndNamespaceKeysNameTheAgent) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"mon/fleet", "mon/fleet"},
      {"mon/fleet@team-a", "mon/fleet"},
      {"mon/fleet@", "mon/fleet"},
      {"broken", "broken"},
  };
  for (const auto& [key, agent] : cases) EXPECT_EQ(AgentOfKey(key), agent) << key;
}

TEST(AgentSeries, ErrorsCountedPerAgentAndStage) {
  metrics::Registry registry;
  AgentSeries series(registry);
  EXPECT_TRUE(Samples(registry, kErrors).empty()) << "no series before the first error";
  const std::vector<std::pair<std::string, ReconcileStage>> failures = {
      {"mon/fleet", ReconcileStage::kStatus},
      {"mon/fleet@team-a", ReconcileStage::kSecrets},  // a namespace key counts for its agent
      {"mon/fleet@team-b", ReconcileStage::kSecrets},
      {"mon/fleet", ReconcileStage::kFinalizer},
      {"other/edge", ReconcileStage::kSecrets},
      {"broken", ReconcileStage::kKey},
  };
  for (const auto& [key, stage] : failures) series.CountError(key, stage);
  const std::map<std::string, double> want = {
      {std::string(kErrors) + R"({agent="broken",stage="key"})", 1},
      {std::string(kErrors) + R"({agent="mon/fleet",stage="finalizer"})", 1},
      {std::string(kErrors) + R"({agent="mon/fleet",stage="secrets"})", 2},
      {std::string(kErrors) + R"({agent="mon/fleet",stage="status"})", 1},
      {std::string(kErrors) + R"({agent="other/edge",stage="secrets"})", 1},
  };
  EXPECT_EQ(Samples(registry, kErrors), want);
}

TEST(AgentSeries, OutdatedFollowsTheLastWholeReconcile) {
  struct Step {
    std::string what;
    std::string agent;
    std::map<std::string, int> by_namespace;
    std::map<std::string, double> want;  // every outdated series after the step
  };
  auto s = [](const std::string& agent, const std::string& ns) {
    return std::string(kOutdated) + "{agent=\"" + agent + "\",pod_namespace=\"" + ns + "\"}";
  };
  const std::vector<Step> steps = {
      {"nothing outdated: no series", "mon/fleet", {{"team-a", 0}, {"team-b", 0}}, {}},
      {"two namespaces with outdated pods",
       "mon/fleet",
       {{"team-a", 3}, {"team-b", 1}, {"team-c", 0}},
       {{s("mon/fleet", "team-a"), 3}, {s("mon/fleet", "team-b"), 1}}},
      {"another agent keeps its own series",
       "mon/edge",
       {{"team-a", 2}},
       {{s("mon/fleet", "team-a"), 3}, {s("mon/fleet", "team-b"), 1}, {s("mon/edge", "team-a"), 2}}},
      {"team-b upgraded, team-a partly",
       "mon/fleet",
       {{"team-a", 1}, {"team-b", 0}},
       {{s("mon/fleet", "team-a"), 1}, {s("mon/edge", "team-a"), 2}}},
      {"team-a's pods gone with the namespace", "mon/fleet", {}, {{s("mon/edge", "team-a"), 2}}},
  };
  metrics::Registry registry;
  AgentSeries series(registry);
  for (const auto& step : steps) {
    series.SetOutdated(step.agent, step.by_namespace);
    EXPECT_EQ(Samples(registry, kOutdated), step.want) << step.what;
  }
}

TEST(AgentSeries, ForgetDropsEverySeriesOfTheAgentOnly) {
  metrics::Registry registry;
  AgentSeries series(registry);
  series.SetOutdated("mon/fleet", {{"team-a", 2}});
  series.SetOutdated("mon/edge", {{"team-a", 1}});
  series.CountError("mon/fleet@team-a", ReconcileStage::kSecrets);
  series.CountError("mon/edge", ReconcileStage::kStatus);

  series.Forget("mon/fleet");
  EXPECT_EQ(Samples(registry, kOutdated),
            (std::map<std::string, double>{
                {std::string(kOutdated) + R"({agent="mon/edge",pod_namespace="team-a"})", 1}}));
  EXPECT_EQ(
      Samples(registry, kErrors),
      (std::map<std::string, double>{{std::string(kErrors) + R"({agent="mon/edge",stage="status"})", 1}}));

  // An agent created again under the same name starts from nothing.
  series.CountError("mon/fleet", ReconcileStage::kStatus);
  EXPECT_EQ(Samples(registry, kErrors).at(std::string(kErrors) + R"({agent="mon/fleet",stage="status"})"), 1);
  series.Forget("never/seen");  // nothing to drop
  EXPECT_EQ(Samples(registry, kErrors).size(), 2u);
}

TEST(StageName, EveryStageHasItsOwnLabelValue) {
  const std::map<ReconcileStage, std::string> want = {{ReconcileStage::kKey, "key"},
                                                      {ReconcileStage::kFinalizer, "finalizer"},
                                                      {ReconcileStage::kSecrets, "secrets"},
                                                      {ReconcileStage::kStatus, "status"}};
  for (const auto& [stage, name] : want) EXPECT_EQ(StageName(stage), name);
}

}  // namespace
}  // namespace promsidecar::controller
