// Golden files for inject::Decide, plus hand-written rules every case must
// satisfy. The golden files are not trusted because the code wrote them
// (PROMSIDECAR_UPDATE_GOLDEN=1 rewrites them): the rules below, and the
// server-side dry run of every want-pod.json (operator_golden_dryrun_test),
// are what make them believable.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "common/util/units.h"
#include "golden_util.h"
#include "operator/api/quantity.h"
#include "operator/api/well_known.h"
#include "operator/cli/yaml_json.h"

namespace promsidecar::inject {
namespace {

using nlohmann::json;
using testing::GoldenCase;
namespace fs = std::filesystem;

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

json ResultJson(const InjectionResult& r) {
  return {{"outcome", std::string(OutcomeName(r.outcome))},
          {"reason", r.reason},
          {"message", r.message},
          {"agent", r.agent},
          {"nativeSidecar", r.native_sidecar},
          {"warnings", r.warnings}};
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesGoldenFiles) {
  GoldenCase c;
  ASSERT_TRUE(testing::LoadGoldenCase(GetParam(), &c));
  InjectionResult r = Decide(c.pod, c.pod_namespace, c.facts);
  json mutated = c.pod.patch(r.patch);
  std::map<std::string, std::string> files{
      {"want-patch.json", r.patch.dump(2) + "\n"},
      {"want-pod.json", mutated.dump(2) + "\n"},
      {"want-result.json", ResultJson(r).dump(2) + "\n"},
  };
  for (const auto& [file, text] : files) {
    fs::path path = c.dir / file;
    if (testing::UpdateGolden()) {
      WriteText(path, text);
      continue;
    }
    ASSERT_TRUE(fs::exists(path)) << path << " is missing; run with PROMSIDECAR_UPDATE_GOLDEN=1";
    EXPECT_EQ(json::parse(testing::ReadText(path)), json::parse(text))
        << c.name << "/" << file << " differs; if the change is intended, regenerate with "
        << "PROMSIDECAR_UPDATE_GOLDEN=1 and review the diff";
  }
}

std::string CaseName(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Inject, GoldenTest, ::testing::ValuesIn(testing::GoldenCaseNames()), CaseName);

// ---------- the rules, written by hand ----------

struct Expectation {
  Outcome outcome;
  std::string reason;  // for skips
  int native = -1;     // 1 native sidecar, 0 regular container, -1 not checked
  std::string agent;   // "<ns>/<name>" when checked
};

const std::map<std::string, Expectation>& Expectations() {
  static const std::map<std::string, Expectation> kTable{
      {"native-basic", {Outcome::kInjected, "", 1, "monitoring/agent-example"}},
      {"regular-old-kubelet", {Outcome::kInjected, "", 0}},
      {"regular-old-apiserver", {Outcome::kInjected, "", 0}},
      {"native-always-old-kubelet", {Outcome::kInjected, "", 1}},
      {"native-never", {Outcome::kInjected, "", 0}},
      {"pod-override-native-never", {Outcome::kInjected, "", 0}},
      {"selector-namespace-name", {Outcome::kInjected, "", 1, "monitoring/agent-example"}},
      {"selector-name-only", {Outcome::kInjected, "", 1, "monitoring/agent-b"}},
      {"ambiguous-agents", {Outcome::kSkipped, "AmbiguousAgent"}},
      {"cluster-default", {Outcome::kInjected, "", 1, "monitoring/cluster-default"}},
      {"single-agent-beats-default", {Outcome::kInjected, "", 1, "shop/shop-agent"}},
      {"no-agent", {Outcome::kSkipped, "NoAgent"}},
      {"agent-not-found", {Outcome::kSkipped, "AgentNotFound"}},
      {"bad-agent-selector", {Outcome::kSkipped, "BadAgentSelector"}},
      {"agent-not-sidecar", {Outcome::kSkipped, "AgentNotSidecar"}},
      {"namespace-not-admitted", {Outcome::kSkipped, "NamespaceNotAdmitted"}},
      {"namespace-default-own-only", {Outcome::kSkipped, "NamespaceNotAdmitted"}},
      {"agent-paused", {Outcome::kSkipped, "AgentPaused"}},
      {"host-network", {Outcome::kSkipped, "HostNetwork"}},
      {"windows-node-selector", {Outcome::kSkipped, "Windows"}},
      {"windows-os-field", {Outcome::kSkipped, "Windows"}},
      {"job-without-native-sidecar", {Outcome::kSkipped, "JobWithoutNativeSidecar"}},
      {"job-native-sidecar", {Outcome::kInjected, "", 1}},
      {"container-name-collision", {Outcome::kSkipped, "NameCollision"}},
      {"volume-name-collision", {Outcome::kSkipped, "NameCollision"}},
      {"mesh-init-placement", {Outcome::kInjected, "", 1}},
      {"not-opted-in", {Outcome::kNotApplicable, "NotOptedIn"}},
      {"scrape-false", {Outcome::kNotApplicable, "NotOptedIn"}},
      {"excluded-namespace", {Outcome::kNotApplicable, "NamespaceExcluded"}},
      {"namespace-opt-in-label-missing", {Outcome::kNotApplicable, "NamespaceExcluded"}},
      {"namespace-opt-in-label-present", {Outcome::kInjected, "", 1}},
      {"legacy-annotation-injected", {Outcome::kInjected, "", 1}},
      {"legacy-annotation-ignored", {Outcome::kNotApplicable, "NotOptedIn"}},
      {"limitrange-clamped", {Outcome::kInjected, "", 1}},
      {"limitrange-no-fit", {Outcome::kSkipped, "LimitRange"}},
      {"limitrange-ephemeral-shrinks-wal", {Outcome::kInjected, "", 1}},
      {"engine-prometheus-v3", {Outcome::kInjected, "", 1}},
      {"engine-prometheus-v2-regular", {Outcome::kInjected, "", 0}},
      {"wal-size-limit", {Outcome::kInjected, "", 1}},
      {"custom-image-resources-security", {Outcome::kInjected, "", 1}},
      {"skipped-before-now-injected", {Outcome::kInjected, "", 1}},
      {"port-collision-warning", {Outcome::kInjected, "", 1}},
      {"seed-group-agent", {Outcome::kInjected, "", 1}},
      {"json-input", {Outcome::kInjected, "", 1}},
      // The seed's own example: a pod in "default" naming monitoring/agent-example,
      // which (without a namespaceSelector) serves only its own namespace.
      {"seed-example", {Outcome::kSkipped, "NamespaceNotAdmitted"}},
      {"projected-token-native", {Outcome::kInjected, "", 1, "monitoring/agent-example"}},
      {"projected-token-regular", {Outcome::kInjected, "", 0, "monitoring/agent-example"}},
      {"projected-token-engine-prometheus", {Outcome::kInjected, "", 1, "monitoring/agent-example"}},
      {"named-port-second-container", {Outcome::kInjected, "", 1}},
      {"named-port-native-sidecar", {Outcome::kInjected, "", 1}},
      {"named-port-partly-unknown", {Outcome::kInjected, "", 1}},
      {"named-port-unknown", {Outcome::kSkipped, "UnresolvedPortName"}},
      {"named-port-ambiguous", {Outcome::kSkipped, "UnresolvedPortName"}},
      {"already-injected", {Outcome::kAlreadyInjected, ""}},
      {"reinvocation-mesh-reorder", {Outcome::kAlreadyInjected, ""}},
  };
  return kTable;
}

TEST(GoldenCoverage, EveryCaseHasAnExpectationAndTheReverse) {
  std::vector<std::string> names = testing::GoldenCaseNames();
  EXPECT_GE(names.size(), 25u);
  for (const std::string& n : names) EXPECT_TRUE(Expectations().count(n)) << n << " has no expectation";
  for (const auto& [n, e] : Expectations()) {
    EXPECT_TRUE(fs::exists(testing::GoldenRoot() / n)) << n << " has no golden directory";
  }
}

const json* FindByName(const json& list, const std::string& name) {
  if (!list.is_array()) return nullptr;
  for (const json& item : list) {
    if (item.value("name", "") == name) return &item;
  }
  return nullptr;
}

int64_t Milli(const json& q) {
  auto v = api::ParseQuantityMilli(q.is_string() ? q.get<std::string>() : q.dump());
  EXPECT_TRUE(v.ok()) << q;
  return v.ok() ? *v : -1;
}

std::vector<std::string> Args(const json& c) {
  return c.value("args", std::vector<std::string>{});
}

std::string ArgValue(const json& c, const std::string& flag) {
  for (const std::string& a : Args(c)) {
    if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
  }
  return "";
}

void CheckHardened(const json& c) {
  const json& sc = c["securityContext"];
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["allowPrivilegeEscalation"], false);
  EXPECT_EQ(sc["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(sc["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_FALSE(c.contains("readinessProbe")) << "a sidecar must never gate the pod's readiness";
  EXPECT_FALSE(c.contains("startupProbe")) << "a sidecar must never delay the app";
}

void CheckResources(const json& c, const std::vector<json>& limit_ranges) {
  for (const char* res : {"cpu", "memory", "ephemeral-storage"}) {
    ASSERT_TRUE(c["resources"]["requests"].contains(res)) << res;
    ASSERT_TRUE(c["resources"]["limits"].contains(res)) << res;
    int64_t req = Milli(c["resources"]["requests"][res]);
    int64_t lim = Milli(c["resources"]["limits"][res]);
    EXPECT_LE(req, lim) << res;
    // What the LimitRanger admission plugin enforces, recomputed here.
    for (const json& lr : limit_ranges) {
      for (const json& item : lr["spec"]["limits"]) {
        if (item.value("type", "") != "Container") continue;
        if (item.contains("max") && item["max"].contains(res)) {
          EXPECT_LE(lim, Milli(item["max"][res])) << res;
        }
        if (item.contains("min") && item["min"].contains(res)) {
          EXPECT_GE(req, Milli(item["min"][res])) << res;
        }
        if (item.contains("maxLimitRequestRatio") && item["maxLimitRequestRatio"].contains(res)) {
          EXPECT_LE(static_cast<double>(lim) / static_cast<double>(req),
                    static_cast<double>(Milli(item["maxLimitRequestRatio"][res])) / 1000.0)
              << res;
        }
      }
    }
  }
}

// Remote-write tokens: one projected volume per distinct audience of the
// selected agent, mounted read-only under kProjectedTokenRoot by the one
// container that sends, and by no other container.
void CheckProjectedTokens(const GoldenCase& c, const InjectionResult& r, const json& before,
                          const json& after, bool prometheus_engine) {
  std::map<std::string, int64_t> want;  // audience → shortest expirationSeconds
  for (const api::Agent& a : c.facts.agents) {
    if (a.Ref() != r.agent) continue;
    for (const api::RemoteWrite& rw : a.remote_write) {
      if (!rw.authorization || !rw.authorization->projected_token) continue;
      const auto& t = *rw.authorization->projected_token;
      auto [it, inserted] = want.emplace(t.audience, t.expiration_seconds);
      if (!inserted) it->second = std::min(it->second, t.expiration_seconds);
    }
  }
  std::map<std::string, std::string> ours;  // volume name → audience
  for (const json& v : after["spec"]["volumes"]) {
    std::string name = v["name"];
    if (name.rfind(api::kProjectedTokenVolumePrefix, 0) != 0) continue;
    ASSERT_EQ(FindByName(before["spec"].value("volumes", json::array()), name), nullptr);
    const json& sources = v["projected"]["sources"];
    ASSERT_EQ(sources.size(), 1u) << name;
    const json& sat = sources[0]["serviceAccountToken"];
    std::string audience = sat.value("audience", "");
    ASSERT_TRUE(want.count(audience))
        << name << " has audience \"" << audience << "\" no remoteWrite asks for";
    EXPECT_EQ(sat["expirationSeconds"], want[audience]) << name;
    EXPECT_EQ(sat["path"], api::kProjectedTokenFile) << name;
    ours[name] = audience;
  }
  EXPECT_EQ(ours.size(), want.size()) << "one volume per distinct audience";
  const std::string sender = prometheus_engine ? api::kPrometheusContainerName : api::kAgentContainerName;
  for (const char* field : {"initContainers", "containers"}) {
    for (const json& container : after["spec"].value(field, json::array())) {
      std::set<std::string> mounted;
      for (const json& m : container.value("volumeMounts", json::array())) {
        std::string name = m["name"];
        std::string path = m["mountPath"];
        if (!ours.count(name)) {
          EXPECT_NE(path.rfind(api::kProjectedTokenRoot, 0), 0u) << container["name"] << " " << path;
          continue;
        }
        mounted.insert(name);
        EXPECT_EQ(container["name"], sender) << name << " is mounted in " << container["name"];
        EXPECT_EQ(m["readOnly"], true) << name;
        EXPECT_EQ(path.rfind(std::string(api::kProjectedTokenRoot) + "/", 0), 0u) << path;
        EXPECT_NE(path, api::kServiceAccountDir);
      }
      if (container["name"] == sender) {
        EXPECT_EQ(mounted.size(), ours.size()) << "the sender mounts every token volume";
      }
    }
  }
}

void CheckInjected(const GoldenCase& c, const InjectionResult& r, const json& before, const json& after,
                   const Expectation& e) {
  const json& spec = after["spec"];
  // The app is untouched: every original container and volume survives as it was.
  for (const char* field : {"containers", "initContainers", "volumes"}) {
    if (!before["spec"].contains(field)) continue;
    for (const json& item : before["spec"][field]) {
      const json* now = FindByName(spec[field], item["name"]);
      ASSERT_NE(now, nullptr) << field << " " << item["name"];
      EXPECT_EQ(*now, item);
    }
  }
  const json init_containers = spec.value("initContainers", json::array());
  const json* in_init = FindByName(init_containers, api::kAgentContainerName);
  const json* in_main = FindByName(spec["containers"], api::kAgentContainerName);
  ASSERT_TRUE((in_init != nullptr) != (in_main != nullptr)) << "the agent container must appear exactly once";
  const json& agent = in_init ? *in_init : *in_main;
  if (e.native == 1) {
    ASSERT_NE(in_init, nullptr) << "expected a native sidecar";
    EXPECT_EQ(agent["restartPolicy"], "Always");
  } else if (e.native == 0) {
    ASSERT_NE(in_main, nullptr) << "expected a regular container";
    EXPECT_FALSE(agent.contains("restartPolicy"));
  }
  EXPECT_EQ(r.native_sidecar, in_init != nullptr);
  CheckHardened(agent);
  CheckResources(agent, c.facts.limit_ranges);

  // Native sidecars go behind every service-mesh init container.
  if (in_init) {
    size_t ours = 0;
    size_t last_mesh = 0;
    bool has_mesh = false;
    for (size_t i = 0; i < spec["initContainers"].size(); ++i) {
      std::string n = spec["initContainers"][i]["name"];
      if (n == api::kAgentContainerName) ours = i;
      if (n == "istio-init" || n == "linkerd-init" || n == "istio-validation") last_mesh = i, has_mesh = true;
    }
    if (has_mesh) {
      EXPECT_GT(ours, last_mesh);
    }
  }

  std::map<std::string, std::string> env;
  for (const json& v : agent["env"]) env[v["name"]] = v["valueFrom"]["fieldRef"]["fieldPath"];
  EXPECT_EQ(env["POD_NAME"], "metadata.name");
  EXPECT_EQ(env["POD_NAMESPACE"], "metadata.namespace");
  EXPECT_EQ(env["POD_UID"], "metadata.uid");
  EXPECT_EQ(env["POD_IP"], "status.podIP");
  EXPECT_EQ(env["NODE_NAME"], "spec.nodeName");

  std::map<std::string, json> mounts;
  for (const json& m : agent["volumeMounts"]) mounts[m["mountPath"]] = m;
  ASSERT_TRUE(mounts.count(api::kServiceAccountDir)) << "the agent must never get an API token";
  EXPECT_EQ(mounts[api::kServiceAccountDir]["readOnly"], true);
  for (const auto& [path, m] : mounts) {
    EXPECT_NE(FindByName(spec["volumes"], m["name"]), nullptr) << "mount of a missing volume " << m["name"];
  }
  const json* podinfo = FindByName(spec["volumes"], api::kPodInfoVolumeName);
  ASSERT_NE(podinfo, nullptr);
  std::map<std::string, std::string> files;
  for (const json& item : (*podinfo)["downwardAPI"]["items"])
    files[item["path"]] = item["fieldRef"]["fieldPath"];
  EXPECT_EQ(files["annotations"], "metadata.annotations");
  EXPECT_EQ(files["labels"], "metadata.labels");

  const json* secret = FindByName(spec["volumes"], api::kSharedConfigVolumeName);
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ((*secret)["secret"]["optional"], true) << "a pod must never wait for the rendered Secret";

  const json* wal = FindByName(spec["volumes"], api::kWalVolumeName);
  ASSERT_NE(wal, nullptr);
  int64_t size_limit = Milli((*wal)["emptyDir"]["sizeLimit"]) / 1000;
  bool prometheus_engine = FindByName(init_containers, api::kPrometheusContainerName) ||
                           FindByName(spec["containers"], api::kPrometheusContainerName);
  if (!prometheus_engine) {
    auto max = units::ParseBytes(ArgValue(agent, "--wal.max-size"));
    ASSERT_TRUE(max.ok()) << ArgValue(agent, "--wal.max-size");
    double share = static_cast<double>(*max) / static_cast<double>(size_limit);
    EXPECT_GT(share, 0.70);
    EXPECT_LE(share, 0.76);
    EXPECT_EQ(ArgValue(agent, "--config.file"), "/etc/promsidecar/shared/config.yaml");
    EXPECT_EQ(ArgValue(agent, "--pod.annotations-file"), "/etc/promsidecar/pod/annotations");
    EXPECT_EQ(ArgValue(agent, "--pod.labels-file"), "/etc/promsidecar/pod/labels");
    EXPECT_EQ(ArgValue(agent, "--wal.dir"), "/var/lib/promsidecar/wal");
    EXPECT_EQ(ArgValue(agent, "--web.listen-address"), ":" + std::to_string(c.facts.settings.agent_port));
    EXPECT_FALSE(ArgValue(agent, "--shutdown.grace").empty());
    // Exceeding the emptyDir's sizeLimit evicts the pod: the container's
    // ephemeral-storage limit covers it.
    EXPECT_GE(Milli(agent["resources"]["limits"]["ephemeral-storage"]) / 1000, size_limit);
  } else {
    EXPECT_NE(ArgValue(agent, "--render-prometheus-config"), "");
    EXPECT_EQ(ArgValue(agent, "--reload-url"), "http://127.0.0.1:9090/-/reload");
    EXPECT_NE(ArgValue(agent, "--prometheus.version"), "");
  }

  CheckProjectedTokens(c, r, before, after, prometheus_engine);

  const json& labels = after["metadata"]["labels"];
  const json& annotations = after["metadata"]["annotations"];
  EXPECT_EQ(labels[api::kInjectionLabel], "injected");
  EXPECT_FALSE(annotations.contains(api::kSkipReasonAnnotation));
  EXPECT_EQ(annotations[api::kStatusAnnotation], "injected");
  EXPECT_EQ(annotations[api::kInjectedHashAnnotation], r.fragment_hash);
  EXPECT_FALSE(annotations.value(api::kAgentVersionAnnotation, "").empty());
  if (!e.agent.empty()) {
    EXPECT_EQ(r.agent, e.agent);
    std::string ns = e.agent.substr(0, e.agent.find('/'));
    std::string name = e.agent.substr(e.agent.find('/') + 1);
    EXPECT_EQ(labels[api::kAgentLabel], ns + "." + name);
    EXPECT_EQ((*secret)["secret"]["secretName"], "promsidecar-" + ns + "." + name);
  }
  // Label keys contain '/', which JSON Patch paths must escape.
  for (const json& op : r.patch) {
    std::string path = op["path"];
    EXPECT_EQ(path.find(".io/"), std::string::npos) << "unescaped '/' in " << path;
  }

  // The controller's view: stripping the injection and deciding again gives
  // the same fragment, so an unchanged agent never marks pods outdated.
  InjectionResult now = Decide(StripInjection(after), c.pod_namespace, c.facts);
  EXPECT_EQ(now.outcome, Outcome::kInjected) << now.message;
  EXPECT_EQ(now.fragment_hash, r.fragment_hash);

  // A second pass changes nothing.
  InjectionResult again = Decide(after, c.pod_namespace, c.facts);
  EXPECT_EQ(again.outcome, Outcome::kAlreadyInjected);
  EXPECT_TRUE(again.patch.empty()) << again.patch.dump();
}

class RulesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RulesTest, FollowsTheInjectionRules) {
  GoldenCase c;
  ASSERT_TRUE(testing::LoadGoldenCase(GetParam(), &c));
  ASSERT_TRUE(Expectations().count(c.name));
  const Expectation& e = Expectations().at(c.name);
  InjectionResult r = Decide(c.pod, c.pod_namespace, c.facts);
  EXPECT_EQ(OutcomeName(r.outcome), OutcomeName(e.outcome)) << r.message;
  json after = c.pod.patch(r.patch);
  switch (e.outcome) {
    case Outcome::kNotApplicable:
      EXPECT_EQ(r.reason, e.reason);
      EXPECT_TRUE(r.patch.empty());
      EXPECT_TRUE(r.warnings.empty());
      break;
    case Outcome::kSkipped:
      EXPECT_EQ(r.reason, e.reason) << r.message;
      EXPECT_EQ(after["metadata"]["labels"][api::kInjectionLabel], "skipped");
      EXPECT_EQ(after["metadata"]["annotations"][api::kSkipReasonAnnotation].get<std::string>().rfind(
                    e.reason + ": ", 0),
                0u);
      EXPECT_EQ(after["spec"], c.pod["spec"]) << "a skipped pod keeps its spec";
      EXPECT_FALSE(after["metadata"]["labels"].contains(api::kAgentLabel));
      ASSERT_FALSE(r.warnings.empty());
      EXPECT_NE(r.warnings[0].find(e.reason), std::string::npos);
      // Skipping again adds nothing.
      EXPECT_TRUE(Decide(after, c.pod_namespace, c.facts).patch.empty());
      break;
    case Outcome::kInjected: CheckInjected(c, r, c.pod, after, e); break;
    case Outcome::kAlreadyInjected: {
      EXPECT_EQ(after["spec"]["containers"], c.pod["spec"]["containers"]);
      EXPECT_EQ(after["metadata"], c.pod["metadata"]);
      EXPECT_EQ(after["spec"]["initContainers"].size(), c.pod["spec"]["initContainers"].size());
      // Reinvocation: our native sidecar ends up behind every mesh init container.
      std::vector<std::string> names;
      for (const json& ic : after["spec"]["initContainers"]) names.push_back(ic["name"]);
      auto ours = std::find(names.begin(), names.end(), api::kAgentContainerName);
      ASSERT_NE(ours, names.end());
      for (auto it = ours; it != names.end(); ++it) {
        EXPECT_TRUE(*it != "istio-init" && *it != "istio-validation" && *it != "linkerd-init") << *it;
      }
      // ... and a further pass is a no-op.
      EXPECT_TRUE(Decide(after, c.pod_namespace, c.facts).patch.empty());
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Inject, RulesTest, ::testing::ValuesIn(testing::GoldenCaseNames()), CaseName);

}  // namespace
}  // namespace promsidecar::inject
