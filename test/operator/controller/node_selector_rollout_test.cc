// updateStrategy Rollout and --webhook.node-selector, end to end: the operator
// (the built binary, under deploy/'s RBAC) serves the pod webhook by URL and
// reconciles. A Node outside the selector runs an old kubelet (1.28, no native
// sidecars); the webhook, counting only the selected Nodes, injects a native
// sidecar, and the controller, reading the same Node view, must find the pod
// current: no workload restart. (When the controller counted every Node, it
// found the pod outdated and restarted its Deployment, again and again.) Then
// the old Node joins the selection: now the pod is outdated and the
// Deployment is restarted once, which shows this test sees a restart.
//
// Holds the `webhooks` lock: the webhook configuration is cluster-wide (it is
// narrowed to this run's namespace label) and the old-kubelet Node would
// change the native-sidecar decisions of other tests' webhooks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>

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

const std::string kSource = PROMSIDECAR_SOURCE_DIR;
const std::string kOperatorBinary =
    std::string(PROMSIDECAR_BINARY_DIR) + "/src/operator/promsidecar-operator";

bool Eventually(const std::function<bool()>& check,
                std::chrono::seconds timeout = std::chrono::seconds(120)) {
  return testing::PollUntil(timeout, check, std::chrono::milliseconds(250));
}

class NodeSelectorRolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = ClusterEnv::Load();
    ASSERT_TRUE(env.ok()) << env.message();
    ASSERT_FALSE(env->audit_log.empty()) << "this test counts API calls from the audit log";
    env_ = *env;
    std::random_device rd;
    id_ = std::to_string(getpid() % 100000) + "-" + std::to_string(rd() % 100000);
  }

  void TearDown() override {
    (void)Kubectl(env_, {"delete", "prometheusagent", agent_, "-n", testing::kOperatorNamespace,
                         "--wait=false", "--ignore-not-found"});
    if (op_) {
      // The finalizer needs the operator: wait for the agent to go.
      (void)Eventually(
          [&] {
            return Kubectl(env_, {"get", "prometheusagent", agent_, "-n", testing::kOperatorNamespace,
                                  "--ignore-not-found", "-o", "name"})
                .out.empty();
          },
          std::chrono::seconds(60));
      op_->Stop();
    }
    for (const auto& kind : {"mutatingwebhookconfiguration", "validatingwebhookconfiguration"}) {
      (void)Kubectl(env_, {"delete", kind, config_name_, "--ignore-not-found"});
    }
    (void)Kubectl(env_, {"delete", "secret", config_name_ + "-webhook-certs", "-n",
                         testing::kOperatorNamespace, "--ignore-not-found"});
    for (const auto& node : nodes_) (void)Kubectl(env_, {"delete", "node", node, "--ignore-not-found"});
    if (!ns_.empty()) (void)Kubectl(env_, {"delete", "namespace", ns_, "--wait=false"});
  }

  json Must(const std::vector<std::string>& args, const std::string& in = "") {
    auto r = Kubectl(env_, args, in);
    EXPECT_TRUE(r.ok()) << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.err;
    return r.ok() && !r.out.empty() && r.out[0] == '{' ? json::parse(r.out, nullptr, false) : json();
  }

  // A Node nothing runs on (unschedulable, tainted), with a kubelet version.
  void FakeNode(const std::string& name, const std::string& kubelet, bool selected) {
    json node = {
        {"apiVersion", "v1"},
        {"kind", "Node"},
        {"metadata", {{"name", name}, {"labels", {{"psc-test-node", id_}}}}},
        {"spec",
         {{"unschedulable", true},
          {"taints", json::array({{{"key", "promsidecar.io/fake-node"}, {"effect", "NoSchedule"}}})}}}};
    if (selected) node["metadata"]["labels"]["psc-pool-" + id_] = "new";
    nodes_.push_back(name);
    Must({"create", "-f", "-"}, node.dump());
    Must({"patch", "node", name, "--subresource=status", "--type=merge", "-p",
          json{{"status", {{"nodeInfo", {{"kubeletVersion", kubelet}}}}}}.dump()});
  }

  json AgentObject() {
    auto r =
        Kubectl(env_, {"get", "prometheusagent", agent_, "-n", testing::kOperatorNamespace, "-o", "json"});
    return r.ok() ? json::parse(r.out, nullptr, false) : json();
  }
  int64_t Status(const char* field) {
    const json o = AgentObject();
    if (!o.is_object() || !o.contains("status")) return -1;
    return o["status"].value(field, int64_t{-1});
  }
  // The status describes the agent's current generation.
  bool StatusCurrent() {
    const json o = AgentObject();
    return o.is_object() && o.contains("status") &&
           o["status"].value("observedGeneration", int64_t{-1}) ==
               o["metadata"].value("generation", int64_t{-2});
  }
  std::string RestartedAt() {
    return Kubectl(env_,
                   {"get", "deployment", "web", "-n", ns_, "-o",
                    "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}"})
        .out;
  }
  std::string Diagnostics() { return op_ ? "--- operator log ---\n" + op_->Log().substr(0, 20000) : ""; }

  ClusterEnv env_;
  std::string id_, ns_, agent_, config_name_;
  std::vector<std::string> nodes_;
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<testing::Subprocess> op_;
};

TEST_F(NodeSelectorRolloutTest, AnExcludedOldKubeletRestartsNothing) {
  AuditLog audit(env_.audit_log);
  dir_ = std::make_unique<testing::TempDir>();
  agent_ = "rollout-" + id_;
  config_name_ = "psc-rollout-" + id_;
  ns_ = "psc-rollout-" + id_;
  Must({"apply", "-f", kSource + "/deploy/crd/promsidecar.io_prometheusagents.yaml"});
  Must({"wait", "--for=condition=Established", "--timeout=120s", "crd/prometheusagents.promsidecar.io"});
  auto token = testing::OperatorToken(env_, {}, /*restart_rbac=*/true);
  ASSERT_TRUE(token.ok()) << token.message();
  const std::string kubeconfig = dir_->Join("kubeconfig");
  testing::WriteOperatorKubeconfig(env_, *token, kubeconfig);

  FakeNode("psc-new-" + id_, "v1.34.4", /*selected=*/true);
  FakeNode("psc-old-" + id_, "v1.28.5", /*selected=*/false);
  Must({"create", "namespace", ns_});
  Must({"label", "namespace", ns_, "psc-run=" + id_});
  auto sa = testing::EnsureDefaultServiceAccount(env_, ns_);
  ASSERT_TRUE(sa.ok()) << sa.message();
  Must({"apply", "-f", "-"},
       "apiVersion: promsidecar.io/v1alpha1\nkind: PrometheusAgent\nmetadata:\n  name: " + agent_ +
           "\n  namespace: " + testing::kOperatorNamespace +
           "\nspec:\n  mode: Sidecar\n  remoteWrite:\n  - url: https://rw.example.com/api/v1/write\n"
           "  sidecar:\n    updateStrategy: Rollout\n    namespaceSelector:\n      matchLabels:\n        "
           "psc-run: \"" +
           id_ + "\"\n");

  const int webhook_port = testing::FreePort();
  const int health_port = testing::FreePort();
  testing::ProcessOptions o;
  o.argv = {kOperatorBinary,
            "run",
            "--kubeconfig=" + kubeconfig,
            "--leader-election=false",
            "--metrics-address=127.0.0.1:0",
            "--health-address=127.0.0.1:" + std::to_string(health_port),
            "--webhook.listen-address=127.0.0.1:" + std::to_string(webhook_port),
            "--webhook.url=https://127.0.0.1:" + std::to_string(webhook_port),
            "--webhook.generated-cert-dir=" + dir_->Join("certs"),
            "--webhook.configuration-name=" + config_name_,
            "--webhook.namespace-opt-in-label=psc-run=" + id_,
            "--webhook.node-selector=psc-pool-" + id_ + "=new",
            "--rollout.enabled",
            "--status.min-interval=1s",
            "--log.level=debug"};
  o.log_file = dir_->Join("operator.log");
  op_ = std::make_unique<testing::Subprocess>(o);
  ASSERT_TRUE(Eventually([&] {
    return testing::RunCommand({"curl", "-sf", "http://127.0.0.1:" + std::to_string(health_port) + "/readyz"})
               .exit_code == 0;
  })) << Diagnostics();

  // Deployment → ReplicaSet → Pod, linked by hand and kept still: the
  // Deployment is paused and its ReplicaSet already has its one pod, so the
  // controller-manager adopts them and creates and deletes nothing.
  const json labels = {{"app", "web"}};
  const json template_meta = {
      {"labels", labels},
      {"annotations",
       {{"prometheus.operator.io/scrape", "true"},
        {"prometheus.operator.io/agent-selector", std::string(testing::kOperatorNamespace) + "/" + agent_}}}};
  // Nothing schedules it (no Node has the label), whatever runs.
  const json pod_spec = {{"nodeSelector", {{"psc-nowhere", id_}}},
                         {"containers", json::array({{{"name", "app"}, {"image", "nginx"}}})}};
  const json deployment = Must({"create", "-o", "json", "-f", "-"},
                               json{{"apiVersion", "apps/v1"},
                                    {"kind", "Deployment"},
                                    {"metadata", {{"name", "web"}, {"namespace", ns_}}},
                                    {"spec",
                                     {{"replicas", 1},
                                      {"paused", true},
                                      {"selector", {{"matchLabels", labels}}},
                                      {"template", {{"metadata", template_meta}, {"spec", pod_spec}}}}}}
                                   .dump());
  ASSERT_TRUE(deployment.is_object());
  auto owner = [](const json& o, const char* kind) {
    return json::array({{{"apiVersion", "apps/v1"},
                         {"kind", kind},
                         {"name", o["metadata"]["name"]},
                         {"uid", o["metadata"]["uid"]},
                         {"controller", true}}});
  };
  const json rs = Must({"create", "-o", "json", "-f", "-"},
                       json{{"apiVersion", "apps/v1"},
                            {"kind", "ReplicaSet"},
                            {"metadata",
                             {{"name", "web-7c5d"},
                              {"namespace", ns_},
                              // The Deployment's selector must match the ReplicaSet's own
                              // labels, or the controller-manager releases it (drops the ownerRef).
                              {"labels", labels},
                              {"ownerReferences", owner(deployment, "Deployment")}}},
                            {"spec",
                             {{"replicas", 1},
                              {"selector", {{"matchLabels", labels}}},
                              {"template", {{"metadata", template_meta}, {"spec", pod_spec}}}}}}
                           .dump());
  ASSERT_TRUE(rs.is_object());
  json pod_meta = template_meta;
  pod_meta["name"] = "web-7c5d-x1";
  pod_meta["namespace"] = ns_;
  pod_meta["ownerReferences"] = owner(rs, "ReplicaSet");
  // Through the operator's webhook (the API server calls it).
  const json pod =
      Must({"create", "-o", "json", "-f", "-"},
           json{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", pod_meta}, {"spec", pod_spec}}.dump());
  ASSERT_TRUE(pod.is_object());
  ASSERT_EQ(pod["metadata"]["labels"].value("prometheus.operator.io/injection", ""), "injected")
      << pod.dump(2) << Diagnostics();
  bool native = false;
  for (const auto& c : pod["spec"].value("initContainers", json::array())) {
    native = native || c.value("name", "") == "promsidecar-agent";
  }
  ASSERT_TRUE(native) << "the selected Node's kubelet (1.34) allows a native sidecar; the excluded 1.28 one "
                         "must not count\n"
                      << pod.dump(2);

  // The controller counts the pod current; a reconcile of the whole agent
  // (its generation bumped) decides the same, and restarts nothing.
  ASSERT_TRUE(Eventually([&] { return Status("injectedPods") == 1 && StatusCurrent(); }))
      << AgentObject().dump(2) << Diagnostics();
  EXPECT_EQ(Status("outdatedPods"), 0) << AgentObject().dump(2);
  Must({"patch", "prometheusagent", agent_, "-n", testing::kOperatorNamespace, "--type=merge", "-p",
        R"({"spec":{"externalLabels":{"run":"second-look"}}})"});
  ASSERT_TRUE(Eventually([&] { return StatusCurrent(); })) << AgentObject().dump(2) << Diagnostics();
  EXPECT_EQ(Status("outdatedPods"), 0) << AgentObject().dump(2);
  EXPECT_EQ(RestartedAt(), "");
  AuditFilter restarts{
      .verb = "patch", .resource = "deployments", .namespace_ = ns_, .user = testing::kOperatorUser};
  EXPECT_EQ(audit.Count(restarts), 0);

  // The old kubelet joins the selection: native sidecars are no longer what
  // would be injected, the pod is outdated, its Deployment is restarted.
  Must({"label", "node", "psc-old-" + id_, "psc-pool-" + id_ + "=new"});
  ASSERT_TRUE(Eventually([&] { return Status("outdatedPods") == 1; }))
      << AgentObject().dump(2) << Diagnostics();
  ASSERT_TRUE(Eventually([&] { return !RestartedAt().empty(); })) << Diagnostics();
  EXPECT_EQ(audit.WaitForCount(restarts, 0, 1), 1);
}

}  // namespace
}  // namespace promsidecar
