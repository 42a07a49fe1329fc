// Our CRDs against the real API server: both apply, and their CEL rules
// reject in Sidecar mode what makes no sense there, while the seed-group CRD
// still accepts upstream-style StatefulSet objects and the seed's own example
// manifests. CRDs are cluster-scoped: this test holds the `crd` lock and
// deletes them at the end.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "cluster/cluster_env.h"
#include "operator/cli/yaml_json.h"
#include "operator/validate/field_fates.h"

namespace promsidecar {
namespace {

using nlohmann::json;
using testing::ClusterEnv;
using testing::CommandOutput;
using testing::Kubectl;

const std::string kOwnCrd =
    std::string(PROMSIDECAR_SOURCE_DIR) + "/deploy/crd/promsidecar.io_prometheusagents.yaml";
const std::string kSeedCrd =
    std::string(PROMSIDECAR_SOURCE_DIR) + "/deploy/optional/monitoring.coreos.com_prometheusagents.yaml";

class CrdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = ClusterEnv::Load();
    ASSERT_TRUE(env.ok()) << env.message();
    env_ = *env;
    std::random_device rd;
    ns_ = "pscrd-" + std::to_string(getpid() % 100000) + "-" + std::to_string(rd() % 10000);
    ASSERT_TRUE(Kubectl(env_, {"create", "namespace", ns_}).ok());
  }
  void TearDown() override {
    (void)Kubectl(env_, {"delete", "namespace", ns_, "--wait=false"});
    // Wait for the deletion, so the next run never applies onto a CRD that is
    // still terminating.
    for (const std::string& crd : installed_) (void)Kubectl(env_, {"delete", "-f", crd, "--timeout=120s"});
  }
  // Polls `check` until it holds or the deadline passes.
  static bool Eventually(const std::function<bool()>& check) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      if (check()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return check();
  }
  void Install(const std::string& file, const std::string& name) {
    // A CRD left terminating by an earlier run must be gone first; one that
    // an earlier test installed and kept is applied over.
    ASSERT_TRUE(Eventually([&] {
      auto r = Kubectl(
          env_, {"get", "crd", name, "--ignore-not-found", "-o", "jsonpath={.metadata.deletionTimestamp}"});
      return r.ok() && r.out.empty();
    })) << name
        << " is still terminating";
    auto dry = Kubectl(env_, {"apply", "--dry-run=server", "-f", file});
    ASSERT_TRUE(dry.ok()) << dry.err;
    installed_.push_back(file);
    auto r = Kubectl(env_, {"apply", "-f", file});
    ASSERT_TRUE(r.ok()) << r.err;
    // `kubectl wait` fails outright while .status.conditions is still unset.
    ASSERT_TRUE(Eventually([&] {
      auto got = Kubectl(env_, {"get", "crd", name, "-o",
                                "jsonpath={.status.conditions[?(@.type==\"Established\")].status}"});
      return got.ok() && got.out == "True";
    })) << name
        << " never became Established";
  }
  CommandOutput Apply(json object) {
    object["metadata"]["namespace"] = ns_;
    // A just-established CRD may take a moment to be served for writes.
    CommandOutput r;
    for (int attempt = 0; attempt < 50; ++attempt) {
      r = Kubectl(env_, {"apply", "-f", "-"}, object.dump());
      if (r.ok() || r.err.find("the server could not find the requested resource") == std::string::npos)
        break;
      (void)Kubectl(env_, {"api-resources",
                           "--api-group=" + object["apiVersion"].get<std::string>().substr(
                                                0, object["apiVersion"].get<std::string>().find('/'))});
    }
    return r;
  }

  ClusterEnv env_;
  std::string ns_;
  std::vector<std::string> installed_;
};

json Agent(const std::string& api_version, const std::string& name, const std::string& mode) {
  return {
      {"apiVersion", api_version},
      {"kind", "PrometheusAgent"},
      {"metadata", {{"name", name}}},
      {"spec", {{"mode", mode}, {"remoteWrite", {{{"url", "https://metrics.example.com/api/v1/write"}}}}}}};
}

TEST_F(CrdTest, OwnGroupRejectsWhatSidecarModeCannotUse) {
  Install(kOwnCrd, "prometheusagents.promsidecar.io");
  const std::string v = "promsidecar.io/v1alpha1";
  auto ok = Apply(Agent(v, "good", "Sidecar"));
  ASSERT_TRUE(ok.ok()) << ok.err;
  auto seed_spelling = Apply(Agent(v, "lowercase", "sidecar"));
  EXPECT_TRUE(seed_spelling.ok()) << seed_spelling.err;

  for (const char* field :
       {"serviceMonitorSelector", "serviceMonitorNamespaceSelector", "podMonitorSelector",
        "podMonitorNamespaceSelector", "probeSelector", "probeNamespaceSelector", "scrapeConfigSelector",
        "scrapeConfigNamespaceSelector", "additionalScrapeConfigs", "storage", "shardingStrategy"}) {
    json a = Agent(v, "bad", "Sidecar");
    a["spec"][field] = json::object();
    auto r = Apply(a);
    EXPECT_FALSE(r.ok()) << field << " was accepted";
    EXPECT_NE(r.err.find(std::string("spec.") + field), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Sidecar mode"), std::string::npos) << r.err;
  }
  json replicas = Agent(v, "bad", "Sidecar");
  replicas["spec"]["replicas"] = 2;
  EXPECT_FALSE(Apply(replicas).ok());
  json shards = Agent(v, "shards", "Sidecar");
  shards["spec"]["shards"] = 1;
  EXPECT_TRUE(Apply(shards).ok());
  shards["spec"]["shards"] = 3;
  EXPECT_FALSE(Apply(shards).ok());

  json def = Agent(v, "default", "Sidecar");
  def["spec"]["sidecar"] = {{"default", true}};
  auto r = Apply(def);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.err.find("namespaceSelector"), std::string::npos) << r.err;
  def["spec"]["sidecar"]["namespaceSelector"] = json::object();
  r = Apply(def);
  EXPECT_TRUE(r.ok()) << r.err;

  json url = Agent(v, "url", "Sidecar");
  url["spec"]["remoteWrite"][0]["url"] = "ftp://metrics.example.com/";
  EXPECT_FALSE(Apply(url).ok());
  json mode = Agent(v, "mode", "StatefulSet");
  EXPECT_FALSE(Apply(mode).ok()) << "our own group serves Sidecar mode only";

  // Printer columns and the short name.
  auto get = Kubectl(env_, {"-n", ns_, "get", "psagent"});
  ASSERT_TRUE(get.ok()) << get.err;
  for (const char* column : {"MODE", "INJECTED", "OUTDATED", "AGE"}) {
    EXPECT_NE(get.out.find(column), std::string::npos) << get.out;
  }
  // The status subresource exists: a status write does not need the spec.
  auto status = Kubectl(env_, {"-n", ns_, "patch", "psagent", "good", "--subresource=status", "--type=merge",
                               "-p", R"({"status":{"injectedPods":3,"outdatedPods":1}})"});
  ASSERT_TRUE(status.ok()) << status.err;
  get = Kubectl(env_, {"-n", ns_, "get", "psagent", "good", "-o", "jsonpath={.status.injectedPods}"});
  EXPECT_EQ(get.out, "3");
}

TEST_F(CrdTest, SeedGroupAcceptsUpstreamObjectsAndTheSeedExamples) {
  Install(kSeedCrd, "prometheusagents.monitoring.coreos.com");
  const std::string v = "monitoring.coreos.com/v1alpha1";
  // An upstream-style StatefulSet agent with fields we neither know nor reject.
  json upstream = Agent(v, "upstream", "StatefulSet");
  upstream["spec"]["replicas"] = 2;
  upstream["spec"]["podMonitorSelector"] = {{"matchLabels", {{"team", "a"}}}};
  upstream["spec"]["serviceAccountName"] = "prometheus";
  upstream["spec"]["remoteWrite"][0]["sigv4"] = {{"region", "eu-west-1"}};
  auto r = Apply(upstream);
  ASSERT_TRUE(r.ok()) << r.err;
  auto got =
      Kubectl(env_, {"-n", ns_, "get", "prometheusagents.monitoring.coreos.com", "upstream", "-o", "json"});
  ASSERT_TRUE(got.ok()) << got.err;
  json stored = json::parse(got.out);
  EXPECT_EQ(stored["spec"]["serviceAccountName"], "prometheus") << "unknown upstream fields are preserved";
  EXPECT_EQ(stored["spec"]["remoteWrite"][0]["sigv4"]["region"], "eu-west-1");

  // The seed's example agent (indentation repaired) applies as written, in
  // this test's namespace instead of "monitoring".
  std::string agent_file = std::string(PROMSIDECAR_TESTDATA) + "/operator/seed/agent.yaml";
  std::ifstream in(agent_file);
  std::stringstream text;
  text << in.rdbuf();
  auto docs = cli::ParseDocuments(text.str());
  ASSERT_TRUE(docs.ok() && docs->size() == 1) << agent_file;
  r = Apply((*docs)[0]);
  EXPECT_TRUE(r.ok()) << r.err;
  std::string pod_file = std::string(PROMSIDECAR_TESTDATA) + "/operator/seed/pod.yaml";
  auto sa = testing::EnsureDefaultServiceAccount(env_, ns_);
  ASSERT_TRUE(sa.ok()) << sa.message();
  auto pod = Kubectl(env_, {"-n", ns_, "create", "--dry-run=server", "-f", pod_file});
  EXPECT_TRUE(pod.ok()) << pod.err;

  // Sidecar-only rules apply only in Sidecar mode.
  json bad = Agent(v, "bad", "sidecar");
  bad["spec"]["serviceMonitorSelector"] = json::object();
  r = Apply(bad);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.err.find("spec.serviceMonitorSelector"), std::string::npos) << r.err;
  bad["spec"]["mode"] = "DaemonSet";
  EXPECT_TRUE(Apply(bad).ok()) << "DaemonSet mode keeps upstream's rules";
  // A pod-level field upstream's modes use: refused in Sidecar mode with the fix.
  json pod_level = Agent(v, "pod-level", "Sidecar");
  pod_level["spec"]["tolerations"] = {{{"operator", "Exists"}}};
  r = Apply(pod_level);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.err.find("spec.tolerations"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("set it on the workload"), std::string::npos) << r.err;
  pod_level["spec"]["mode"] = "StatefulSet";
  r = Apply(pod_level);
  EXPECT_TRUE(r.ok()) << r.err;
}

// authorization.projectedServiceAccountToken: the same rules in both groups
// (in the seed group for every mode: the remoteWrite schema is shared).
TEST_F(CrdTest, ProjectedServiceAccountTokenRulesInBothGroups) {
  Install(kOwnCrd, "prometheusagents.promsidecar.io");
  Install(kSeedCrd, "prometheusagents.monitoring.coreos.com");
  for (const std::string v : {"promsidecar.io/v1alpha1", "monitoring.coreos.com/v1alpha1"}) {
    SCOPED_TRACE(v);
    const std::string resource = v.rfind("promsidecar.io", 0) == 0 ? "prometheusagents.promsidecar.io"
                                                                   : "prometheusagents.monitoring.coreos.com";
    json good = Agent(v, "projected", "Sidecar");
    good["spec"]["remoteWrite"][0]["authorization"] = {
        {"type", "Bearer"}, {"projectedServiceAccountToken", {{"audience", "https://metrics.example.com"}}}};
    auto r = Apply(good);
    ASSERT_TRUE(r.ok()) << r.err;
    auto got = Kubectl(env_, {"-n", ns_, "get", resource, "projected", "-o", "json"});
    ASSERT_TRUE(got.ok()) << got.err;
    json stored =
        json::parse(got.out)["spec"]["remoteWrite"][0]["authorization"]["projectedServiceAccountToken"];
    EXPECT_EQ(stored["audience"], "https://metrics.example.com");
    EXPECT_EQ(stored["expirationSeconds"], 3600) << "the schema defaults it as Kubernetes would";

    struct Case {
      const char* name;
      json authorization;
      const char* want;  // in the error
    } cases[] = {
        {"with credentials",
         {{"credentials", {{"name", "s"}, {"key", "k"}}},
          {"projectedServiceAccountToken", {{"audience", "m"}}}},
         "set only one of credentials, credentialsFile and projectedServiceAccountToken"},
        {"with credentialsFile",
         {{"credentialsFile", "/t"}, {"projectedServiceAccountToken", {{"audience", "m"}}}},
         "set only one of credentials, credentialsFile and projectedServiceAccountToken"},
        {"missing audience",
         {{"projectedServiceAccountToken", {{"expirationSeconds", 3600}}}},
         "projectedServiceAccountToken.audience"},
        {"empty audience",
         {{"projectedServiceAccountToken", {{"audience", ""}}}},
         "projectedServiceAccountToken.audience"},
        {"too-short expiration",
         {{"projectedServiceAccountToken", {{"audience", "m"}, {"expirationSeconds", 599}}}},
         "projectedServiceAccountToken.expirationSeconds"},
    };
    for (const Case& c : cases) {
      SCOPED_TRACE(c.name);
      json bad = Agent(v, "bad", "Sidecar");
      bad["spec"]["remoteWrite"][0]["authorization"] = c.authorization;
      r = Apply(bad);
      EXPECT_FALSE(r.ok()) << "accepted";
      EXPECT_NE(r.err.find(c.want), std::string::npos) << r.err;
    }
  }
}

// Nothing silently ignored (docs/operator.md, "Upstream fields in Sidecar
// mode"): strict field validation rejects a typo, and the API server itself
// refuses every refused upstream field, naming it (with its list index) and
// giving the fate table's fix, even where no webhook runs.
TEST_F(CrdTest, OwnGroupRejectsTyposAndEveryRefusedUpstreamField) {
  Install(kOwnCrd, "prometheusagents.promsidecar.io");
  const std::string v = "promsidecar.io/v1alpha1";
  auto ok = Apply(Agent(v, "defaults", "Sidecar"));
  ASSERT_TRUE(ok.ok()) << ok.err;
  auto got = Kubectl(env_, {"-n", ns_, "get", "psagent", "defaults", "-o", "json"});
  ASSERT_TRUE(got.ok()) << got.err;
  EXPECT_EQ(json::parse(got.out)["spec"]["scrapeInterval"], "30s") << "upstream's default";

  json typo = Agent(v, "typo", "Sidecar");
  typo["metadata"]["namespace"] = ns_;
  typo["spec"]["sidcar"] = {{"engine", "native"}};
  auto strict = Kubectl(env_, {"apply", "--validate=strict", "-f", "-"}, typo.dump());
  EXPECT_FALSE(strict.ok()) << "spec.sidcar was accepted";
  EXPECT_NE(strict.err.find("sidcar"), std::string::npos) << strict.err;
  json nested = Agent(v, "typo", "Sidecar");
  nested["metadata"]["namespace"] = ns_;
  nested["spec"]["remoteWrite"][0]["tlsConfig"] = {{"insecureSkipVerfy", true}};
  strict = Kubectl(env_, {"apply", "--validate=strict", "-f", "-"}, nested.dump());
  EXPECT_FALSE(strict.ok()) << "a typo inside tlsConfig was accepted";
  EXPECT_NE(strict.err.find("insecureSkipVerfy"), std::string::npos) << strict.err;

  // Refused fields are declared with upstream's type (CEL sees only typed
  // fields): a value of that type, so the only error is the refusal. The
  // rest are objects.
  const std::map<std::string_view, json> typed{
      {"spec.replicas", 2},
      {"spec.remoteWrite[].tlsConfig.maxVersion", "TLS13"},
      {"spec.remoteWrite[].queueConfig.minShards", 1},
      {"spec.remoteWrite[].queueConfig.maxShards", 1},
      {"spec.remoteWrite[].queueConfig.sampleAgeLimit", "1h"},
      {"spec.remoteWrite[].oauth2.proxyUrl", "x"},
      {"spec.remoteWrite[].oauth2.noProxy", "x"},
      {"spec.remoteWrite[].oauth2.proxyFromEnvironment", true},
      {"spec.remoteWrite[].tlsConfig.caFile", "x"},
      {"spec.remoteWrite[].tlsConfig.certFile", "x"},
      {"spec.remoteWrite[].tlsConfig.keyFile", "x"},
      {"spec.remoteWrite[].noProxy", "x"},
      {"spec.remoteWrite[].proxyFromEnvironment", true},
      {"spec.remoteWrite[].bearerToken", "x"},
      {"spec.remoteWrite[].bearerTokenFile", "x"},
      {"spec.remoteWrite[].followRedirects", true},
      {"spec.remoteWrite[].enableHTTP2", true},
      {"spec.remoteWrite[].roundRobinDNS", true},
      {"spec.ignoreNamespaceSelectors", true},
      {"spec.serviceDiscoveryRole", "x"},
      {"spec.scrapeClasses", json::array({json::object()})},
      {"spec.podTargetLabels", json::array({"x"})},
      {"spec.overrideHonorLabels", true},
      {"spec.overrideHonorTimestamps", true},
      {"spec.keepDroppedTargets", 1},
      {"spec.targetLimit", 1},
      {"spec.enforcedNamespaceLabel", "x"},
      {"spec.excludedFromEnforcement", json::array({json::object()})},
      {"spec.enforcedSampleLimit", 1},
      {"spec.enforcedTargetLimit", 1},
      {"spec.enforcedLabelLimit", 1},
      {"spec.enforcedLabelNameLengthLimit", 1},
      {"spec.enforcedLabelValueLengthLimit", 1},
      {"spec.enforcedKeepDroppedTargets", 1},
      {"spec.enforcedBodySizeLimit", "x"},
      {"spec.tolerations", json::array({json::object()})},
      {"spec.topologySpreadConstraints", json::array({json::object()})},
      {"spec.priorityClassName", "x"},
      {"spec.schedulerName", "x"},
      {"spec.hostNetwork", true},
      {"spec.hostAliases", json::array({json::object()})},
      {"spec.hostUsers", true},
      {"spec.dnsPolicy", "x"},
      {"spec.serviceAccountName", "x"},
      {"spec.automountServiceAccountToken", true},
      {"spec.enableServiceLinks", true},
      {"spec.minReadySeconds", 1},
      {"spec.terminationGracePeriodSeconds", 1},
      {"spec.podManagementPolicy", "x"},
      {"spec.maximumStartupDurationSeconds", 1},
      {"spec.serviceName", "x"},
      {"spec.containers", json::array({json::object()})},
      {"spec.initContainers", json::array({json::object()})},
      {"spec.volumes", json::array({json::object()})},
      {"spec.volumeMounts", json::array({json::object()})},
      {"spec.configMaps", json::array({"x"})},
      {"spec.secrets", json::array({"x"})},
      {"spec.listenLocal", true},
      {"spec.routePrefix", "x"},
      {"spec.externalUrl", "x"},
      {"spec.enableFeatures", json::array({"x"})},
      {"spec.additionalArgs", json::array({json::object()})},
      {"spec.enableRemoteWriteReceiver", true},
      {"spec.remoteWriteReceiverMessageVersions", json::array({"x"})},
      {"spec.enableOTLPReceiver", true},
      {"spec.walCompression", true},
      {"spec.reloadStrategy", "x"},
      {"spec.scrapeFailureLogFile", "x"},
      {"spec.prometheusExternalLabelName", "x"},
      {"spec.replicaExternalLabelName", "x"},
      {"spec.convertClassicHistogramsToNHCB", true},
      {"spec.nameValidationScheme", "x"},
      {"spec.nameEscapingScheme", "x"},
  };
  // oauth2's required fields, so the only error is the refused field's.
  const json oauth2 = {{"clientId", {{"secret", {{"name", "o"}, {"key", "id"}}}}},
                       {"clientSecret", {{"name", "o"}, {"key", "secret"}}},
                       {"tokenUrl", "https://auth.example.com/token"}};
  int refused = 0;
  for (const validate::FieldFate& f : validate::FieldFates()) {
    if (f.fate != validate::Fate::kRefused) continue;
    ++refused;
    json a = Agent(v, "refused", "Sidecar");
    if (f.path.starts_with("spec.remoteWrite[].oauth2.")) a["spec"]["remoteWrite"][0]["oauth2"] = oauth2;
    json* node = &a;
    std::string concrete;
    std::string_view rest = f.path;
    while (true) {
      const size_t dot = rest.find('.');
      std::string seg(rest.substr(0, dot));
      const bool list = seg.ends_with("[]");
      if (list) seg.resize(seg.size() - 2);
      concrete += (concrete.empty() ? "" : ".") + seg;
      if (dot == std::string_view::npos) {
        auto t = typed.find(f.path);
        (*node)[seg] = t == typed.end() ? json::object() : t->second;
        break;
      }
      node = &(*node)[seg];
      if (list) {
        if (node->empty()) node->push_back(json::object());
        node = &(*node)[0];
        concrete += "[0]";
      }
      rest = rest.substr(dot + 1);
    }
    auto r = Apply(a);
    EXPECT_FALSE(r.ok()) << f.path << " was accepted";
    EXPECT_NE(r.err.find(concrete), std::string::npos) << f.path << ": " << r.err;
    EXPECT_NE(r.err.find(validate::RefusalMessage(f)), std::string::npos) << f.path << ": " << r.err;
  }
  EXPECT_GT(refused, 0);

  json many = Agent(v, "many", "Sidecar");
  many["spec"]["remoteWrite"] = json::array();
  for (int i = 0; i < 33; ++i) {
    many["spec"]["remoteWrite"].push_back({{"url", "https://e" + std::to_string(i) + ".example.com/write"}});
  }
  auto r = Apply(many);
  EXPECT_FALSE(r.ok()) << "33 remoteWrite entries were accepted";
  EXPECT_NE(r.err.find("spec.remoteWrite"), std::string::npos) << r.err;

  // status is not preserve-unknown: what the controller writes is declared.
  auto status = Kubectl(env_, {"-n", ns_, "patch", "psagent", "defaults", "--subresource=status",
                               "--type=merge", "-p", R"({"status":{"renderedNamespaces":["apps"]}})"});
  ASSERT_TRUE(status.ok()) << status.err;
  got = Kubectl(env_,
                {"-n", ns_, "get", "psagent", "defaults", "-o", "jsonpath={.status.renderedNamespaces[0]}"});
  EXPECT_EQ(got.out, "apps");
}

}  // namespace
}  // namespace promsidecar
