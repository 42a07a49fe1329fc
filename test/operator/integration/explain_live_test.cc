// `kubectl promsidecar explain` (the kubectl-promsidecar link to the built
// binary) against the real kube-apiserver: a PrometheusAgent and an opted-in
// pod created with no operator running, so the pod has no sidecar and the
// repair report would list it. Reads with the admin kubeconfig.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "cluster/cluster_env.h"
#include "testing/subprocess.h"

namespace promsidecar {
namespace {

using nlohmann::json;
using testing::ClusterEnv;
using testing::Kubectl;

const std::string kSource = PROMSIDECAR_SOURCE_DIR;
// Made next to the binary at build time (src/operator/CMakeLists.txt).
const std::string kPlugin = std::string(PROMSIDECAR_BINARY_DIR) + "/src/operator/kubectl-promsidecar";

bool Eventually(const std::function<bool()>& check) {
  return testing::PollUntil(std::chrono::seconds(60), check, std::chrono::milliseconds(250));
}

class ExplainLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = ClusterEnv::Load();
    ASSERT_TRUE(env.ok()) << env.message();
    env_ = *env;
    // A CRD another test is still deleting would take this apply down with it.
    ASSERT_TRUE(Eventually([this] {
      auto r = Kubectl(env_, {"get", "crd", "prometheusagents.promsidecar.io", "--ignore-not-found", "-o",
                              "jsonpath={.metadata.deletionTimestamp}"});
      return r.ok() && r.out.empty();
    })) << "the PrometheusAgent CRD is still being deleted";
    auto crd = Kubectl(env_, {"apply", "-f", kSource + "/deploy/crd/promsidecar.io_prometheusagents.yaml"});
    ASSERT_TRUE(crd.ok()) << crd.err;
    ASSERT_TRUE(Eventually([this] {
      return Kubectl(env_, {"get", "crd", "prometheusagents.promsidecar.io", "-o",
                            "jsonpath={.status.conditions[?(@.type=='Established')].status}"})
                 .out == "True";
    }));
    std::random_device rd;
    ns_ = "psc-explain-" + std::to_string(getpid() % 100000) + "-" + std::to_string(rd() % 100000);
    auto r = Kubectl(env_, {"create", "namespace", ns_});
    ASSERT_TRUE(r.ok()) << r.err;
    auto sa = testing::EnsureDefaultServiceAccount(env_, ns_);
    ASSERT_TRUE(sa.ok()) << sa.message();
  }

  void TearDown() override {
    if (!ns_.empty()) (void)Kubectl(env_, {"delete", "namespace", ns_, "--wait=false"});
  }

  testing::CommandOutput Explain(std::vector<std::string> args) {
    args.insert(args.begin(),
                {kPlugin, "explain", "--kubeconfig", env_.kubeconfig, "-n", ns_, "--agent-namespaces", ns_});
    return testing::RunCapturingOutput(args);
  }

  ClusterEnv env_;
  std::string ns_;
};

TEST_F(ExplainLiveTest, OptedInPodWithoutSidecarIsMissing) {
  // The agent serves its own namespace (no namespaceSelector), where the pod is.
  auto agent =
      Kubectl(env_, {"apply", "-f", "-"},
              "apiVersion: promsidecar.io/v1alpha1\nkind: PrometheusAgent\nmetadata:\n  name: agent\n"
              "  namespace: " +
                  ns_ +
                  "\nspec:\n  mode: Sidecar\n  remoteWrite:\n  - url: "
                  "https://metrics.example.com/api/v1/write\n");
  ASSERT_TRUE(agent.ok()) << agent.err;
  auto pod = Kubectl(env_, {"apply", "-f", "-"},
                     "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-0\n  namespace: " + ns_ +
                         "\n  annotations:\n    prometheus.operator.io/scrape: \"true\"\n"
                         "spec:\n  containers:\n  - name: app\n    image: registry.k8s.io/pause:3.10\n");
  ASSERT_TRUE(pod.ok()) << pod.err;

  auto text = Explain({"pod/web-0"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Pod " + ns_ + "/web-0\n  decision: Injected"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("agent chosen: " + ns_ + "/agent"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("sidecar: missing"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("a bare pod"), std::string::npos) << "the repair report only reports it\n"
                                                            << text.out;

  auto js = Explain({"web-0", "-o", "json"});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  const json j = json::parse(js.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << js.out;
  EXPECT_EQ(j["sidecar"]["state"], "missing") << js.out;
  EXPECT_EQ(j["facts"]["agents"], json({ns_ + "/agent (mode Sidecar)"})) << js.out;
  EXPECT_FALSE(j["facts"]["apiserverVersion"].get<std::string>().empty()) << js.out;
  EXPECT_EQ(j["facts"]["namespaceLabels"]["kubernetes.io/metadata.name"], ns_) << js.out;

  auto missing = Explain({"deployment/nope"});
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_NE(missing.err.find("deployment " + ns_ +
                             "/nope not found; list them with kubectl get deployments -n " + ns_),
            std::string::npos)
      << missing.err;
}

}  // namespace
}  // namespace promsidecar
