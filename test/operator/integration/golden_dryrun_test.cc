// Every golden mutated pod (want-pod.json) must be a Pod the real API server
// accepts: `kubectl create --dry-run=server` runs validation and the built-in
// admission plugins (ServiceAccount, LimitRanger) without storing anything.
// The golden files were written by the code under test; this is what makes
// them believable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "cluster/cluster_env.h"
#include "operator/api/well_known.h"

namespace promsidecar {
namespace {

using nlohmann::json;
using testing::ClusterEnv;
using testing::Kubectl;
namespace fs = std::filesystem;

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

// Namespaces this test created, deleted whatever happens.
struct Namespaces {
  const ClusterEnv& env;
  std::set<std::string> names;
  ~Namespaces() {
    for (const std::string& ns : names) (void)Kubectl(env, {"delete", "namespace", ns, "--wait=false"});
  }
};

TEST(OperatorGoldenDryRun, EveryMutatedPodPassesServerSideValidation) {
  auto env = ClusterEnv::Load();
  ASSERT_TRUE(env.ok()) << env.message();
  std::random_device rd;
  const std::string prefix = "psg" + std::to_string(getpid() % 100000) + "-" + std::to_string(rd() % 10000);
  Namespaces created{*env, {}};
  std::map<std::string, std::string> mapped;  // golden namespace → this run's namespace

  fs::path root = fs::path(PROMSIDECAR_TESTDATA) / "operator" / "inject";
  int checked = 0;
  int projected_token_cases = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    json pod = ReadJson(entry.path() / "want-pod.json");
    std::string ns = pod["metadata"].value("namespace", "default");
    if (!mapped.count(ns)) {
      std::string unique = prefix + "-" + ns;
      ASSERT_TRUE(Kubectl(*env, {"create", "namespace", unique}).ok());
      created.names.insert(unique);
      auto sa = testing::EnsureDefaultServiceAccount(*env, unique);
      ASSERT_TRUE(sa.ok()) << sa.message();
      mapped[ns] = unique;
    }
    pod["metadata"]["namespace"] = mapped[ns];
    auto r = Kubectl(*env, {"create", "--dry-run=server", "-o", "json", "-f", "-"}, pod.dump());
    ASSERT_TRUE(r.ok()) << name << ": the API server rejects want-pod.json:\n" << r.err;
    json admitted = json::parse(r.out);
    ++checked;
    // Only pods we injected (a skipped name collision holds someone else's container).
    bool injected =
        admitted["metadata"].value("annotations", json::object()).contains(api::kStatusAnnotation);
    if (injected) {
      // Remote-write tokens (projectedServiceAccountToken) reach the sending
      // container only, never the app, also after the API server's admission.
      std::set<std::string> token_volumes;
      for (const json& v : admitted["spec"].value("volumes", json::array())) {
        std::string vname = v["name"];
        if (vname.rfind(api::kProjectedTokenVolumePrefix, 0) == 0) token_volumes.insert(vname);
      }
      int sender_mounts = 0;
      for (const char* field : {"initContainers", "containers"}) {
        if (!admitted["spec"].contains(field)) continue;
        for (const json& c : admitted["spec"][field]) {
          bool sender = c["name"] == api::kAgentContainerName || c["name"] == api::kPrometheusContainerName;
          for (const json& m : c.value("volumeMounts", json::array())) {
            if (!token_volumes.count(m["name"])) continue;
            EXPECT_TRUE(sender) << c["name"] << " mounts the remote-write token " << m["name"];
            sender_mounts += sender ? 1 : 0;
          }
        }
      }
      EXPECT_EQ(sender_mounts, static_cast<int>(token_volumes.size())) << "each token volume is mounted once";
      if (name.rfind("projected-token", 0) == 0) {
        ++projected_token_cases;
        EXPECT_FALSE(token_volumes.empty()) << "the case's agent uses projectedServiceAccountToken";
      }
    }
    if (!env->service_account_plugin || !injected) continue;
    // The agent must never get an API token, even though the ServiceAccount
    // plugin runs again after the webhook and mounts one into the app.
    for (const char* field : {"initContainers", "containers"}) {
      if (!admitted["spec"].contains(field)) continue;
      for (const json& c : admitted["spec"][field]) {
        if (c["name"] != api::kAgentContainerName && c["name"] != api::kPrometheusContainerName) continue;
        for (const json& m : c.value("volumeMounts", json::array())) {
          if (m["mountPath"] == api::kServiceAccountDir) {
            EXPECT_EQ(m["name"], api::kNoTokenVolumeName) << c["name"] << " got a token volume";
          }
        }
      }
    }
  }
  EXPECT_GE(checked, 25);
  EXPECT_GE(projected_token_cases, 3);
}

}  // namespace
}  // namespace promsidecar
