// A mutating admission webhook served by our http::Server over TLS, called by
// the real kube-apiserver of the `cluster` fixture. The pattern the operator's
// webhook tests follow: own CA, serving cert with IP SAN 127.0.0.1,
// clientConfig.url + caBundle, selector narrowed to the test's namespace,
// configuration deleted whatever happens.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "cluster/cluster_env.h"
#include "common/http/server.h"
#include "common/util/base64.h"
#include "testing/test_pki.h"

namespace promsidecar {
namespace {

using nlohmann::json;
using testing::ClusterEnv;
using testing::Kubectl;

std::string UniqueName(const std::string& prefix) {
  std::random_device rd;
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(rd() % 100000);
}

// The webhook's decision, separate from HTTP: AdmissionReview in, out.
json Mutate(const json& review, std::atomic<int>& seen) {
  const json& request = review.at("request");
  json response = {{"uid", request.at("uid")}, {"allowed", true}};
  if (request.value("kind", json::object()).value("kind", "") == "ConfigMap") {
    ++seen;
    json patch = json::array();
    const json& object = request.at("object");
    if (!object.contains("metadata") || !object["metadata"].contains("labels")) {
      patch.push_back({{"op", "add"}, {"path", "/metadata/labels"}, {"value", json::object()}});
    }
    patch.push_back({{"op", "add"}, {"path", "/metadata/labels/webhook-test"}, {"value", "seen"}});
    response["patchType"] = "JSONPatch";
    response["patch"] = EncodeBase64(patch.dump());
  }
  return {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", response}};
}

// Deletes what the test created even when an assertion fails.
struct Cleanup {
  const ClusterEnv& env;
  std::vector<std::vector<std::string>> deletes;
  ~Cleanup() {
    for (auto it = deletes.rbegin(); it != deletes.rend(); ++it) {
      auto r = Kubectl(env, *it);
      if (!r.ok()) ADD_FAILURE() << "cleanup kubectl failed: " << r.err;
    }
  }
};

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = ClusterEnv::Load();
    ASSERT_TRUE(env.ok()) << env.message();
    env_ = *env;
    dir_ = testing::MakeTempDir("promsidecar-webhook-test-");
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  ClusterEnv env_;
  std::string dir_;
};

TEST_F(WebhookTest, ApiServerCallsOurTlsWebhookAndAppliesItsPatch) {
  testing::TestCa ca("webhook test CA");
  auto serving = ca.Issue({.common_name = "webhook", .ip_sans = {"127.0.0.1"}});
  testing::WriteFileAtomically(dir_ + "/tls.crt", serving.cert_pem);
  testing::WriteFileAtomically(dir_ + "/tls.key", serving.key_pem);

  std::atomic<int> seen{0};
  std::atomic<int> bad_requests{0};
  http::ServerOptions options;
  options.name = "webhook-test";
  options.tls = http::ServerTlsOptions{dir_ + "/tls.crt", dir_ + "/tls.key"};
  http::Server server(options);
  server.Handle("POST", "/mutate", [&](const http::ServerRequest& req) {
    auto ct = req.Header("Content-Type").value_or("");
    json review = json::parse(req.body, nullptr, false);
    if (ct.find("application/json") == std::string::npos || !review.is_object() ||
        !review.contains("request")) {
      ++bad_requests;
      return http::ServerResponse::Text(400, "expected an AdmissionReview v1 as JSON\n");
    }
    return http::ServerResponse::Json(200, Mutate(review, seen).dump());
  });
  auto started = server.Start();
  ASSERT_TRUE(started.ok()) << started.message();

  const std::string ns = UniqueName("webhook-test");
  const std::string hook = UniqueName("promsidecar-webhook-test");
  Cleanup cleanup{env_, {}};
  auto created = Kubectl(env_, {"create", "namespace", ns});
  ASSERT_TRUE(created.ok()) << created.err;
  // No namespace controller runs: the namespace stays Terminating, harmless.
  cleanup.deletes.push_back({"delete", "namespace", ns, "--wait=false", "--ignore-not-found"});

  json config = {{"apiVersion", "admissionregistration.k8s.io/v1"},
                 {"kind", "MutatingWebhookConfiguration"},
                 {"metadata", {{"name", hook}}},
                 {"webhooks",
                  {{{"name", "configmaps.webhook-test.promsidecar.io"},
                    {"clientConfig",
                     {{"url", "https://127.0.0.1:" + std::to_string(server.BoundPort()) + "/mutate"},
                      {"caBundle", EncodeBase64(ca.cert_pem())}}},
                    {"rules",
                     {{{"apiGroups", {""}},
                       {"apiVersions", {"v1"}},
                       {"operations", {"CREATE"}},
                       {"resources", {"configmaps"}},
                       {"scope", "Namespaced"}}}},
                    {"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", ns}}}}},
                    {"sideEffects", "None"},
                    {"failurePolicy", "Fail"},
                    {"timeoutSeconds", 10},
                    {"admissionReviewVersions", {"v1"}}}}}};
  auto registered = Kubectl(env_, {"create", "-f", "-"}, config.dump());
  ASSERT_TRUE(registered.ok()) << registered.err;
  cleanup.deletes.push_back({"delete", "mutatingwebhookconfiguration", hook, "--ignore-not-found"});

  testing::AuditLog audit(env_.audit_log);
  auto mark = audit.Mark();
  // The apiserver picks up new webhook configurations asynchronously: retry
  // creating (bounded) until a ConfigMap comes back labelled. A ConfigMap
  // created before the webhook was active is deleted and tried again.
  std::string labels;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int attempt = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string name = "cm-" + std::to_string(attempt++);
    auto cm = Kubectl(env_, {"-n", ns, "create", "configmap", name, "--from-literal=k=v", "-o", "json"});
    ASSERT_TRUE(cm.ok()) << cm.err;
    json obj = json::parse(cm.out);
    labels = obj["metadata"].value("labels", json::object()).dump();
    if (obj["metadata"].value("labels", json::object()).value("webhook-test", "") == "seen") break;
    ASSERT_TRUE(Kubectl(env_, {"-n", ns, "delete", "configmap", name}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(labels, R"({"webhook-test":"seen"})");
  EXPECT_GE(seen.load(), 1);
  EXPECT_EQ(bad_requests.load(), 0);

  // The stored object carries the label too, not just the create response.
  auto got = Kubectl(env_, {"-n", ns, "get", "configmap", "cm-" + std::to_string(attempt - 1), "-o",
                            "jsonpath={.metadata.labels.webhook-test}"});
  ASSERT_TRUE(got.ok()) << got.err;
  EXPECT_EQ(got.out, "seen");

  // Independent evidence: the audit log recorded our creates in this namespace.
  if (!env_.audit_log.empty()) {
    EXPECT_GE(
        audit.WaitForCount({.verb = "create", .resource = "configmaps", .namespace_ = ns}, mark, attempt),
        attempt);
  }

  // Other namespaces are out of the webhook's reach.
  auto other = Kubectl(env_, {"-n", "default", "create", "configmap", UniqueName("not-ours"),
                              "--dry-run=server", "-o", "jsonpath={.metadata.labels}"});
  ASSERT_TRUE(other.ok()) << other.err;
  EXPECT_EQ(other.out, "");
}

TEST_F(WebhookTest, FailurePolicyFailRejectsWhenTheWebhookIsDown) {
  testing::TestCa ca("webhook test CA");
  auto serving = ca.Issue({.common_name = "webhook", .ip_sans = {"127.0.0.1"}});
  testing::WriteFileAtomically(dir_ + "/tls.crt", serving.cert_pem);
  testing::WriteFileAtomically(dir_ + "/tls.key", serving.key_pem);
  http::ServerOptions options;
  options.tls = http::ServerTlsOptions{dir_ + "/tls.crt", dir_ + "/tls.key"};
  http::Server server(options);
  std::atomic<int> seen{0};
  server.Handle("POST", "/mutate", [&](const http::ServerRequest& req) {
    return http::ServerResponse::Json(200, Mutate(json::parse(req.body), seen).dump());
  });
  ASSERT_TRUE(server.Start().ok());
  const int port = server.BoundPort();

  const std::string ns = UniqueName("webhook-down");
  const std::string hook = UniqueName("promsidecar-webhook-down");
  Cleanup cleanup{env_, {}};
  ASSERT_TRUE(Kubectl(env_, {"create", "namespace", ns}).ok());
  cleanup.deletes.push_back({"delete", "namespace", ns, "--wait=false", "--ignore-not-found"});
  json config = {{"apiVersion", "admissionregistration.k8s.io/v1"},
                 {"kind", "MutatingWebhookConfiguration"},
                 {"metadata", {{"name", hook}}},
                 {"webhooks",
                  {{{"name", "down.webhook-test.promsidecar.io"},
                    {"clientConfig",
                     {{"url", "https://127.0.0.1:" + std::to_string(port) + "/mutate"},
                      {"caBundle", EncodeBase64(ca.cert_pem())}}},
                    {"rules",
                     {{{"apiGroups", {""}},
                       {"apiVersions", {"v1"}},
                       {"operations", {"CREATE"}},
                       {"resources", {"configmaps"}}}}},
                    {"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", ns}}}}},
                    {"sideEffects", "None"},
                    {"failurePolicy", "Fail"},
                    {"timeoutSeconds", 5},
                    {"admissionReviewVersions", {"v1"}}}}}};
  ASSERT_TRUE(Kubectl(env_, {"create", "-f", "-"}, config.dump()).ok());
  cleanup.deletes.push_back({"delete", "mutatingwebhookconfiguration", hook, "--ignore-not-found"});

  // Wait (bounded) until the apiserver calls the webhook, then take it down.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (seen.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    Kubectl(env_, {"-n", ns, "create", "configmap", "probe", "--dry-run=server", "--from-literal=k=v"});
  }
  ASSERT_GE(seen.load(), 1) << "the apiserver never called the webhook";
  server.Stop();

  auto rejected = Kubectl(env_, {"-n", ns, "create", "configmap", "while-down", "--from-literal=k=v"});
  EXPECT_NE(rejected.exit_code, 0);
  EXPECT_NE(rejected.err.find("failed calling webhook"), std::string::npos) << rejected.err;
}

}  // namespace
}  // namespace promsidecar
