// The repair report's pure pieces (which pods lack a sidecar, which workload
// to restart, the restartedAt patch) and the rate limits on restarts.
#include "operator/controller/repair.h"

#include <gtest/gtest.h>

#include "common/util/time.h"
#include "fixtures.h"
#include "operator/api/well_known.h"
#include "operator/cache/objects.h"
#include "operator/controller/rate_limiter.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;
using testing::AppPod;
using testing::Facts;
using testing::Injected;
using testing::SidecarAgent;

// A pod as the cache keeps it (from a PartialObjectMetadata: metadata only).
std::string Uninjected(const json& pod, const inject::ClusterFacts& facts) {
  const json metadata_only = {
      {"apiVersion", "meta.k8s.io/v1"}, {"kind", "PartialObjectMetadata"}, {"metadata", pod["metadata"]}};
  const auto meta = cache::ToPodMeta(metadata_only);
  return meta ? UninjectedAgent(*meta, facts) : "";
}

TEST(UninjectedAgent, OptedInPodsWithoutSidecarAreRepairCases) {
  struct Case {
    std::string name;
    std::function<void(json& md, inject::ClusterFacts& facts)> change;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"annotated, no sidecar", [](json&, inject::ClusterFacts&) {}, "mon/a"},
      {"not annotated",
       [](json& md, inject::ClusterFacts&) { md["annotations"].erase(api::kScrapeAnnotation); }, ""},
      {"scrape: false",
       [](json& md, inject::ClusterFacts&) { md["annotations"][api::kScrapeAnnotation] = "false"; }, ""},
      {"our status annotation",
       [](json& md, inject::ClusterFacts&) { md["annotations"][api::kStatusAnnotation] = "injected"; }, ""},
      {"skipped by the webhook",
       [](json& md, inject::ClusterFacts&) { md["labels"][api::kInjectionLabel] = "skipped"; }, ""},
      {"being deleted",
       [](json& md, inject::ClusterFacts&) { md["deletionTimestamp"] = "2026-01-01T00:00:00Z"; }, ""},
      {"namespace not admitted", [](json&, inject::ClusterFacts& f) { f.namespace_labels.clear(); }, ""},
      {"excluded namespace", [](json& md, inject::ClusterFacts&) { md["namespace"] = "kube-system"; }, ""},
      {"agent paused", [](json&, inject::ClusterFacts& f) { f.agents[0].paused = true; }, ""},
      {"legacy annotation, agent honours it",
       [](json& md, inject::ClusterFacts& f) {
         md["annotations"].erase(api::kScrapeAnnotation);
         md["annotations"][api::kLegacyScrapeAnnotation] = "true";
         f.agents[0].sidecar.legacy_annotations = true;
       },
       "mon/a"},
      {"legacy annotation, agent ignores it",
       [](json& md, inject::ClusterFacts&) {
         md["annotations"].erase(api::kScrapeAnnotation);
         md["annotations"][api::kLegacyScrapeAnnotation] = "true";
       },
       ""},
  };
  const api::Agent agent = SidecarAgent("mon", "a");
  for (const auto& c : cases) {
    auto facts = Facts(agent);
    json pod = AppPod("team-a");
    c.change(pod["metadata"], facts);
    EXPECT_EQ(Uninjected(pod, facts), c.want) << c.name;
  }
  // A pod the webhook injected is never a repair case.
  const auto facts = Facts(agent);
  EXPECT_EQ(Uninjected(Injected(AppPod("team-a"), facts), facts), "");
}

json Owned(const json& object, const std::string& api_version, const std::string& kind,
           const std::string& name, bool controller = true) {
  json out = object;
  out["metadata"]["ownerReferences"] = {{{"apiVersion", api_version},
                                         {"kind", kind},
                                         {"name", name},
                                         {"uid", name + "-uid"},
                                         {"controller", controller}}};
  return out;
}

TEST(ResolveWorkload, FollowsOwnerReferencesToWhatCanBeRestarted) {
  const json pod = AppPod("team-a");
  const json rs = json{{"metadata", {{"name", "web-5d9f"}, {"namespace", "team-a"}}}};
  struct Case {
    std::string name;
    json pod;
    json replica_set;
    Workload::Kind kind;
    std::string workload;  // Key(), or need_replica_set for the first step
  };
  const std::vector<Case> cases = {
      {"bare pod", pod, nullptr, Workload::Kind::kNone, ""},
      {"owner that is not the controller", Owned(pod, "apps/v1", "StatefulSet", "db", false), nullptr,
       Workload::Kind::kNone, ""},
      {"StatefulSet", Owned(pod, "apps/v1", "StatefulSet", "db"), nullptr, Workload::Kind::kStatefulSet,
       "StatefulSet/team-a/db"},
      {"DaemonSet", Owned(pod, "apps/v1", "DaemonSet", "agent"), nullptr, Workload::Kind::kDaemonSet,
       "DaemonSet/team-a/agent"},
      {"ReplicaSet, first step", Owned(pod, "apps/v1", "ReplicaSet", "web-5d9f"), nullptr,
       Workload::Kind::kNone, "web-5d9f"},
      {"ReplicaSet of a Deployment", Owned(pod, "apps/v1", "ReplicaSet", "web-5d9f"),
       Owned(rs, "apps/v1", "Deployment", "web"), Workload::Kind::kDeployment, "Deployment/team-a/web"},
      {"ReplicaSet without Deployment", Owned(pod, "apps/v1", "ReplicaSet", "web-5d9f"), rs,
       Workload::Kind::kNone, ""},
      {"Job", Owned(pod, "batch/v1", "Job", "nightly"), nullptr, Workload::Kind::kNone, ""},
      {"a custom controller", Owned(pod, "example.com/v1", "StatefulSet", "x"), nullptr,
       Workload::Kind::kNone, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Workload w = ResolveWorkload("team-a", cache::ControllerOf(c.pod), c.replica_set);
    EXPECT_EQ(static_cast<int>(w.kind), static_cast<int>(c.kind));
    if (w.kind != Workload::Kind::kNone) {
      EXPECT_EQ(w.Key(), c.workload);
      EXPECT_TRUE(w.why.empty());
    } else if (!w.need_replica_set.empty()) {
      EXPECT_EQ(w.need_replica_set, c.workload);
    } else {
      EXPECT_FALSE(w.why.empty()) << "a workload that is only reported says why";
    }
  }
  Workload deployment;
  deployment.kind = Workload::Kind::kDeployment;
  EXPECT_EQ(deployment.Plural(), "deployments");
}

TEST(RestartPatch, IsWhatKubectlRolloutRestartSends) {
  EXPECT_EQ(RestartPatch("2026-01-02T03:04:05Z"),
            json::parse(R"({"spec":{"template":{"metadata":{"annotations":{
              "kubectl.kubernetes.io/restartedAt":"2026-01-02T03:04:05Z"}}}}})"));
}

TEST(RestartedWithin, ReadsTheTemplateAnnotation) {
  const auto now = *util::ParseRfc3339("2026-01-02T12:00:00Z");
  auto workload = [](const std::string& at) {
    json w = {{"spec", {{"template", {{"metadata", json::object()}}}}}};
    if (!at.empty()) w["spec"]["template"]["metadata"]["annotations"] = {{kRestartedAtAnnotation, at}};
    return w;
  };
  struct Case {
    std::string at;
    bool want;
  };
  const std::vector<Case> cases = {
      {"", false},
      {"2026-01-02T11:30:00Z", true},
      {"2026-01-02T10:59:59Z", false},
      {"2026-01-02T13:30:00+02:00", true},  // 11:30Z, as kubectl writes local time
      {"2026-01-02T11:30:00.123456Z", true},
      {"yesterday", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(RestartedWithin(workload(c.at), now, std::chrono::hours(1)), c.want) << c.at;
  }
  EXPECT_EQ(util::FormatRfc3339(now), "2026-01-02T12:00:00Z");
  EXPECT_EQ(util::FormatRfc3339Micro(now + std::chrono::microseconds(1234)), "2026-01-02T12:00:00.001234Z");
  EXPECT_FALSE(util::ParseRfc3339("2026-01-02T12:00:00"));  // no zone
  EXPECT_FALSE(util::ParseRfc3339("2026-01-02T12:00:00Zjunk"));
}

TEST(SlidingWindowLimiter, AtMostNInAnyMinute) {
  using namespace std::chrono_literals;
  const auto t0 = std::chrono::steady_clock::time_point{} + 10h;
  SlidingWindowLimiter limiter(3);
  EXPECT_TRUE(limiter.TryAcquire(t0));
  EXPECT_TRUE(limiter.TryAcquire(t0 + 10s));
  EXPECT_TRUE(limiter.TryAcquire(t0 + 20s));
  EXPECT_FALSE(limiter.TryAcquire(t0 + 30s));
  EXPECT_EQ(limiter.WaitTime(t0 + 30s), 30s);  // the first slot frees at t0+60s
  EXPECT_FALSE(limiter.TryAcquire(t0 + 59s));
  EXPECT_EQ(limiter.WaitTime(t0 + 60s), 0s);
  EXPECT_TRUE(limiter.TryAcquire(t0 + 60s));
  EXPECT_FALSE(limiter.TryAcquire(t0 + 61s));

  SlidingWindowLimiter none(0);
  EXPECT_FALSE(none.TryAcquire(t0));
  EXPECT_EQ(none.WaitTime(t0), std::chrono::milliseconds::max());
}

TEST(OncePerKey, EachKeyOncePerIntervalAndBounded) {
  using namespace std::chrono_literals;
  const auto t0 = std::chrono::steady_clock::time_point{} + 10h;
  OncePerKey once(1h);
  EXPECT_TRUE(once.Due("Deployment/a/web", t0));
  once.Mark("Deployment/a/web", t0);
  EXPECT_FALSE(once.Due("Deployment/a/web", t0 + 59min));
  EXPECT_TRUE(once.Due("StatefulSet/a/db", t0 + 1min));
  EXPECT_TRUE(once.Due("Deployment/a/web", t0 + 1h));
  once.Mark("StatefulSet/a/db", t0 + 30min);
  EXPECT_EQ(once.Size(), 2u);
  once.Mark("DaemonSet/a/x", t0 + 2h);  // the older entries expired and are dropped
  EXPECT_EQ(once.Size(), 1u);
}

}  // namespace
}  // namespace promsidecar::controller
