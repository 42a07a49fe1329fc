// Whole-chain tests: the real kube-apiserver, promsidecar-operator as a
// process (webhooks registered by URL, controller), the pod runner playing the
// kubelet, the injected promsidecar-agent scraping a sample app in its pod and
// remote-writing to a real Prometheus. One chain for the whole suite (starting
// it takes ~20 s); each test uses its own namespaces.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "common/http/client.h"
#include "common/util/base64.h"
#include "e2e/chain.h"
#include "testing/receiver.h"

namespace promsidecar::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kOptIn = "promsidecar.io/e2e";

struct Suite {
  std::unique_ptr<testing::TempDir> dir;
  std::unique_ptr<Chain> chain;
};
Suite* S = nullptr;

class ChainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    S = new Suite;
    auto env = testing::ClusterEnv::Load();
    ASSERT_TRUE(env.ok()) << env.message();
    S->dir = std::make_unique<testing::TempDir>();
    S->chain = std::make_unique<Chain>(*env, ChainOptions{.work_dir = S->dir->path()});
    try {
      S->chain->Start();
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }
  static void TearDownTestSuite() {
    if (S->chain) S->chain->Stop();
    delete S;
    S = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(S, nullptr);
    ASSERT_NE(S->chain, nullptr);
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- operator log (tail)\n" << Tail(S->chain->OperatorLog()) << "\n";
      for (const auto& [ns, name] : pods_) {
        json pod = S->chain->GetPod(ns, name);
        if (!pod.is_object()) continue;
        std::cerr << "--- " << ns << "/" << name << " agent log\n"
                  << Tail(S->chain->ContainerLog(pod, "promsidecar-agent")) << "\n";
      }
    }
    for (const auto& ns : namespaces_) (void)S->chain->Kubectl({"delete", "namespace", ns, "--wait=false"});
    for (const auto& agent : agents_) {
      (void)S->chain->Kubectl({"delete", "prometheusagents.promsidecar.io", "-n", "promsidecar-system", agent,
                               "--ignore-not-found", "--wait=false"});
    }
  }

  static std::string Tail(const std::string& s) { return s.size() < 4000 ? s : s.substr(s.size() - 4000); }

  // A fresh namespace admitted by agents selecting `label`.
  std::string Namespace(const std::string& base, const std::string& label = kOptIn) {
    const std::string ns = base + "-" + std::to_string(::getpid() % 100000);
    S->chain->CreateNamespace(ns, {{label, "true"}});
    namespaces_.push_back(ns);
    return ns;
  }
  json ApplyAgent(const std::string& name, const std::string& label = kOptIn,
                  const std::function<void(json&)>& edit = nullptr) {
    json agent = S->chain->Agent("promsidecar-system", name, label);
    if (edit) edit(agent);
    S->chain->ApplyAgent(agent);
    agents_.push_back(name);
    return agent;
  }
  // A sample-app pod naming this test's (last applied) agent.
  json Pod(const std::string& ns, const std::string& name, int series) const {
    json pod = SampleAppPod(ns, name, S->chain->node_name(), series);
    pod["metadata"]["annotations"]["prometheus.operator.io/agent-selector"] =
        "promsidecar-system/" + agents_.back();
    return pod;
  }
  json RunPod(const json& pod) {
    json created = S->chain->CreatePod(pod);
    const std::string ns = pod["metadata"]["namespace"], name = pod["metadata"]["name"];
    pods_.emplace_back(ns, name);
    EXPECT_TRUE(S->chain->WaitPodRunning(ns, name)) << S->chain->GetPod(ns, name).dump(2);
    return S->chain->GetPod(ns, name);
  }
  static bool Eventually(const std::function<bool()>& fn, std::chrono::milliseconds deadline = 90s) {
    return testing::PollUntil(deadline, fn, 500ms);
  }
  static size_t Count(const std::string& promql) { return S->chain->QueryOrEmpty(promql).size(); }
  static double Value(const std::string& promql) {
    json r = S->chain->QueryOrEmpty(promql);
    if (r.empty()) return NAN;
    return std::stod(r[0]["value"][1].get<std::string>());
  }
  static int Post(const std::string& url, const std::string& body) {
    http::Client client;
    http::Request req;
    req.method = "POST";
    req.url = url;
    req.body = body;
    req.headers.Set("Content-Type", "application/x-www-form-urlencoded");
    req.timeout = 5s;
    auto resp = client.Do(req);
    return resp.ok() ? resp->status : -1;
  }

  std::vector<std::string> namespaces_;
  std::vector<std::string> agents_;
  std::vector<std::pair<std::string, std::string>> pods_;
};

// Inject → run → data: the pod created through the API gets the sidecar, the
// pod runner runs it, and its series arrive with the target labels and the
// agent's external labels; the sidecar's own health series arrive too.
TEST_F(ChainTest, InjectedPodsSeriesArriveWithTheirLabels) {
  const std::string a = Namespace("chain-data-a"), b = Namespace("chain-data-b");
  ApplyAgent("chain-data");
  json pod_a = RunPod(Pod(a, "app-5d8c7b9f4-x7k2p", 5));
  RunPod(Pod(b, "app-5d8c7b9f4-q9m4t", 5));

  // The webhook injected our agent; the pod runner runs it next to the app.
  bool has_agent = false;
  for (const char* field : {"containers", "initContainers"})
    for (const auto& c : pod_a["spec"].value(field, json::array()))
      has_agent |= c.value("name", "") == "promsidecar-agent";
  EXPECT_TRUE(has_agent) << pod_a["spec"].dump(2);
  EXPECT_EQ(pod_a["metadata"]["labels"].value("prometheus.operator.io/agent", ""),
            "promsidecar-system.chain-data");

  const std::string sel_a =
      "sampleapp_series{namespace=\"" + a +
      "\",pod=\"app-5d8c7b9f4-x7k2p\",job=\"sampleapp\",instance=\"app-5d8c7b9f4-x7k2p:8080\","
      "cluster=\"e2e\"}";
  EXPECT_TRUE(Eventually([&] { return Count(sel_a) == 1; })) << sel_a;
  EXPECT_TRUE(Eventually([&] { return Count("sampleapp_events_total{namespace=\"" + b + "\"}") == 5; }));
  EXPECT_TRUE(Eventually([&] {
    return Count("promsidecar_agent_remote_samples_sent_total{job=\"promsidecar-agent\",namespace=\"" + a +
                 "\"}") >= 1;
  })) << "the sidecar's own health series";
  // Status counts from the controller.
  EXPECT_TRUE(Eventually([&] {
    auto r = S->chain->Kubectl({"get", "prometheusagents.promsidecar.io", "-n", "promsidecar-system",
                                "chain-data", "-o", "jsonpath={.status.injectedPods}"});
    return r.ok() && r.out == "2";
  }));
}

// Changing the port annotation of a running pod moves the scrape to the new
// endpoint after the pod runner's volume update, without any restart.
TEST_F(ChainTest, AnnotationChangeMovesTheScrapeWithoutRestart) {
  const std::string ns = Namespace("chain-annot");
  ApplyAgent("chain-annot");
  json pod = Pod(ns, "two-ports", 3);
  pod["spec"]["containers"].push_back(
      {{"name", "second"}, {"image", kSampleAppImage}, {"args", {"--series", "7", "--listen", ":8081"}}});
  json running = RunPod(pod);
  auto agent_pid = [&](const json& p) {
    for (const char* field : {"containerStatuses", "initContainerStatuses"})
      for (const auto& s : p["status"].value(field, json::array()))
        if (s.value("name", "") == "promsidecar-agent") return s.value("containerID", "");
    return std::string();
  };
  const std::string before = agent_pid(running);
  ASSERT_FALSE(before.empty());
  EXPECT_TRUE(Eventually([&] { return Value("sampleapp_series{namespace=\"" + ns + "\"}") == 3; }));

  S->chain->MustKubectl(
      {"annotate", "pod", "-n", ns, "two-ports", "--overwrite", "prometheus.operator.io/port=8081"});
  EXPECT_TRUE(Eventually([&] {
    return Value("sampleapp_series{namespace=\"" + ns + "\",instance=\"two-ports:8081\"}") == 7;
  })) << "the new port is scraped";
  EXPECT_TRUE(Eventually([&] {
    return Count("sampleapp_series{namespace=\"" + ns + "\",instance=\"two-ports:8080\"}") == 0;
  })) << "the old target went stale";
  EXPECT_EQ(agent_pid(S->chain->GetPod(ns, "two-ports")), before) << "the agent was not restarted";
}

// A remoteWrite change re-renders the per-namespace Secrets; every running
// sidecar sends to the new URL without any pod being restarted.
TEST_F(ChainTest, RemoteWriteChangeReachesRunningSidecars) {
  const std::string a = Namespace("chain-rw-a"), b = Namespace("chain-rw-b");
  json agent = ApplyAgent("chain-rw");
  json pa = RunPod(Pod(a, "app", 4));
  json pb = RunPod(Pod(b, "app", 4));
  EXPECT_TRUE(Eventually([&] { return Count("sampleapp_series{namespace=~\"" + a + "|" + b + "\"}") == 2; }));

  testing::CountingReceiver second;
  const std::string second_url = "http://" + S->chain->ForwardFromPods(second.port()) + "/api/v1/write";
  agent["spec"]["remoteWrite"][0]["url"] = second_url;
  S->chain->ApplyAgent(agent);
  EXPECT_TRUE(Eventually([&] {
    std::set<std::string> seen;
    for (const auto& [labels, samples] : second.Series()) {
      if (labels.find("sampleapp_series") == std::string::npos) continue;
      if (labels.find("namespace=\"" + a + "\"") != std::string::npos) seen.insert(a);
      if (labels.find("namespace=\"" + b + "\"") != std::string::npos) seen.insert(b);
    }
    return seen.size() == 2;
  })) << "both namespaces' sidecars send to the new URL";
  EXPECT_TRUE(second.ProtocolErrors().empty());
  for (const auto& [before, ns] : {std::pair{pa, a}, std::pair{pb, b}}) {
    json now = S->chain->GetPod(ns, "app");
    EXPECT_EQ(now["metadata"]["uid"], before["metadata"]["uid"]);
    for (const auto& s : now["status"].value("initContainerStatuses", json::array()))
      EXPECT_EQ(s.value("restartCount", 0), 0) << s.dump();
    for (const auto& s : now["status"].value("containerStatuses", json::array()))
      EXPECT_EQ(s.value("restartCount", 0), 0) << s.dump();
  }
}

// One pod's app jumps above the agent's sampleLimit: only that pod's scrape
// fails (up 0, its series go stale); the other pod keeps flowing.
TEST_F(ChainTest, CardinalitySpikeHurtsOnlyItsOwnPod) {
  const std::string ns = Namespace("chain-spike");
  ApplyAgent("chain-spike", kOptIn, [](json& a) { a["spec"]["sampleLimit"] = 50; });
  json spiky = RunPod(Pod(ns, "spiky", 10));
  RunPod(Pod(ns, "calm", 10));
  const std::string up_spiky = "up{namespace=\"" + ns + "\",pod=\"spiky\",job=\"sampleapp\"}";
  const std::string up_calm = "up{namespace=\"" + ns + "\",pod=\"calm\",job=\"sampleapp\"}";
  EXPECT_TRUE(Eventually([&] { return Value(up_spiky) == 1 && Value(up_calm) == 1; }));

  const std::string ip = spiky["status"].value("podIP", "");
  ASSERT_FALSE(ip.empty());
  ASSERT_EQ(Post("http://" + ip + ":8080/control", "series=500"), 200);
  EXPECT_TRUE(Eventually([&] { return Value(up_spiky) == 0; })) << "the spiking pod's scrape fails";
  EXPECT_TRUE(Eventually([&] {
    return Count("sampleapp_events_total{namespace=\"" + ns + "\",pod=\"spiky\"}") == 0;
  })) << "its series went stale";
  // The calm pod keeps delivering: its counter still grows.
  const double first = Value("max(timestamp(sampleapp_series{namespace=\"" + ns + "\",pod=\"calm\"}))");
  EXPECT_TRUE(Eventually([&] {
    return Value("max(timestamp(sampleapp_series{namespace=\"" + ns + "\",pod=\"calm\"}))") > first + 3;
  }));
  EXPECT_EQ(Value(up_calm), 1);
}

// Deleting a pod: the sidecar gets SIGTERM after the app, writes staleness
// markers for its targets and flushes them, so the pod's series end at once
// instead of lingering for Prometheus's 5-minute lookback.
TEST_F(ChainTest, DeletedPodFlushesStalenessMarkers) {
  const std::string ns = Namespace("chain-delete");
  ApplyAgent("chain-delete");
  RunPod(Pod(ns, "doomed", 3));
  const std::string sel = "sampleapp_series{namespace=\"" + ns + "\",pod=\"doomed\"}";
  ASSERT_TRUE(Eventually([&] { return Count(sel) == 1; }));
  S->chain->MustKubectl({"delete", "pod", "-n", ns, "doomed", "--wait=true", "--timeout=90s"});
  // Well within the 5-minute lookback: only a flushed staleness marker ends it.
  EXPECT_TRUE(Eventually([&] { return Count(sel) == 0; }, 30s)) << "no staleness marker arrived";
}

// Receiver down for 20 s (two minutes in the long mode) then back: every
// scrape of the outage arrives (the WAL holds it), so the pod's series has no gap.
TEST_F(ChainTest, ReceiverOutageLeavesNoGap) {
  const std::string ns = Namespace("chain-outage");
  ApplyAgent("chain-outage");
  RunPod(Pod(ns, "steady", 2));
  const std::string sel = "sampleapp_series{namespace=\"" + ns + "\",pod=\"steady\"}";
  ASSERT_TRUE(Eventually([&] { return Count(sel) == 1; }));
  std::this_thread::sleep_for(5s);
  const double start =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // Two minutes in the long mode (PROMSIDECAR_LONG=1), as the agent's own e2e test.
  const auto outage = std::getenv("PROMSIDECAR_LONG") ? 120s : 20s;
  S->chain->prometheus().Stop();
  std::this_thread::sleep_for(outage);
  S->chain->prometheus().Restart();
  // Wait for the backlog, then look at every stored sample around the outage.
  std::this_thread::sleep_for(15s);
  double end = 0;
  json raw;
  ASSERT_TRUE(Eventually([&] {
    end = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    raw = S->chain->prometheus().RawSamples(sel, end - start + 5, end);
    return !raw.empty();
  }));
  ASSERT_EQ(raw.size(), 1u) << raw.dump();
  const auto& values = raw[0]["values"];
  ASSERT_GT(values.size(), 15u) << "scrapes every 2 s over ~40 s";
  double worst = 0;
  for (size_t i = 1; i < values.size(); ++i)
    worst = std::max(worst, values[i][0].get<double>() - values[i - 1][0].get<double>());
  EXPECT_LE(worst, 4.5) << "largest gap between stored samples (s), interval 2 s: " << values.dump();
}

// A Job-like pod (restartPolicy Never) with the agent as a native sidecar
// completes when its app container exits.
TEST_F(ChainTest, JobLikePodWithNativeSidecarCompletes) {
  const std::string ns = Namespace("chain-job");
  ApplyAgent("chain-job");
  json pod = Pod(ns, "batch", 2);
  pod["spec"]["restartPolicy"] = "Never";
  pod["spec"]["containers"][0]["command"] = {"/bin/sh", "-c", "sleep 8"};
  pod["spec"]["containers"][0].erase("args");
  json created = S->chain->CreatePod(pod);
  pods_.emplace_back(ns, "batch");
  bool native = false;
  for (const auto& c : created["spec"].value("initContainers", json::array()))
    native |= c.value("name", "") == "promsidecar-agent" && c.value("restartPolicy", "") == "Always";
  ASSERT_TRUE(native) << "the pod runner's kubelet is 1.34: a native sidecar\n" << created["spec"].dump(2);
  EXPECT_TRUE(Eventually(
      [&] { return S->chain->GetPod(ns, "batch")["status"].value("phase", "") == "Succeeded"; }, 120s))
      << S->chain->GetPod(ns, "batch")["status"].dump(2);
}

// The same chain with `engine: prometheus`: Debian's prometheus (2.42) in
// agent mode is the sidecar, our agent renders its config from the pod's
// annotations and the shared Secret and reloads it over HTTP.
TEST_F(ChainTest, UpstreamPrometheusEngineDeliversTheSameSeries) {
  const std::string ns = Namespace("chain-engine");
  ApplyAgent("chain-engine", kOptIn, [](json& a) {
    a["spec"]["version"] = "v2.42.0";
    a["spec"]["sidecar"]["engine"] = "prometheus";
  });
  json pod = RunPod(Pod(ns, "upstream", 6));
  bool has_prometheus = false;
  for (const char* field : {"containers", "initContainers"})
    for (const auto& c : pod["spec"].value(field, json::array()))
      has_prometheus |= c.value("name", "") == "promsidecar-prometheus";
  ASSERT_TRUE(has_prometheus) << pod["spec"].dump(2);
  const std::string sel = "sampleapp_series{namespace=\"" + ns +
                          "\",pod=\"upstream\",job=\"sampleapp\",instance=\"upstream:8080\",cluster=\"e2e\"}";
  EXPECT_TRUE(Eventually([&] { return Value(sel) == 6; }, 120s))
      << sel << "\n--- prometheus container log\n"
      << Tail(S->chain->ContainerLog(S->chain->GetPod(ns, "upstream"), "promsidecar-prometheus"));
}

// updateStrategy InPlace: a new agent image reaches the running pod by a
// patch of that container's image only; the pod runner restarts just that
// container (as kubelets 1.32+ do for native sidecars); the app keeps running
// (same process) and the WAL in the emptyDir bridges the restart: no gap.
TEST_F(ChainTest, InPlaceAgentUpgradeKeepsTheAppAndTheSeries) {
  const std::string ns = Namespace("chain-inplace");
  json agent = ApplyAgent("chain-inplace", kOptIn, [](json& a) {
    a["spec"]["sidecar"]["updateStrategy"] = "InPlace";
    a["spec"]["sidecar"]["image"] = kAgentImage;
  });
  json before = RunPod(Pod(ns, "upgraded", 3));
  auto status_of = [](const json& pod, const std::string& name) {
    for (const char* field : {"containerStatuses", "initContainerStatuses"})
      for (const auto& s : pod["status"].value(field, json::array()))
        if (s.value("name", "") == name) return s;
    return json();
  };
  const std::string app_id = status_of(before, "app").value("containerID", "");
  const std::string agent_image_id = status_of(before, "promsidecar-agent").value("imageID", "");
  ASSERT_FALSE(app_id.empty());
  const std::string sel = "sampleapp_series{namespace=\"" + ns + "\",pod=\"upgraded\"}";
  ASSERT_TRUE(Eventually([&] { return Count(sel) == 1; }));
  std::this_thread::sleep_for(6s);
  const double start =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

  agent["spec"]["sidecar"]["image"] = kAgentImageNext;
  S->chain->ApplyAgent(agent);
  json after;
  EXPECT_TRUE(Eventually(
      [&] {
        after = S->chain->GetPod(ns, "upgraded");
        json st = status_of(after, "promsidecar-agent");
        return st.value("image", "") == kAgentImageNext && st.value("imageID", "") != agent_image_id &&
               st.contains("state") && st["state"].contains("running");
      },
      120s))
      << after["status"].dump(2);
  EXPECT_EQ(status_of(after, "app").value("containerID", ""), app_id) << "the app process was not restarted";
  EXPECT_EQ(after["metadata"]["uid"], before["metadata"]["uid"]);

  // Samples keep coming at the scrape interval across the agent's restart:
  // wait until samples from well after the restart are stored, then look at
  // every stored sample since before the patch.
  const double restarted =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  json raw;
  double end = 0;
  EXPECT_TRUE(Eventually([&] {
    end = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    // From 10 s before the patch: the old agent's last samples are in the window.
    raw = S->chain->prometheus().RawSamples(sel, end - start + 10, end);
    return raw.size() == 1 && raw[0]["values"].back()[0].get<double>() > restarted + 10;
  })) << raw.dump()
      << " start=" << start << " restarted=" << restarted;
  ASSERT_EQ(raw.size(), 1u) << raw.dump();
  const auto& values = raw[0]["values"];
  double worst = 0;
  for (size_t i = 1; i < values.size(); ++i)
    worst = std::max(worst, values[i][0].get<double>() - values[i - 1][0].get<double>());
  // The agent cannot scrape while it restarts: at most two missed scrapes
  // (the old one's last interval and the new one's first offset), none lost.
  EXPECT_LE(worst, 6.0) << "largest gap between stored samples (s), interval 2 s: " << values.dump()
                        << " start=" << start;
  EXPECT_LT(values[0][0].get<double>(), start) << "samples from before the patch are there";
  EXPECT_TRUE(Eventually([&] {
    auto r = S->chain->Kubectl({"get", "prometheusagents.promsidecar.io", "-n", "promsidecar-system",
                                "chain-inplace", "-o", "jsonpath={.status.outdatedPods}"});
    return r.ok() && r.out == "0";
  })) << "the upgraded pod no longer counts as outdated";
}

// Credentials isolation and no secret in any output. The agent's remote write
// uses basic auth from a Secret holding a known password. A pod in a namespace
// the agent does not admit gets neither the sidecar (even naming the agent)
// nor the rendered Secret (even with a forged agent label); the password
// appears in no log, Event, status or metric.
TEST_F(ChainTest, CredentialsStayInAdmittedNamespacesAndOutOfEveryOutput) {
  const std::string password = "pw-" + std::to_string(::getpid()) + "-Zq9XkLm2Vt";
  const std::string admitted = Namespace("chain-sec-ok");
  const std::string other = Namespace("chain-sec-other", "promsidecar.io/not-this-one");
  json creds = {{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "chain-sec-rw"}, {"namespace", "promsidecar-system"}}},
                {"stringData", {{"user", "sidecar"}, {"pass", password}}}};
  S->chain->MustKubectl({"apply", "-f", "-"}, creds.dump());
  ApplyAgent("chain-sec", kOptIn, [](json& a) {
    a["spec"]["remoteWrite"][0]["basicAuth"] = {{"username", {{"name", "chain-sec-rw"}, {"key", "user"}}},
                                                {"password", {{"name", "chain-sec-rw"}, {"key", "pass"}}}};
  });
  json pod = RunPod(Pod(admitted, "app", 3));
  EXPECT_TRUE(Eventually([&] { return Count("sampleapp_series{namespace=\"" + admitted + "\"}") == 1; }));

  // Naming the agent from a namespace it does not admit: admitted, not injected.
  json named = S->chain->CreatePod(Pod(other, "names-the-agent", 3));
  EXPECT_EQ(named["metadata"]["labels"].value("prometheus.operator.io/injection", ""), "skipped")
      << named.dump(2);
  for (const auto& c : named["spec"].value("initContainers", json::array()))
    EXPECT_NE(c.value("name", ""), "promsidecar-agent");
  // A forged agent label on a pod that never went through injection.
  json forged = SampleAppPod(other, "forged-label", S->chain->node_name(), 1);
  forged["metadata"]["annotations"] = json::object();
  forged["metadata"]["labels"]["prometheus.operator.io/agent"] = "promsidecar-system.chain-sec";
  forged["metadata"]["labels"]["prometheus.operator.io/injection"] = "injected";
  S->chain->CreatePod(forged);
  pods_.emplace_back(other, "forged-label");

  const std::string secret_name = "promsidecar-promsidecar-system.chain-sec";
  ASSERT_TRUE(Eventually([&] {
    return S->chain->Kubectl({"get", "secret", "-n", admitted, secret_name}).ok();
  }));
  // The grep below can find the password: the admitted namespace's Secret has it.
  EXPECT_NE(S->chain->MustKubectl({"get", "secret", "-n", admitted, secret_name, "-o", "json"})
                .find(EncodeBase64(password)),
            std::string::npos);
  // Several reconciles later (resync 30 s), still nothing in the other namespace.
  std::this_thread::sleep_for(35s);
  auto leaked = S->chain->Kubectl({"get", "secrets", "-n", other, "-o", "json"});
  ASSERT_TRUE(leaked.ok()) << leaked.err;
  EXPECT_EQ(leaked.out.find(secret_name), std::string::npos) << leaked.out;
  EXPECT_EQ(leaked.out.find(EncodeBase64(password)), std::string::npos);

  std::map<std::string, std::string> outputs = {
      {"operator log", S->chain->OperatorLog()},
      {"pod runner log", S->chain->PodRunnerLog()},
      {"agent container log", S->chain->ContainerLog(S->chain->GetPod(admitted, "app"), "promsidecar-agent")},
      {"Events", S->chain->MustKubectl({"get", "events", "-A", "-o", "json"})},
      {"agent status",
       S->chain->MustKubectl({"get", "prometheusagents.promsidecar.io", "-n", "promsidecar-system",
                              "chain-sec", "-o", "jsonpath={.status}"})},
  };
  http::Client client;
  for (const auto& [name, url] : std::map<std::string, std::string>{
           {"operator /metrics", S->chain->operator_metrics_url() + "/metrics"},
           {"agent /metrics", "http://" + pod["status"].value("podIP", "") + ":58391/metrics"}}) {
    http::Request req;
    req.url = url;
    auto resp = client.Do(req);
    ASSERT_TRUE(resp.ok() && resp->status == 200) << name << " " << url;
    outputs[name] = resp->body;
  }
  for (const auto& [name, text] : outputs) {
    EXPECT_FALSE(text.empty()) << name;
    EXPECT_EQ(text.find(password), std::string::npos) << "the password appears in the " << name;
    EXPECT_EQ(text.find(EncodeBase64(password)), std::string::npos)
        << "the password (base64) appears in the " << name;
  }
}

// The operator killed (SIGKILL) right after an agent change and while a
// referenced credential changes: restarted, it converges; no Secret is left
// stale. Pods created while it was down (failurePolicy Ignore) are admitted
// uninjected and show up in its repair report.
TEST_F(ChainTest, KilledOperatorConvergesAndReportsPodsCreatedWhileDown) {
  const std::string a = Namespace("chain-kill-a"), b = Namespace("chain-kill-b");
  json creds = {{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "chain-kill-token"}, {"namespace", "promsidecar-system"}}},
                {"stringData", {{"token", "first-token"}}}};
  S->chain->MustKubectl({"apply", "-f", "-"}, creds.dump());
  json agent = ApplyAgent("chain-kill", kOptIn, [](json& x) {
    x["spec"]["remoteWrite"][0]["authorization"] = {
        {"credentials", {{"name", "chain-kill-token"}, {"key", "token"}}}};
  });
  RunPod(Pod(a, "app", 2));
  RunPod(Pod(b, "app", 2));
  const std::string secret_name = "promsidecar-promsidecar-system.chain-kill";
  auto secret_has = [&](const std::string& ns, const std::string& text) {
    auto r = S->chain->Kubectl({"get", "secret", "-n", ns, secret_name, "-o", "json"});
    if (!r.ok()) return false;
    json data = json::parse(r.out)["data"];
    for (const auto& [k, v] : data.items()) {
      auto decoded = DecodeBase64(v.get<std::string>());
      if (decoded.ok() && decoded->find(text) != std::string::npos) return true;
    }
    return false;
  };
  ASSERT_TRUE(Eventually([&] { return secret_has(a, "first-token") && secret_has(b, "first-token"); }));

  // A new URL, the operator killed before it can be sure to have written it.
  agent["spec"]["remoteWrite"][0]["url"] = S->chain->RemoteWriteUrl() + "?after=kill";
  S->chain->ApplyAgent(agent);
  S->chain->KillOperator();
  // While it is down: the credential rotates, and a pod is created.
  creds["stringData"]["token"] = "second-token";
  S->chain->MustKubectl({"apply", "-f", "-"}, creds.dump());
  json missed = S->chain->CreatePod(Pod(a, "created-while-down", 2));
  pods_.emplace_back(a, "created-while-down");
  EXPECT_FALSE(
      missed["metadata"].value("labels", json::object()).contains("prometheus.operator.io/injection"))
      << "failurePolicy Ignore: admitted untouched";

  S->chain->StartOperator();
  EXPECT_TRUE(Eventually([&] {
    return secret_has(a, "after=kill") && secret_has(b, "after=kill") && secret_has(a, "second-token") &&
           secret_has(b, "second-token");
  })) << S->chain->OperatorLog();
  EXPECT_TRUE(Eventually(
      [&] {
        auto r = S->chain->Kubectl({"get", "prometheusagents.promsidecar.io", "-n", "promsidecar-system",
                                    "chain-kill", "-o", "jsonpath={.status.uninjectedPods}"});
        return r.ok() && r.out == "1";
      },
      120s))
      << "the pod created while the webhook was down is in the repair report";
}

}  // namespace
}  // namespace promsidecar::e2e
