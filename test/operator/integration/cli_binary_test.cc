// The promsidecar-operator executable on a golden case: what a GitOps
// pipeline runs before manifests reach a cluster.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cluster/cluster_env.h"
#include "operator/cli/yaml_json.h"

namespace promsidecar {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kBinary = std::string(PROMSIDECAR_BINARY_DIR) + "/src/operator/promsidecar-operator";
const fs::path kGolden = fs::path(PROMSIDECAR_TESTDATA) / "operator" / "inject";

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

TEST(OperatorCliBinary, InjectPrintsTheGoldenPod) {
  fs::path dir = kGolden / "mesh-init-placement";
  auto r =
      testing::RunCapturingOutput({kBinary, "inject", "-f", (dir / "pod.yaml").string(), "--agent",
                                   (dir / "agents.yaml").string(), "--facts", (dir / "facts.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto docs = cli::ParseDocuments(r.out);
  ASSERT_TRUE(docs.ok()) << docs.message() << "\n" << r.out;
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0], ReadJson(dir / "want-pod.json"));
}

TEST(OperatorCliBinary, ExplainReadsStdin) {
  fs::path dir = kGolden / "agent-paused";
  std::ifstream in(dir / "pod.yaml");
  std::string pod((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto r = testing::RunCapturingOutput(
      {kBinary, "explain", "-f", "-", "--agent", (dir / "agents.yaml").string()}, pod);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("AgentPaused"), std::string::npos) << r.out;
}

TEST(OperatorCliBinary, HelpAndUsageErrors) {
  auto help = testing::RunCapturingOutput({kBinary, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("explain"), std::string::npos) << help.out;
  auto usage = testing::RunCapturingOutput({kBinary, "inject"});
  EXPECT_EQ(usage.exit_code, 2) << usage.out << usage.err;
  auto bogus = testing::RunCapturingOutput({kBinary, "frobnicate"});
  EXPECT_NE(bogus.exit_code, 0);
}

}  // namespace
}  // namespace promsidecar
