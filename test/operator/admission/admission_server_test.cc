// The AdmissionServer over real TLS sockets on 127.0.0.1:0: UID echo under
// many concurrent requests, the body limit, malformed requests, and that the
// server keeps serving after hostile input.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/test_pki.h"
#include "common/http/client.h"
#include "operator/admission/server.h"

namespace promsidecar::admission {
namespace {

using nlohmann::json;

std::string Review(const std::string& uid) {
  return json({{"apiVersion", "admission.k8s.io/v1"},
               {"kind", "AdmissionReview"},
               {"request",
                {{"uid", uid},
                 {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                 {"operation", "CREATE"},
                 {"namespace", "ns"},
                 {"object", {{"metadata", {{"name", uid}}}}}}}})
      .dump();
}

class AdmissionServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("promsidecar-admission-server-");
    auto pair = ca_.Issue({.common_name = "webhook", .ip_sans = {"127.0.0.1"}});
    testing::WriteFileAtomically(dir_ + "/tls.crt", pair.cert_pem);
    testing::WriteFileAtomically(dir_ + "/tls.key", pair.key_pem);
    AdmissionServerOptions options;
    options.http.listen_address = "127.0.0.1:0";
    options.http.tls = http::ServerTlsOptions{dir_ + "/tls.crt", dir_ + "/tls.key"};
    options.http.max_body_bytes = 64 * 1024;
    options.http.worker_threads = 4;
    metrics_ = WebhookMetrics::Register(registry_);
    options.metrics = metrics_;
    server_ = std::make_unique<AdmissionServer>(options);
    // Echoes the object's name as a warning: proves each answer belongs to its request.
    server_->Register(kMutatePodPath, [this](const AdmissionRequest& r) {
      ++calls_;
      AdmissionResponse resp;
      resp.warnings.push_back(r.object["metadata"].value("name", ""));
      return resp;
    });
    auto started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.message();
    url_ = "https://127.0.0.1:" + std::to_string(server_->BoundPort()) + kMutatePodPath;
  }
  void TearDown() override {
    server_.reset();
    testing::RemoveTree(dir_);
  }

  Result<http::Response> Post(http::Client& client, const std::string& body,
                              const std::string& content_type = "application/json") {
    http::Request req;
    req.method = "POST";
    req.url = url_;
    req.headers.Set("Content-Type", content_type);
    req.body = body;
    req.timeout = std::chrono::seconds(30);
    return client.Do(req);
  }
  http::ClientOptions ClientOptions() {
    http::ClientOptions o;
    o.tls.ca_pem = ca_.cert_pem();
    return o;
  }

  testing::TestCa ca_{"admission server test CA"};
  std::string dir_;
  metrics::Registry registry_;
  WebhookMetrics metrics_;
  std::unique_ptr<AdmissionServer> server_;
  std::string url_;
  std::atomic<int> calls_{0};
};

TEST_F(AdmissionServerTest, ManyConcurrentRequestsEachGetTheirOwnAnswer) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 25;
  std::atomic<int> good{0};
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      http::Client client(ClientOptions());
      for (int i = 0; i < kPerThread; ++i) {
        const std::string uid = "uid-" + std::to_string(t) + "-" + std::to_string(i);
        auto resp = Post(client, Review(uid));
        if (!resp.ok()) {
          failures[t] = resp.message();
          return;
        }
        json r = json::parse(resp->body, nullptr, false);
        if (resp->status == 200 && !r.is_discarded() && r["response"]["uid"] == uid &&
            r["response"]["warnings"][0] == uid) {
          ++good;
        } else {
          failures[t] = std::to_string(resp->status) + " " + resp->body;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& f : failures) EXPECT_EQ(f, "");
  EXPECT_EQ(good.load(), kThreads * kPerThread);
  EXPECT_EQ(calls_.load(), kThreads * kPerThread);
  EXPECT_NE(registry_.Render().find(
                "promsidecar_operator_webhook_duration_seconds_count{webhook=\"mutate-pod\",code=\"200\"} " +
                std::to_string(kThreads * kPerThread)),
            std::string::npos)
      << registry_.Render();
}

TEST_F(AdmissionServerTest, HostileRequestsGetErrorsAndTheServerKeepsServing) {
  http::Client client(ClientOptions());
  auto big = Post(client, std::string(200 * 1024, '{'));
  ASSERT_TRUE(big.ok()) << big.message();
  EXPECT_EQ(big->status, 413);

  auto deep = Post(client, std::string(60 * 1024, '['));
  ASSERT_TRUE(deep.ok()) << deep.message();
  EXPECT_EQ(deep->status, 400);
  EXPECT_NE(deep->body.find("deeper"), std::string::npos) << deep->body;

  for (const std::string& body :
       {std::string("garbage"), std::string("{}"), std::string("null"),
        std::string(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})")}) {
    auto bad = Post(client, body);
    ASSERT_TRUE(bad.ok()) << bad.message();
    EXPECT_EQ(bad->status, 400) << body;
  }
  auto wrong_type = Post(client, Review("x"), "application/x-www-form-urlencoded");
  ASSERT_TRUE(wrong_type.ok());
  EXPECT_EQ(wrong_type->status, 415);

  http::Request get;
  get.url = url_;
  auto method = client.Do(get);
  ASSERT_TRUE(method.ok());
  EXPECT_EQ(method->status, 405);

  EXPECT_EQ(calls_.load(), 0);
  auto fine = Post(client, Review("after"));
  ASSERT_TRUE(fine.ok()) << fine.message();
  EXPECT_EQ(fine->status, 200);
  EXPECT_EQ(json::parse(fine->body)["response"]["uid"], "after");
}

}  // namespace
}  // namespace promsidecar::admission
