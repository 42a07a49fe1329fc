// Focused rules of inject::Decide on pods built in code (the golden cases
// cover the same rules end to end).
#include "operator/inject/inject.h"

#include <gtest/gtest.h>

#include "operator/api/well_known.h"

namespace promsidecar::inject {
namespace {

using nlohmann::json;

json Pod(json annotations = {{"prometheus.operator.io/scrape", "true"}}) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "p"}, {"namespace", "apps"}}},
              {"spec", {{"containers", {{{"name", "app"}, {"image", "app:1"}}}}}}};
  if (!annotations.is_null()) pod["metadata"]["annotations"] = annotations;
  return pod;
}

api::Agent MakeAgent(const std::string& ns, const std::string& name, json sidecar = json::object(),
                     json spec_extra = json::object()) {
  json spec = {{"mode", "Sidecar"}, {"sidecar", sidecar}};
  spec.update(spec_extra);
  auto a = api::ParseAgent({{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", spec}});
  EXPECT_TRUE(a.ok()) << a.message();
  return *a;
}

ClusterFacts Facts(std::vector<api::Agent> agents) {
  ClusterFacts f;
  f.agents = std::move(agents);
  f.apiserver_version = "v1.34.1";
  f.node_kubelet_versions = {"v1.34.1"};
  return f;
}

const json* Container(const json& pod, const std::string& name) {
  for (const char* field : {"initContainers", "containers"}) {
    if (!pod["spec"].contains(field)) continue;
    for (const json& c : pod["spec"][field]) {
      if (c["name"] == name) return &c;
    }
  }
  return nullptr;
}

TEST(EscapeJsonPointer, EscapesTildeAndSlash) {
  EXPECT_EQ(EscapeJsonPointer("prometheus.operator.io/agent"), "prometheus.operator.io~1agent");
  EXPECT_EQ(EscapeJsonPointer("a~b/c"), "a~0b~1c");
  EXPECT_EQ(EscapeJsonPointer("plain"), "plain");
}

TEST(ParseKubeVersion, ReadsVendorSpellings) {
  int major = 0, minor = 0;
  ASSERT_TRUE(ParseKubeVersion("v1.29.3-eks-1234", &major, &minor));
  EXPECT_EQ(major, 1);
  EXPECT_EQ(minor, 29);
  ASSERT_TRUE(ParseKubeVersion("1.30+", &major, &minor));
  EXPECT_EQ(minor, 30);
  EXPECT_FALSE(ParseKubeVersion("", &major, &minor));
  EXPECT_FALSE(ParseKubeVersion("latest", &major, &minor));
}

TEST(Decide, PatchCreatesMissingMapsAndLists) {
  json pod = Pod();
  ClusterFacts f = Facts({MakeAgent("apps", "a")});
  InjectionResult r = Decide(pod, "apps", f);
  ASSERT_EQ(r.outcome, Outcome::kInjected) << r.message;
  std::set<std::string> paths;
  for (const json& op : r.patch) paths.insert(op["path"]);
  EXPECT_TRUE(paths.count("/metadata/labels")) << r.patch.dump();
  EXPECT_TRUE(paths.count("/spec/initContainers"));
  EXPECT_TRUE(paths.count("/spec/volumes"));
  EXPECT_TRUE(paths.count("/metadata/annotations/prometheus.operator.io~1injection-status"));
  json after = pod.patch(r.patch);
  EXPECT_EQ(after["metadata"]["labels"][api::kAgentLabel], "apps.a");

  // No annotations map at all cannot happen for an opted-in pod, but a skip
  // of a pod without labels creates the labels map.
  InjectionResult skip = Decide(pod, "apps", Facts({}));
  ASSERT_EQ(skip.outcome, Outcome::kSkipped);
  json skipped = pod.patch(skip.patch);
  EXPECT_EQ(skipped["metadata"]["labels"][api::kInjectionLabel], "skipped");
}

TEST(Decide, AppendsToExistingListsWithoutTouchingThem) {
  json pod = Pod();
  pod["metadata"]["labels"] = {{"app", "web"}};
  pod["spec"]["volumes"] = {{{"name", "data"}, {"emptyDir", json::object()}}};
  pod["spec"]["initContainers"] = {{{"name", "setup"}, {"image", "setup:1"}}};
  InjectionResult r = Decide(pod, "apps", Facts({MakeAgent("apps", "a")}));
  ASSERT_EQ(r.outcome, Outcome::kInjected);
  json after = pod.patch(r.patch);
  EXPECT_EQ(after["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(after["spec"]["volumes"][0]["name"], "data");
  EXPECT_EQ(after["spec"]["volumes"].size(), 5u);
  // Without mesh containers our native sidecar goes first, so it runs while
  // the app's own init containers do.
  EXPECT_EQ(after["spec"]["initContainers"][0]["name"], api::kAgentContainerName);
  EXPECT_EQ(after["spec"]["initContainers"][1]["name"], "setup");
}

TEST(Decide, NativeAutoNeedsEveryKubeletAt129) {
  ClusterFacts f = Facts({MakeAgent("apps", "a")});
  f.node_kubelet_versions = {"v1.31.0", "v1.29.0"};
  EXPECT_TRUE(Decide(Pod(), "apps", f).native_sidecar);
  f.node_kubelet_versions.push_back("v1.28.15");
  EXPECT_FALSE(Decide(Pod(), "apps", f).native_sidecar);
  f.node_kubelet_versions = {"garbage"};
  EXPECT_FALSE(Decide(Pod(), "apps", f).native_sidecar) << "an unreadable version counts as old";
  f.node_kubelet_versions = {};
  f.apiserver_version = "";
  EXPECT_FALSE(Decide(Pod(), "apps", f).native_sidecar) << "an unknown API server counts as old";
  f.apiserver_version = "v1.30.0";
  EXPECT_TRUE(Decide(Pod(), "apps", f).native_sidecar) << "no Nodes yet: the API server decides";
}

TEST(Decide, RegularContainerKeepsKubectlDefaultingToTheApp) {
  ClusterFacts f = Facts({MakeAgent("apps", "a", {{"nativeSidecar", "never"}})});
  json after = Pod().patch(Decide(Pod(), "apps", f).patch);
  EXPECT_EQ(after["metadata"]["annotations"][api::kDefaultContainerAnnotation], "app");
  EXPECT_EQ(after["spec"]["containers"][1]["name"], api::kAgentContainerName);
  EXPECT_FALSE(after["spec"]["containers"][1].contains("restartPolicy"));
}

TEST(Decide, JobsAreRecognisedByOwnerOrLabel) {
  ClusterFacts f = Facts({MakeAgent("apps", "a", {{"nativeSidecar", "never"}})});
  json by_owner = Pod();
  by_owner["metadata"]["ownerReferences"] = {{{"kind", "Job"}, {"name", "j"}, {"apiVersion", "batch/v1"}}};
  EXPECT_EQ(Decide(by_owner, "apps", f).reason, "JobWithoutNativeSidecar");
  json by_label = Pod();
  by_label["metadata"]["labels"] = {{"job-name", "j"}};
  EXPECT_EQ(Decide(by_label, "apps", f).reason, "JobWithoutNativeSidecar");
  json replicaset = Pod();
  replicaset["metadata"]["ownerReferences"] = {
      {{"kind", "ReplicaSet"}, {"name", "r"}, {"apiVersion", "apps/v1"}}};
  EXPECT_EQ(Decide(replicaset, "apps", f).outcome, Outcome::kInjected);
}

TEST(Decide, WindowsByRequiredNodeAffinity) {
  json pod = Pod();
  pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
     ["nodeSelectorTerms"] = {
         {{"matchExpressions",
           {{{"key", "kubernetes.io/os"}, {"operator", "In"}, {"values", {"windows"}}}}}}};
  EXPECT_EQ(Decide(pod, "apps", Facts({MakeAgent("apps", "a")})).reason, "Windows");
  // A term that also admits Linux nodes is not Windows-only.
  pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
     ["nodeSelectorTerms"]
         .push_back({{"matchExpressions",
                      {{{"key", "kubernetes.io/os"}, {"operator", "In"}, {"values", {"linux"}}}}}});
  EXPECT_EQ(Decide(pod, "apps", Facts({MakeAgent("apps", "a")})).outcome, Outcome::kInjected);
}

TEST(Decide, OperatorNamespaceAndSystemNamespacesAreNeverTouched) {
  ClusterFacts f = Facts({MakeAgent("promsidecar-system", "a"), MakeAgent("kube-public", "b")});
  EXPECT_EQ(Decide(Pod(), "promsidecar-system", f).outcome, Outcome::kNotApplicable);
  EXPECT_EQ(Decide(Pod(), "kube-public", f).outcome, Outcome::kNotApplicable);
  EXPECT_TRUE(Decide(Pod(), "kube-public", f).patch.empty());
}

TEST(Decide, LegacyPodsOutsideAnAdmittingAgentAreNotOurs) {
  json pod = Pod({{"prometheus.io/scrape", "true"}});
  // The default agent honours legacy annotations but does not admit "apps".
  ClusterFacts f = Facts({MakeAgent("monitoring", "d",
                                    {{"default", true},
                                     {"legacyAnnotations", true},
                                     {"namespaceSelector", {{"matchLabels", {{"team", "x"}}}}}})});
  InjectionResult r = Decide(pod, "apps", f);
  EXPECT_EQ(r.outcome, Outcome::kNotApplicable);
  EXPECT_TRUE(r.warnings.empty()) << "some other Prometheus scrapes such pods: stay silent";
  f.namespace_labels = {{"team", "x"}};
  EXPECT_EQ(Decide(pod, "apps", f).outcome, Outcome::kInjected);
}

TEST(Decide, NamespaceSelectorSeesTheImplicitNameLabel) {
  ClusterFacts f = Facts(
      {MakeAgent("monitoring", "d",
                 {{"default", true},
                  {"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", "apps"}}}}}})});
  EXPECT_EQ(Decide(Pod(), "apps", f).outcome, Outcome::kInjected);
  EXPECT_EQ(Decide(Pod(), "other", f).reason, "NamespaceNotAdmitted");
}

TEST(Decide, TwoDefaultsPickOneAndWarn) {
  json sel = {{"default", true}, {"namespaceSelector", json::object()}};
  ClusterFacts f = Facts({MakeAgent("z", "d2", sel), MakeAgent("monitoring", "d1", sel)});
  InjectionResult r = Decide(Pod(), "apps", f);
  ASSERT_EQ(r.outcome, Outcome::kInjected);
  EXPECT_EQ(r.agent, "monitoring/d1");
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("default"), std::string::npos);
}

TEST(Decide, LimitRangeWithEmptyWindowSkips) {
  ClusterFacts f = Facts({MakeAgent("apps", "a")});
  f.limit_ranges = {json::parse(R"({"metadata": {"name": "odd"}, "spec": {"limits": [
      {"type": "Container", "min": {"cpu": "200m"}, "max": {"cpu": "100m"}}]}})")};
  InjectionResult r = Decide(Pod(), "apps", f);
  EXPECT_EQ(r.reason, "LimitRange");
  EXPECT_NE(r.message.find("odd"), std::string::npos) << r.message;
}

TEST(Decide, LimitRangeMinimumRaisesRequestAndLimit) {
  ClusterFacts f = Facts({MakeAgent("apps", "a")});
  f.limit_ranges = {json::parse(R"({"metadata": {"name": "floor"}, "spec": {"limits": [
      {"type": "Container", "min": {"cpu": "100m", "memory": "128Mi"}},
      {"type": "Pod", "max": {"cpu": "1m"}}]}})")};
  InjectionResult r = Decide(Pod(), "apps", f);
  ASSERT_EQ(r.outcome, Outcome::kInjected) << r.message;
  const json* c = Container(Pod().patch(r.patch), api::kAgentContainerName);
  ASSERT_NE(c, nullptr);
  json after = Pod().patch(r.patch);
  c = Container(after, api::kAgentContainerName);
  EXPECT_EQ((*c)["resources"]["requests"]["cpu"], "100m");
  EXPECT_EQ((*c)["resources"]["limits"]["cpu"], "100m");
  EXPECT_EQ((*c)["resources"]["requests"]["memory"], "128Mi");
  EXPECT_EQ((*c)["resources"]["limits"]["memory"], "128Mi");
}

TEST(Decide, PrometheusEngineFlagsFollowTheVersion) {
  auto args_of = [](const api::Agent& a) {
    json after = Pod().patch(Decide(Pod(), "apps", Facts({a})).patch);
    const json* c = Container(after, api::kPrometheusContainerName);
    EXPECT_NE(c, nullptr);
    return c ? (*c)["args"].get<std::vector<std::string>>() : std::vector<std::string>{};
  };
  auto has = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  json engine = {{"engine", "prometheus"}};
  auto v3 = args_of(MakeAgent("apps", "a", engine, {{"version", "3.0.1"}}));
  EXPECT_TRUE(has(v3, "--agent"));
  EXPECT_FALSE(has(v3, "--enable-feature=agent"));
  EXPECT_TRUE(has(v3, "--web.enable-lifecycle"));
  auto v2 = args_of(MakeAgent("apps", "a", engine, {{"version", "v2.42.0"}}));
  EXPECT_TRUE(has(v2, "--enable-feature=agent"));
  EXPECT_FALSE(has(v2, "--agent"));
  // The version may come from the image tag alone.
  auto from_image = args_of(MakeAgent("apps", "a", engine, {{"image", "mirror.local/prometheus:v2.53.1"}}));
  EXPECT_TRUE(has(from_image, "--enable-feature=agent"));
  json after = Pod().patch(
      Decide(Pod(), "apps", Facts({MakeAgent("apps", "a", engine, {{"version", "v2.42.0"}})})).patch);
  EXPECT_EQ((*Container(after, api::kPrometheusContainerName))["image"],
            "quay.io/prometheus/prometheus:v2.42.0");
  // A digest says nothing about the version: warn and use the default's flags.
  InjectionResult r =
      Decide(Pod(), "apps", Facts({MakeAgent("apps", "a", engine, {{"image", "prom@sha256:0123abcd"}})}));
  bool warned = false;
  for (const std::string& w : r.warnings)
    warned = warned || w.find("Prometheus version") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(Decide, HashIgnoresRemoteWriteButNotTheImage) {
  api::Agent a = MakeAgent("apps", "a");
  std::string h1 = Decide(Pod(), "apps", Facts({a})).fragment_hash;
  a.remote_write.push_back({.url = "https://elsewhere.example.com/write"});
  a.external_labels["x"] = "y";
  EXPECT_EQ(Decide(Pod(), "apps", Facts({a})).fragment_hash, h1);
  a.sidecar.image = "example.com/agent:v9";
  EXPECT_NE(Decide(Pod(), "apps", Facts({a})).fragment_hash, h1);
}

api::RemoteWrite ProjectedTokenWrite(const std::string& audience, int64_t expiration = 3600) {
  api::RemoteWrite rw{.url = "https://metrics.example.com/api/v1/write"};
  rw.authorization = api::Authorization{};
  rw.authorization->projected_token = api::ProjectedServiceAccountToken{audience, expiration};
  return rw;
}

TEST(Decide, ProjectedTokenVolumesArePartOfTheHash) {
  // Pods must be re-created to get a token for a new audience: the hash
  // marks them outdated. Another entry for an audience already mounted (with
  // a longer expiration) needs nothing new.
  api::Agent a = MakeAgent("apps", "a");
  a.remote_write.push_back(ProjectedTokenWrite("metrics"));
  InjectionResult first = Decide(Pod(), "apps", Facts({a}));
  ASSERT_EQ(first.outcome, Outcome::kInjected);
  a.remote_write.push_back(ProjectedTokenWrite("metrics", 7200));
  EXPECT_EQ(Decide(Pod(), "apps", Facts({a})).fragment_hash, first.fragment_hash);
  a.remote_write.push_back(ProjectedTokenWrite("other"));
  InjectionResult second = Decide(Pod(), "apps", Facts({a}));
  EXPECT_NE(second.fragment_hash, first.fragment_hash);

  // What the controller does: strip, decide again, compare.
  json after = Pod().patch(second.patch);
  EXPECT_EQ(Decide(StripInjection(after), "apps", Facts({a})).fragment_hash, second.fragment_hash);
  json stripped = StripInjection(after);
  for (const json& v : stripped["spec"].value("volumes", json::array())) {
    EXPECT_FALSE(api::IsInjectedVolumeName(v["name"].get<std::string>())) << v["name"];
  }
}

TEST(Decide, PodVolumeWithOurTokenPrefixIsANameCollision) {
  api::Agent a = MakeAgent("apps", "a");
  json pod = Pod();
  pod["spec"]["volumes"] = {
      {{"name", std::string(api::kProjectedTokenVolumePrefix) + "mine"}, {"emptyDir", json::object()}}};
  InjectionResult r = Decide(pod, "apps", Facts({a}));
  EXPECT_EQ(r.outcome, Outcome::kSkipped);
  EXPECT_EQ(r.reason, "NameCollision");
}

TEST(Decide, ShutdownGraceFollowsTheTerminationGracePeriod) {
  auto grace_of = [](int64_t tgps) {
    json pod = Pod();
    pod["spec"]["terminationGracePeriodSeconds"] = tgps;
    json after = pod.patch(Decide(pod, "apps", Facts({MakeAgent("apps", "a")})).patch);
    for (const std::string arg : (*Container(after, api::kAgentContainerName))["args"]) {
      if (arg.rfind("--shutdown.grace=", 0) == 0) return arg.substr(17);
    }
    return std::string();
  };
  EXPECT_EQ(grace_of(30), "25s");
  EXPECT_EQ(grace_of(120), "1m55s");
  EXPECT_EQ(grace_of(4), "2s");
  EXPECT_EQ(grace_of(0), "1s");
}

TEST(Decide, BadNativeSidecarAnnotationWarnsAndFallsBack) {
  json pod =
      Pod({{"prometheus.operator.io/scrape", "true"}, {"prometheus.operator.io/native-sidecar", "maybe"}});
  InjectionResult r = Decide(pod, "apps", Facts({MakeAgent("apps", "a")}));
  EXPECT_EQ(r.outcome, Outcome::kInjected);
  EXPECT_TRUE(r.native_sidecar);
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("maybe"), std::string::npos);
}

TEST(Decide, InvalidInputIsNotApplicable) {
  EXPECT_EQ(Decide(json("nope"), "apps", Facts({})).reason, "InvalidPod");
  EXPECT_EQ(Decide(json::object(), "apps", Facts({})).reason, "InvalidPod");
}

TEST(ParseClusterFacts, ReadsSettings) {
  auto f = ParseClusterFacts(json::parse(R"({"apiserverVersion": "v1.30.0", "settings": {"agentPort": 59000,
      "agentImage": "x/agent:v1", "defaultWalSizeLimit": "512Mi", "excludedNamespaces": ["a"]}})"));
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->settings.agent_port, 59000);
  EXPECT_EQ(f->settings.agent_image, "x/agent:v1");
  EXPECT_EQ(f->settings.default_wal_size_limit, 512u << 20);
  EXPECT_EQ(f->settings.excluded_namespaces, std::vector<std::string>{"a"});
  EXPECT_FALSE(ParseClusterFacts(json::parse(R"({"nodeKubeletVersions": "v1"})")).ok());
}

// spec.logLevel/logFormat reach every injected container that logs; unset,
// no flag (each binary keeps its own default).
TEST(Decide, LogLevelAndFormatBecomeFlagsOfTheInjectedContainers) {
  struct Case {
    json sidecar;
    json spec;
    std::vector<std::string> containers;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases{
      {json::object(), json::object(), {api::kAgentContainerName}, {}},
      {json::object(),
       {{"logLevel", "debug"}, {"logFormat", "json"}},
       {api::kAgentContainerName},
       {"--log.level=debug", "--log.format=json"}},
      {{{"engine", "prometheus"}},
       {{"logLevel", "warn"}},
       {api::kAgentContainerName, api::kPrometheusContainerName},
       {"--log.level=warn"}},
  };
  for (const Case& c : cases) {
    json after = Pod().patch(Decide(Pod(), "apps", Facts({MakeAgent("apps", "a", c.sidecar, c.spec)})).patch);
    for (const std::string& name : c.containers) {
      const json* container = Container(after, name);
      ASSERT_NE(container, nullptr) << name << " in " << c.spec.dump();
      std::vector<std::string> flags;
      for (const json& arg : (*container)["args"]) {
        const std::string a = arg.get<std::string>();
        if (a.starts_with("--log.")) flags.push_back(a);
      }
      EXPECT_EQ(flags, c.want) << name << " in " << c.spec.dump();
    }
  }
}

// ---------- named scrape ports ----------

json Container(const std::string& name, json ports, const std::string& restart_policy = "") {
  json c = {{"name", name}, {"image", name + ":1"}, {"ports", json::array()}};
  for (const auto& [port_name, number] : ports.items()) {
    c["ports"].push_back({{"name", port_name}, {"containerPort", number}});
  }
  if (!restart_policy.empty()) c["restartPolicy"] = restart_policy;
  return c;
}

struct NamedPortCase {
  std::string name;
  std::string port_annotation;
  json containers;
  json init_containers;  // null: none
  Outcome want_outcome;
  std::string want_container_ports;  // the annotation for the agent; empty: absent
  std::string warning_substr;        // empty: no warning (on a skip: the skip's message)
  bool legacy_agent = false;
  std::string annotation_key = api::kPortAnnotation;
};

TEST(DecideNamedPorts, Table) {
  const json app = Container("app", {{"http", 8080}});
  const json exporter = Container("exporter", {{"http-metrics", 9102}});
  const NamedPortCase cases[] = {
      {"name in the first container",
       "http",
       {app, exporter},
       nullptr,
       Outcome::kInjected,
       "http=8080,http-metrics=9102",
       ""},
      {"name in the second container",
       "http-metrics",
       {app, exporter},
       nullptr,
       Outcome::kInjected,
       "http=8080,http-metrics=9102",
       ""},
      {"name in a native sidecar",
       "admin",
       {app},
       {Container("proxy", {{"admin", 15000}}, "Always")},
       Outcome::kInjected,
       "admin=15000,http=8080",
       ""},
      // A plain init container has exited before the first scrape.
      {"name in a plain init container",
       "migrate-stats",
       {app},
       {Container("migrate", {{"migrate-stats", 7000}})},
       Outcome::kSkipped,
       "",
       "\"migrate-stats\" is not a port number nor a port name of the pod's containers "
       "(they declare: http); no port is left to scrape"},
      {"unknown name",
       "grpc",
       {app, exporter},
       nullptr,
       Outcome::kSkipped,
       "",
       "they declare: http http-metrics"},
      {"unknown name beside a number",
       "9090,grpc",
       {app},
       nullptr,
       Outcome::kInjected,
       "http=8080",
       "annotation prometheus.operator.io/port: \"grpc\" is not a port number nor a port name of the pod's "
       "containers (they declare: http); the agent skips that target"},
      {"unknown name beside a known one",
       "http, grpc",
       {app},
       nullptr,
       Outcome::kInjected,
       "http=8080",
       "\"grpc\" is not a port number"},
      {"ambiguous name",
       "metrics",
       {Container("a", {{"metrics", 8080}}), Container("b", {{"metrics", 9102}})},
       nullptr,
       Outcome::kSkipped,
       "",
       "containers of the pod declare as 8080 and 9102; use the number instead"},
      {"the same name and number twice",
       "metrics",
       {Container("a", {{"metrics", 8080}}), Container("b", {{"metrics", 8080}})},
       nullptr,
       Outcome::kInjected,
       "metrics=8080,metrics=8080",
       ""},
      // The agent scrapes over TCP: a UDP port's name is not a target.
      {"name of a UDP port",
       "dns",
       {json::parse(R"({"name": "app", "image": "app:1", "ports": [
           {"name": "dns", "containerPort": 53, "protocol": "UDP"},
           {"name": "http", "containerPort": 8080, "protocol": "TCP"}]})")},
       nullptr,
       Outcome::kSkipped,
       "",
       "(they declare: http)"},
      // Numbers are not the webhook's to judge, as before: the agent reports a bad one.
      {"numeric port unchanged", "8080", {app}, nullptr, Outcome::kInjected, "http=8080", ""},
      {"bad number left to the agent", "99999", {app}, nullptr, Outcome::kInjected, "http=8080", ""},
      {"no named ports at all",
       "metrics",
       {Container("app", json::object())},
       nullptr,
       Outcome::kSkipped,
       "",
       "the pod's containers declare no named ports"},
      {"legacy annotation of a legacy agent",
       "grpc",
       {app},
       nullptr,
       Outcome::kSkipped,
       "",
       "annotation prometheus.io/port: \"grpc\"",
       true,
       api::kLegacyPortAnnotation},
      {"legacy annotation ignored without legacy",
       "grpc",
       {app},
       nullptr,
       Outcome::kInjected,
       "http=8080",
       "",
       false,
       api::kLegacyPortAnnotation},
  };
  for (const NamedPortCase& c : cases) {
    SCOPED_TRACE(c.name);
    json pod = Pod({{api::kScrapeAnnotation, "true"}, {c.annotation_key, c.port_annotation}});
    pod["spec"]["containers"] = c.containers;
    if (!c.init_containers.is_null()) pod["spec"]["initContainers"] = c.init_containers;
    ClusterFacts f = Facts({MakeAgent("apps", "a", {{"legacyAnnotations", c.legacy_agent}})});
    InjectionResult r = Decide(pod, "apps", f);
    ASSERT_EQ(r.outcome, c.want_outcome) << r.message;
    json mutated = pod.patch(r.patch);
    const json& annotations = mutated["metadata"]["annotations"];
    if (c.want_outcome == Outcome::kSkipped) {
      EXPECT_EQ(r.reason, "UnresolvedPortName");
      EXPECT_NE(r.message.find(c.warning_substr), std::string::npos) << r.message;
      EXPECT_NE(annotations.value(api::kSkipReasonAnnotation, "").find(c.warning_substr), std::string::npos);
      ASSERT_EQ(r.warnings.size(), 1u);
      EXPECT_NE(r.warnings[0].find(c.warning_substr), std::string::npos) << r.warnings[0];
      EXPECT_FALSE(annotations.contains(api::kContainerPortsAnnotation));
      continue;
    }
    EXPECT_EQ(annotations.value(api::kContainerPortsAnnotation, ""), c.want_container_ports);
    if (c.warning_substr.empty()) {
      EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
    } else {
      ASSERT_EQ(r.warnings.size(), 1u);
      EXPECT_NE(r.warnings[0].find(c.warning_substr), std::string::npos) << r.warnings[0];
    }
    // The controller re-runs Decide on the stripped pod: the annotation must go.
    EXPECT_FALSE(StripInjection(mutated)["metadata"]["annotations"].contains(api::kContainerPortsAnnotation));
  }
}

}  // namespace
}  // namespace promsidecar::inject
