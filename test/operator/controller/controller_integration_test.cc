// The controller against the real kube-apiserver, with the operator running as
// a process (the built promsidecar-operator binary) under its own identity —
// the deploy/ ServiceAccount and RBAC, with a token from the TokenRequest API,
// never system:masters. Pods are created with the labels and annotations the
// webhook would set (no webhook here). API writes are counted from the control
// plane's audit log by user, not from the operator's own metrics.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "cluster/cluster_env.h"
#include "operator_identity.h"
#include "testing/subprocess.h"

namespace promsidecar {
namespace {

using nlohmann::json;
using testing::AuditFilter;
using testing::AuditLog;
using testing::ClusterEnv;
using testing::Kubectl;

constexpr const char* kOperatorNs = testing::kOperatorNamespace;
constexpr const char* kUser = testing::kOperatorUser;
const std::string kSource = PROMSIDECAR_SOURCE_DIR;
const std::string kOperatorBinary =
    std::string(PROMSIDECAR_BINARY_DIR) + "/src/operator/promsidecar-operator";

bool Eventually(const std::function<bool()>& check, std::chrono::seconds timeout = std::chrono::seconds(60)) {
  return testing::PollUntil(timeout, check, std::chrono::milliseconds(250));
}

std::string RandomId() {
  std::random_device rd;
  return std::to_string(getpid() % 100000) + "-" + std::to_string(rd() % 100000);
}

class ControllerIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto env = ClusterEnv::Load();
    ASSERT_TRUE(env.ok()) << env.message();
    ASSERT_FALSE(env->audit_log.empty()) << "this test counts API calls from the audit log";
    env_ = new ClusterEnv(*env);
    // A CRD another test is still deleting would take this apply down with it.
    ASSERT_TRUE(Eventually([] {
      auto r = Kubectl(*env_, {"get", "crd", "prometheusagents.promsidecar.io", "--ignore-not-found", "-o",
                               "jsonpath={.metadata.deletionTimestamp}"});
      return r.ok() && r.out.empty();
    })) << "the PrometheusAgent CRD is still being deleted";
    auto crd = Kubectl(*env_, {"apply", "-f", kSource + "/deploy/crd/promsidecar.io_prometheusagents.yaml"});
    ASSERT_TRUE(crd.ok()) << crd.err;
    ASSERT_TRUE(Eventually([] {
      return Kubectl(*env_, {"get", "crd", "prometheusagents.promsidecar.io", "-o",
                             "jsonpath={.status.conditions[?(@.type=='Established')].status}"})
                 .out == "True";
    }));
    auto token = testing::OperatorToken(*env_, {}, /*restart_rbac=*/true);
    ASSERT_TRUE(token.ok()) << token.message();
    dir_ = new testing::TempDir();
    kubeconfig_ = dir_->Join("kubeconfig");
    testing::WriteOperatorKubeconfig(*env_, *token, kubeconfig_);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete env_;
  }

  void SetUp() override { id_ = RandomId(); }

  void TearDown() override {
    for (const auto& a : agents_)
      (void)Kubectl(*env_, {"delete", "prometheusagent", a, "-n", kOperatorNs, "--wait=false"});
    // The finalizer needs a running operator: wait for the agents to go.
    if (!operators_.empty()) {
      Eventually([this] {
        for (const auto& a : agents_) {
          if (!Kubectl(*env_,
                       {"get", "prometheusagent", a, "-n", kOperatorNs, "--ignore-not-found", "-o", "name"})
                   .out.empty()) {
            return false;
          }
        }
        return true;
      });
    }
    for (auto& op : operators_) op->Stop();
    for (const auto& ns : namespaces_) (void)Kubectl(*env_, {"delete", "namespace", ns, "--wait=false"});
  }

  std::unique_ptr<testing::Subprocess> StartOperator(const std::string& identity, const std::string& lease,
                                                     int lease_seconds = 15,
                                                     const std::vector<std::string>& extra_args = {}) {
    testing::ProcessOptions o;
    o.argv = {kOperatorBinary, "run", "--kubeconfig=" + kubeconfig_,
              "--agent-namespaces=" + std::string(kOperatorNs), "--metrics-address=127.0.0.1:0",
              "--health-address=127.0.0.1:0",
              // The controller alone: the webhooks are tested with the whole chain.
              "--webhook.enabled=false", "--lease-name=" + lease, "--leader-election-identity=" + identity,
              "--lease-duration=" + std::to_string(lease_seconds),
              "--renew-deadline=" + std::to_string(std::max(1, lease_seconds * 2 / 3)), "--retry-period=1",
              "--log.level=debug"};
    // A flag in extra_args replaces the default above.
    for (const auto& extra : extra_args) {
      const std::string flag = extra.substr(0, extra.find('='));
      o.argv.erase(std::remove_if(o.argv.begin() + 2, o.argv.end(),
                                  [&](const std::string& a) { return a.substr(0, a.find('=')) == flag; }),
                   o.argv.end());
    }
    o.argv.insert(o.argv.end(), extra_args.begin(), extra_args.end());
    o.log_file = dir_->Join("operator-" + identity + ".log");
    return std::make_unique<testing::Subprocess>(o);
  }

  testing::Subprocess* StartOwnOperator(const std::vector<std::string>& extra_args = {}) {
    operators_.push_back(StartOperator("op-" + id_, "psc-test-" + id_, 15, extra_args));
    return operators_.back().get();
  }

  std::string Namespace(const std::string& suffix, bool admitted) {
    const std::string ns = "psc-" + id_ + "-" + suffix;
    namespaces_.push_back(ns);
    std::string yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns +
                       "\n  labels:\n    psc-run: \"" + (admitted ? id_ : std::string("other")) + "\"\n";
    auto r = Kubectl(*env_, {"apply", "-f", "-"}, yaml);
    EXPECT_TRUE(r.ok()) << r.err;
    auto sa = testing::EnsureDefaultServiceAccount(*env_, ns);
    EXPECT_TRUE(sa.ok()) << sa.message();
    return ns;
  }

  // `extra_sidecar`: more lines of spec.sidecar (4 spaces in).
  std::string AgentYaml(const std::string& name, const std::string& url, const std::string& extra_rw = "",
                        const std::string& extra_sidecar = "") {
    return "apiVersion: promsidecar.io/v1alpha1\nkind: PrometheusAgent\nmetadata:\n  name: " + name +
           "\n  namespace: " + kOperatorNs +
           "\nspec:\n  mode: Sidecar\n  externalLabels:\n    cluster: test\n"
           "  remoteWrite:\n  - url: " +
           url + "\n" + extra_rw +
           "  sidecar:\n    namespaceSelector:\n      matchLabels:\n        psc-run: \"" + id_ + "\"\n" +
           extra_sidecar;
  }

  void Agent(const std::string& name, const std::string& url, const std::string& extra_rw = "",
             const std::string& extra_sidecar = "") {
    agents_.push_back(name);
    auto r = Kubectl(*env_, {"apply", "-f", "-"}, AgentYaml(name, url, extra_rw, extra_sidecar));
    ASSERT_TRUE(r.ok()) << r.err;
  }

  // A pod as the webhook leaves it: labelled with the agent, annotated as injected.
  void InjectedPod(const std::string& ns, const std::string& name, const std::string& agent) {
    const std::string yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
                             "\n  namespace: " + ns +
                             "\n  labels:\n    prometheus.operator.io/injection: injected\n"
                             "    prometheus.operator.io/agent: " +
                             std::string(kOperatorNs) + "." + agent +
                             "\n  annotations:\n    prometheus.operator.io/scrape: \"true\"\n"
                             "    prometheus.operator.io/injection-status: injected\n"
                             "    prometheus.operator.io/injected-hash: \"0000000000000000\"\n"
                             "spec:\n  containers:\n  - name: app\n    image: nginx\n";
    auto r = Kubectl(*env_, {"apply", "-f", "-"}, yaml);
    ASSERT_TRUE(r.ok()) << r.err;
  }

  void SkippedPod(const std::string& ns, const std::string& name, const std::string& reason) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata",
                 {{"name", name},
                  {"namespace", ns},
                  {"labels", {{"prometheus.operator.io/injection", "skipped"}}},
                  {"annotations",
                   {{"prometheus.operator.io/scrape", "true"},
                    {"prometheus.operator.io/injection-skip-reason", reason}}}}},
                {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "nginx"}}})}}}};
    auto r = Kubectl(*env_, {"apply", "-f", "-"}, pod.dump());
    ASSERT_TRUE(r.ok()) << r.err;
  }

  bool HasEvent(const std::string& ns, const std::string& object, const std::string& reason,
                const std::string& message_part) {
    auto r = Kubectl(*env_, {"get", "events", "-n", ns, "--field-selector",
                             "reason=" + reason + ",involvedObject.name=" + object, "-o", "json"});
    auto j = json::parse(r.out, nullptr, false);
    if (!j.is_object()) return false;
    for (const auto& e : j["items"]) {
      if (e.value("message", "").find(message_part) != std::string::npos) return true;
    }
    return false;
  }

  static std::string SecretName(const std::string& agent) {
    return std::string("promsidecar-") + kOperatorNs + "." + agent;
  }

  bool SecretExists(const std::string& ns, const std::string& agent) {
    return !Kubectl(*env_, {"get", "secret", SecretName(agent), "-n", ns, "--ignore-not-found", "-o", "name"})
                .out.empty();
  }

  std::string SecretConfig(const std::string& ns, const std::string& agent) {
    auto r = Kubectl(*env_, {"get", "secret", SecretName(agent), "-n", ns, "-o", "json"});
    if (!r.ok()) return "";
    auto j = json::parse(r.out, nullptr, false);
    if (!j.is_object() || !j["data"].contains("config.yaml")) return "";
    auto dec = testing::RunCommand({"base64", "-d"}, j["data"]["config.yaml"].get<std::string>());
    return dec.output;
  }

  json AgentObject(const std::string& name) {
    auto r = Kubectl(*env_, {"get", "prometheusagent", name, "-n", kOperatorNs, "-o", "json"});
    return r.ok() ? json::parse(r.out, nullptr, false) : json();
  }

  // status.<field> of the agent; -1 while it has none.
  int64_t StatusInt(const std::string& agent, const char* field) {
    const json o = AgentObject(agent);
    if (!o.is_object() || !o.contains("status") || !o["status"].is_object()) return -1;
    return o["status"].value(field, int64_t{-1});
  }

  json PodObject(const std::string& ns, const std::string& name) {
    auto r = Kubectl(*env_, {"get", "pod", name, "-n", ns, "-o", "json"});
    return r.ok() ? json::parse(r.out, nullptr, false) : json();
  }

  // What the webhook would make of `pod` now: `promsidecar-operator inject`
  // with the facts the operator sees (namespace labels, API server and
  // kubelet versions), so the injected hash is the one the controller computes.
  json InjectWithCli(const std::string& ns, const json& pod, const std::string& agent_yaml) {
    const std::string agent_file = dir_->Join("agent-" + id_ + ".yaml");
    const std::string pod_file =
        dir_->Join("pod-" + id_ + "-" + pod["metadata"]["name"].get<std::string>() + ".json");
    testing::WriteFile(agent_file, agent_yaml);
    testing::WriteFile(pod_file, pod.dump());
    const json version = json::parse(Kubectl(*env_, {"get", "--raw", "/version"}).out, nullptr, false);
    EXPECT_TRUE(version.is_object());
    std::vector<std::string> argv = {kOperatorBinary,
                                     "inject",
                                     "-f",
                                     pod_file,
                                     "--agent",
                                     agent_file,
                                     "-n",
                                     ns,
                                     "--namespace-labels",
                                     "psc-run=" + id_ + ",kubernetes.io/metadata.name=" + ns,
                                     "--apiserver-version",
                                     version.value("gitVersion", ""),
                                     "--operator-namespace",
                                     kOperatorNs,
                                     "-o",
                                     "json"};
    const json nodes = json::parse(Kubectl(*env_, {"get", "nodes", "-o", "json"}).out, nullptr, false);
    for (const auto& n : nodes.value("items", json::array())) {
      argv.push_back("--node-version");
      argv.push_back(n["status"]["nodeInfo"].value("kubeletVersion", ""));
    }
    auto r = testing::RunCapturingOutput(argv);
    EXPECT_TRUE(r.ok()) << r.err;
    json out = json::parse(r.out, nullptr, false);
    EXPECT_EQ(out["metadata"]["annotations"].value("prometheus.operator.io/injection-status", ""), "injected")
        << r.out << r.err;
    return out;
  }

  // A pod that opted in but went around the webhook (none is registered
  // here), naming its agent ("<namespace>/<name>") when it is in another namespace.
  json AnnotatedPod(const std::string& ns, const std::string& name, const std::string& agent_ref = "") {
    json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata",
         {{"name", name}, {"namespace", ns}, {"annotations", {{"prometheus.operator.io/scrape", "true"}}}}},
        {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "nginx"}}})}}}};
    if (!agent_ref.empty())
      pod["metadata"]["annotations"]["prometheus.operator.io/agent-selector"] = agent_ref;
    return pod;
  }

  json Create(const json& object) {
    auto r = Kubectl(*env_, {"create", "-o", "json", "-f", "-"}, object.dump());
    EXPECT_TRUE(r.ok()) << r.err << "\n" << object.dump(2);
    return r.ok() ? json::parse(r.out, nullptr, false) : json();
  }

  // Plays the kubelet's part: the agent container's status (no kubelet runs here).
  void SetAgentStatus(const std::string& ns, const std::string& name, const char* list,
                      const std::string& image, const std::string& image_id) {
    const json running = {{"running", {{"startedAt", "2026-01-01T00:00:00Z"}}}};
    json status = {{"status",
                    {{"phase", "Running"},
                     {list,
                      {{{"name", "promsidecar-agent"},
                        {"image", image},
                        {"imageID", image_id},
                        {"ready", true},
                        {"started", true},
                        {"restartCount", 0},
                        {"state", running}}}}}}};
    if (std::string(list) == "initContainerStatuses") {
      status["status"]["containerStatuses"] = {{{"name", "app"},
                                                {"image", "nginx"},
                                                {"imageID", "docker.io/library/nginx@sha256:01"},
                                                {"ready", true},
                                                {"started", true},
                                                {"restartCount", 0},
                                                {"state", running}}};
    }
    auto r = Kubectl(
        *env_, {"patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p", status.dump()});
    ASSERT_TRUE(r.ok()) << r.err;
  }

  // The operator's /metrics (started with --metrics-address=127.0.0.1:port).
  static std::string Metrics(int port) {
    return testing::RunCommand({"curl", "-sf", "http://127.0.0.1:" + std::to_string(port) + "/metrics"})
        .output;
  }

  std::string Diagnostics() {
    std::string out;
    for (auto& op : operators_) out += "--- operator log (tail) ---\n" + Tail(op->Log());
    return out;
  }
  static std::string Tail(const std::string& s) { return s.size() > 6000 ? s.substr(s.size() - 6000) : s; }

  static ClusterEnv* env_;
  static testing::TempDir* dir_;
  static std::string kubeconfig_;
  std::string id_;
  std::vector<std::string> agents_;
  std::vector<std::string> namespaces_;
  std::vector<std::unique_ptr<testing::Subprocess>> operators_;
};

ClusterEnv* ControllerIntegrationTest::env_ = nullptr;
testing::TempDir* ControllerIntegrationTest::dir_ = nullptr;
std::string ControllerIntegrationTest::kubeconfig_;

int WritesBy(const AuditLog& log, AuditLog::Position since, const std::string& verb,
             const std::string& resource, const std::string& ns = "") {
  AuditFilter f;
  f.user = kUser;
  f.verb = verb;
  f.resource = resource;
  f.namespace_ = ns;
  return log.Count(f, since);
}

TEST_F(ControllerIntegrationTest, FanOutUpdateCleanupAndStatus) {
  AuditLog audit(env_->audit_log);
  const std::string a = Namespace("a", true), b = Namespace("b", true), c = Namespace("c", true);
  const std::string forged = Namespace("x", false);
  const std::string agent = "fan-" + id_;
  Agent(agent, "https://rw-one.example.com/api/v1/write");
  StartOwnOperator();
  InjectedPod(a, "p1", agent);
  InjectedPod(a, "p2", agent);
  InjectedPod(b, "p1", agent);
  InjectedPod(c, "p1", agent);
  InjectedPod(forged, "p1", agent);  // forged label in a namespace the agent does not admit

  ASSERT_TRUE(Eventually([&] {
    return SecretExists(a, agent) && SecretExists(b, agent) && SecretExists(c, agent);
  })) << Diagnostics();
  // Status counts: 4 pods in 3 admitted namespaces; the forged pod does not count.
  ASSERT_TRUE(Eventually([&] {
    json s = AgentObject(agent)["status"];
    return s.value("injectedPods", -1) == 4 && s.value("namespaces", -1) == 3;
  })) << AgentObject(agent).dump(2)
      << Diagnostics();
  json status = AgentObject(agent)["status"];
  EXPECT_EQ(status["outdatedPods"], 4) << "the pods' injected-hash is not what Decide would inject";
  EXPECT_EQ(status["observedGeneration"], AgentObject(agent)["metadata"]["generation"]);
  bool reconciled = false;
  for (const auto& cond : status["conditions"]) {
    if (cond["type"] == "Reconciled") reconciled = cond["status"] == "True";
  }
  EXPECT_TRUE(reconciled) << status.dump(2);
  EXPECT_FALSE(SecretExists(forged, agent)) << "a forged agent label pulled credentials into " << forged;
  // No Event for a healthy injection: not one Event written where only
  // healthy pods are. A pod the webhook skipped gets a Warning.
  EXPECT_EQ(WritesBy(audit, 0, "create", "events", a), 0);
  EXPECT_EQ(WritesBy(audit, 0, "patch", "events", a), 0);
  SkippedPod(b, "skipped", "HostNetwork: pods on the host network are not injected");
  EXPECT_TRUE(Eventually([&] { return HasEvent(b, "skipped", "InjectionSkipped", "HostNetwork"); }))
      << Diagnostics();
  EXPECT_NE(SecretConfig(a, agent).find("rw-one.example.com"), std::string::npos);
  EXPECT_EQ(WritesBy(audit, 0, "create", "secrets", forged), 0);

  // Exactly one Secret per namespace, ever created: three creates.
  AuditFilter creates{.verb = "create", .resource = "secrets", .user = kUser};
  int total_creates = 0;
  for (const auto& ns : {a, b, c}) {
    creates.namespace_ = ns;
    total_creates += audit.Count(creates);
  }
  EXPECT_EQ(total_creates, 3);

  // Idle: no writes by the operator besides its Lease renewals. Only this
  // test's namespaces count: the cluster is shared, and earlier tests leave
  // pods (being deleted) that this operator may rightly record Events about.
  {
    const auto mark = audit.Mark();
    std::this_thread::sleep_for(std::chrono::seconds(15));  // the idle period under test, not a wait for luck
    const std::set<std::string> ours = {a, b, c, forged, kOperatorNs, ""};
    int writes = 0;
    for (const auto& e : audit.EventsSince(mark)) {
      if (e.user != kUser || e.resource == "leases" || !ours.count(e.namespace_)) continue;
      if (e.verb == "create" || e.verb == "update" || e.verb == "patch" || e.verb == "delete") {
        ++writes;
        ADD_FAILURE() << "idle write: " << e.verb << " " << e.request_uri;
      }
    }
    EXPECT_EQ(writes, 0);
  }

  // A remoteWrite URL change: exactly three Secret writes, no pod touched.
  {
    const auto mark = audit.Mark();
    auto r = Kubectl(
        *env_,
        {"patch", "prometheusagent", agent, "-n", kOperatorNs, "--type=json", "-p",
         R"([{"op":"replace","path":"/spec/remoteWrite/0/url","value":"https://rw-two.example.com/api/v1/write"}])"});
    ASSERT_TRUE(r.ok()) << r.err;
    ASSERT_TRUE(Eventually([&] {
      for (const auto& ns : {a, b, c}) {
        if (SecretConfig(ns, agent).find("rw-two.example.com") == std::string::npos) return false;
      }
      return true;
    })) << Diagnostics();
    // Let the apiserver log the requests, then count.
    AuditFilter updates{.verb = "update", .resource = "secrets", .user = kUser};
    int total = 0;
    for (const auto& ns : {a, b, c}) {
      updates.namespace_ = ns;
      total += audit.WaitForCount(updates, mark, 1);
    }
    EXPECT_EQ(total, 3);
    EXPECT_EQ(WritesBy(audit, mark, "update", "secrets", forged), 0);
    EXPECT_EQ(WritesBy(audit, mark, "create", "secrets"), 0);
    for (const char* verb : {"create", "update", "patch", "delete"}) {
      EXPECT_EQ(WritesBy(audit, mark, verb, "pods"), 0) << verb << " pods";
    }
  }

  // All pods of a namespace gone: its Secret goes.
  ASSERT_TRUE(Kubectl(*env_, {"delete", "pod", "--all", "-n", c, "--grace-period=0", "--force"}).ok());
  ASSERT_TRUE(Eventually([&] { return !SecretExists(c, agent); })) << Diagnostics();
  EXPECT_TRUE(SecretExists(a, agent));
  ASSERT_TRUE(Eventually([&] { return AgentObject(agent)["status"].value("namespaces", -1) == 2; }));

  // The agent deleted: every rendered Secret goes (finalizer).
  ASSERT_TRUE(Kubectl(*env_, {"delete", "prometheusagent", agent, "-n", kOperatorNs, "--wait=false"}).ok());
  ASSERT_TRUE(Eventually([&] { return !SecretExists(a, agent) && !SecretExists(b, agent); }))
      << Diagnostics();
  ASSERT_TRUE(Eventually([&] { return AgentObject(agent).is_null(); })) << "finalizer not removed";
}

TEST_F(ControllerIntegrationTest, MissingCredentialsSecretIsReported) {
  const std::string a = Namespace("a", true);
  const std::string agent = "broken-" + id_;
  const std::string missing = "absent-" + id_;
  Agent(agent, "https://rw.example.com/write",
        "    basicAuth:\n      username: {name: " + missing +
            ", key: user}\n      password: {name: " + missing + ", key: pass}\n");
  StartOwnOperator();
  InjectedPod(a, "p1", agent);
  ASSERT_TRUE(Eventually([&] {
    const json conditions = AgentObject(agent)["status"]["conditions"];
    for (const auto& cond : conditions) {
      if (cond["type"] == "Reconciled" && cond["status"] == "False" &&
          cond["reason"] == "ConfigRenderFailed" &&
          cond["message"].get<std::string>().find(missing) != std::string::npos) {
        return true;
      }
    }
    return false;
  })) << AgentObject(agent).dump(2)
      << Diagnostics();
  ASSERT_TRUE(Eventually([&] {
    auto r = Kubectl(*env_, {"get", "events", "-n", kOperatorNs, "--field-selector",
                             "reason=ConfigRenderFailed,involvedObject.name=" + agent, "-o", "json"});
    auto j = json::parse(r.out, nullptr, false);
    if (!j.is_object()) return false;
    for (const auto& e : j["items"]) {
      if (e["message"].get<std::string>().find(missing) != std::string::npos) return true;
    }
    return false;
  })) << Diagnostics();
  EXPECT_FALSE(SecretExists(a, agent));

  // Creating the Secret fixes it.
  auto r = Kubectl(*env_, {"create", "secret", "generic", missing, "-n", kOperatorNs, "--from-literal=user=u",
                           "--from-literal=pass=p"});
  ASSERT_TRUE(r.ok()) << r.err;
  ASSERT_TRUE(Eventually([&] { return SecretExists(a, agent); })) << Diagnostics();
  const std::string config = SecretConfig(a, agent);
  EXPECT_NE(config.find("password_file"), std::string::npos);
  EXPECT_EQ(config.find("\"p\""), std::string::npos) << "the password must be a file, not inline";
  (void)Kubectl(*env_, {"delete", "secret", missing, "-n", kOperatorNs});
}

TEST_F(ControllerIntegrationTest, LeaderElectionAndTakeover) {
  const std::string lease = "psc-le-" + id_;
  const std::string a = Namespace("a", true);
  const std::string agent = "le-" + id_;
  Agent(agent, "https://rw.example.com/write");
  operators_.push_back(StartOperator("first-" + id_, lease, 4));
  ASSERT_TRUE(Eventually([&] {
    return Kubectl(*env_, {"get", "lease", lease, "-n", kOperatorNs, "-o", "jsonpath={.spec.holderIdentity}"})
               .out == "first-" + id_;
  })) << Diagnostics();
  operators_.push_back(StartOperator("second-" + id_, lease, 4));
  InjectedPod(a, "p1", agent);
  ASSERT_TRUE(Eventually([&] { return SecretExists(a, agent); })) << Diagnostics();
  // Still one leader: the first keeps the lease while it runs.
  std::this_thread::sleep_for(
      std::chrono::seconds(6));  // longer than the lease: a takeover would have happened
  EXPECT_EQ(
      Kubectl(*env_, {"get", "lease", lease, "-n", kOperatorNs, "-o", "jsonpath={.spec.holderIdentity}"}).out,
      "first-" + id_);
  // The first dies without releasing (SIGKILL): the second takes over after expiry.
  operators_[0]->Signal(SIGKILL);
  (void)operators_[0]->Wait(std::chrono::seconds(10));
  ASSERT_TRUE(Eventually([&] {
    return Kubectl(*env_, {"get", "lease", lease, "-n", kOperatorNs, "-o", "jsonpath={.spec.holderIdentity}"})
               .out == "second-" + id_;
  })) << Diagnostics();
  // And reconciles: a new namespace gets its Secret.
  const std::string b = Namespace("b", true);
  InjectedPod(b, "p1", agent);
  ASSERT_TRUE(Eventually([&] { return SecretExists(b, agent); })) << Diagnostics();
}

TEST_F(ControllerIntegrationTest, GracefulShutdownReleasesTheLease) {
  const std::string lease = "psc-rel-" + id_;
  operators_.push_back(StartOperator("only-" + id_, lease, 30));
  ASSERT_TRUE(Eventually([&] {
    return Kubectl(*env_, {"get", "lease", lease, "-n", kOperatorNs, "-o", "jsonpath={.spec.holderIdentity}"})
               .out == "only-" + id_;
  })) << Diagnostics();
  EXPECT_EQ(operators_[0]->Stop(), 0) << Diagnostics();
  EXPECT_EQ(
      Kubectl(*env_, {"get", "lease", lease, "-n", kOperatorNs, "-o", "jsonpath={.spec.holderIdentity}"}).out,
      "");
  // A successor takes it at once, well before the 30s lease would expire.
  operators_.push_back(StartOperator("next-" + id_, lease, 30));
  ASSERT_TRUE(Eventually(
      [&] {
        return Kubectl(*env_,
                       {"get", "lease", lease, "-n", kOperatorNs, "-o", "jsonpath={.spec.holderIdentity}"})
                   .out == "next-" + id_;
      },
      std::chrono::seconds(20)))
      << Diagnostics();
}

// Repair reports the operator has run (its own counter: the report reads the
// cache, so the audit log has nothing to count).
int RepairRuns(int metrics_port) {
  const std::string text =
      testing::RunCommand({"curl", "-sf", "http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics"})
          .output;
  const std::string series = "promsidecar_operator_repair_runs_total{outcome=\"ok\"} ";
  const auto at = text.find(series);
  return at == std::string::npos ? 0 : std::atoi(text.c_str() + at + series.size());
}

// Pod reads by the operator other than its metadata informer's (which has
// the field selector): the repair report must make none.
int PodListsBesidesTheInformer(const AuditLog& audit, AuditLog::Position since) {
  int n = 0;
  for (const auto& e : audit.EventsSince(since)) {
    if (e.user == kUser && e.verb == "list" && e.resource == "pods" &&
        e.request_uri.find("fieldSelector") == std::string::npos) {
      ADD_FAILURE() << "pod list besides the informer's: " << e.request_uri;
      ++n;
    }
  }
  return n;
}

// Pods created while no webhook is registered (as when the webhook is down
// and failurePolicy Ignore lets them through) are in the repair report: an
// Event per pod, the status count and the metric; with --repair.enabled the
// Deployment owning one of them is restarted, once, and the bare pod is only
// reported.
TEST_F(ControllerIntegrationTest, RepairReportFindsPodsCreatedWithoutTheWebhook) {
  AuditLog audit(env_->audit_log);
  const std::string ns = Namespace("r", true);
  const std::string other = Namespace("o", false);
  const std::string agent = "repair-" + id_;
  const std::string ref = std::string(kOperatorNs) + "/" + agent;
  Agent(agent, "https://rw.example.com/api/v1/write");
  // A Deployment: the controller-manager creates its ReplicaSet and pod,
  // without the sidecar (no webhook is registered here).
  const json deployment = Create(
      {{"apiVersion", "apps/v1"},
       {"kind", "Deployment"},
       {"metadata", {{"name", "web"}, {"namespace", ns}}},
       {"spec",
        {{"replicas", 1},
         // Its image is never pulled here, so a rolling update would wait for
         // the new pod forever; Recreate replaces the pod.
         {"strategy", {{"type", "Recreate"}}},
         {"selector", {{"matchLabels", {{"app", "web"}}}}},
         {"template",
          {{"metadata",
            {{"labels", {{"app", "web"}}},
             {"annotations",
              {{"prometheus.operator.io/scrape", "true"}, {"prometheus.operator.io/agent-selector", ref}}}}},
           {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "nginx"}}})}}}}}}}});
  ASSERT_TRUE(deployment.is_object());
  std::string rs_name, pod_name;
  ASSERT_TRUE(Eventually(
      [&] {
        auto pods = json::parse(Kubectl(*env_, {"get", "pods", "-n", ns, "-l", "app=web", "-o", "json"}).out,
                                nullptr, false);
        if (!pods.is_object() || pods["items"].size() != 1) return false;
        const json& meta = pods["items"][0]["metadata"];
        pod_name = meta.value("name", "");
        for (const auto& o : meta.value("ownerReferences", json::array()))
          if (o.value("kind", "") == "ReplicaSet") rs_name = o.value("name", "");
        return !rs_name.empty();
      },
      std::chrono::seconds(120)))
      << Diagnostics();
  // The agent lives in another namespace: the pods name it, as the webhook requires.
  ASSERT_TRUE(Create(AnnotatedPod(ns, "bare", ref)).is_object());
  json plain = AnnotatedPod(ns, "plain", ref);
  plain["metadata"]["annotations"].erase("prometheus.operator.io/scrape");  // did not opt in
  ASSERT_TRUE(Create(plain).is_object());
  ASSERT_TRUE(
      Create(AnnotatedPod(other, "elsewhere", ref)).is_object());  // a namespace the agent does not admit

  const int port = testing::FreePort();
  const auto mark = audit.Mark();
  StartOwnOperator(
      {"--metrics-address=127.0.0.1:" + std::to_string(port), "--repair.interval=30s", "--repair.enabled"});
  ASSERT_TRUE(Eventually(
      [&] {
        // On the pod's workload (its ReplicaSet), or on a bare pod itself.
        return HasEvent(ns, rs_name, "NotInjected", ref) && HasEvent(ns, "bare", "NotInjected", ref);
      },
      std::chrono::seconds(120)))
      << Diagnostics();
  ASSERT_TRUE(Eventually([&] { return StatusInt(agent, "uninjectedPods") == 2; }, std::chrono::seconds(120)))
      << AgentObject(agent).dump(2) << Diagnostics();
  const std::string series = "promsidecar_operator_uninjected_pods{agent=\"" + ref + "\"} 2";
  EXPECT_TRUE(Eventually([&] { return Metrics(port).find(series) != std::string::npos; })) << Metrics(port);
  EXPECT_FALSE(HasEvent(ns, "plain", "NotInjected", ""));
  EXPECT_FALSE(HasEvent(other, "elsewhere", "NotInjected", ""));

  // The Deployment is restarted as `kubectl rollout restart` does it.
  const std::vector<std::string> restarted_at = {
      "get",
      "deployment",
      "web",
      "-n",
      ns,
      "-o",
      "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}"};
  ASSERT_TRUE(Eventually([&] { return !Kubectl(*env_, restarted_at).out.empty(); })) << Diagnostics();
  EXPECT_TRUE(Eventually([&] { return HasEvent(ns, "web", "RestartedForSidecar", pod_name); }))
      << Diagnostics();

  // Later reports: the rollout's new pod has no sidecar either (no webhook
  // here), the count settles at 2 again, no second restart, no second Event.
  ASSERT_TRUE(Eventually([&] { return RepairRuns(port) >= 2; }, std::chrono::seconds(120))) << Diagnostics();
  EXPECT_TRUE(Eventually([&] { return StatusInt(agent, "uninjectedPods") == 2; }, std::chrono::seconds(120)))
      << AgentObject(agent).dump(2);
  EXPECT_EQ(WritesBy(audit, mark, "patch", "deployments", ns), 1);
  // One events.k8s.io Event per object and reason, its count one (no series).
  auto events = json::parse(Kubectl(*env_, {"get", "events.v1.events.k8s.io", "-n", ns, "-o", "json"}).out,
                            nullptr, false);
  ASSERT_TRUE(events.is_object());
  int bare_events = 0;
  for (const auto& e : events["items"]) {
    if (e.value("reason", "") != "NotInjected" || e["regarding"].value("name", "") != "bare") continue;
    ++bare_events;
    EXPECT_FALSE(e.contains("series")) << e.dump(2);
    EXPECT_EQ(e.value("type", ""), "Warning");
    EXPECT_EQ(e.value("reportingController", ""), "promsidecar.io/operator");
  }
  EXPECT_EQ(bare_events, 1);
  EXPECT_EQ(PodListsBesidesTheInformer(audit, mark), 0);
  // The report reads metadata; the pods themselves are never written.
  for (const char* verb : {"create", "update", "patch", "delete"}) {
    EXPECT_EQ(WritesBy(audit, mark, verb, "pods"), 0) << verb << " pods";
  }
}

// updateStrategy InPlace: the agent's image changes in its spec; the running
// pod gets exactly its agent container's image (and the two annotations that
// say what it runs) patched, and the container status confirms the upgrade.
TEST_F(ControllerIntegrationTest, InPlaceUpgradeChangesOnlyTheAgentImage) {
  AuditLog audit(env_->audit_log);
  const std::string ns = Namespace("u", true);
  const std::string agent = "inplace-" + id_;
  const std::string v1 = "example.com/promsidecar-agent:v1.0.0";
  const std::string v2 = "example.com/promsidecar-agent:v2.0.0";
  Agent(agent, "https://rw.example.com/api/v1/write", "",
        "    updateStrategy: InPlace\n    image: " + v1 + "\n");
  json app = AnnotatedPod(ns, "app");
  app["metadata"]["annotations"]["prometheus.operator.io/agent-selector"] =
      std::string(kOperatorNs) + "/" + agent;
  app["spec"]["nodeName"] =
      "psc-no-kubelet-" + id_;  // bound, but nothing runs it: the test plays the kubelet
  // The cluster's copy of the agent, with the CRD's defaults, is what the operator sees.
  ASSERT_TRUE(Create(InjectWithCli(ns, app, AgentObject(agent).dump())).is_object());
  const json created = PodObject(ns, "app");
  std::string list;
  size_t index = 0;
  for (const char* l : {"containers", "initContainers"}) {
    const json& items = created["spec"].value(l, json::array());
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i]["name"] == "promsidecar-agent") list = l, index = i;
    }
  }
  ASSERT_FALSE(list.empty()) << created.dump(2);
  const char* status_list = list == "initContainers" ? "initContainerStatuses" : "containerStatuses";
  SetAgentStatus(ns, "app", status_list, v1, "example.com/promsidecar-agent@sha256:1111");

  StartOwnOperator();
  ASSERT_TRUE(Eventually([&] {
    return StatusInt(agent, "injectedPods") == 1 && StatusInt(agent, "outdatedPods") == 0;
  })) << AgentObject(agent).dump(2)
      << Diagnostics();
  const json before = PodObject(ns, "app");
  const auto mark = audit.Mark();

  auto r = Kubectl(*env_, {"patch", "prometheusagent", agent, "-n", kOperatorNs, "--type=merge", "-p",
                           json{{"spec", {{"sidecar", {{"image", v2}}}}}}.dump()});
  ASSERT_TRUE(r.ok()) << r.err;
  const std::string image_path = "/" + list + "/" + std::to_string(index) + "/image";
  ASSERT_TRUE(Eventually([&] {
    return PodObject(ns, "app")["spec"].value(json::json_pointer(image_path), std::string()) == v2;
  })) << Diagnostics();
  const json after = PodObject(ns, "app");
  const json spec_diff = json::diff(before["spec"], after["spec"]);
  ASSERT_EQ(spec_diff.size(), 1u) << spec_diff.dump(2);
  EXPECT_EQ(spec_diff[0]["op"], "replace");
  EXPECT_EQ(spec_diff[0]["path"], image_path);
  std::set<std::string> changed;
  for (const auto& op : json::diff(before["metadata"]["annotations"], after["metadata"]["annotations"])) {
    changed.insert(op["path"].get<std::string>());
  }
  EXPECT_EQ(changed, (std::set<std::string>{"/prometheus.operator.io~1agent-version",
                                            "/prometheus.operator.io~1injected-hash"}));
  EXPECT_EQ(after["metadata"]["annotations"]["prometheus.operator.io/agent-version"], "v2.0.0");
  EXPECT_EQ(before["metadata"]["labels"], after["metadata"]["labels"]);
  EXPECT_EQ(before["metadata"]["uid"], after["metadata"]["uid"]);
  // What it runs now is what the agent would inject now.
  ASSERT_TRUE(Eventually([&] {
    return StatusInt(agent, "observedGeneration") == AgentObject(agent)["metadata"].value("generation", -1) &&
           StatusInt(agent, "outdatedPods") == 0;
  })) << AgentObject(agent).dump(2)
      << Diagnostics();
  EXPECT_EQ(WritesBy(audit, mark, "patch", "pods", ns), 1);
  for (const char* verb : {"create", "update", "delete"}) {
    EXPECT_EQ(WritesBy(audit, mark, verb, "pods", ns), 0) << verb << " pods";
  }
  // Not confirmed while the container status still shows the old image.
  EXPECT_FALSE(HasEvent(ns, "app", "AgentUpgraded", ""));
  SetAgentStatus(ns, "app", status_list, v2, "example.com/promsidecar-agent@sha256:2222");
  EXPECT_TRUE(Eventually([&] { return HasEvent(ns, "app", "AgentUpgraded", v2); })) << Diagnostics();
}

// Status counts with updateStrategy None: one current pod, one outdated, one
// without sidecar; none is touched, and the repair count follows the pods.
TEST_F(ControllerIntegrationTest, StatusCountsInjectedOutdatedAndUninjectedPods) {
  AuditLog audit(env_->audit_log);
  const std::string ns = Namespace("s", true);
  const std::string agent = "counts-" + id_;
  const std::string ref = std::string(kOperatorNs) + "/" + agent;
  Agent(agent, "https://rw.example.com/api/v1/write");
  const std::string selector = std::string(kOperatorNs) + "/" + agent;
  json current = AnnotatedPod(ns, "current");
  current["metadata"]["annotations"]["prometheus.operator.io/agent-selector"] = selector;
  ASSERT_TRUE(Create(InjectWithCli(ns, current, AgentObject(agent).dump())).is_object());
  InjectedPod(ns, "outdated", agent);  // an injected hash no Decide gives
  json lost = AnnotatedPod(ns, "lost");
  lost["metadata"]["annotations"]["prometheus.operator.io/agent-selector"] = selector;
  ASSERT_TRUE(Create(lost).is_object());

  const int port = testing::FreePort();
  const auto mark = audit.Mark();
  StartOwnOperator({"--metrics-address=127.0.0.1:" + std::to_string(port), "--repair.interval=30s"});
  ASSERT_TRUE(Eventually(
      [&] {
        return StatusInt(agent, "injectedPods") == 2 && StatusInt(agent, "outdatedPods") == 1 &&
               StatusInt(agent, "uninjectedPods") == 1;
      },
      std::chrono::seconds(120)))
      << AgentObject(agent).dump(2) << Diagnostics();
  EXPECT_TRUE(Eventually([&] {
    return Metrics(port).find("promsidecar_operator_uninjected_pods{agent=\"" + ref + "\"} 1") !=
           std::string::npos;
  })) << Metrics(port);
  // The status's outdated count as a series per agent and the pods' namespace.
  EXPECT_TRUE(Eventually([&] {
    return Metrics(port).find("promsidecar_operator_outdated_pods{agent=\"" + ref + "\",pod_namespace=\"" +
                              ns + "\"} 1") != std::string::npos;
  })) << Metrics(port);
  EXPECT_NE(Metrics(port).find("promsidecar_operator_build_info{version=\""), std::string::npos)
      << Metrics(port);
  const std::string table = Kubectl(*env_, {"get", "prometheusagent", agent, "-n", kOperatorNs}).out;
  EXPECT_NE(table.find("UNINJECTED"), std::string::npos) << table;
  EXPECT_TRUE(HasEvent(ns, "lost", "NotInjected", ref));

  // The pod without sidecar goes: the next report says so.
  ASSERT_TRUE(Kubectl(*env_, {"delete", "pod", "lost", "-n", ns, "--grace-period=0", "--force"}).ok());
  ASSERT_TRUE(Eventually([&] { return StatusInt(agent, "uninjectedPods") == 0; }, std::chrono::seconds(120)))
      << AgentObject(agent).dump(2) << Diagnostics();
  EXPECT_EQ(Metrics(port).find("promsidecar_operator_uninjected_pods{agent=\"" + ref + "\"}"),
            std::string::npos)
      << Metrics(port);
  EXPECT_EQ(StatusInt(agent, "outdatedPods"), 1);
  // updateStrategy None (the default): reported, never acted on.
  for (const char* verb : {"create", "update", "patch", "delete"}) {
    EXPECT_EQ(WritesBy(audit, mark, verb, "pods"), 0) << verb << " pods";
  }
}

}  // namespace
}  // namespace promsidecar
