// Hostile API input through decode → webhook → encode (ServeAdmission, no
// sockets): every case gets a 400 naming the problem, an admission, or a
// denial naming the field — never a crash, and never a hang (each request
// runs under a deadline; a request still running after it aborts the test
// binary, which ctest reports). The answers are checked with the fuzz
// target's invariants too (admission_invariants.h). Body size limits, TLS
// and slow clients are the real server's: admission_server_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "admission_invariants.h"
#include "common/util/base64.h"
#include "operator/admission/server.h"
#include "operator/api/well_known.h"

namespace promsidecar::admission {
namespace {

using nlohmann::json;

// Generous: a hang, not slowness, is what this catches.
constexpr std::chrono::seconds kDeadline{120};

// Runs `fn` on its own thread; aborts the binary when it has not returned
// by the deadline (a hung thread cannot be cancelled and would block exit).
template <typename Fn>
auto WithinDeadline(const std::string& what, Fn fn) -> decltype(fn()) {
  auto task = std::make_shared<std::packaged_task<decltype(fn())()>>(std::move(fn));
  auto result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_for(kDeadline) != std::future_status::ready) {
    std::fprintf(stderr, "HANG: %s did not answer within %llds\n", what.c_str(),
                 static_cast<long long>(kDeadline.count()));
    std::abort();
  }
  return result.get();
}

json Review(json object, const json& kind, const std::string& resource, const std::string& op = "CREATE") {
  const std::string ns = object["metadata"].value("namespace", "");
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "hostile-uid"},
            {"kind", kind},
            {"resource", {{"group", kind["group"]}, {"version", kind["version"]}, {"resource", resource}}},
            {"namespace", ns},
            {"operation", op},
            {"userInfo", {{"username", "mallory"}}},
            {"object", std::move(object)}}}};
}

const json kPodKind = {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}};
const json kAgentKind = {{"group", "promsidecar.io"}, {"version", "v1alpha1"}, {"kind", "PrometheusAgent"}};

json Pod(const std::string& ns, json annotations) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"namespace", ns}, {"annotations", std::move(annotations)}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", "registry.k8s.io/pause:3.10"}}}}}}};
}

json Agent(json sidecar, size_t remote_writes = 1) {
  json rw = json::array();
  for (size_t i = 0; i < remote_writes; ++i) {
    rw.push_back({{"url", "https://metrics.example.com/api/v1/write"}, {"name", "rw-" + std::to_string(i)}});
  }
  return {{"apiVersion", "promsidecar.io/v1alpha1"},
          {"kind", "PrometheusAgent"},
          {"metadata", {{"name", "absurd"}, {"namespace", "monitoring"}}},
          {"spec", {{"mode", "Sidecar"}, {"remoteWrite", std::move(rw)}, {"sidecar", std::move(sidecar)}}}};
}

struct Answer {
  int http_status = 0;
  std::string body;        // the 400's reason, or the AdmissionReview
  json response;           // the AdmissionReview's response (200 only)
  std::string invariants;  // CheckAdmissionInput's verdict on the same input
};

// One request to the endpoint, as the fuzz target sends it.
Answer Send(bool agents, const std::string& body) {
  return WithinDeadline(
      std::string(agents ? kValidateAgentPath : kMutatePodPath) + " with a " + std::to_string(body.size()) +
          "-byte body",
      [agents, body] {
        static FixedCluster cluster;
        PodInjectionWebhook pods(cluster, inject::OperatorSettings{});
        AgentValidationWebhook validation(cluster, api::AgentApiGroup::Own());
        http::ServerRequest request;
        request.method = "POST";
        request.path = agents ? kValidateAgentPath : kMutatePodPath;
        request.headers = {{"Content-Type", "application/json"}};
        request.body = body;
        auto r = ServeAdmission(
            [&](const AdmissionRequest& req) { return agents ? validation.Handle(req) : pods.Handle(req); },
            request);
        Answer a{r.status, r.body, json(), ""};
        if (r.status == 200) a.response = json::parse(r.body)["response"];
        a.invariants = CheckAdmissionInput(std::string(1, agents ? '\x01' : '\x00') + body);
        return a;
      });
}

struct BadBody {
  std::string name;
  std::string body;
  std::string reason;  // part of the 400's one-line reason
};

TEST(HostileInput, MalformedReviewsGet400NamingTheProblem) {
  json no_request = {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}};
  json another_kind = Review(Pod("app-x", json::object()), kPodKind, "pods");
  another_kind["kind"] = "Pod";
  json request_array = no_request;
  request_array["request"] = json::array();
  std::string deep_object = Review(Pod("app-x", json::object()), kPodKind, "pods").dump();
  deep_object.insert(deep_object.find("\"spec\""),
                     "\"x\":" + std::string(200, '[') + std::string(200, ']') + ",");
  const std::vector<BadBody> cases = {
      {"not JSON", "this is not json {", "not valid JSON"},
      {"binary", std::string("\x00\xff\xfe\x01", 4), "not valid JSON"},
      {"truncated", Review(Pod("app-x", json::object()), kPodKind, "pods").dump().substr(0, 100),
       "not valid JSON"},
      {"1 MiB of [", std::string(1 << 20, '['), "deeper than 64"},
      {"200 levels inside the pod", deep_object, "deeper than 64"},
      {"missing request", no_request.dump(), "no request object"},
      {"request is an array", request_array.dump(), "no request object"},
      {"another kind", another_kind.dump(), "kind is \"Pod\"; expected AdmissionReview"},
      {"a JSON array", "[1,2,3]", "not a JSON object"},
  };
  for (bool agents : {false, true}) {
    for (const auto& c : cases) {
      Answer a = Send(agents, c.body);
      EXPECT_EQ(a.http_status, 400) << c.name;
      EXPECT_NE(a.body.find(c.reason), std::string::npos) << c.name << ": " << a.body;
      EXPECT_EQ(a.invariants, "") << c.name;
    }
  }
}

TEST(HostileInput, ObjectsOfAnotherKindAreAdmittedUntouched) {
  json deployment = Pod("app-x", {{api::kScrapeAnnotation, "true"}});
  deployment["kind"] = "Deployment";
  const json apps = {{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}};
  for (bool agents : {false, true}) {
    Answer a = Send(agents, Review(deployment, apps, "deployments").dump());
    ASSERT_EQ(a.http_status, 200) << a.body;
    EXPECT_EQ(a.response["allowed"], true);
    EXPECT_FALSE(a.response.contains("patch"));
    EXPECT_EQ(a.invariants, "");
  }
}

TEST(HostileInput, PodWithFiveThousandAnnotationsIsInjected) {
  json annotations = {{api::kScrapeAnnotation, "true"}};
  for (int i = 0; i < 5000; ++i) annotations["example.com/a-" + std::to_string(i)] = std::string(100, 'v');
  Answer a = Send(false, Review(Pod("app-x", annotations), kPodKind, "pods").dump());
  ASSERT_EQ(a.http_status, 200) << a.body;
  EXPECT_EQ(a.response["allowed"], true);
  ASSERT_TRUE(a.response.contains("patch")) << a.response.dump();
  auto patch = DecodeBase64(a.response["patch"].get<std::string>());
  ASSERT_TRUE(patch.ok());
  EXPECT_NE(patch->find(api::kAgentContainerName), std::string::npos);
  EXPECT_EQ(a.invariants, "");
}

TEST(HostileInput, PodWithThousandsOfContainersOrHugeValuesGetsAnAnswer) {
  json many = Pod("app-x", {{api::kScrapeAnnotation, "true"}});
  for (int i = 0; i < 2000; ++i) {
    many["spec"]["containers"].push_back({{"name", "c" + std::to_string(i)}, {"image", "busybox"}});
  }
  json huge =
      Pod("app-x", {{api::kScrapeAnnotation, "true"}, {"example.com/blob", std::string(6 << 20, 'x')}});
  json bad_annotations = Pod("app-x", {{api::kScrapeAnnotation, "true"},
                                       {"prometheus.operator.io/port", "99999999999999999999"},
                                       {"prometheus.operator.io/scrape-interval", "-1s"},
                                       {"prometheus.operator.io/path", std::string(100000, '/')}});
  json annotations_not_strings = Pod("app-x", {{api::kScrapeAnnotation, "true"}, {"x", json::array()}});
  for (const json& pod : {many, huge, bad_annotations, annotations_not_strings}) {
    Answer a = Send(false, Review(pod, kPodKind, "pods").dump());
    ASSERT_EQ(a.http_status, 200) << a.body.substr(0, 200);
    EXPECT_EQ(a.response["allowed"], true) << a.response.dump().substr(0, 500);
    EXPECT_EQ(a.invariants, "");
  }
}

struct AbsurdAgent {
  std::string name;
  json agent;
  std::string field;  // the denial names it
};

TEST(HostileInput, AgentsWithAbsurdValuesAreDeniedNamingTheField) {
  const std::vector<AbsurdAgent> cases = {
      {"walSizeLimit 999999999Ti", Agent({{"walSizeLimit", "999999999Ti"}}), "spec.sidecar.walSizeLimit"},
      {"walSizeLimit -1Mi", Agent({{"walSizeLimit", "-1Mi"}}), "spec.sidecar.walSizeLimit"},
      {"minScrapeInterval -1s", Agent({{"minScrapeInterval", "-1s"}}), "spec.sidecar.minScrapeInterval"},
      {"minScrapeInterval 0s", Agent({{"minScrapeInterval", "0s"}}), "spec.sidecar.minScrapeInterval"},
      {"minScrapeInterval 99999999999y", Agent({{"minScrapeInterval", "99999999999y"}}),
       "spec.sidecar.minScrapeInterval"},
      {"namespaceSelector operator Bogus",
       Agent({{"namespaceSelector", {{"matchExpressions", {{{"key", "a"}, {"operator", "Bogus"}}}}}}}),
       "spec.sidecar.namespaceSelector"},
  };
  for (const auto& c : cases) {
    Answer a = Send(true, Review(c.agent, kAgentKind, "prometheusagents").dump());
    ASSERT_EQ(a.http_status, 200) << c.name << ": " << a.body.substr(0, 300);
    EXPECT_EQ(a.response["allowed"], false) << c.name;
    EXPECT_EQ(a.response["status"]["code"], 422) << c.name;
    const std::string message = a.response["status"].value("message", "");
    EXPECT_NE(message.find(c.field), std::string::npos) << c.name << ": " << message.substr(0, 300);
    EXPECT_NE(message.find("monitoring/absurd"), std::string::npos)
        << c.name << ": " << message.substr(0, 300);
    EXPECT_EQ(a.invariants, "") << c.name;
  }
}

// 10,000 remote writes (each entry is one sender per injected pod): denied
// for their number, in time, and every entry is still checked.
TEST(HostileInput, TenThousandRemoteWritesAreDeniedAndEachEntryIsChecked) {
  json agent = Agent(json::object(), 10000);
  agent["spec"]["remoteWrite"][9999]["url"] = "ftp://metrics.example.com/write";
  Answer a = Send(true, Review(agent, kAgentKind, "prometheusagents").dump());
  ASSERT_EQ(a.http_status, 200) << a.body.substr(0, 300);
  EXPECT_EQ(a.response["allowed"], false);
  const std::string message = a.response["status"].value("message", "");
  EXPECT_NE(message.find("spec.remoteWrite[9999].url"), std::string::npos) << message.substr(0, 300);
  EXPECT_NE(message.find("at most 32 are supported"), std::string::npos) << message.substr(0, 300);
  EXPECT_EQ(a.invariants, "");
}

}  // namespace
}  // namespace promsidecar::admission
