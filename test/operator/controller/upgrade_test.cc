// Outdated injected pods (CheckInjectedPod against Decide), the InPlace
// patch, the kubelet gate for native sidecars and the confirmation through
// container statuses.
#include "operator/controller/upgrade.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "fixtures.h"
#include "operator/api/well_known.h"
#include "operator/cache/objects.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;
using testing::AppPod;
using testing::Facts;
using testing::Injected;
using testing::SidecarAgent;

const std::string kNewImage = "ghcr.io/promsidecar/promsidecar-agent:v9.9.9";

struct DriftCase {
  std::string name;
  std::function<void(json& pod, inject::ClusterFacts& facts)> change;
  PodDrift want;
};

TEST(CheckInjectedPod, ComparesWithWhatDecideWouldInjectNow) {
  const std::vector<DriftCase> cases = {
      {"unchanged", [](json&, inject::ClusterFacts&) {}, PodDrift::kCurrent},
      {"fields the API server defaults",
       [](json& pod, inject::ClusterFacts&) {
         pod["spec"]["terminationGracePeriodSeconds"] = 30;
         pod["spec"]["restartPolicy"] = "Always";
         for (auto& c : pod["spec"]["initContainers"]) {
           c["terminationMessagePath"] = "/dev/termination-log";
         }
         for (auto& c : pod["spec"]["containers"]) c["imagePullPolicy"] = "Always";
         pod["status"] = {{"phase", "Running"}};
       },
       PodDrift::kCurrent},
      {"remote write changed (lives in the rendered Secret)",
       [](json&, inject::ClusterFacts& f) { f.agents[0].remote_write[0].url = "https://b.example.com/w"; },
       PodDrift::kCurrent},
      {"new operator default image",
       [](json&, inject::ClusterFacts& f) { f.settings.agent_image = kNewImage; }, PodDrift::kImageOnly},
      {"new spec.sidecar.image",
       [](json&, inject::ClusterFacts& f) { f.agents[0].sidecar.image = kNewImage; }, PodDrift::kImageOnly},
      {"only the version annotation differs",
       [](json& pod, inject::ClusterFacts&) {
         pod["metadata"]["annotations"][api::kAgentVersionAnnotation] = "v0.0.1";
       },
       PodDrift::kImageOnly},
      {"new image and a new WAL size",
       [](json&, inject::ClusterFacts& f) {
         f.settings.agent_image = kNewImage;
         f.agents[0].sidecar.wal_size_limit_bytes = 512ull << 20;
       },
       PodDrift::kNeedsRestart},
      {"security context changed",
       [](json&, inject::ClusterFacts& f) {
         f.agents[0].sidecar.security_context = {{"runAsUser", 1000}};
       },
       PodDrift::kNeedsRestart},
      {"a kubelet older than 1.29 joined: a regular container now",
       [](json&, inject::ClusterFacts& f) { f.node_kubelet_versions.push_back("v1.28.3"); },
       PodDrift::kNeedsRestart},
      {"injected hash not what any image gives",
       [](json& pod, inject::ClusterFacts&) {
         pod["metadata"]["annotations"][api::kInjectedHashAnnotation] = "0000000000000000";
       },
       PodDrift::kNeedsRestart},
      {"agent paused", [](json&, inject::ClusterFacts& f) { f.agents[0].paused = true; },
       PodDrift::kNotInjectable},
      {"namespace no longer admitted", [](json&, inject::ClusterFacts& f) { f.namespace_labels.clear(); },
       PodDrift::kNotInjectable},
  };
  const api::Agent agent = SidecarAgent("mon", "a");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto facts = Facts(agent);
    json pod = Injected(AppPod("team-a"), facts);
    c.change(pod, facts);
    const PodCheck check = CheckInjectedPod(pod, facts);
    EXPECT_EQ(DriftName(check.drift), DriftName(c.want));
    // The controller's view, from the pod's metadata alone, agrees (only
    // kImageOnly and kNeedsRestart cannot be told apart without the spec).
    const auto meta = cache::ToPodMeta(pod);
    ASSERT_NE(meta, nullptr);
    PodChecker checker(facts);
    const PodCheck from_meta = checker.Check(*meta);
    const PodDrift want_meta =
        c.want == PodDrift::kImageOnly || c.want == PodDrift::kNeedsRestart ? PodDrift::kOutdated : c.want;
    EXPECT_EQ(DriftName(from_meta.drift), DriftName(want_meta));
    EXPECT_EQ(from_meta.agent, check.agent);
    EXPECT_EQ(from_meta.want_hash, check.want_hash);
    if (c.want == PodDrift::kCurrent || c.want == PodDrift::kImageOnly) {
      EXPECT_EQ(check.agent, "mon/a");
      // What Decide gives now, read back from an injection done now.
      const json fresh = Injected(AppPod("team-a"), facts);
      EXPECT_EQ(check.want_hash, fresh["metadata"]["annotations"][api::kInjectedHashAnnotation]);
      EXPECT_EQ(check.want_version, fresh["metadata"]["annotations"][api::kAgentVersionAnnotation]);
      ASSERT_TRUE(FindAgentContainer(fresh));
      EXPECT_EQ(check.want_image, FindAgentContainer(fresh)->image);
    }
  }
}

// The class of a pod (what Decide reads from it besides its containers) is
// in its metadata: pods that differ in it differ in what is injected, and the
// metadata check tells them apart, once per class.
TEST(PodChecker, TheStampedGracePeriodAndOverridesAreTheClass) {
  const api::Agent agent = SidecarAgent("mon", "a");
  const auto facts = Facts(agent);
  json slow = AppPod("team-a", "slow");
  slow["spec"]["terminationGracePeriodSeconds"] = 120;
  json regular = AppPod("team-a", "regular");
  regular["metadata"]["annotations"][api::kNativeSidecarAnnotation] = "never";
  const json defaulted = Injected(AppPod("team-a", "default"), facts);
  const json pods[] = {defaulted, Injected(slow, facts), Injected(regular, facts)};
  std::set<std::string> hashes;
  PodChecker checker(facts);
  for (const json& pod : pods) {
    SCOPED_TRACE(pod["metadata"]["name"].get<std::string>());
    EXPECT_EQ(pod["metadata"]["annotations"].value(api::kInjectionClassAnnotation, ""),
              "terminationGracePeriodSeconds=" +
                  std::to_string(pod["spec"].value("terminationGracePeriodSeconds", 30)));
    const auto meta = cache::ToPodMeta(pod);
    EXPECT_EQ(checker.Check(*meta).drift, PodDrift::kCurrent);
    hashes.insert(pod["metadata"]["annotations"][api::kInjectedHashAnnotation].get<std::string>());
  }
  EXPECT_EQ(hashes.size(), 3u) << "the three classes inject three different fragments";

  // A pod injected before the class was stamped: the Kubernetes default
  // grace period is assumed, so default pods stay current.
  json legacy = defaulted;
  legacy["metadata"]["annotations"].erase(api::kInjectionClassAnnotation);
  EXPECT_EQ(checker.Check(*cache::ToPodMeta(legacy)).drift, PodDrift::kCurrent);
  json legacy_slow = pods[1];
  legacy_slow["metadata"]["annotations"].erase(api::kInjectionClassAnnotation);
  EXPECT_EQ(checker.Check(*cache::ToPodMeta(legacy_slow)).drift, PodDrift::kOutdated);
}

// The paths a patch changed, from nlohmann's diff of before and after.
std::set<std::string> ChangedPaths(const json& before, const json& after) {
  std::set<std::string> out;
  for (const auto& op : json::diff(before, after)) out.insert(op["path"].get<std::string>());
  return out;
}

TEST(InPlacePatch, ChangesOnlyTheAgentImageAndItsAnnotations) {
  const api::Agent agent = SidecarAgent("mon", "a");
  for (const bool native : {true, false}) {
    SCOPED_TRACE(native ? "native sidecar" : "regular container");
    auto facts = Facts(agent);
    json app = AppPod("team-a");
    if (!native) app["metadata"]["annotations"][api::kNativeSidecarAnnotation] = "never";
    const json pod = Injected(app, facts);
    facts.settings.agent_image = kNewImage;
    const PodCheck check = CheckInjectedPod(pod, facts);
    ASSERT_EQ(check.drift, PodDrift::kImageOnly);
    const auto patch = InPlacePatch(pod, check);
    ASSERT_TRUE(patch);
    const json after = pod.patch(*patch);
    const std::string container = native ? "/spec/initContainers/0/image" : "/spec/containers/1/image";
    EXPECT_EQ(ChangedPaths(pod, after),
              (std::set<std::string>{container, "/metadata/annotations/prometheus.operator.io~1agent-version",
                                     "/metadata/annotations/prometheus.operator.io~1injected-hash"}));
    EXPECT_EQ(after[json::json_pointer(container)], kNewImage);
    // Afterwards the pod is what Decide would inject now.
    EXPECT_EQ(CheckInjectedPod(after, facts).drift, PodDrift::kCurrent);

    // A pod whose agent image changed meanwhile: the `test` op refuses.
    json moved = pod;
    moved[json::json_pointer(container)] = "example.com/other:v1";
    EXPECT_THROW((void)moved.patch(*patch), json::exception);
  }
}

TEST(InPlacePatch, NothingToPatchWithoutAnAgentContainer) {
  PodCheck check;
  check.want_image = kNewImage;
  check.want_hash = "abc";
  EXPECT_FALSE(InPlacePatch(AppPod("team-a"), check));
}

TEST(InPlaceAllowed, NativeSidecarsNeedEveryKubeletAt132) {
  struct Case {
    bool native;
    std::vector<std::string> kubelets;
    bool want;
  };
  const std::vector<Case> cases = {
      {false, {"v1.20.0"}, true}, {true, {}, true},
      {true, {"v1.32.0"}, true},  {true, {"v1.34.4", "v1.33.1-eks-1"}, true},
      {true, {"v1.31.9"}, false}, {true, {"v1.34.4", "v1.30.1"}, false},
      {true, {"unknown"}, false}, {true, {"v2.0.0"}, true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(InPlaceAllowed(c.native, c.kubelets), c.want)
        << (c.native ? "native" : "regular") << " " << ::testing::PrintToString(c.kubelets);
  }
}

json WithAgentStatus(const char* list, const json& state, const std::string& image, const std::string& id) {
  json pod = AppPod("team-a");
  pod["status"][list] = {
      {{"name", "app"}, {"image", "nginx"}, {"imageID", "n"}, {"state", {{"running", json::object()}}}},
      {{"name", api::kAgentContainerName}, {"image", image}, {"imageID", id}, {"state", state}}};
  return pod;
}

TEST(UpgradeConfirmed, WhenTheAgentRunsAnotherImageOrImageId) {
  const json running = {{"running", {{"startedAt", "2026-01-01T00:00:00Z"}}}};
  const json waiting = {{"waiting", {{"reason", "ContainerCreating"}}}};
  const AgentContainerStatus before =
      AgentStatusOf(WithAgentStatus("initContainerStatuses", running, "old", "sha256:1"));
  ASSERT_TRUE(before.found);
  EXPECT_TRUE(before.running);
  EXPECT_EQ(before.image, "old");
  struct Case {
    std::string name;
    json pod;
    bool want;
  };
  const std::vector<Case> cases = {
      {"unchanged", WithAgentStatus("initContainerStatuses", running, "old", "sha256:1"), false},
      {"new image and id, running", WithAgentStatus("initContainerStatuses", running, "new", "sha256:2"),
       true},
      {"same digest under a new tag", WithAgentStatus("initContainerStatuses", running, "new", "sha256:1"),
       true},
      {"new image, not running yet", WithAgentStatus("initContainerStatuses", waiting, "new", ""), false},
      {"regular container status", WithAgentStatus("containerStatuses", running, "new", "sha256:2"), true},
      {"no status at all", AppPod("team-a"), false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(UpgradeConfirmed(before, AgentStatusOf(c.pod)), c.want) << c.name;
  }
  // A pod that never ran before the patch: the first running status confirms.
  EXPECT_TRUE(UpgradeConfirmed({}, AgentStatusOf(cases[1].pod)));
}

}  // namespace
}  // namespace promsidecar::controller
