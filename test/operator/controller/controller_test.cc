// Unit tests of the controller's pure pieces: namespace admission, status
// comparison, the work queue and lease expiry (outdated pods: upgrade_test.cc;
// the repair report: repair_test.cc).
#include "operator/controller/controller.h"

#include <gtest/gtest.h>

#include "fixtures.h"
#include "operator/api/well_known.h"
#include "operator/controller/workqueue.h"
#include "operator/leader/leader.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;
using testing::SidecarAgent;

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

TEST(Status, UninjectedPodsIsPartOfTheStatus) {
  AgentStatus s;
  s.conditions = {{"Reconciled", "True", "ConfigRendered", "ok"}};
  const json before = StatusJson(s, json(), "t");
  EXPECT_EQ(before["uninjectedPods"], 0);
  s.uninjected_pods = 2;
  const json after = StatusJson(s, before, "t");
  EXPECT_EQ(after["uninjectedPods"], 2);
  EXPECT_FALSE(StatusEquivalent(before, after)) << "a new repair count must be written";
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

TEST(WorkQueue, AddAfterDefersWithoutCountingAFailure) {
  WorkQueue q;
  q.AddAfter("k", std::chrono::milliseconds(50));
  q.AddAfter("k", std::chrono::seconds(30));  // already due earlier: not added twice
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.Failures("k"), 0);
  EXPECT_FALSE(q.Get(std::chrono::milliseconds(0)));
  auto k = q.Get(std::chrono::seconds(10));
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, "k");
  q.Done("k");
  EXPECT_EQ(q.Len(), 0u);
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
