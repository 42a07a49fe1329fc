// `explain` against a live cluster, without one: the pure assembly and
// report on snapshots (table-driven, the text checked against golden files
// in test/testdata/operator/explain/; PROMSIDECAR_UPDATE_GOLDEN=1 rewrites
// them), and the reads over a fake transport.
#include "operator/explain/explain.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>

#include "operator/api/well_known.h"
#include "operator/cli/cli.h"
#include "operator/explain/live.h"

namespace promsidecar::explain {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kGolden = fs::path(PROMSIDECAR_TESTDATA) / "operator" / "explain";

json Agent(const json& spec_extra = json::object()) {
  json spec = {{"mode", "Sidecar"},
               {"remoteWrite", {{{"url", "https://metrics.example.com/api/v1/write"}}}},
               {"sidecar", {{"default", true}, {"namespaceSelector", {{"matchLabels", {{"team", "a"}}}}}}}};
  spec.merge_patch(spec_extra);
  return {{"apiVersion", "promsidecar.io/v1alpha1"},
          {"kind", "PrometheusAgent"},
          {"metadata", {{"name", "agent"}, {"namespace", "monitoring"}}},
          {"spec", spec}};
}

json Namespace(const json& labels) {
  json l = labels;
  l["kubernetes.io/metadata.name"] = "team-a";
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-a"}, {"labels", l}}}};
}

json Node(const std::string& name, const std::string& kubelet) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}}},
          {"status", {{"nodeInfo", {{"kubeletVersion", kubelet}}}}}};
}

json PodSpec() {
  return {
      {"containers",
       {{{"name", "app"}, {"image", "registry.k8s.io/pause:3.10"}, {"ports", {{{"containerPort", 8080}}}}}}}};
}

json Pod(bool opted_in) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", "web-0"},
                {"namespace", "team-a"},
                {"ownerReferences",
                 {{{"apiVersion", "apps/v1"},
                   {"kind", "ReplicaSet"},
                   {"name", "web-7c9f"},
                   {"uid", "u1"},
                   {"controller", true}}}}}},
              {"spec", PodSpec()}};
  if (opted_in) pod["metadata"]["annotations"] = {{api::kScrapeAnnotation, "true"}};
  return pod;
}

json ReplicaSet() {
  return {{"apiVersion", "apps/v1"},
          {"kind", "ReplicaSet"},
          {"metadata",
           {{"name", "web-7c9f"},
            {"namespace", "team-a"},
            {"ownerReferences",
             {{{"apiVersion", "apps/v1"},
               {"kind", "Deployment"},
               {"name", "web"},
               {"uid", "u0"},
               {"controller", true}}}}}}};
}

json LimitRange() {
  return {{"apiVersion", "v1"},
          {"kind", "LimitRange"},
          {"metadata", {{"name", "tiny"}, {"namespace", "team-a"}}},
          {"spec", {{"limits", {{{"type", "Container"}, {"max", {{"memory", "16Mi"}}}}}}}}};
}

// A cluster where the webhook injects the opted-in pod web-0 of team-a.
Snapshot Cluster() {
  Snapshot s;
  s.target = {.kind = "Pod", .ns = "team-a", .name = "web-0"};
  s.object = Pod(true);
  s.namespace_object = Namespace({{"team", "a"}});
  s.agent_namespaces = {"monitoring"};
  s.agents = {Agent()};
  s.nodes = {Node("n1", "v1.34.1"), Node("n2", "v1.33.2"), Node("n3", "v1.34.1")};
  s.limit_ranges = {};
  s.apiserver_version = "v1.34.1";
  s.replica_set = ReplicaSet();
  return s;
}

// The pod as the webhook admitted it under `then`.
json Admitted(const Snapshot& then) {
  const inject::ClusterFacts facts = FactsOf(then, {}, nullptr);
  const auto r = inject::Decide(then.object, then.target.ns, facts);
  EXPECT_EQ(r.outcome, inject::Outcome::kInjected) << r.message;
  return then.object.patch(r.patch);
}

struct Case {
  std::string name;  // also the golden file's
  std::function<Snapshot()> snapshot;
  inject::Outcome outcome;
  std::string reason;
  std::optional<SidecarState> sidecar;
  std::vector<std::string> detail_has;  // in the sidecar's detail and repair, or the admission
};

std::vector<Case> Cases() {
  return {
      {"injected-current",
       [] {
         Snapshot s = Cluster();
         s.object = Admitted(s);
         return s;
       },
       inject::Outcome::kInjected,
       "",
       SidecarState::kCurrent,
       {"what the webhook injects now"}},
      {"outdated-image",
       [] {
         Snapshot then = Cluster();
         then.agents = {Agent({{"sidecar", {{"image", "ghcr.io/promsidecar/promsidecar-agent:v0.0.9"}}}})};
         Snapshot s = Cluster();
         s.object = Admitted(then);
         return s;
       },
       inject::Outcome::kInjected,
       "",
       SidecarState::kOutdated,
       {"image ghcr.io/promsidecar/promsidecar-agent:v0.0.9 → ghcr.io/promsidecar/promsidecar-agent:v0.1.0",
        "updateStrategy InPlace"}},
      {"outdated-native-sidecar",
       [] {
         // Admitted while a 1.28 kubelet forbade native sidecars.
         Snapshot then = Cluster();
         then.nodes.push_back(Node("old", "v1.28.5"));
         Snapshot s = Cluster();
         s.object = Admitted(then);
         return s;
       },
       inject::Outcome::kInjected,
       "",
       SidecarState::kOutdated,
       {"injected-hash", "only a new pod gets it"}},
      {"missing-sidecar",
       [] { return Cluster(); },
       inject::Outcome::kInjected,
       "",
       SidecarState::kMissing,
       {"admitted without it", "restarts Deployment team-a/web",
        "kubectl rollout restart deployment/web -n team-a"}},
      {"not-opted-in",
       [] {
         Snapshot s = Cluster();
         s.object = Pod(false);
         return s;
       },
       inject::Outcome::kNotApplicable,
       "NotOptedIn",
       SidecarState::kNone,
       {"does not opt in"}},
      {"deployment-template",
       [] {
         Snapshot s = Cluster();
         s.target = {.kind = "Deployment", .ns = "team-a", .name = "web"};
         s.object = {{"apiVersion", "apps/v1"},
                     {"kind", "Deployment"},
                     {"metadata", {{"name", "web"}, {"namespace", "team-a"}}},
                     {"spec",
                      {{"template",
                        {{"metadata", {{"annotations", {{api::kScrapeAnnotation, "true"}}}}},
                         {"spec", PodSpec()}}}}}};
         s.replica_set = nullptr;
         return s;
       },
       inject::Outcome::kInjected,
       "",
       std::nullopt,
       {"yes: PrometheusAgent monitoring/agent admits"}},
      {"namespace-not-admitted",
       [] {
         Snapshot s = Cluster();
         s.namespace_object = Namespace({{"team", "b"}});
         return s;
       },
       inject::Outcome::kSkipped,
       "NamespaceNotAdmitted",
       SidecarState::kNone,
       {"no: PrometheusAgent monitoring/agent does not admit namespace team-a"}},
      {"limitrange-no-fit",
       [] {
         Snapshot s = Cluster();
         s.limit_ranges = {LimitRange()};
         return s;
       },
       inject::Outcome::kSkipped,
       "LimitRange",
       SidecarState::kNone,
       {"none is wanted"}},
  };
}

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Explain, Cases) {
  const bool update = std::getenv("PROMSIDECAR_UPDATE_GOLDEN") != nullptr;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const Explanation e = Explain(c.snapshot(), {});
    EXPECT_EQ(e.decision.outcome, c.outcome) << e.decision.message;
    EXPECT_EQ(e.decision.reason, c.reason) << e.decision.message;
    ASSERT_EQ(e.sidecar.has_value(), c.sidecar.has_value());
    std::string said = e.namespace_admission;
    if (e.sidecar) {
      EXPECT_EQ(e.sidecar->state, *c.sidecar) << e.sidecar->detail;
      said += "\n" + e.sidecar->detail + "\n" + e.sidecar->repair;
    }
    for (const std::string& want : c.detail_has) EXPECT_NE(said.find(want), std::string::npos) << said;
    const std::string text = FormatText(e);
    const fs::path golden = kGolden / (c.name + ".txt");
    if (update) std::ofstream(golden) << text;
    EXPECT_EQ(text, ReadText(golden)) << "PROMSIDECAR_UPDATE_GOLDEN=1 rewrites " << golden;
  }
}

// docs/operator.md shows these sessions; they must stay what the code prints.
TEST(Explain, DocsShowTheGoldenOutput) {
  const std::string docs = ReadText(fs::path(PROMSIDECAR_TESTDATA) / ".." / ".." / "docs" / "operator.md");
  for (const char* name : {"missing-sidecar", "outdated-image"}) {
    const std::string text = ReadText(kGolden / (std::string(name) + ".txt"));
    ASSERT_FALSE(text.empty()) << name;
    EXPECT_NE(docs.find(text), std::string::npos) << "docs/operator.md lacks " << name << ".txt:\n" << text;
  }
}

TEST(Explain, FactsAreTheWebhooks) {
  Snapshot s = Cluster();
  json broken = Agent();
  broken["metadata"]["name"] = "broken";
  broken["spec"]["mode"] = 7;
  json other = Agent();
  other["metadata"]["name"] = "a-first";
  s.agents = {Agent(), broken, other};
  s.limit_ranges = {LimitRange()};
  std::vector<std::string> errors;
  const inject::ClusterFacts facts = FactsOf(s, {}, &errors);
  // Sorted as the cache's snapshot; the one that does not parse left out.
  ASSERT_EQ(facts.agents.size(), 2u);
  EXPECT_EQ(facts.agents[0].Ref(), "monitoring/a-first");
  EXPECT_EQ(facts.agents[1].Ref(), "monitoring/agent");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("monitoring/broken: ", 0), 0u) << errors[0];
  EXPECT_EQ(facts.node_kubelet_versions, (std::vector<std::string>{"v1.33.2", "v1.34.1"}));
  EXPECT_EQ(facts.namespace_labels.at("team"), "a");
  EXPECT_EQ(facts.apiserver_version, "v1.34.1");
  ASSERT_EQ(facts.limit_ranges.size(), 1u);
}

TEST(Explain, JsonCarriesTheHashes) {
  Snapshot then = Cluster();
  then.nodes.push_back(Node("old", "v1.28.5"));
  Snapshot s = Cluster();
  s.object = Admitted(then);
  const json j = ToJson(Explain(s, {}));
  EXPECT_EQ(j["sidecar"]["state"], "outdated");
  EXPECT_EQ(j["sidecar"]["drift"], "NeedsRestart");
  EXPECT_NE(j["sidecar"]["have"]["injectedHash"], j["sidecar"]["want"]["injectedHash"]);
  EXPECT_EQ(j["sidecar"]["want"]["injectedHash"], j["decision"]["fragmentHash"]);
  EXPECT_EQ(j["facts"]["kubeletVersions"], json({"v1.33.2", "v1.34.1"}));
}

TEST(Explain, NoNodeLeavesTheApiServerToDecide) {
  Snapshot s = Cluster();
  s.nodes.clear();
  const Explanation e = Explain(s, {});
  EXPECT_TRUE(e.decision.native_sidecar) << e.decision.message;
  EXPECT_NE(
      FormatText(e).find("kubelet versions: none (no Node counts: the API server's version alone decides"),
      std::string::npos)
      << FormatText(e);
}

TEST(Explain, SettingsReachTheDecision) {
  inject::OperatorSettings settings;
  settings.namespace_opt_in_label = "promsidecar.io/inject";
  const Explanation e = Explain(Cluster(), settings);
  EXPECT_EQ(e.decision.reason, "NamespaceExcluded");
  EXPECT_NE(e.namespace_admission.find("lacks the opt-in label promsidecar.io/inject"), std::string::npos)
      << e.namespace_admission;
}

TEST(ParseTarget, KubectlNames) {
  struct {
    std::string arg, kind, name, error_has;
  } cases[] = {
      {"web-0", "Pod", "web-0", ""},
      {"pod/web-0", "Pod", "web-0", ""},
      {"po/web-0", "Pod", "web-0", ""},
      {"deploy/web", "Deployment", "web", ""},
      {"Deployment/web", "Deployment", "web", ""},
      {"sts/db", "StatefulSet", "db", ""},
      {"cronjob/nightly", "CronJob", "nightly", ""},
      {"jobs/once", "Job", "once", ""},
      {"rs/web-7c9f", "ReplicaSet", "web-7c9f", ""},
      {"job/", "", "", "names no object"},
      {"service/web", "", "", "\"service\" is not a kind explain reads"},
      {"pod/", "", "", "names no object"},
      {"team-a/pod/web", "", "", "not a kind"},
  };
  for (const auto& c : cases) {
    auto t = ParseTarget(c.arg, "team-a");
    if (!c.error_has.empty()) {
      ASSERT_FALSE(t.ok()) << c.arg;
      EXPECT_NE(t.message().find(c.error_has), std::string::npos) << t.message();
      continue;
    }
    ASSERT_TRUE(t.ok()) << c.arg << ": " << t.message();
    EXPECT_EQ(t->kind, c.kind) << c.arg;
    EXPECT_EQ(t->name, c.name) << c.arg;
    EXPECT_EQ(t->ns, "team-a");
  }
}

// ---- the reads, over a fake transport ----

class FakeApi : public kube::Transport {
 public:
  // Path (without query) → status and body; anything else is a 404.
  std::map<std::string, std::pair<long, json>> routes;
  std::vector<std::string> requests;

  Result<http::Response> Do(const http::Request& request, http::FailureKind*) override {
    std::lock_guard lock(mu_);
    std::string path = request.url.substr(request.url.find('/', std::string("https://").size()));
    requests.push_back(request.method + " " + path);
    path = path.substr(0, path.find('?'));
    http::Response r;
    auto it = routes.find(path);
    if (it == routes.end()) {
      r.status = 404;
      r.body =
          json({{"kind", "Status"}, {"code", 404}, {"reason", "NotFound"}, {"message", path + " not found"}})
              .dump();
    } else {
      r.status = it->second.first;
      r.body = it->second.second.dump();
    }
    return r;
  }

 private:
  std::mutex mu_;
};

json List(std::vector<json> items) {
  return {{"kind", "List"}, {"metadata", {{"resourceVersion", "1"}}}, {"items", std::move(items)}};
}

std::shared_ptr<FakeApi> ClusterApi(const Snapshot& s) {
  auto api = std::make_shared<FakeApi>();
  api->routes["/api/v1/namespaces/team-a/pods/web-0"] = {200, s.object};
  api->routes["/api/v1/namespaces/team-a"] = {200, s.namespace_object};
  api->routes["/version"] = {200, {{"gitVersion", s.apiserver_version}}};
  api->routes["/apis/promsidecar.io/v1alpha1/namespaces/monitoring/prometheusagents"] = {200, List(s.agents)};
  api->routes["/api/v1/nodes"] = {200, List(s.nodes)};
  api->routes["/api/v1/namespaces/team-a/limitranges"] = {200, List(s.limit_ranges)};
  api->routes["/apis/apps/v1/namespaces/team-a/replicasets/web-7c9f"] = {200, s.replica_set};
  return api;
}

kube::Config TestConfig() {
  kube::Config c;
  c.server = "https://api.test";
  return c;
}

TEST(ReadSnapshot, ReadsWhatTheWebhookReads) {
  auto api = ClusterApi(Cluster());
  kube::Client client(TestConfig(), api);
  auto s = ReadSnapshot(
      client, {.kind = "Pod", .ns = "team-a", .name = "web-0"},
      {.group = {"promsidecar.io"}, .agent_namespaces = {"monitoring"}, .node_selector = "pool=a"});
  ASSERT_TRUE(s.ok()) << s.message();
  // The same Explanation as from the snapshot the fake serves.
  Snapshot want = Cluster();
  want.node_selector = "pool=a";
  EXPECT_EQ(FormatText(Explain(*s, {})), FormatText(Explain(want, {})));
  bool selected = false;
  for (const auto& r : api->requests) {
    if (r.rfind("GET /api/v1/nodes?", 0) == 0)
      selected = r.find("labelSelector=pool%3Da") != std::string::npos;
    EXPECT_EQ(r.rfind("GET ", 0), 0u) << "explain only reads: " << r;
  }
  EXPECT_TRUE(selected) << "Nodes are listed with --webhook.node-selector";
}

TEST(ReadSnapshot, ReadsAWorkloadFromItsGroup) {
  Snapshot want = Cluster();
  want.target = {.kind = "Deployment", .ns = "team-a", .name = "web"};
  want.object = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}, {"namespace", "team-a"}}},
      {"spec",
       {{"template",
         {{"metadata", {{"annotations", {{api::kScrapeAnnotation, "true"}}}}}, {"spec", PodSpec()}}}}}};
  want.replica_set = nullptr;
  auto api = ClusterApi(want);
  api->routes["/apis/apps/v1/namespaces/team-a/deployments/web"] = {200, want.object};
  kube::Client client(TestConfig(), api);
  auto s =
      ReadSnapshot(client, want.target, {.group = {"promsidecar.io"}, .agent_namespaces = {"monitoring"}});
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(FormatText(Explain(*s, {})), FormatText(Explain(want, {})));
  EXPECT_EQ(Explain(*s, {}).decision.outcome, inject::Outcome::kInjected);
}

TEST(ReadSnapshot, ErrorsNameTheObjectAndTheFix) {
  struct {
    std::string name;
    std::function<void(FakeApi&)> change;
    std::string want;
  } cases[] = {
      {"pod missing", [](FakeApi& a) { a.routes.erase("/api/v1/namespaces/team-a/pods/web-0"); },
       "pod team-a/web-0 not found; list them with kubectl get pods -n team-a"},
      {"no CRD",
       [](FakeApi& a) {
         a.routes.erase("/apis/promsidecar.io/v1alpha1/namespaces/monitoring/prometheusagents");
       },
       "does not serve prometheusagents.promsidecar.io; install the CRD"},
      {"nodes forbidden",
       [](FakeApi& a) {
         a.routes["/api/v1/nodes"] = {
             403, {{"kind", "Status"}, {"code", 403}, {"reason", "Forbidden"}, {"message", "no"}}};
       },
       "cannot read Nodes: "},
      {"nodes forbidden fix",
       [](FakeApi& a) {
         a.routes["/api/v1/nodes"] = {
             403, {{"kind", "Status"}, {"code", 403}, {"reason", "Forbidden"}, {"message", "no"}}};
       },
       "kubectl auth can-i list nodes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto api = ClusterApi(Cluster());
    c.change(*api);
    kube::Client client(TestConfig(), api);
    auto s = ReadSnapshot(client, {.kind = "Pod", .ns = "team-a", .name = "web-0"},
                          {.group = {"promsidecar.io"}, .agent_namespaces = {"monitoring"}});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
  }
}

TEST(ExplainLive, PrintsTextOrJson) {
  auto api = ClusterApi(Cluster());
  kube::Client client(TestConfig(), api);
  cli::ClusterFlags flags;
  flags.agent_namespaces = {"monitoring"};
  for (const std::string output : {"", "json"}) {
    std::ostringstream out, err;
    int code = cli::ExplainLive(
        client, {.object = "pod/web-0", .ns = "team-a", .flags = flags, .output = output}, out, err);
    ASSERT_EQ(code, 0) << err.str();
    if (output == "json") {
      EXPECT_EQ(json::parse(out.str())["sidecar"]["state"], "missing") << out.str();
    } else {
      EXPECT_EQ(out.str(), ReadText(kGolden / "missing-sidecar.txt"));
    }
  }
  std::ostringstream out, err;
  EXPECT_EQ(cli::ExplainLive(client, {.object = "svc/web", .ns = "team-a", .flags = flags}, out, err), 2);
  EXPECT_NE(err.str().find("not a kind explain reads"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace promsidecar::explain
