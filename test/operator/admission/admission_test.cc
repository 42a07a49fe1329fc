// Decode → decide → encode without sockets, with fake cluster facts, plus
// hostile inputs.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/metrics/metrics.h"
#include "common/util/base64.h"
#include "operator/admission/certs.h"
#include "operator/admission/review.h"
#include "operator/admission/server.h"
#include "operator/admission/webhook_config.h"
#include "operator/admission/webhooks.h"
#include "operator/api/well_known.h"

namespace promsidecar::admission {
namespace {

using nlohmann::json;

json Agent(const std::string& ns, const std::string& name, json spec_extra = json::object()) {
  json spec = {{"mode", "Sidecar"}, {"remoteWrite", {{{"url", "https://metrics.example.com/api/v1/write"}}}}};
  spec.update(spec_extra);
  return {{"apiVersion", "promsidecar.io/v1alpha1"},
          {"kind", "PrometheusAgent"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", spec}};
}

json Pod(const std::string& ns, json annotations, json spec_extra = json::object()) {
  json spec = {{"containers", {{{"name", "app"}, {"image", "registry.k8s.io/pause:3.10"}}}}};
  spec.update(spec_extra);
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"namespace", ns}, {"annotations", annotations}}},
          {"spec", spec}};
}

json Review(const json& object, const std::string& uid = "uid-1", const std::string& op = "CREATE",
            json kind = {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}) {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", uid},
            {"kind", kind},
            {"resource", {{"group", kind["group"]}, {"version", kind["version"]}, {"resource", "pods"}}},
            {"namespace", object["metadata"].value("namespace", "")},
            {"operation", op},
            {"userInfo", {{"username", "tester"}}},
            {"object", object}}}};
}

class FakeFacts : public ClusterFactsSource, public ValidationContextSource {
 public:
  Result<inject::ClusterFacts> FactsFor(const std::string& ns) override {
    ++calls;
    if (!ready) return MakeError("not synced");
    inject::ClusterFacts f;
    for (const auto& a : agents) f.agents.push_back(*api::ParseAgent(a));
    f.namespace_labels = {{"kubernetes.io/metadata.name", ns}};
    f.apiserver_version = "v1.34.0";
    f.node_kubelet_versions = kubelets;
    return f;
  }
  Result<validate::ValidationContext> ContextFor(const std::string&) override {
    validate::ValidationContext c;
    for (const auto& a : agents) c.existing_agents.push_back(*api::ParseAgent(a));
    c.existing_secrets = secrets;
    return c;
  }
  bool ready = true;
  int calls = 0;
  std::vector<json> agents;
  std::vector<std::string> kubelets{"v1.34.0"};
  std::set<std::string> secrets;
};

http::ServerRequest Post(const std::string& body) {
  http::ServerRequest r;
  r.method = "POST";
  r.path = kMutatePodPath;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = body;
  return r;
}

std::string DecodePatch(const json& response) {
  auto decoded = DecodeBase64(response.at("patch").get<std::string>());
  EXPECT_TRUE(decoded.ok());
  return decoded.ok() ? *decoded : "";
}

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() : metrics_(WebhookMetrics::Register(registry_)), pods_(facts_, {}, metrics_) {
    facts_.agents.push_back(Agent("team-a", "agent"));
  }
  http::ServerResponse Mutate(const json& review) {
    return ServeAdmission([&](const AdmissionRequest& r) { return pods_.Handle(r); }, Post(review.dump()));
  }
  metrics::Registry registry_;
  WebhookMetrics metrics_;
  FakeFacts facts_;
  PodInjectionWebhook pods_;
};

TEST_F(AdmissionTest, InjectsAnOptedInPodWithUidEchoedAndBase64JsonPatch) {
  auto resp = Mutate(Review(Pod("team-a", {{"prometheus.operator.io/scrape", "true"}}), "abc-123"));
  ASSERT_EQ(resp.status, 200) << resp.body;
  json review = json::parse(resp.body);
  EXPECT_EQ(review["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(review["kind"], "AdmissionReview");
  const json& r = review["response"];
  EXPECT_EQ(r["uid"], "abc-123");
  EXPECT_EQ(r["allowed"], true);
  EXPECT_EQ(r["patchType"], "JSONPatch");
  json patch = json::parse(DecodePatch(r));
  ASSERT_TRUE(patch.is_array());
  // Native sidecar: an init container named ours with restartPolicy Always.
  bool found = false;
  for (const auto& op : patch) {
    if (op["path"].get<std::string>().rfind("/spec/initContainers", 0) == 0) {
      std::string dumped = op["value"].dump();
      if (dumped.find(api::kAgentContainerName) != std::string::npos &&
          dumped.find("\"restartPolicy\":\"Always\"") != std::string::npos) {
        found = true;
      }
    }
  }
  EXPECT_TRUE(found) << patch.dump();
  EXPECT_NE(
      registry_.Render().find("promsidecar_operator_injections_total{outcome=\"injected\",reason=\"\"} 1"),
      std::string::npos)
      << registry_.Render();
}

TEST_F(AdmissionTest, PodWithoutAnnotationIsAdmittedWithoutReadingCaches) {
  auto resp = Mutate(Review(Pod("team-a", json::object())));
  ASSERT_EQ(resp.status, 200);
  json r = json::parse(resp.body)["response"];
  EXPECT_EQ(r["allowed"], true);
  EXPECT_FALSE(r.contains("patch"));
  EXPECT_FALSE(r.contains("patchType"));
  EXPECT_EQ(facts_.calls, 0);
}

TEST_F(AdmissionTest, HostNetworkPodIsSkippedWithLabelAndWarning) {
  auto resp =
      Mutate(Review(Pod("team-a", {{"prometheus.operator.io/scrape", "true"}}, {{"hostNetwork", true}})));
  ASSERT_EQ(resp.status, 200);
  json r = json::parse(resp.body)["response"];
  EXPECT_EQ(r["allowed"], true);
  ASSERT_TRUE(r.contains("warnings"));
  EXPECT_FALSE(r["warnings"].empty());
  std::string patch = DecodePatch(r);
  EXPECT_NE(patch.find("skipped"), std::string::npos) << patch;
  EXPECT_EQ(patch.find(api::kAgentContainerName), std::string::npos) << patch;
}

TEST_F(AdmissionTest, UnreadyCachesAdmitWithAWarningAndNoPatch) {
  facts_.ready = false;
  auto resp = Mutate(Review(Pod("team-a", {{"prometheus.operator.io/scrape", "true"}})));
  ASSERT_EQ(resp.status, 200);
  json r = json::parse(resp.body)["response"];
  EXPECT_EQ(r["allowed"], true);
  EXPECT_FALSE(r.contains("patch"));
  ASSERT_EQ(r["warnings"].size(), 1u);
  EXPECT_NE(r["warnings"][0].get<std::string>().find("not injected"), std::string::npos);
}

TEST_F(AdmissionTest, UpdatesAndOtherKindsAreLeftAlone) {
  json pod = Pod("team-a", {{"prometheus.operator.io/scrape", "true"}});
  for (const json& review :
       {Review(pod, "u", "UPDATE"),
        Review(pod, "u", "CREATE", {{"group", "apps"}, {"version", "v1"}, {"kind", "Pod"}})}) {
    auto resp = Mutate(review);
    ASSERT_EQ(resp.status, 200);
    json r = json::parse(resp.body)["response"];
    EXPECT_EQ(r["allowed"], true);
    EXPECT_FALSE(r.contains("patch"));
  }
}

TEST_F(AdmissionTest, MalformedRequestsGet400WithAReason) {
  json no_uid = Review(Pod("team-a", json::object()));
  no_uid["request"].erase("uid");
  json v1beta1 = Review(Pod("team-a", json::object()));
  v1beta1["apiVersion"] = "admission.k8s.io/v1beta1";
  json wrong_kind = Review(Pod("team-a", json::object()));
  wrong_kind["kind"] = "Pod";
  json no_request = {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}};
  json uid_number = Review(Pod("team-a", json::object()));
  uid_number["request"]["uid"] = 7;
  json object_string = Review(Pod("team-a", json::object()));
  object_string["request"]["object"] = "pod";
  json kind_array = Review(Pod("team-a", json::object()));
  kind_array["request"]["kind"] = json::array();
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string deep_in_request =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":)" +
      std::string(5000, '{');
  for (const std::string& body :
       {std::string(""), std::string("not json"), std::string("[]"), std::string("\"x\""),
        std::string("{\"a\":"), no_uid.dump(), v1beta1.dump(), wrong_kind.dump(), no_request.dump(),
        uid_number.dump(), object_string.dump(), kind_array.dump(), deep, deep_in_request,
        std::string("\xff\xfe{}")}) {
    auto resp = ServeAdmission([&](const AdmissionRequest& r) { return pods_.Handle(r); }, Post(body));
    EXPECT_EQ(resp.status, 400) << body.substr(0, 80);
    EXPECT_FALSE(resp.body.empty());
  }
}

TEST_F(AdmissionTest, NonJsonContentTypeIs415) {
  auto req = Post(Review(Pod("team-a", json::object())).dump());
  req.headers = {{"Content-Type", "text/plain"}};
  auto resp = ServeAdmission([&](const AdmissionRequest& r) { return pods_.Handle(r); }, req);
  EXPECT_EQ(resp.status, 415);
}

TEST(JsonNestingDepthTest, CountsStructureNotStrings) {
  EXPECT_EQ(JsonNestingDepth("{}", 10), 1u);
  EXPECT_EQ(JsonNestingDepth(R"({"a":[{"b":1}]})", 10), 3u);
  EXPECT_EQ(JsonNestingDepth(R"({"a":"[[[[\"[[["})", 10), 1u);
  EXPECT_EQ(JsonNestingDepth(std::string(50, '['), 10), 11u);  // stops scanning past the limit
}

TEST(EncodeTest, DenialCarriesStatusAndNoPatch) {
  auto deny = AdmissionResponse::Deny(422, "spec.x: bad", "Invalid");
  deny.patch = json::array({{{"op", "add"}, {"path", "/x"}, {"value", 1}}});
  deny.warnings = {"line1\nline2"};
  json r = json::parse(EncodeAdmissionReview("u-9", deny))["response"];
  EXPECT_EQ(r["uid"], "u-9");
  EXPECT_EQ(r["allowed"], false);
  EXPECT_EQ(r["status"]["code"], 422);
  EXPECT_EQ(r["status"]["message"], "spec.x: bad");
  EXPECT_EQ(r["status"]["reason"], "Invalid");
  EXPECT_FALSE(r.contains("patch"));
  EXPECT_EQ(r["warnings"][0], "line1 line2");
}

json AgentReview(const json& agent, const std::string& op = "CREATE") {
  return Review(agent, "agent-uid", op,
                {{"group", "promsidecar.io"}, {"version", "v1alpha1"}, {"kind", "PrometheusAgent"}});
}

TEST(AgentValidationTest, PodMonitorSelectorInSidecarModeIsDeniedNamingTheField) {
  FakeFacts facts;
  AgentValidationWebhook agents(facts, api::AgentApiGroup::Own());
  json agent = Agent("mon", "a", {{"podMonitorSelector", json::object()}});
  auto resp = ServeAdmission([&](const AdmissionRequest& r) { return agents.Handle(r); },
                             Post(AgentReview(agent).dump()));
  ASSERT_EQ(resp.status, 200);
  json r = json::parse(resp.body)["response"];
  EXPECT_EQ(r["uid"], "agent-uid");
  EXPECT_EQ(r["allowed"], false);
  EXPECT_EQ(r["status"]["code"], 422);
  EXPECT_NE(r["status"]["message"].get<std::string>().find("spec.podMonitorSelector"), std::string::npos)
      << r.dump();
}

TEST(AgentValidationTest, SecondDefaultAgentIsDeniedAndMissingSecretOnlyWarns) {
  FakeFacts facts;
  json selector = {{"sidecar", {{"default", true}, {"namespaceSelector", json::object()}}}};
  facts.agents.push_back(Agent("mon", "first", selector));
  AgentValidationWebhook agents(facts, api::AgentApiGroup::Own());
  auto second = agents.Handle(*DecodeAdmissionReview(AgentReview(Agent("mon", "second", selector)).dump()));
  EXPECT_FALSE(second.allowed);
  EXPECT_NE(second.status_message.find("default"), std::string::npos) << second.status_message;

  json with_secret = Agent("mon", "third");
  with_secret["spec"]["remoteWrite"][0]["basicAuth"] = {{"username", {{"name", "creds"}, {"key", "u"}}},
                                                        {"password", {{"name", "creds"}, {"key", "p"}}}};
  auto third = agents.Handle(*DecodeAdmissionReview(AgentReview(with_secret).dump()));
  EXPECT_TRUE(third.allowed) << third.status_message;
  ASSERT_FALSE(third.warnings.empty());
  EXPECT_NE(third.warnings[0].find("creds"), std::string::npos) << third.warnings[0];
}

TEST(AgentValidationTest, OtherGroupsAndModesAreAllowed) {
  FakeFacts facts;
  AgentValidationWebhook agents(facts, api::AgentApiGroup::Own());
  json sts = Agent("mon", "sts", {{"mode", "StatefulSet"}, {"podMonitorSelector", json::object()}});
  EXPECT_TRUE(agents.Handle(*DecodeAdmissionReview(AgentReview(sts).dump())).allowed);
  json seed =
      Review(Agent("mon", "x", {{"podMonitorSelector", json::object()}}), "u", "CREATE",
             {{"group", "monitoring.coreos.com"}, {"version", "v1alpha1"}, {"kind", "PrometheusAgent"}});
  EXPECT_TRUE(agents.Handle(*DecodeAdmissionReview(seed.dump())).allowed);
}

TEST(WebhookConfigTest, PodsWebhookIsSafeByDefault) {
  WebhookConfigOptions o;
  o.operator_namespace = "ops";
  o.url_base = "https://127.0.0.1:9443";
  o.ca_bundle_pem = "PEM";
  o.namespace_opt_in_label = "inject=on";
  json m = BuildMutatingWebhookConfiguration(o);
  const json& w = m["webhooks"][0];
  EXPECT_EQ(w["failurePolicy"], "Ignore");
  EXPECT_EQ(w["timeoutSeconds"], 5);
  EXPECT_EQ(w["sideEffects"], "None");
  EXPECT_EQ(w["reinvocationPolicy"], "IfNeeded");
  EXPECT_EQ(w["rules"][0]["operations"], json({"CREATE"}));
  EXPECT_EQ(w["clientConfig"]["url"], "https://127.0.0.1:9443/mutate-pod");
  EXPECT_EQ(w["clientConfig"]["caBundle"], EncodeBase64("PEM"));
  const json& exprs = w["namespaceSelector"]["matchExpressions"];
  EXPECT_EQ(exprs[0]["values"], json({"kube-system", "kube-public", "kube-node-lease", "ops"}));
  EXPECT_EQ(exprs[1], json({{"key", "inject"}, {"operator", "In"}, {"values", {"on"}}}));
  std::string cel = w["matchConditions"][0]["expression"];
  EXPECT_NE(cel.find("prometheus.operator.io/scrape"), std::string::npos);
  EXPECT_EQ(cel.find("'prometheus.io/scrape'"), std::string::npos);
  o.legacy_annotations = true;
  o.url_base.clear();
  o.ca_bundle_pem.clear();
  json legacy = BuildMutatingWebhookConfiguration(o);
  EXPECT_NE(legacy["webhooks"][0]["matchConditions"][0]["expression"].get<std::string>().find(
                "'prometheus.io/scrape'"),
            std::string::npos);
  EXPECT_EQ(legacy["webhooks"][0]["clientConfig"]["service"]["path"], "/mutate-pod");
  EXPECT_FALSE(legacy["webhooks"][0]["clientConfig"].contains("caBundle"));
}

// The operator's flags reach the built configurations: failurePolicy of the
// pods webhook only, timeoutSeconds of both, excluded namespaces always with
// the built-in ones and the operator's own, each once.
TEST(WebhookConfigTest, OptionsReachTheConfigurations) {
  struct Case {
    std::string name;
    FailurePolicy policy;
    int timeout;
    std::vector<std::string> excluded;
    std::string operator_namespace;
    std::string want_policy;
    json want_excluded;
  };
  const std::vector<std::string> builtin = WebhookConfigOptions{}.excluded_namespaces;
  auto with = [&builtin](std::vector<std::string> extra) {
    std::vector<std::string> all = builtin;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  };
  const std::vector<Case> cases = {
      {"defaults",
       FailurePolicy::kIgnore,
       5,
       builtin,
       "ops",
       "Ignore",
       {"kube-system", "kube-public", "kube-node-lease", "ops"}},
      {"fail closed, longest timeout",
       FailurePolicy::kFail,
       30,
       builtin,
       "ops",
       "Fail",
       {"kube-system", "kube-public", "kube-node-lease", "ops"}},
      {"extra namespaces after the built-in ones",
       FailurePolicy::kIgnore,
       1,
       with({"istio-system", "batch"}),
       "ops",
       "Ignore",
       {"kube-system", "kube-public", "kube-node-lease", "istio-system", "batch", "ops"}},
      {"repeated names listed once",
       FailurePolicy::kIgnore,
       10,
       with({"kube-system", "ops", "batch", "batch"}),
       "ops",
       "Ignore",
       {"kube-system", "kube-public", "kube-node-lease", "ops", "batch"}},
      {"no operator namespace",
       FailurePolicy::kIgnore,
       5,
       with({"batch"}),
       "",
       "Ignore",
       {"kube-system", "kube-public", "kube-node-lease", "batch"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    WebhookConfigOptions o;
    o.failure_policy = c.policy;
    o.timeout_seconds = c.timeout;
    o.excluded_namespaces = c.excluded;
    o.operator_namespace = c.operator_namespace;
    const json pods = BuildMutatingWebhookConfiguration(o)["webhooks"][0];
    EXPECT_EQ(pods["failurePolicy"], c.want_policy);
    EXPECT_EQ(pods["timeoutSeconds"], c.timeout);
    EXPECT_EQ(
        pods["namespaceSelector"]["matchExpressions"][0],
        json({{"key", "kubernetes.io/metadata.name"}, {"operator", "NotIn"}, {"values", c.want_excluded}}));
    const json agents = BuildValidatingWebhookConfiguration(o)["webhooks"][0];
    EXPECT_EQ(agents["failurePolicy"], "Fail");
    EXPECT_EQ(agents["timeoutSeconds"], c.timeout);
  }
}

TEST(WebhookConfigTest, FailurePolicyParsesTheApiSpellingOnly) {
  for (FailurePolicy p : {FailurePolicy::kIgnore, FailurePolicy::kFail}) {
    auto parsed = ParseFailurePolicy(FailurePolicyName(p));
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    EXPECT_EQ(*parsed, p);
  }
  for (std::string bad : {"", "ignore", "FAIL", "Never", "Ignore "}) {
    SCOPED_TRACE(bad);
    auto parsed = ParseFailurePolicy(bad);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.message().find("use Ignore or Fail"), std::string::npos) << parsed.message();
  }
}

TEST(WebhookConfigTest, AgentWebhookFailsClosedOnTheConfiguredGroup) {
  WebhookConfigOptions o;
  o.group = api::AgentApiGroup::Seed();
  json v = BuildValidatingWebhookConfiguration(o);
  const json& w = v["webhooks"][0];
  EXPECT_EQ(w["failurePolicy"], "Fail");
  EXPECT_EQ(w["rules"][0]["apiGroups"], json({"monitoring.coreos.com"}));
  EXPECT_EQ(w["rules"][0]["operations"], json({"CREATE", "UPDATE"}));
  EXPECT_EQ(w["clientConfig"]["service"]["path"], "/validate-prometheusagent");
}

}  // namespace
}  // namespace promsidecar::admission

namespace promsidecar::admission {
namespace {

TEST(CertsTest, ServingCertificateChainsToTheCaAndCoversItsNames) {
  const auto now = std::chrono::system_clock::now();
  auto ca = GenerateCa({.common_name = "test-ca",
                        .not_before = now - std::chrono::hours(1),
                        .not_after = now + std::chrono::hours(48)});
  ASSERT_TRUE(ca.ok()) << ca.message();
  CertSpec spec{.common_name = "svc.ns.svc",
                .dns_names = {"svc.ns.svc", "svc.ns.svc.cluster.local"},
                .ip_addresses = {"127.0.0.1"},
                .not_before = now - std::chrono::hours(1),
                .not_after = now + std::chrono::hours(24)};
  auto leaf = IssueServingCert(*ca, spec);
  ASSERT_TRUE(leaf.ok()) << leaf.message();
  EXPECT_TRUE(CertificateCovers(leaf->cert_pem, spec));
  CertSpec other = spec;
  other.dns_names.push_back("other.ns.svc");
  EXPECT_FALSE(CertificateCovers(leaf->cert_pem, other));
  other = spec;
  other.ip_addresses = {"10.0.0.1"};
  EXPECT_FALSE(CertificateCovers(leaf->cert_pem, other));
  auto not_after = CertificateNotAfter(leaf->cert_pem);
  ASSERT_TRUE(not_after.ok());
  EXPECT_LE(std::chrono::abs(*not_after - spec.not_after), std::chrono::seconds(1));
  EXPECT_FALSE(CertificateNotAfter("not a pem").ok());

  // Verify the chain with OpenSSL's verifier.
  auto parse = [](const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    return x;
  };
  X509* ca_cert = parse(ca->cert_pem);
  X509* leaf_cert = parse(leaf->cert_pem);
  ASSERT_NE(ca_cert, nullptr);
  ASSERT_NE(leaf_cert, nullptr);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca_cert);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf_cert, nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(X509_verify_cert(ctx), 1) << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(leaf_cert);
  X509_free(ca_cert);

  // A leaf signed by another CA does not verify against this one.
  auto other_ca = GenerateCa({.common_name = "other-ca",
                              .not_before = now - std::chrono::hours(1),
                              .not_after = now + std::chrono::hours(48)});
  ASSERT_TRUE(other_ca.ok());
  auto foreign = IssueServingCert(*other_ca, spec);
  ASSERT_TRUE(foreign.ok());
  X509* ca2 = parse(ca->cert_pem);
  X509* foreign_cert = parse(foreign->cert_pem);
  X509_STORE* store2 = X509_STORE_new();
  X509_STORE_add_cert(store2, ca2);
  X509_STORE_CTX* ctx2 = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx2, store2, foreign_cert, nullptr);
  EXPECT_NE(X509_verify_cert(ctx2), 1);
  X509_STORE_CTX_free(ctx2);
  X509_STORE_free(store2);
  X509_free(foreign_cert);
  X509_free(ca2);
}

}  // namespace
}  // namespace promsidecar::admission
