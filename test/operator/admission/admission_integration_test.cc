// The admission webhooks against the real kube-apiserver of the `cluster`
// fixture: AdmissionServer in this process on 127.0.0.1:0 with a test CA,
// registered through webhookconfig with a url clientConfig, facts from the
// operator's shared cache (cache::ClusterCache). The cache, the webhook
// configurations and the certificates use the operator's own identity (the
// deploy/ ServiceAccount and RBAC, never system:masters). The pods webhook is
// narrowed to namespaces carrying this run's opt-in label, so concurrent
// tests in other namespaces never reach it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/cluster_env.h"
#include "common/kube/client.h"
#include "common/kube/config.h"
#include "common/metrics/metrics.h"
#include "operator/admission/cache_facts.h"
#include "operator/admission/certs.h"
#include "operator/admission/server.h"
#include "operator/admission/webhook_config.h"
#include "operator/admission/webhooks.h"
#include "operator/api/well_known.h"
#include "operator/cache/cache.h"
#include "operator_identity.h"
#include "testing/test_pki.h"

namespace promsidecar::admission {
namespace {

using nlohmann::json;
using testing::ClusterEnv;
using testing::CommandOutput;
using testing::Kubectl;
using namespace std::chrono_literals;

const std::string kCrd =
    std::string(PROMSIDECAR_SOURCE_DIR) + "/deploy/crd/promsidecar.io_prometheusagents.yaml";
constexpr const char* kTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount";

struct Suite {
  ClusterEnv env;
  std::string dir;
  std::string run;  // unique per run: names, labels
  std::string ns_a, ns_other, ns_quota, ns_lr, ns_excluded;
  std::string opt_in_label;  // key=value
  std::string node_label;    // key=value
  std::vector<std::string> nodes;
  std::unique_ptr<testing::TestCa> ca;
  std::unique_ptr<kube::Client> admin;   // the test's own actions and cleanup
  std::unique_ptr<kube::Client> client;  // the operator's identity
  metrics::Registry registry;
  WebhookMetrics metrics;
  std::unique_ptr<cache::ClusterCache> cache;
  std::unique_ptr<CacheFacts> facts;
  std::unique_ptr<PodInjectionWebhook> pods;
  std::unique_ptr<AgentValidationWebhook> agents;
  std::unique_ptr<AdmissionServer> server;
  WebhookConfigOptions config;
  std::unique_ptr<WebhookConfigurator> configurator;
  std::vector<std::vector<std::string>> cleanup;
};
Suite* S = nullptr;

CommandOutput MustKubectl(const std::vector<std::string>& args, const std::string& in = "") {
  auto r = Kubectl(S->env, args, in);
  std::string cmd = "kubectl";
  for (const auto& a : args) cmd += " " + a;
  EXPECT_TRUE(r.ok()) << cmd << ": " << r.err;
  return r;
}

json Agent(const std::string& ns, const std::string& name, json spec_extra = json::object()) {
  json spec = {{"mode", "Sidecar"}, {"remoteWrite", {{{"url", "https://metrics.example.com/api/v1/write"}}}}};
  spec.update(spec_extra);
  return {{"apiVersion", "promsidecar.io/v1alpha1"},
          {"kind", "PrometheusAgent"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", spec}};
}

json Pod(const std::string& ns, const std::string& name, json annotations, json spec_extra = json::object(),
         json app_resources = json()) {
  json app = {{"name", "app"}, {"image", "registry.k8s.io/pause:3.10"}};
  if (!app_resources.is_null()) app["resources"] = app_resources;
  json spec = {{"containers", {app}}};
  spec.update(spec_extra);
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"annotations", annotations}}},
          {"spec", spec}};
}

json Scrape() {
  return {{api::kScrapeAnnotation, "true"}};
}

struct Created {
  CommandOutput out;
  json pod;  // the stored object (null when creation failed)
};

Created CreatePod(const json& pod, bool dry_run = false) {
  std::vector<std::string> args{"create", "-f", "-", "-o", "json"};
  if (dry_run) args.push_back("--dry-run=server");
  Created c{Kubectl(S->env, args, pod.dump()), json()};
  if (c.out.ok()) c.pod = json::parse(c.out.out);
  return c;
}

const json* FindContainer(const json& pod, const std::string& list, const std::string& name) {
  const json& spec = pod.at("spec");
  if (!spec.contains(list)) return nullptr;
  for (const auto& c : spec[list]) {
    if (c.value("name", "") == name) return &c;
  }
  return nullptr;
}

const json* AgentContainer(const json& pod) {
  if (auto c = FindContainer(pod, "initContainers", api::kAgentContainerName)) return c;
  return FindContainer(pod, "containers", api::kAgentContainerName);
}

std::string Label(const json& pod, const char* key) {
  return pod["metadata"].value("labels", json::object()).value(key, "");
}

// Polls `check` with a generous deadline (caches and webhook registration are
// asynchronous).
template <typename F>
bool Eventually(F check, std::chrono::seconds timeout = 60s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (check()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return check();
}

void CreateNamespace(const std::string& ns, bool opt_in) {
  json object = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
  if (opt_in) {
    auto eq = S->opt_in_label.find('=');
    object["metadata"]["labels"] = {{S->opt_in_label.substr(0, eq), S->opt_in_label.substr(eq + 1)}};
  }
  MustKubectl({"create", "-f", "-"}, object.dump());
  S->cleanup.push_back({"delete", "namespace", ns, "--wait=false", "--ignore-not-found"});
  auto sa = testing::EnsureDefaultServiceAccount(S->env, ns);
  ASSERT_TRUE(sa.ok()) << sa.message();
}

void CreateNode(const std::string& name, const std::string& kubelet_version) {
  auto eq = S->node_label.find('=');
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata",
                {{"name", name}, {"labels", {{S->node_label.substr(0, eq), S->node_label.substr(eq + 1)}}}}}};
  MustKubectl({"create", "-f", "-"}, node.dump());
  S->cleanup.push_back({"delete", "node", name, "--ignore-not-found"});
  json status = {{"status", {{"nodeInfo", {{"kubeletVersion", kubelet_version}}}}}};
  MustKubectl({"patch", "node", name, "--subresource=status", "--type=merge", "-p", status.dump()});
}

bool CacheSeesKubelets(size_t n) {
  auto facts = S->facts->FactsFor(S->ns_a);
  return facts.ok() && facts->node_kubelet_versions.size() == n &&
         std::none_of(facts->node_kubelet_versions.begin(), facts->node_kubelet_versions.end(),
                      [](const std::string& v) { return v.empty(); });
}

class AdmissionIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    S = new Suite();
    auto env = ClusterEnv::Load();
    ASSERT_TRUE(env.ok()) << env.message();
    S->env = *env;
    S->dir = testing::MakeTempDir("promsidecar-admission-");
    std::random_device rd;
    S->run = std::to_string(getpid() % 100000) + "-" + std::to_string(rd() % 10000);
    S->ns_a = "psadm-a-" + S->run;
    S->ns_other = "psadm-other-" + S->run;
    S->ns_quota = "psadm-quota-" + S->run;
    S->ns_lr = "psadm-lr-" + S->run;
    S->ns_excluded = "psadm-excl-" + S->run;
    S->opt_in_label = "promsidecar-admission-test=" + S->run;
    S->node_label = "promsidecar-admission-node=" + S->run;

    auto config = kube::LoadKubeconfig(S->env.kubeconfig);
    ASSERT_TRUE(config.ok()) << config.message();
    S->admin = std::make_unique<kube::Client>(*config);

    // CRD first: the cache watches PrometheusAgents.
    MustKubectl({"apply", "-f", kCrd});
    MustKubectl(
        {"wait", "--for=condition=Established", "--timeout=60s", "crd/prometheusagents.promsidecar.io"});

    S->ca = std::make_unique<testing::TestCa>("admission test CA");
    auto serving = S->ca->Issue({.common_name = "webhook", .ip_sans = {"127.0.0.1"}});
    testing::WriteFileAtomically(S->dir + "/tls.crt", serving.cert_pem);
    testing::WriteFileAtomically(S->dir + "/tls.key", serving.key_pem);

    // The agent namespaces exist (and the operator may read agents there)
    // before the cache watches them.
    for (const auto& ns : {S->ns_a, S->ns_other, S->ns_quota, S->ns_lr, S->ns_excluded})
      CreateNamespace(ns, true);
    const std::vector<std::string> agent_namespaces = {S->ns_a, S->ns_other, S->ns_quota, S->ns_lr,
                                                       S->ns_excluded};
    auto token = testing::OperatorToken(S->env, agent_namespaces);
    ASSERT_TRUE(token.ok()) << token.message();
    S->client = std::make_unique<kube::Client>(testing::OperatorConfig(S->env, *token));

    S->metrics = WebhookMetrics::Register(S->registry);
    S->cache = std::make_unique<cache::ClusterCache>(
        *S->client, cache::ClusterCacheOptions{.group = api::AgentApiGroup::Own(),
                                               .agent_namespaces = agent_namespaces,
                                               .node_label_selector = S->node_label});
    // What the operator wires: the trigger follows the agents.
    S->cache->Subscribe({.on_agent = [](const auto&, const auto&) {
      if (S->configurator)
        (void)S->configurator->SetLegacyAnnotations(AnyLegacyAnnotations(*S->cache->Agents()));
    }});
    S->facts = std::make_unique<CacheFacts>(*S->cache);
    S->cache->Start();
    ASSERT_TRUE(S->cache->WaitForSync(60s));

    inject::OperatorSettings settings;
    settings.operator_namespace = "promsidecar-system";
    settings.excluded_namespaces.push_back(S->ns_excluded);
    settings.namespace_opt_in_label = S->opt_in_label;
    S->pods = std::make_unique<PodInjectionWebhook>(*S->facts, settings, S->metrics);
    S->agents = std::make_unique<AgentValidationWebhook>(*S->facts, api::AgentApiGroup::Own(), S->metrics);

    AdmissionServerOptions options;
    options.http.listen_address = "127.0.0.1:0";
    options.http.tls = http::ServerTlsOptions{S->dir + "/tls.crt", S->dir + "/tls.key"};
    options.metrics = S->metrics;
    S->server = std::make_unique<AdmissionServer>(options);
    S->server->Register(kMutatePodPath, [](const AdmissionRequest& r) { return S->pods->Handle(r); });
    S->server->Register(kValidateAgentPath, [](const AdmissionRequest& r) { return S->agents->Handle(r); });
    auto started = S->server->Start();
    ASSERT_TRUE(started.ok()) << started.message();

    S->config.name = "promsidecar-admission-test-" + S->run;
    S->config.operator_namespace = settings.operator_namespace;
    S->config.excluded_namespaces = settings.excluded_namespaces;
    S->config.namespace_opt_in_label = S->opt_in_label;
    S->config.url_base = "https://127.0.0.1:" + std::to_string(S->server->BoundPort());
    S->config.ca_bundle_pem = S->ca->cert_pem();
    S->configurator = std::make_unique<WebhookConfigurator>(*S->client, S->config);
    auto applied = S->configurator->Apply();
    ASSERT_TRUE(applied.ok()) << applied.message();

    // The Node objects this run's cache counts: one new kubelet.
    S->nodes = {"psadm-new-" + S->run};
    CreateNode(S->nodes[0], "v1.34.0");
    ASSERT_TRUE(Eventually([] { return CacheSeesKubelets(1); }));

    for (const auto& ns : {S->ns_a, S->ns_quota, S->ns_lr, S->ns_excluded}) {
      MustKubectl({"apply", "-f", "-"}, Agent(ns, "agent").dump());
    }
    ASSERT_TRUE(Eventually([] { return S->cache->Agents()->size() >= 4; }));

    // The apiserver activates webhook configurations asynchronously.
    ASSERT_TRUE(Eventually([] {
      auto c = CreatePod(Pod(S->ns_a, "probe", Scrape()), /*dry_run=*/true);
      return c.out.ok() && AgentContainer(c.pod) != nullptr;
    })) << "the apiserver never called the pods webhook";
  }

  static void TearDownTestSuite() {
    if (!S) return;
    // The operator never deletes its webhook configurations: the admin does.
    if (S->admin) (void)DeleteWebhookConfigurations(*S->admin, S->config.name);
    if (S->server) S->server->Stop();
    if (S->cache) S->cache->Stop();
    for (auto it = S->cleanup.rbegin(); it != S->cleanup.rend(); ++it) (void)Kubectl(S->env, *it);
    // Waited for: a CRD still being deleted swallows the next test's apply.
    (void)Kubectl(S->env, {"delete", "-f", kCrd, "--wait=true", "--timeout=120s", "--ignore-not-found"});
    if (!S->dir.empty()) testing::RemoveTree(S->dir);
    delete S;
    S = nullptr;
  }

  double Injections(const std::string& outcome) {
    double total = 0;
    S->metrics.injections->ForEach([&](const std::vector<std::string>& labels, const metrics::Counter& c) {
      if (labels[0] == outcome) total += c.Value();
    });
    return total;
  }
};

TEST_F(AdmissionIntegrationTest, InjectsNativeSidecarThenRegularContainerWithAnOldKubelet) {
  auto created = CreatePod(Pod(S->ns_a, "native", Scrape()));
  ASSERT_TRUE(created.out.ok()) << created.out.err;
  const json& pod = created.pod;
  const json* agent = FindContainer(pod, "initContainers", api::kAgentContainerName);
  ASSERT_NE(agent, nullptr) << pod.dump();
  EXPECT_EQ(agent->value("restartPolicy", ""), "Always");
  EXPECT_EQ(FindContainer(pod, "containers", api::kAgentContainerName), nullptr);
  EXPECT_EQ(Label(pod, api::kInjectionLabel), "injected");
  EXPECT_EQ(Label(pod, api::kAgentLabel), S->ns_a + ".agent");
  EXPECT_EQ(pod["metadata"]["annotations"].value(api::kStatusAnnotation, ""), "injected");
  // Requests and limits for cpu, memory and ephemeral-storage, always.
  for (const char* kind : {"requests", "limits"}) {
    for (const char* r : {"cpu", "memory", "ephemeral-storage"}) {
      EXPECT_TRUE(agent->at("resources").at(kind).contains(r)) << kind << " " << r;
    }
  }
  const json& sc = agent->at("securityContext");
  EXPECT_EQ(sc.value("runAsNonRoot", false), true);
  EXPECT_EQ(sc.value("readOnlyRootFilesystem", false), true);
  EXPECT_EQ(sc.value("allowPrivilegeEscalation", true), false);
  EXPECT_FALSE(agent->contains("readinessProbe"));
  EXPECT_FALSE(agent->contains("startupProbe"));

  // The same namespace with an old kubelet among the Nodes: a regular container.
  S->nodes.push_back("psadm-old-" + S->run);
  CreateNode(S->nodes.back(), "v1.28.5");
  ASSERT_TRUE(Eventually([] { return CacheSeesKubelets(2); }));
  auto regular = CreatePod(Pod(S->ns_a, "regular", Scrape()));
  ASSERT_TRUE(regular.out.ok()) << regular.out.err;
  EXPECT_EQ(FindContainer(regular.pod, "initContainers", api::kAgentContainerName), nullptr);
  const json* agent2 = FindContainer(regular.pod, "containers", api::kAgentContainerName);
  ASSERT_NE(agent2, nullptr) << regular.pod.dump();
  EXPECT_FALSE(agent2->contains("restartPolicy"));
  // The app container is untouched and first.
  EXPECT_EQ(regular.pod["spec"]["containers"][0]["name"], "app");

  // Back to new kubelets only, for the tests that follow.
  MustKubectl({"delete", "node", S->nodes.back()});
  S->nodes.pop_back();
  ASSERT_TRUE(Eventually([] { return CacheSeesKubelets(1); }));
}

TEST_F(AdmissionIntegrationTest, AgentGetsNoApiTokenWhileTheAppDoes) {
  auto created = CreatePod(Pod(S->ns_a, "token", Scrape()));
  ASSERT_TRUE(created.out.ok()) << created.out.err;
  const json& pod = created.pod;
  auto token_volume = [&](const json& container) -> std::string {
    for (const auto& m : container.value("volumeMounts", json::array())) {
      if (m.value("mountPath", "") == kTokenPath) return m.value("name", "");
    }
    return "";
  };
  auto is_projected_token = [&](const std::string& volume) {
    for (const auto& v : pod["spec"]["volumes"]) {
      if (v.value("name", "") == volume) return v.dump().find("serviceAccountToken") != std::string::npos;
    }
    return false;
  };
  const json* app = FindContainer(pod, "containers", "app");
  ASSERT_NE(app, nullptr);
  const std::string app_volume = token_volume(*app);
  ASSERT_FALSE(app_volume.empty()) << "the ServiceAccount plugin mounted no token into the app: "
                                   << pod.dump();
  EXPECT_TRUE(is_projected_token(app_volume));
  const json* agent = AgentContainer(pod);
  ASSERT_NE(agent, nullptr);
  const std::string agent_volume = token_volume(*agent);
  ASSERT_FALSE(agent_volume.empty()) << agent->dump();
  EXPECT_NE(agent_volume, app_volume);
  EXPECT_FALSE(is_projected_token(agent_volume)) << pod["spec"]["volumes"].dump();
}

TEST_F(AdmissionIntegrationTest, PodsOutsideTheWebhooksReachAreUntouched) {
  auto plain = CreatePod(Pod(S->ns_a, "plain", json::object()));
  ASSERT_TRUE(plain.out.ok()) << plain.out.err;
  EXPECT_EQ(AgentContainer(plain.pod), nullptr);
  EXPECT_EQ(Label(plain.pod, api::kInjectionLabel), "");

  // Excluded namespace (it carries the opt-in label and has an agent).
  auto excluded = CreatePod(Pod(S->ns_excluded, "excluded", Scrape()));
  ASSERT_TRUE(excluded.out.ok()) << excluded.out.err;
  EXPECT_EQ(AgentContainer(excluded.pod), nullptr);
  EXPECT_EQ(Label(excluded.pod, api::kInjectionLabel), "");

  // kube-system (dry run: nothing stays behind there).
  (void)testing::EnsureDefaultServiceAccount(S->env, "kube-system");
  auto system = CreatePod(Pod("kube-system", "system-" + S->run, Scrape()), /*dry_run=*/true);
  ASSERT_TRUE(system.out.ok()) << system.out.err;
  EXPECT_EQ(AgentContainer(system.pod), nullptr);
}

TEST_F(AdmissionIntegrationTest, SkipCasesAreAdmittedWithLabelReasonAndWarning) {
  auto host = CreatePod(Pod(S->ns_a, "host-net", Scrape(), {{"hostNetwork", true}}));
  ASSERT_TRUE(host.out.ok()) << host.out.err;
  EXPECT_EQ(AgentContainer(host.pod), nullptr);
  EXPECT_EQ(Label(host.pod, api::kInjectionLabel), "skipped");
  EXPECT_FALSE(host.pod["metadata"]["annotations"].value(api::kSkipReasonAnnotation, "").empty());
  EXPECT_NE(host.out.err.find("Warning:"), std::string::npos) << host.out.err;

  // ns_other names ns_a's agent, whose (default) namespaceSelector admits only ns_a.
  json annotations = Scrape();
  annotations[api::kAgentSelectorAnnotation] = S->ns_a + "/agent";
  auto other = CreatePod(Pod(S->ns_other, "not-admitted", annotations));
  ASSERT_TRUE(other.out.ok()) << other.out.err;
  EXPECT_EQ(AgentContainer(other.pod), nullptr);
  EXPECT_EQ(Label(other.pod, api::kInjectionLabel), "skipped");
  EXPECT_NE(other.out.err.find("Warning:"), std::string::npos) << other.out.err;
  EXPECT_NE(other.pod["metadata"]["annotations"].value(api::kSkipReasonAnnotation, "").find(S->ns_other),
            std::string::npos)
      << other.pod["metadata"].dump();
}

TEST_F(AdmissionIntegrationTest, SecondPassOverAnInjectedPodChangesNothing) {
  auto first = CreatePod(Pod(S->ns_a, "first-pass", Scrape()));
  ASSERT_TRUE(first.out.ok()) << first.out.err;
  json again = first.pod;
  for (const char* k : {"uid", "resourceVersion", "creationTimestamp", "managedFields"}) {
    again["metadata"].erase(k);
  }
  again.erase("status");
  again["metadata"]["name"] = "second-pass";
  const double already_before = Injections("already_injected");
  auto second = CreatePod(again);
  ASSERT_TRUE(second.out.ok()) << second.out.err;
  EXPECT_EQ(Injections("already_injected"), already_before + 1);
  EXPECT_EQ(second.pod["spec"].value("initContainers", json()),
            first.pod["spec"].value("initContainers", json()));
  EXPECT_EQ(second.pod["spec"]["containers"], first.pod["spec"]["containers"]);
  EXPECT_EQ(second.pod["spec"]["volumes"], first.pod["spec"]["volumes"]);
  EXPECT_EQ(second.pod["metadata"]["labels"], first.pod["metadata"]["labels"]);
  EXPECT_EQ(second.pod["metadata"]["annotations"], first.pod["metadata"]["annotations"]);
}

TEST_F(AdmissionIntegrationTest, ResourceQuotaOnLimitsAdmitsInjectedPods) {
  json quota = {{"apiVersion", "v1"},
                {"kind", "ResourceQuota"},
                {"metadata", {{"name", "limits"}, {"namespace", S->ns_quota}}},
                {"spec", {{"hard", {{"limits.cpu", "10"}, {"limits.memory", "10Gi"}}}}}};
  MustKubectl({"create", "-f", "-"}, quota.dump());
  // No quota controller runs here: write the status it would write.
  json status = {{"status",
                  {{"hard", {{"limits.cpu", "10"}, {"limits.memory", "10Gi"}}},
                   {"used", {{"limits.cpu", "0"}, {"limits.memory", "0"}}}}}};
  MustKubectl({"-n", S->ns_quota, "patch", "resourcequota", "limits", "--subresource=status", "--type=merge",
               "-p", status.dump()});

  // Control: a pod without limits is refused by the quota.
  auto control = CreatePod(Pod(S->ns_quota, "no-limits", json::object()));
  EXPECT_FALSE(control.out.ok());
  EXPECT_NE(control.out.err.find("limits"), std::string::npos) << control.out.err;

  json app_resources = {{"limits", {{"cpu", "100m"}, {"memory", "64Mi"}}}};
  auto injected = CreatePod(Pod(S->ns_quota, "injected", Scrape(), json::object(), app_resources));
  ASSERT_TRUE(injected.out.ok()) << injected.out.err;
  const json* agent = AgentContainer(injected.pod);
  ASSERT_NE(agent, nullptr) << injected.pod.dump();
  EXPECT_TRUE(agent->at("resources").at("limits").contains("cpu"));
  EXPECT_TRUE(agent->at("resources").at("limits").contains("memory"));
}

TEST_F(AdmissionIntegrationTest, LimitRangeClampsTheAgentsResources) {
  json lr = {{"apiVersion", "v1"},
             {"kind", "LimitRange"},
             {"metadata", {{"name", "tight"}, {"namespace", S->ns_lr}}},
             {"spec",
              {{"limits",
                {{{"type", "Container"},
                  {"max", {{"cpu", "20m"}, {"memory", "48Mi"}}},
                  {"maxLimitRequestRatio", {{"cpu", "2"}, {"memory", "2"}}}}}}}}};
  MustKubectl({"create", "-f", "-"}, lr.dump());
  ASSERT_TRUE(Eventually([] {
    auto f = S->facts->FactsFor(S->ns_lr);
    return f.ok() && !f->limit_ranges.empty();
  }));
  json app_resources = {{"limits", {{"cpu", "10m"}, {"memory", "32Mi"}}},
                        {"requests", {{"cpu", "10m"}, {"memory", "32Mi"}}}};
  auto created = CreatePod(Pod(S->ns_lr, "clamped", Scrape(), json::object(), app_resources));
  ASSERT_TRUE(created.out.ok()) << created.out.err;
  const json* agent = AgentContainer(created.pod);
  ASSERT_NE(agent, nullptr) << created.pod.dump();
  // Default agent limits are 50m / 64Mi: clamped to the LimitRange's max, and
  // requests raised to keep limit/request within 2 (the LimitRanger plugin
  // would have refused the pod otherwise; it admitted it).
  EXPECT_EQ(agent->at("resources").at("limits").value("cpu", ""), "20m") << agent->at("resources").dump();
  EXPECT_EQ(agent->at("resources").at("limits").value("memory", ""), "48Mi") << agent->at("resources").dump();
  EXPECT_EQ(agent->at("resources").at("requests").value("cpu", ""), "10m") << agent->at("resources").dump();
  EXPECT_EQ(agent->at("resources").at("requests").value("memory", ""), "24Mi")
      << agent->at("resources").dump();
}

TEST_F(AdmissionIntegrationTest, ValidatingWebhookAndCelRejectBadAgents) {
  // CEL in the CRD answers first (schema validation precedes validating webhooks).
  auto pm = Kubectl(S->env, {"apply", "-f", "-"},
                    Agent(S->ns_a, "with-podmonitors", {{"podMonitorSelector", json::object()}}).dump());
  EXPECT_FALSE(pm.ok());
  EXPECT_NE(pm.err.find("podMonitorSelector"), std::string::npos) << pm.err;

  // The webhook's own message for the same object, over HTTPS as the apiserver sends it.
  AdmissionRequest request;
  request.uid = "direct";
  request.kind = {"promsidecar.io", "v1alpha1", "PrometheusAgent"};
  request.operation = "CREATE";
  request.namespace_ = S->ns_a;
  request.object = Agent(S->ns_a, "with-podmonitors", {{"podMonitorSelector", json::object()}});
  auto denied = S->agents->Handle(request);
  EXPECT_FALSE(denied.allowed);
  EXPECT_NE(denied.status_message.find("spec.podMonitorSelector"), std::string::npos)
      << denied.status_message;

  // A rule only the webhook has: a second default agent.
  json def = {
      {"sidecar", {{"default", true}, {"namespaceSelector", {{"matchLabels", {{"no-such", S->run}}}}}}}};
  MustKubectl({"apply", "-f", "-"}, Agent(S->ns_other, "default-1", def).dump());
  S->cleanup.push_back(
      {"-n", S->ns_other, "delete", "prometheusagent.promsidecar.io", "default-1", "--ignore-not-found"});
  ASSERT_TRUE(Eventually([] {
    for (const auto& a : *S->cache->Agents()) {
      if (a.name == "default-1") return true;
    }
    return false;
  }));
  auto second = Kubectl(S->env, {"apply", "-f", "-"}, Agent(S->ns_other, "default-2", def).dump());
  EXPECT_FALSE(second.ok());
  EXPECT_NE(second.err.find("denied the request"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("default"), std::string::npos) << second.err;
  MustKubectl({"-n", S->ns_other, "delete", "prometheusagent.promsidecar.io", "default-1"});
}

// Self-managed certificates: the leader's RotateIfNeeded creates the Secret,
// writes the pair where the running server reads it and applies the new
// caBundle; the apiserver keeps calling the webhook across the switch.
TEST_F(AdmissionIntegrationTest, SelfManagedCertificatesRotateAndStayTrusted) {
  CertManagerOptions options;
  options.secret_namespace = S->ns_a;
  options.secret_name = "promsidecar-webhook-certs";
  options.dir = S->dir;  // the running server's tls.crt / tls.key
  options.service_namespace = S->ns_a;
  options.ip_addresses = {"127.0.0.1"};
  options.cert_validity = std::chrono::hours(24);
  options.renew_before = std::chrono::hours(2);
  options.webhooks = S->configurator.get();
  CertManager certs(*S->client, options);

  auto first = certs.RotateIfNeeded();
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_TRUE(*first);
  auto again = certs.RotateIfNeeded();
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_FALSE(*again) << "nothing is due: no rotation";

  auto secret = S->client->Get(kube::resources::Secrets(), S->ns_a, options.secret_name);
  ASSERT_TRUE(secret.ok()) << secret.message();
  auto ca_pem = kube::DecodeBase64((*secret)["data"][kCaCertKey].get<std::string>());
  ASSERT_TRUE(ca_pem.ok());
  auto mwc = S->client->Get(kube::resources::MutatingWebhookConfigurations(), "", S->config.name);
  ASSERT_TRUE(mwc.ok()) << mwc.message();
  auto bundle = kube::DecodeBase64((*mwc)["webhooks"][0]["clientConfig"]["caBundle"].get<std::string>());
  ASSERT_TRUE(bundle.ok());
  EXPECT_NE(bundle->find(*ca_pem), std::string::npos);
  EXPECT_EQ(bundle->find(S->ca->cert_pem()), std::string::npos) << "the test CA is no longer trusted";

  // The apiserver (new caBundle) and the server (reloaded files) agree.
  EXPECT_TRUE(Eventually([] {
    auto c = CreatePod(Pod(S->ns_a, "after-rotation", Scrape()), /*dry_run=*/true);
    return c.out.ok() && AgentContainer(c.pod) != nullptr;
  })) << "the webhook is not reachable with the self-managed certificate";

  // Within renew_before of expiry: a new serving certificate from the same CA.
  const std::string old_cert = testing::ReadFileOrDie(S->dir + "/tls.crt");
  auto renewed = certs.RotateIfNeeded(std::chrono::system_clock::now() + std::chrono::hours(23));
  ASSERT_TRUE(renewed.ok()) << renewed.message();
  EXPECT_TRUE(*renewed);
  EXPECT_NE(testing::ReadFileOrDie(S->dir + "/tls.crt"), old_cert);
  auto secret2 = S->client->Get(kube::resources::Secrets(), S->ns_a, options.secret_name);
  ASSERT_TRUE(secret2.ok());
  EXPECT_EQ((*secret2)["data"][kCaCertKey], (*secret)["data"][kCaCertKey]);

  // Another replica only reads the Secret.
  CertManagerOptions replica = options;
  replica.dir = S->dir + "/replica";
  CertManager reader(*S->client, replica);
  ASSERT_TRUE(reader.SyncFromSecret().ok());
  EXPECT_EQ(testing::ReadFileOrDie(replica.dir + "/tls.crt"), testing::ReadFileOrDie(S->dir + "/tls.crt"));
  EXPECT_TRUE(Eventually([] {
    auto c = CreatePod(Pod(S->ns_a, "after-renewal", Scrape()), /*dry_run=*/true);
    return c.out.ok() && AgentContainer(c.pod) != nullptr;
  }));
}

// An agent with legacyAnnotations widens the matchConditions, and a pod with
// only prometheus.io/scrape in a namespace it admits gets injected.
TEST_F(AdmissionIntegrationTest, LegacyAnnotationsWidenTheMatchConditions) {
  auto expression = [] {
    auto mwc = S->client->Get(kube::resources::MutatingWebhookConfigurations(), "", S->config.name);
    return mwc.ok() ? (*mwc)["webhooks"][0]["matchConditions"][0].value("expression", "") : std::string();
  };
  EXPECT_EQ(expression().find("'prometheus.io/scrape'"), std::string::npos) << expression();
  MustKubectl({"apply", "-f", "-"},
              Agent(S->ns_other, "legacy", {{"sidecar", {{"legacyAnnotations", true}}}}).dump());
  ASSERT_TRUE(Eventually([&] { return expression().find("'prometheus.io/scrape'") != std::string::npos; }))
      << expression();
  EXPECT_TRUE(Eventually([] {
    auto c =
        CreatePod(Pod(S->ns_other, "legacy", {{api::kLegacyScrapeAnnotation, "true"}}), /*dry_run=*/true);
    return c.out.ok() && AgentContainer(c.pod) != nullptr;
  }));
  MustKubectl({"-n", S->ns_other, "delete", "prometheusagent.promsidecar.io", "legacy"});
  EXPECT_TRUE(Eventually([&] { return expression().find("'prometheus.io/scrape'") == std::string::npos; }))
      << expression();
}

// Last: stops the server.
TEST_F(AdmissionIntegrationTest, ZzPodsAreStillCreatedWhenTheWebhookIsDown) {
  S->server->Stop();
  auto created = CreatePod(Pod(S->ns_a, "while-down", Scrape()));
  ASSERT_TRUE(created.out.ok()) << created.out.err;
  EXPECT_EQ(AgentContainer(created.pod), nullptr);
}

// After the one above (the server is down): with --webhook.failure-policy=Fail
// the API server rejects the pods that opt in, naming the webhook, and still
// creates the others (the matchConditions never send them to the webhook).
TEST_F(AdmissionIntegrationTest, ZzFailPolicyRejectsOptedInPodsWhileTheWebhookIsDown) {
  S->server->Stop();
  WebhookConfigOptions fail_closed = S->configurator->options();
  fail_closed.failure_policy = FailurePolicy::kFail;
  fail_closed.timeout_seconds = 2;
  Status applied = ApplyWebhookConfigurations(*S->client, fail_closed);
  ASSERT_TRUE(applied.ok()) << applied.message();
  Created rejected;
  // The API server picks the new configuration up asynchronously.
  EXPECT_TRUE(Eventually([&rejected] {
    rejected = CreatePod(Pod(S->ns_a, "fail-closed", Scrape()), /*dry_run=*/true);
    return !rejected.out.ok();
  })) << "an opted-in pod was still admitted with failurePolicy Fail";
  EXPECT_NE(rejected.out.err.find("pods.promsidecar.io"), std::string::npos) << rejected.out.err;
  auto plain = CreatePod(Pod(S->ns_a, "fail-closed-plain", json::object()), /*dry_run=*/true);
  EXPECT_TRUE(plain.out.ok()) << plain.out.err;
}

}  // namespace
}  // namespace promsidecar::admission
