// Workload restarts wait for the injection webhook's Service: which
// EndpointSlices count as ready, and the settle time a ready endpoint needs.
#include "operator/controller/webhook_ready.h"

#include <gtest/gtest.h>

#include <deque>

namespace promsidecar::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json Slices(std::initializer_list<json> endpoints) {
  return {{"kind", "EndpointSliceList"}, {"items", {{{"endpoints", json::array_t(endpoints)}}}}};
}

TEST(AnyEndpointReady, Table) {
  struct Case {
    const char* name;
    json list;
    bool ready;
  } cases[] = {
      {"no slices", {{"items", json::array()}}, false},
      {"a slice without endpoints (no pod yet)", {{"items", {{{"endpoints", nullptr}}}}}, false},
      {"ready", Slices({{{"conditions", {{"ready", true}}}}}), true},
      {"not ready", Slices({{{"conditions", {{"ready", false}}}}}), false},
      {"terminating only", Slices({{{"conditions", {{"ready", false}, {"terminating", true}}}}}), false},
      {"ready unknown counts as ready", Slices({{{"conditions", json::object()}}}), true},
      {"no conditions counts as ready", Slices({{{"addresses", {"10.0.0.1"}}}}), true},
      {"one of two", Slices({{{"conditions", {{"ready", false}}}}, {{"conditions", {{"ready", true}}}}}),
       true},
      {"not a list", json::object(), false},
  };
  for (const auto& c : cases) EXPECT_EQ(AnyEndpointReady(c.list), c.ready) << c.name;
}

// Answers each List with the next queued response.
class QueuedApi : public kube::Transport {
 public:
  Result<http::Response> Do(const http::Request& req, http::FailureKind*) override {
    urls.push_back(req.url);
    if (answers.empty()) return MakeError("no answer queued");
    http::Response r = answers.front();
    answers.pop_front();
    return r;
  }
  void Answer(long status, const json& body) { answers.push_back({status, {}, body.dump()}); }
  std::deque<http::Response> answers;
  std::vector<std::string> urls;
};

TEST(WebhookReadiness, ReachableOnlyAfterAReadyEndpointHasSettled) {
  auto api = std::make_shared<QueuedApi>();
  kube::Client client(kube::Config{.server = "https://api.invalid"}, api);
  ApiCalls calls(nullptr);
  WebhookReadiness readiness(client, calls, {.ns = "ops", .service = "hook", .settle = 10s, .recheck = 2s});
  const auto t0 = WebhookReadiness::Clock::time_point{} + 1h;
  api->Answer(200, Slices({{{"conditions", {{"ready", false}}}}}));
  EXPECT_FALSE(readiness.Reachable(t0));
  ASSERT_EQ(api->urls.size(), 1u);
  EXPECT_NE(api->urls[0].find("/apis/discovery.k8s.io/v1/namespaces/ops/endpointslices"), std::string::npos);
  EXPECT_NE(api->urls[0].find("kubernetes.io%2Fservice-name%3Dhook"), std::string::npos) << api->urls[0];
  // Within the recheck period: the last answer, no List.
  EXPECT_FALSE(readiness.Reachable(t0 + 1s));
  EXPECT_EQ(api->urls.size(), 1u);
  api->Answer(200, Slices({{{"conditions", {{"ready", true}}}}}));
  EXPECT_FALSE(readiness.Reachable(t0 + 2s));  // ready, not settled
  api->Answer(200, Slices({{{"conditions", {{"ready", true}}}}}));
  EXPECT_FALSE(readiness.Reachable(t0 + 10s));
  api->Answer(200, Slices({{{"conditions", {{"ready", true}}}}}));
  EXPECT_TRUE(readiness.Reachable(t0 + 12s));
  // A break starts the settle time again.
  api->Answer(200, {{"items", json::array()}});
  EXPECT_FALSE(readiness.Reachable(t0 + 14s));
  api->Answer(200, Slices({{{"conditions", {{"ready", true}}}}}));
  EXPECT_FALSE(readiness.Reachable(t0 + 16s));
  // A failed List holds restarts back too.
  api->Answer(500, {{"kind", "Status"}, {"code", 500}, {"message", "etcd timeout"}});
  EXPECT_FALSE(readiness.Reachable(t0 + 30s));
}

TEST(WebhookReadiness, WithoutPermissionRestartsAreNotHeldBack) {
  auto api = std::make_shared<QueuedApi>();
  kube::Client client(kube::Config{.server = "https://api.invalid"}, api);
  ApiCalls calls(nullptr);
  WebhookReadiness readiness(client, calls, {.ns = "ops", .service = "hook"});
  api->Answer(403, {{"kind", "Status"}, {"code", 403}, {"reason", "Forbidden"}, {"message", "forbidden"}});
  const auto t0 = WebhookReadiness::Clock::time_point{} + 1h;
  EXPECT_TRUE(readiness.Reachable(t0));
  EXPECT_TRUE(readiness.Reachable(t0 + 1h));
  EXPECT_EQ(api->urls.size(), 1u);  // not asked again
}

}  // namespace
}  // namespace promsidecar::controller
