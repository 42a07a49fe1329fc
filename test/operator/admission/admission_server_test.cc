// The AdmissionServer over real TLS sockets on 127.0.0.1:0: UID echo under
// many concurrent requests, the body limit, malformed requests, and that the
// server keeps serving after hostile input; its TLS policy (1.2+ only, strong
// ciphers, certificate rotation without restart), that it serves only its
// paths, that a client that stops sending is cut by the read timeout, and one
// that trickles by the request deadline (counted in the webhook's metrics).
#include <gtest/gtest.h>
#include <openssl/ssl.h>  // TLS1_VERSION, TLS1_1_VERSION

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http/client.h"
#include "operator/admission/server.h"
#include "testing/slow_client.h"
#include "testing/test_pki.h"
#include "testing/tls_client.h"

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

constexpr std::chrono::milliseconds kReadTimeout{3000};

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
    options.http.read_timeout = kReadTimeout;
    metrics_ = WebhookMetrics::Register(registry_);
    options.metrics = metrics_;
    server_ = std::make_unique<AdmissionServer>(options);
    // Echoes the object's name as a warning: proves each answer belongs to its request.
    for (const char* path : {kMutatePodPath, kValidateAgentPath}) {
      server_->Register(path, [this](const AdmissionRequest& r) {
        ++calls_;
        AdmissionResponse resp;
        resp.warnings.push_back(r.object["metadata"].value("name", ""));
        return resp;
      });
    }
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
  std::string Url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(server_->BoundPort()) + path;
  }
  void RotateCertificate(const std::string& common_name) {
    auto pair = ca_.Issue({.common_name = common_name, .ip_sans = {"127.0.0.1"}});
    testing::WriteFileAtomically(dir_ + "/tls.key", pair.key_pem);
    testing::WriteFileAtomically(dir_ + "/tls.crt", pair.cert_pem);
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

// The API server accepts gzip; the answers go out uncompressed all the same
// (a zlib stream per review costs more than the bytes it would save).
TEST_F(AdmissionServerTest, AnswersAreNotCompressed) {
  http::Client client(ClientOptions());
  http::Request req;
  req.method = "POST";
  req.url = url_;
  req.headers.Set("Content-Type", "application/json");
  req.headers.Set("Accept-Encoding", "gzip");
  req.body = Review("uid-gzip");
  req.timeout = std::chrono::seconds(30);
  auto resp = client.Do(req);
  ASSERT_TRUE(resp.ok()) << resp.message();
  EXPECT_EQ(resp->status, 200);
  EXPECT_FALSE(resp->headers.Has("Content-Encoding")) << "the answer was compressed";
  EXPECT_NE(resp->headers.Get("Content-Type").value_or("").find("application/json"), std::string::npos);
  EXPECT_EQ(json::parse(resp->body)["response"]["uid"], "uid-gzip");
}

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

TEST_F(AdmissionServerTest, RefusesTls10And11AndWeakCiphersAndRotatesItsCertificateWithoutRestart) {
  const int port = server_->BoundPort();
  for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    auto old = testing::TlsConnect(port, ca_.cert_pem(), {.max_version = version});
    EXPECT_FALSE(old.handshake_ok) << "TLS version " << version << " accepted: " << old.protocol;
  }
  auto weak = testing::TlsConnect(port, ca_.cert_pem(), {.tls12_ciphers = "AES128-SHA:@SECLEVEL=0"});
  EXPECT_FALSE(weak.handshake_ok) << "non-forward-secret cipher accepted";
  auto tls12 = testing::TlsConnect(port, ca_.cert_pem(), {.max_version = TLS1_2_VERSION});
  ASSERT_TRUE(tls12.handshake_ok) << tls12.error;
  EXPECT_EQ(tls12.protocol, "TLSv1.2");
  auto current = testing::TlsConnect(port, ca_.cert_pem());
  ASSERT_TRUE(current.handshake_ok) << current.error;
  EXPECT_EQ(current.protocol, "TLSv1.3");
  EXPECT_EQ(current.peer_common_name, "webhook");

  // cert-manager or the operator's own rotation rewrites the files: the next
  // connection sees the new certificate, and the server still answers.
  RotateCertificate("webhook-rotated");
  auto rotated = testing::TlsConnect(port, ca_.cert_pem());
  ASSERT_TRUE(rotated.handshake_ok) << rotated.error;
  EXPECT_EQ(rotated.peer_common_name, "webhook-rotated");
  http::Client client(ClientOptions());
  auto after = Post(client, Review("after-rotation"));
  ASSERT_TRUE(after.ok()) << after.message();
  EXPECT_EQ(after->status, 200);
}

TEST_F(AdmissionServerTest, ServesOnlyItsPathsAndMethods) {
  http::Client client(ClientOptions());
  struct Case {
    std::string method, path;
    int want;
  };
  for (const Case& c :
       {Case{"POST", "/", 404}, Case{"POST", "/mutate-pods", 404}, Case{"POST", "/mutate-pod/x", 404},
        Case{"POST", "/metrics", 404}, Case{"GET", "/healthz", 404}, Case{"GET", kMutatePodPath, 405},
        Case{"PUT", kMutatePodPath, 405}, Case{"DELETE", kValidateAgentPath, 405},
        Case{"GET", kValidateAgentPath, 405}, Case{"POST", kValidateAgentPath, 200}}) {
    http::Request req;
    req.method = c.method;
    req.url = Url(c.path);
    req.headers.Set("Content-Type", "application/json");
    if (c.method != "GET") req.body = Review("path-" + c.path);
    req.timeout = std::chrono::seconds(30);
    auto resp = client.Do(req);
    ASSERT_TRUE(resp.ok()) << c.method << " " << c.path << ": " << resp.message();
    EXPECT_EQ(resp->status, c.want) << c.method << " " << c.path << ": " << resp->body;
  }
}

TEST_F(AdmissionServerTest, ClientThatStopsSendingIsCutByTheReadTimeoutWhileOthersAreServed) {
  // Headers promising a body, then silence: the worker waits kReadTimeout, no longer.
  const auto started = std::chrono::steady_clock::now();
  auto slow = std::async(std::launch::async, [this] {
    auto outcome = testing::TlsConnect(server_->BoundPort(), ca_.cert_pem(),
                                       {.request = "POST /mutate-pod HTTP/1.1\r\nHost: webhook\r\n"
                                                   "Content-Type: application/json\r\n"
                                                   "Content-Length: 1000\r\n\r\n{\"apiVersion\"",
                                        .io_timeout = std::chrono::seconds(120)});
    return std::make_pair(outcome, std::chrono::steady_clock::now());
  });
  http::Client client(ClientOptions());
  for (int i = 0; i < 5; ++i) {
    auto fine = Post(client, Review("meanwhile-" + std::to_string(i)));
    ASSERT_TRUE(fine.ok()) << fine.message();
    EXPECT_EQ(fine->status, 200);
  }
  // Generous: the server must cut the connection itself, long before the client gives up.
  ASSERT_EQ(slow.wait_for(std::chrono::seconds(90)), std::future_status::ready) << "slow client never cut";
  auto [outcome, ended] = slow.get();
  ASSERT_TRUE(outcome.handshake_ok) << outcome.error;
  // Nothing, or a 4xx for the incomplete request; never a webhook answer.
  EXPECT_TRUE(outcome.response.empty() || outcome.response.rfind("HTTP/1.1 4", 0) == 0) << outcome.response;
  EXPECT_GE(ended - started, kReadTimeout - std::chrono::milliseconds(500)) << "cut before the read timeout?";
  EXPECT_EQ(calls_.load(), 5) << "the partial request reached a webhook";
  std::printf(
      "slow client cut after %lld ms; server sent: %s\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(ended - started).count()),
      outcome.response.empty() ? "(nothing)"
                               : outcome.response.substr(0, outcome.response.find('\r')).c_str());
}

// The deadline's own behaviour is http::Server's (its tests); here: the
// webhook's default options enable it and its metric counts the cut.
TEST(AdmissionServerDeadline, TricklingClientIsCutAndCountedInTheWebhookMetrics) {
  metrics::Registry registry;
  AdmissionServerOptions options;
  EXPECT_EQ(options.http.request_deadline, std::chrono::seconds(10));
  options.http.listen_address = "127.0.0.1:0";
  options.http.worker_threads = 1;
  options.http.request_deadline = std::chrono::seconds(1);
  options.metrics = WebhookMetrics::Register(registry);
  AdmissionServer server(options);
  std::atomic<int> calls{0};
  server.Register(kMutatePodPath, [&](const AdmissionRequest&) {
    ++calls;
    return AdmissionResponse{};
  });
  ASSERT_TRUE(server.Start().ok());

  const std::string review = Review("slow");
  std::promise<void> head_sent;
  auto head_future = head_sent.get_future();
  auto trickler = std::async(std::launch::async, [&] {
    return testing::Trickle(server.BoundPort(),
                            "POST /mutate-pod HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n"
                            "Content-Length: " +
                                std::to_string(review.size()) + "\r\n\r\n",
                            review, &head_sent);
  });
  head_future.wait();
  // The one worker serves this once the trickler is cut.
  http::Client client;
  http::Request req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(server.BoundPort()) + kMutatePodPath;
  req.headers.Set("Content-Type", "application/json");
  req.body = Review("meanwhile");
  req.timeout = std::chrono::seconds(30);
  auto fine = client.Do(req);
  ASSERT_TRUE(fine.ok()) << fine.message();
  EXPECT_EQ(fine->status, 200);

  auto trickled = trickler.get();
  EXPECT_TRUE(trickled.closed_by_server);
  EXPECT_LT(trickled.tail_sent, review.size());
  EXPECT_EQ(calls.load(), 1) << "the partial review reached the webhook";
  EXPECT_NE(registry.Render().find("promsidecar_operator_webhook_requests_deadline_exceeded_total 1\n"),
            std::string::npos)
      << registry.Render();
}

}  // namespace
}  // namespace promsidecar::admission
