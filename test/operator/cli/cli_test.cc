// The promsidecar-operator command line, run in-process on golden cases.
#include "operator/cli/cli.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "operator/api/well_known.h"
#include "operator/cli/yaml_json.h"
#include "testing/temp_dir.h"

namespace promsidecar::cli {
namespace {

using nlohmann::json;
using promsidecar::testing::TempDir;
namespace fs = std::filesystem;

const fs::path kGolden = fs::path(PROMSIDECAR_TESTDATA) / "operator" / "inject";

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun Cli(std::vector<std::string> args) {
  args.insert(args.begin(), "promsidecar-operator");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  int code = Main(static_cast<int>(argv.size()), argv.data(), out, err, "v9.8.7-test");
  return {code, out.str(), err.str()};
}

TEST(YamlJson, ScalarsResolveAsKubectlReadsThem) {
  auto docs = ParseDocuments(
      "a: \"true\"\nb: true\nc: '8080'\nd: 8080\ne: 1.5\nf: null\ng: ~\nh: yes\ni: hello\nj: \"\"\nk: "
      "0x1F\n");
  ASSERT_TRUE(docs.ok()) << docs.message();
  const json& j = (*docs)[0];
  EXPECT_EQ(j["a"], "true");
  EXPECT_EQ(j["b"], true);
  EXPECT_EQ(j["c"], "8080");
  EXPECT_EQ(j["d"], 8080);
  EXPECT_EQ(j["e"], 1.5);
  EXPECT_TRUE(j["f"].is_null());
  EXPECT_TRUE(j["g"].is_null());
  EXPECT_EQ(j["h"], true);
  EXPECT_EQ(j["i"], "hello");
  EXPECT_EQ(j["j"], "");
  EXPECT_EQ(j["k"], 31);
}

TEST(YamlJson, RoundTripKeepsTypes) {
  json j = {{"s_true", "true"},
            {"s_num", "8080"},
            {"s_empty", ""},
            {"s_null", "null"},
            {"s_on", "on"},
            {"b", false},
            {"n", 42},
            {"f", 0.25},
            {"nil", nullptr},
            {"list", {1, "2", true}},
            {"empty_map", json::object()},
            {"empty_list", json::array()},
            {"multi", "a\nb"},
            {"colon", "a: b"},
            {"hash", "#x"},
            {"key/with: colon", "v"}};
  std::string yaml = ToYaml(j);
  auto back = ParseDocuments(yaml);
  ASSERT_TRUE(back.ok()) << back.message() << "\n" << yaml;
  EXPECT_EQ((*back)[0], j) << yaml;
}

TEST(YamlJson, ObjectsFlattenListsAndStreams) {
  auto objs = ParseObjects("kind: List\nitems:\n- {kind: A}\n- {kind: B}\n---\nkind: C\n---\n");
  ASSERT_TRUE(objs.ok());
  ASSERT_EQ(objs->size(), 3u);
  EXPECT_EQ((*objs)[2]["kind"], "C");
  EXPECT_FALSE(ParseDocuments("a: [unclosed").ok());
  EXPECT_FALSE(ParseDocuments("{\"a\": ").ok());
}

TEST(Cli, InjectYamlGoldenCase) {
  fs::path dir = kGolden / "native-basic";
  CliRun r = Cli({"inject", "-f", (dir / "pod.yaml").string(), "--agent", (dir / "agents.yaml").string(),
                  "--facts", (dir / "facts.json").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(LooksLikeJson(r.out)) << "YAML in, YAML out";
  auto docs = ParseDocuments(r.out);
  ASSERT_TRUE(docs.ok()) << docs.message();
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0], ReadJson(dir / "want-pod.json"));
}

TEST(Cli, InjectJsonGoldenCase) {
  fs::path dir = kGolden / "json-input";
  CliRun r = Cli({"inject", "-f", (dir / "pod.json").string(), "--agent", (dir / "agents.yaml").string(),
                  "--facts", (dir / "facts.json").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(LooksLikeJson(r.out)) << "JSON in, JSON out";
  EXPECT_EQ(json::parse(r.out), ReadJson(dir / "want-pod.json"));
}

TEST(Cli, FlagsDescribeTheCluster) {
  fs::path dir = kGolden / "native-basic";
  CliRun r = Cli({"inject", "-f", (dir / "pod.yaml").string(), "--agent", (dir / "agents.yaml").string(),
                  "--node-version", "v1.34.0", "--node-version", "v1.27.3", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json pod = json::parse(r.out);
  EXPECT_FALSE(pod["spec"].contains("initContainers")) << "an old kubelet means a regular container";
  EXPECT_EQ(pod["spec"]["containers"][1]["name"], api::kAgentContainerName);
}

TEST(Cli, ExplainSaysWhyNot) {
  fs::path dir = kGolden / "host-network";
  CliRun r = Cli({"explain", "-f", (dir / "pod.yaml").string(), "--agent", (dir / "agents.yaml").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Pod monitoring/host-network: Skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reason: HostNetwork"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hostNetwork"), std::string::npos) << r.out;

  dir = kGolden / "namespace-not-admitted";
  r = Cli({"explain", "-f", (dir / "pod.yaml").string(), "--agent", (dir / "agents.yaml").string(),
           "--namespace-labels", "team=marketing,env=prod"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("NamespaceNotAdmitted"), std::string::npos) << r.out;
  r = Cli({"explain", "-f", (dir / "pod.yaml").string(), "--agent", (dir / "agents.yaml").string(),
           "--namespace-labels", "team=shop"});
  EXPECT_NE(r.out.find("Injected"), std::string::npos) << r.out;
}

TEST(Cli, MutatesWorkloadTemplates) {
  TempDir tmp;
  fs::path manifests = tmp.Write("app.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: monitoring}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {prometheus.operator.io/scrape: "true"}
    spec:
      containers: [{name: web, image: nginx}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: monitoring}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          annotations: {prometheus.operator.io/scrape: "true"}
        spec:
          restartPolicy: Never
          containers: [{name: report, image: busybox}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: monitoring}
spec: {ports: [{port: 80}]}
)");
  fs::path agents = kGolden / "native-basic" / "agents.yaml";
  CliRun r =
      Cli({"inject", "-f", manifests.string(), "--agent", agents.string(), "--node-version", "v1.28.0"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto docs = ParseDocuments(r.out);
  ASSERT_TRUE(docs.ok()) << docs.message();
  ASSERT_EQ(docs->size(), 3u);
  const json& deploy = (*docs)[0]["spec"]["template"];
  ASSERT_EQ(deploy["spec"]["containers"].size(), 2u);
  EXPECT_EQ(deploy["metadata"]["labels"][api::kAgentLabel], "monitoring.agent-example");
  EXPECT_FALSE(deploy["metadata"].contains("namespace"));
  // Old kubelets and a CronJob: a regular sidecar would never let the Job finish.
  const json& job = (*docs)[1]["spec"]["jobTemplate"]["spec"]["template"];
  EXPECT_EQ(job["spec"]["containers"].size(), 1u);
  EXPECT_EQ(job["metadata"]["labels"][api::kInjectionLabel], "skipped");
  EXPECT_FALSE(job["metadata"].contains("ownerReferences"));
  EXPECT_NE(r.err.find("JobWithoutNativeSidecar"), std::string::npos) << r.err;
  EXPECT_EQ((*docs)[2]["kind"], "Service");
}

TEST(Cli, BadInputFailsWithAMessage) {
  TempDir tmp;
  CliRun r = Cli({"inject", "-f", tmp.Write("x.yaml", "a: [")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("invalid YAML"), std::string::npos) << r.err;
  fs::path pod = kGolden / "native-basic" / "pod.yaml";
  fs::path bad_agent = tmp.Write("agent.yaml", R"(kind: PrometheusAgent
metadata: {name: a, namespace: monitoring}
spec: {mode: Sidecar, scrapeInterval: banana}
)");
  r = Cli({"inject", "-f", pod.string(), "--agent", bad_agent.string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("spec.scrapeInterval"), std::string::npos) << r.err;
  r = Cli({"inject", "-f", "/nonexistent/pod.yaml"});
  EXPECT_EQ(r.code, 1);
  r = Cli({"inject"});
  EXPECT_EQ(r.code, 2) << "-f is required";
  r = Cli({"explain"});
  EXPECT_EQ(r.code, 2) << "explain reads -f or an object";
  EXPECT_NE(r.err.find("pod/NAME"), std::string::npos) << r.err;
  r = Cli({"explain", "-f", "pod.yaml", "pod/web-0"});
  EXPECT_EQ(r.code, 2) << "-f and an object exclude each other";
}

TEST(ClusterFlags, DefaultsFollowTheOperator) {
  struct {
    const char* pod_namespace;
    std::string config_namespace;
    std::vector<std::string> agent_namespaces;
    std::string want_operator;
    std::vector<std::string> want_agents;
  } cases[] = {
      {nullptr, "", {}, "promsidecar-system", {"promsidecar-system"}},
      {"ops", "dev", {}, "ops", {"ops"}},
      {"", "dev", {}, "dev", {"dev"}},
      {nullptr, "", {"a,b", "c", ",,"}, "promsidecar-system", {"a", "b", "c"}},
  };
  for (const auto& c : cases) {
    ClusterFlags f;
    f.agent_namespaces = c.agent_namespaces;
    ResolveClusterFlags(c.pod_namespace, c.config_namespace, &f);
    EXPECT_EQ(f.settings.operator_namespace, c.want_operator);
    EXPECT_EQ(f.agent_namespaces, c.want_agents);
  }
  ClusterFlags given;
  given.settings.operator_namespace = "mine";
  ResolveClusterFlags("ops", "dev", &given);
  EXPECT_EQ(given.settings.operator_namespace, "mine");
  EXPECT_EQ(given.agent_namespaces, std::vector<std::string>{"mine"});
}

// A list flag takes one value per occurrence: the object after it stays the
// object (the live explain test failed on `--agent-namespaces ns pod/web-0`).
TEST(Cli, ListFlagsDoNotSwallowTheObject) {
  for (const char* flag : {"--agent-namespaces", "--webhook.exclude-namespaces"}) {
    SCOPED_TRACE(flag);
    CliRun r = Cli({"explain", "--kubeconfig", "/nonexistent/kubeconfig", flag, "team-a", "pod/web-0"});
    EXPECT_EQ(r.err.find("explain needs an object"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("/nonexistent/kubeconfig"), std::string::npos) << r.err;
  }
}

// kubectl runs `kubectl promsidecar explain ...` as kubectl-promsidecar (a
// link to the binary) with the same arguments.
TEST(Cli, NamesItselfAfterTheKubectlPlugin) {
  std::vector<const char*> argv{"/usr/local/bin/kubectl-promsidecar", "explain", "--help"};
  std::ostringstream out, err;
  EXPECT_EQ(Main(static_cast<int>(argv.size()), argv.data(), out, err, "v9.8.7-test"), 0);
  EXPECT_NE(out.str().find("Usage: kubectl promsidecar explain"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("--agent-namespaces"), std::string::npos) << out.str();
}

TEST(Cli, HelpListsTheCommands) {
  CliRun r = Cli({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("inject"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("explain"), std::string::npos) << r.out;
  r = Cli({"inject", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--agent"), std::string::npos) << r.out;
}

TEST(Cli, VersionNamesTheProgramAndItsVersion) {
  const CliRun r = Cli({"--version"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "promsidecar-operator v9.8.7-test\n");
}

}  // namespace
}  // namespace promsidecar::cli
