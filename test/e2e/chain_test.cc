// Whole-chain tests on a real node: the real kube-apiserver, controller-manager,
// scheduler and a kubelet on containerd (scripts/cluster); promsidecar-operator
// installed from its image with the Helm chart, under its own ServiceAccount
// and RBAC, its webhooks reached through its Service; the injected
// promsidecar-agent (our image, non-root, read-only root filesystem, 64Mi)
// scraping a sample app in its pod and remote-writing to a real Prometheus.
// One chain for the whole suite; each test uses its own namespaces and deletes
// them (waiting) when it ends.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include "common/http/client.h"
#include "common/util/base64.h"
#include "e2e/chain.h"
#include "testing/receiver.h"

namespace promsidecar::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kOptIn = "promsidecar.io/e2e";
// The kubelet's defaults: a mounted Secret is refreshed at the pod's next
// periodic sync (syncFrequency 1m, plus jitter) after its watch saw the change.
constexpr auto kSecretRefreshDeadline = 240s;

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

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
    ChainOptions options{.work_dir = S->dir->path()};
    // Resync every 10 s (the credentials test waits for several), repair
    // every 30 s with owner restarts (the repair test), which also binds the
    // ClusterRole InPlace upgrades need.
    options.operator_extra_args = {"--resync-period=10", "--repair.interval=30s"};
    options.helm_values = {{"repair.enabled", "true"}};
    S->chain = std::make_unique<Chain>(*env, options);
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
        std::cerr << "--- " << ns << "/" << name << " status\n" << pod["status"].dump(1) << "\n";
        if (ContainerStatus(pod, "promsidecar-agent").is_object())
          std::cerr << "--- " << ns << "/" << name << " agent log\n"
                    << Tail(S->chain->ContainerLog(pod, "promsidecar-agent")) << "\n";
      }
    }
    for (const auto& agent : agents_) {
      (void)S->chain->Kubectl({"delete", "prometheusagents.promsidecar.io", "-n", "promsidecar-system", agent,
                               "--ignore-not-found", "--timeout=60s"});
    }
    // Deleted and waited for, so the node's load does not grow across the suite.
    for (const auto& ns : namespaces_) S->chain->DeleteNamespace(ns);
  }

  static std::string Tail(const std::string& s) { return s.size() < 4000 ? s : s.substr(s.size() - 4000); }

  // A fresh namespace admitted by agents selecting `label`.
  std::string Namespace(const std::string& base, const std::string& label = kOptIn,
                        std::map<std::string, std::string> extra_labels = {}) {
    const std::string ns = base + "-" + std::to_string(::getpid() % 100000);
    extra_labels[label] = "true";
    S->chain->CreateNamespace(ns, extra_labels);
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
    json pod = SampleAppPod(ns, name, series);
    pod["metadata"]["annotations"]["prometheus.operator.io/agent-selector"] =
        "promsidecar-system/" + agents_.back();
    return pod;
  }
  json RunPod(const json& pod) {
    S->chain->CreatePod(pod);
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
  static bool HasAgentContainer(const json& pod) {
    for (const char* field : {"containers", "initContainers"})
      for (const auto& c : pod["spec"].value(field, json::array()))
        if (c.value("name", "") == "promsidecar-agent") return true;
    return false;
  }
  // The values of the pod's per-scrape counter stored in Prometheus over the
  // last `window_s` seconds, in time order. Consecutive scrapes have
  // consecutive values, so every missing value is a lost scrape.
  static std::vector<double> ScrapeCounter(const std::string& ns, const std::string& pod, double window_s) {
    json raw = S->chain->prometheus().RawSamples(
        "sampleapp_scrapes_total{namespace=\"" + ns + "\",pod=\"" + pod + "\"}", window_s, Now());
    std::vector<double> values;
    if (raw.size() != 1) return values;
    for (const auto& v : raw[0]["values"]) values.push_back(std::stod(v[1].get<std::string>()));
    return values;
  }
  // Scrapes missing between the first and the last stored value.
  static int LostScrapes(const std::vector<double>& values) {
    int lost = 0;
    for (size_t i = 1; i < values.size(); ++i) lost += static_cast<int>(values[i] - values[i - 1]) - 1;
    return lost;
  }

  std::vector<std::string> namespaces_;
  std::vector<std::string> agents_;
  std::vector<std::pair<std::string, std::string>> pods_;
};

// Inject → run → data: the pod created through the API gets the sidecar, the
// kubelet runs it next to the app, and its series arrive with the target
// labels and the agent's external labels; the sidecar's own health series too.
TEST_F(ChainTest, InjectedPodsSeriesArriveWithTheirLabels) {
  const std::string a = Namespace("chain-data-a"), b = Namespace("chain-data-b");
  ApplyAgent("chain-data");
  json pod_a = RunPod(Pod(a, "app-5d8c7b9f4-x7k2p", 5));
  RunPod(Pod(b, "app-5d8c7b9f4-q9m4t", 5));

  EXPECT_TRUE(HasAgentContainer(pod_a)) << pod_a["spec"].dump(2);
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
  EXPECT_TRUE(Eventually([&] {
    auto r = S->chain->Kubectl({"get", "prometheusagents.promsidecar.io", "-n", "promsidecar-system",
                                "chain-data", "-o", "jsonpath={.status.injectedPods}"});
    return r.ok() && r.out == "2";
  }));
}

// What only a real node shows: in a namespace enforcing Pod Security
// `restricted`, the injected pod is admitted and the sidecar runs as the
// kubelet and runc set it up from the injected spec: not root, read-only root
// filesystem, no capabilities, the injected CPU and memory limits in its
// cgroup, the WAL in a size-limited emptyDir.
TEST_F(ChainTest, RestrictedNamespaceRunsTheHardenedSidecar) {
  const std::string ns = Namespace("chain-restricted", kOptIn,
                                   {{"pod-security.kubernetes.io/enforce", "restricted"},
                                    {"pod-security.kubernetes.io/enforce-version", "latest"}});
  ApplyAgent("chain-restricted");
  json pod = RunPod(Pod(ns, "hardened", 3));
  ASSERT_TRUE(HasAgentContainer(pod)) << pod["spec"].dump(2);
  EXPECT_TRUE(Eventually([&] { return Count("sampleapp_series{namespace=\"" + ns + "\"}") == 1; }));

  const std::string id = ContainerStatus(pod, "promsidecar-agent").value("containerID", "");
  ASSERT_EQ(id.rfind("containerd://", 0), 0u) << id;
  auto r = S->chain->Crictl({"inspect", id.substr(std::string("containerd://").size())});
  ASSERT_TRUE(r.ok()) << r.err;
  json spec = json::parse(r.out)["info"]["runtimeSpec"];
  EXPECT_NE(spec["process"]["user"].value("uid", 0), 0) << spec["process"]["user"].dump();
  EXPECT_TRUE(spec["root"].value("readonly", false));
  EXPECT_TRUE(spec["process"].value("noNewPrivileges", false));
  EXPECT_TRUE(spec["process"]["capabilities"].value("effective", json::array()).empty())
      << spec["process"]["capabilities"].dump();
  // 64Mi and 50m as the injector sets them (cgroup quota 5000 per 100000 µs).
  EXPECT_EQ(spec["linux"]["resources"]["memory"].value("limit", int64_t{0}), 64 * 1024 * 1024);
  EXPECT_EQ(spec["linux"]["resources"]["cpu"].value("quota", int64_t{0}), 5000);
  bool wal_limited = false;
  for (const auto& v : pod["spec"]["volumes"])
    if (v.contains("emptyDir") && v["emptyDir"].contains("sizeLimit")) wal_limited = true;
  EXPECT_TRUE(wal_limited) << pod["spec"]["volumes"].dump();
}

// A target as large as the default body limit allows must not get the agent
// OOM-killed under its injected 64Mi limit. The sample limit fails every
// scrape after it was read and parsed, so only the scrape path's memory is
// measured (nothing reaches the WAL).
TEST_F(ChainTest, LargeTargetDoesNotOomTheAgentUnderItsLimit) {
  const std::string ns = Namespace("chain-large");
  ApplyAgent("chain-large", kOptIn, [](json& a) {
    a["spec"]["sampleLimit"] = 1000;
    a["spec"]["scrapeInterval"] = "10s";
  });
  // ~340,000 lines of ~45 bytes: about 15 MiB, under the 16 MiB default.
  json pod = Pod(ns, "large", 340000);
  // Rendering (and compressing) 15 MiB takes the sample app a while on a
  // loaded machine: a generous timeout, so every scrape is read whole.
  pod["metadata"]["annotations"]["prometheus.operator.io/scrape-interval"] = "10s";
  pod["metadata"]["annotations"]["prometheus.operator.io/scrape-timeout"] = "9s";
  // CPU weight to render 15 MiB in time even on a busy machine.
  pod["spec"]["containers"][0]["resources"] = {{"requests", {{"cpu", "1"}, {"memory", "64Mi"}}},
                                               {"limits", {{"memory", "512Mi"}}}};
  RunPod(pod);
  const std::string scraped =
      "scrape_samples_scraped{namespace=\"" + ns + "\",pod=\"large\",job=\"sampleapp\"}";
  // The whole page was read and parsed (not cut by the body limit or a
  // timeout), then refused by the sample limit: up is 0.
  EXPECT_TRUE(Eventually([&] { return Value(scraped) >= 340000; }, 180s))
      << "scrape_samples_scraped " << Value(scraped);
  EXPECT_EQ(Value("up{namespace=\"" + ns + "\",pod=\"large\",job=\"sampleapp\"}"), 0);
  // Five more full-size scrapes, each read whole.
  const double first = Value("timestamp(" + scraped + ")");
  EXPECT_TRUE(Eventually([&] { return Value("timestamp(" + scraped + ")") >= first + 50; }, 180s));
  EXPECT_GE(Value("min_over_time(" + scraped + "[1m])"), 340000);
  json agent = ContainerStatus(S->chain->GetPod(ns, "large"), "promsidecar-agent");
  EXPECT_EQ(agent.value("restartCount", -1), 0) << agent.dump(2);
  EXPECT_FALSE(agent.contains("lastState") && agent["lastState"].contains("terminated")) << agent.dump(2);
}

// Changing the port annotation of a running pod moves the scrape to the new
// endpoint after the kubelet rewrites the downwardAPI volume, without any
// container restart.
TEST_F(ChainTest, AnnotationChangeMovesTheScrapeWithoutRestart) {
  const std::string ns = Namespace("chain-annot");
  ApplyAgent("chain-annot");
  json pod = Pod(ns, "two-ports", 3);
  json second = pod["spec"]["containers"][0];
  second["name"] = "second";
  second["args"] = {"--series", "7", "--listen", ":8081"};
  second["ports"] = json::array({{{"containerPort", 8081}}});
  pod["spec"]["containers"].push_back(second);
  json running = RunPod(pod);
  const std::string before = ContainerStatus(running, "promsidecar-agent").value("containerID", "");
  ASSERT_FALSE(before.empty());
  EXPECT_TRUE(Eventually([&] { return Value("sampleapp_series{namespace=\"" + ns + "\"}") == 3; }));

  S->chain->MustKubectl(
      {"annotate", "pod", "-n", ns, "two-ports", "--overwrite", "prometheus.operator.io/port=8081"});
  EXPECT_TRUE(Eventually(
      [&] { return Value("sampleapp_series{namespace=\"" + ns + "\",instance=\"two-ports:8081\"}") == 7; },
      180s))
      << "the new port is scraped";
  EXPECT_TRUE(Eventually([&] {
    return Count("sampleapp_series{namespace=\"" + ns + "\",instance=\"two-ports:8080\"}") == 0;
  })) << "the old target went stale";
  json after = S->chain->GetPod(ns, "two-ports");
  EXPECT_EQ(ContainerStatus(after, "promsidecar-agent").value("containerID", ""), before)
      << "the agent was not restarted";
  EXPECT_EQ(ContainerStatus(after, "promsidecar-agent").value("restartCount", -1), 0);
}

// A remoteWrite change re-renders the per-namespace Secrets; the kubelet's
// Secret refresh brings it to every running sidecar, which sends to the new
// URL without any pod being restarted. The delay is the kubelet's: printed.
TEST_F(ChainTest, RemoteWriteChangeReachesRunningSidecars) {
  const std::string a = Namespace("chain-rw-a"), b = Namespace("chain-rw-b");
  json agent = ApplyAgent("chain-rw");
  json pa = RunPod(Pod(a, "app", 4));
  json pb = RunPod(Pod(b, "app", 4));
  EXPECT_TRUE(Eventually([&] { return Count("sampleapp_series{namespace=~\"" + a + "|" + b + "\"}") == 2; }));

  testing::CountingReceiver second;
  const std::string second_url = "http://" + S->chain->ForwardFromPods(second.port()) + "/api/v1/write";
  agent["spec"]["remoteWrite"][0]["url"] = second_url;
  const double changed = Now();
  S->chain->ApplyAgent(agent);
  std::map<std::string, double> arrived;
  EXPECT_TRUE(Eventually(
      [&] {
        for (const auto& [labels, samples] : second.Series()) {
          if (labels.find("sampleapp_series") == std::string::npos) continue;
          for (const auto& ns : {a, b})
            if (labels.find("namespace=\"" + ns + "\"") != std::string::npos && !arrived.count(ns))
              arrived[ns] = Now() - changed;
        }
        return arrived.size() == 2;
      },
      kSecretRefreshDeadline))
      << "both namespaces' sidecars send to the new URL";
  for (const auto& [ns, delay] : arrived) {
    std::cout << "remoteWrite change -> first sample at the new URL from " << ns << ": " << delay << " s\n";
    RecordProperty("secret_refresh_delay_s_" + ns.substr(0, ns.find('-', 9)), std::to_string(delay));
  }
  EXPECT_TRUE(second.ProtocolErrors().empty());
  for (const auto& [before, ns] : {std::pair{pa, a}, std::pair{pb, b}}) {
    json now = S->chain->GetPod(ns, "app");
    EXPECT_EQ(now["metadata"]["uid"], before["metadata"]["uid"]);
    for (const char* c : {"app", "promsidecar-agent"})
      EXPECT_EQ(ContainerStatus(now, c).value("restartCount", -1), 0) << ns << " " << c;
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
  const double first = Value("max(timestamp(sampleapp_series{namespace=\"" + ns + "\",pod=\"calm\"}))");
  EXPECT_TRUE(Eventually([&] {
    return Value("max(timestamp(sampleapp_series{namespace=\"" + ns + "\",pod=\"calm\"}))") > first + 3;
  }));
  EXPECT_EQ(Value(up_calm), 1);
}

// Deleting a pod: the kubelet stops the app, then the native sidecar; the
// agent writes staleness markers for its targets and flushes them, so the
// pod's series end at once instead of lingering for the 5-minute lookback.
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
// scrape of the outage arrives (the WAL holds it), counted one by one.
TEST_F(ChainTest, ReceiverOutageLosesNoScrape) {
  const std::string ns = Namespace("chain-outage");
  ApplyAgent("chain-outage");
  RunPod(Pod(ns, "steady", 2));
  ASSERT_TRUE(Eventually([&] { return ScrapeCounter(ns, "steady", 60).size() >= 3; }));
  const double start = Now();
  const auto outage = std::getenv("PROMSIDECAR_LONG") ? 120s : 20s;
  S->chain->prometheus().Stop();
  std::this_thread::sleep_for(outage);
  S->chain->prometheus().Restart();
  // The backlog arrives, then samples from well after the outage.
  std::vector<double> values;
  EXPECT_TRUE(Eventually(
      [&] {
        values = ScrapeCounter(ns, "steady", Now() - start + 10);
        return values.size() > 10 &&
               Value("timestamp(sampleapp_scrapes_total{namespace=\"" + ns + "\"})") > Now() - 5;
      },
      120s));
  const double outage_s = std::chrono::duration<double>(outage).count();
  EXPECT_GE(values.size(), static_cast<size_t>(outage_s / 2)) << "scrapes every 2 s through the outage";
  EXPECT_EQ(LostScrapes(values), 0) << "every value of the per-scrape counter is stored";
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
  ASSERT_TRUE(native) << "the node's kubelet is 1.34: a native sidecar\n" << created["spec"].dump(2);
  EXPECT_TRUE(Eventually(
      [&] { return S->chain->GetPod(ns, "batch")["status"].value("phase", "") == "Succeeded"; }, 120s))
      << S->chain->GetPod(ns, "batch")["status"].dump(2);
}

// The same chain with `engine: prometheus`: Prometheus (2.42, Debian's binary
// in our image) in agent mode is the sidecar, our agent renders its config
// from the pod's annotations and the shared Secret and reloads it over HTTP.
TEST_F(ChainTest, UpstreamPrometheusEngineDeliversTheSameSeries) {
  const std::string ns = Namespace("chain-engine");
  ApplyAgent("chain-engine", kOptIn, [](json& a) {
    a["spec"]["version"] = "v2.42.0";
    a["spec"]["sidecar"]["engine"] = "prometheus";
  });
  json pod = RunPod(Pod(ns, "upstream", 6));
  ASSERT_TRUE(ContainerStatus(pod, "promsidecar-prometheus").is_object()) << pod["spec"].dump(2);
  const std::string sel = "sampleapp_series{namespace=\"" + ns +
                          "\",pod=\"upstream\",job=\"sampleapp\",instance=\"upstream:8080\",cluster=\"e2e\"}";
  EXPECT_TRUE(Eventually([&] { return Value(sel) == 6; }, 120s))
      << sel << "\n--- prometheus container log\n"
      << Tail(S->chain->ContainerLog(S->chain->GetPod(ns, "upstream"), "promsidecar-prometheus"));
}

// updateStrategy InPlace between two real agent images (two builds with
// different versions): the operator patches only the agent's image, the
// kubelet restarts only that container, the app keeps running (same
// container), the WAL in the emptyDir bridges the restart, and counting the
// per-scrape counter shows no scrape lost beyond the one the restart may cut.
TEST_F(ChainTest, InPlaceAgentUpgradeKeepsTheAppAndLosesNoScrape) {
  const std::string ns = Namespace("chain-inplace");
  json agent = ApplyAgent("chain-inplace", kOptIn, [](json& a) {
    a["spec"]["sidecar"]["updateStrategy"] = "InPlace";
    a["spec"]["sidecar"]["image"] = kAgentImage;
  });
  json before = RunPod(Pod(ns, "upgraded", 3));
  const std::string app_id = ContainerStatus(before, "app").value("containerID", "");
  const std::string agent_image_id = ContainerStatus(before, "promsidecar-agent").value("imageID", "");
  ASSERT_FALSE(app_id.empty());
  ASSERT_TRUE(Eventually([&] { return ScrapeCounter(ns, "upgraded", 60).size() >= 3; }));
  const double start = Now();

  agent["spec"]["sidecar"]["image"] = kAgentImageNext;
  S->chain->ApplyAgent(agent);
  json after;
  EXPECT_TRUE(Eventually(
      [&] {
        after = S->chain->GetPod(ns, "upgraded");
        json st = ContainerStatus(after, "promsidecar-agent");
        return st.value("image", "") == kAgentImageNext && st.value("imageID", "") != agent_image_id &&
               st.contains("state") && st["state"].contains("running");
      },
      180s))
      << after["status"].dump(2);
  EXPECT_EQ(ContainerStatus(after, "app").value("containerID", ""), app_id) << "the app was not restarted";
  EXPECT_EQ(after["metadata"]["uid"], before["metadata"]["uid"]);
  EXPECT_NE(S->chain->ContainerLog(after, "promsidecar-agent").find("0.1.1-test"), std::string::npos)
      << "the new build runs";

  const double restarted = Now();
  std::vector<double> values;
  EXPECT_TRUE(Eventually(
      [&] {
        values = ScrapeCounter(ns, "upgraded", Now() - start + 10);
        return Value("timestamp(sampleapp_scrapes_total{namespace=\"" + ns + "\"})") > restarted + 10;
      },
      120s));
  // The old agent may be stopped after its last scrape was taken and before
  // it was written: at most that one in-flight scrape is missing.
  EXPECT_LE(LostScrapes(values), 1) << "per-scrape counter values: " << json(values).dump();
  EXPECT_TRUE(Eventually([&] {
    auto r = S->chain->Kubectl({"get", "prometheusagents.promsidecar.io", "-n", "promsidecar-system",
                                "chain-inplace", "-o", "jsonpath={.status.outdatedPods}"});
    return r.ok() && r.out == "0";
  })) << "the upgraded pod no longer counts as outdated";
}

// A projected service-account token as remote-write credential: the kubelet
// mints it for the agent's audience and the receiver accepts a request only
// when a TokenReview says the token is the pod's ServiceAccount's, for that
// audience.
TEST_F(ChainTest, ProjectedTokenWithAudienceIsValidatedByTheReceiver) {
  const std::string ns = Namespace("chain-token");
  const std::string audience = "promsidecar-e2e-receiver";
  testing::CountingReceiver receiver;
  std::mutex mu;
  std::map<std::string, bool> reviewed;  // token -> accepted
  std::string accepted_user;
  receiver.SetAuthorizer([&](const std::map<std::string, std::string>& headers) {
    auto it = headers.find("authorization");
    if (it == headers.end() || it->second.rfind("Bearer ", 0) != 0) return 401;
    const std::string token = it->second.substr(7);
    std::lock_guard lock(mu);
    if (!reviewed.count(token)) {
      json review = {{"apiVersion", "authentication.k8s.io/v1"},
                     {"kind", "TokenReview"},
                     {"spec", {{"token", token}, {"audiences", {audience}}}}};
      auto r = S->chain->Kubectl({"create", "-o", "json", "-f", "-"}, review.dump());
      json status = r.ok() ? json::parse(r.out, nullptr, false)["status"] : json();
      const bool ok = status.is_object() && status.value("authenticated", false) &&
                      status.value("audiences", json::array()).dump().find(audience) != std::string::npos;
      reviewed[token] = ok;
      if (ok) accepted_user = status["user"].value("username", "");
    }
    return reviewed[token] ? 200 : 401;
  });
  const std::string url = "http://" + S->chain->ForwardFromPods(receiver.port()) + "/api/v1/write";
  ApplyAgent("chain-token", kOptIn, [&](json& a) {
    a["spec"]["remoteWrite"][0]["url"] = url;
    a["spec"]["remoteWrite"][0]["authorization"] = {
        {"projectedServiceAccountToken", {{"audience", audience}, {"expirationSeconds", 3600}}}};
  });
  RunPod(Pod(ns, "tokened", 2));
  EXPECT_TRUE(Eventually([&] { return !receiver.ValuesOf("sampleapp_series").empty(); }, 120s))
      << "samples accepted after a successful TokenReview";
  std::lock_guard lock(mu);
  EXPECT_EQ(accepted_user, "system:serviceaccount:" + ns + ":default");
  for (const auto& [token, ok] : reviewed) EXPECT_TRUE(ok) << "every token the agent sent passed the review";
}

// Pods created while the webhook was down (failurePolicy Ignore) belong to a
// Deployment: the repair report finds them and, with --repair.enabled,
// restarts the Deployment, whose new pods are injected.
TEST_F(ChainTest, RepairRestartsADeploymentCreatedWhileTheWebhookWasDown) {
  const std::string ns = Namespace("chain-repair");
  ApplyAgent("chain-repair");
  json deployment = SampleAppDeployment(ns, "missed", 2, 2);
  deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.operator.io/agent-selector"] =
      "promsidecar-system/chain-repair";
  S->chain->StopOperator();
  S->chain->MustKubectl({"apply", "-f", "-"}, deployment.dump());
  auto pods_of = [&] {
    json list =
        json::parse(S->chain->MustKubectl({"get", "pods", "-n", ns, "-l", "app=missed", "-o", "json"}));
    return list["items"];
  };
  EXPECT_TRUE(Eventually([&] {
    json items = pods_of();
    if (items.size() != 2) return false;
    for (const auto& p : items)
      if (HasAgentContainer(p)) return false;
    return true;
  })) << "admitted without the sidecar while the webhook is down";
  S->chain->StartOperator();
  EXPECT_TRUE(Eventually(
      [&] {
        json items = pods_of();
        int injected = 0;
        for (const auto& p : items)
          if (HasAgentContainer(p) && !p["metadata"].contains("deletionTimestamp")) ++injected;
        return injected == 2 && items.size() == 2;
      },
      240s))
      << pods_of().dump(1);
  EXPECT_TRUE(Eventually([&] { return Count("sampleapp_series{namespace=\"" + ns + "\"}") == 2; }, 120s));
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

  json named = S->chain->CreatePod(Pod(other, "names-the-agent", 3));
  pods_.emplace_back(other, "names-the-agent");
  EXPECT_EQ(named["metadata"]["labels"].value("prometheus.operator.io/injection", ""), "skipped")
      << named.dump(2);
  EXPECT_FALSE(HasAgentContainer(named));
  json forged = SampleAppPod(other, "forged-label", 1);
  forged["metadata"]["annotations"] = json::object();
  forged["metadata"]["labels"]["prometheus.operator.io/agent"] = "promsidecar-system.chain-sec";
  forged["metadata"]["labels"]["prometheus.operator.io/injection"] = "injected";
  S->chain->CreatePod(forged);
  pods_.emplace_back(other, "forged-label");

  const std::string secret_name = "promsidecar-promsidecar-system.chain-sec";
  ASSERT_TRUE(Eventually([&] {
    return S->chain->Kubectl({"get", "secret", "-n", admitted, secret_name}).ok();
  }));
  // The search below can find the password: the admitted namespace's Secret has it.
  EXPECT_NE(S->chain->MustKubectl({"get", "secret", "-n", admitted, secret_name, "-o", "json"})
                .find(EncodeBase64(password)),
            std::string::npos);
  // Several reconciles later (resync 10 s: two and a half periods), still nothing in the other namespace.
  std::this_thread::sleep_for(25s);
  auto leaked = S->chain->Kubectl({"get", "secrets", "-n", other, "-o", "json"});
  ASSERT_TRUE(leaked.ok()) << leaked.err;
  EXPECT_EQ(leaked.out.find(secret_name), std::string::npos) << leaked.out;
  EXPECT_EQ(leaked.out.find(EncodeBase64(password)), std::string::npos);

  std::map<std::string, std::string> outputs = {
      {"operator log", S->chain->OperatorLog()},
      {"kubelet and containerd logs", S->chain->NodeLog()},
      {"agent container log", S->chain->ContainerLog(S->chain->GetPod(admitted, "app"), "promsidecar-agent")},
      {"Events", S->chain->MustKubectl({"get", "events", "-A", "-o", "json"})},
      {"agent status",
       S->chain->MustKubectl({"get", "prometheusagents.promsidecar.io", "-n", "promsidecar-system",
                              "chain-sec", "-o", "jsonpath={.status}"})},
  };
  http::Client client;
  for (const auto& [name, url] : std::map<std::string, std::string>{
           {"operator /metrics", S->chain->OperatorMetricsUrl() + "/metrics"},
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

  agent["spec"]["remoteWrite"][0]["url"] = S->chain->RemoteWriteUrl() + "?after=kill";
  S->chain->ApplyAgent(agent);
  S->chain->KillOperator();
  creds["stringData"]["token"] = "second-token";
  S->chain->MustKubectl({"apply", "-f", "-"}, creds.dump());
  json missed = S->chain->CreatePod(Pod(a, "created-while-down", 2));
  pods_.emplace_back(a, "created-while-down");
  EXPECT_FALSE(HasAgentContainer(missed)) << "failurePolicy Ignore: admitted untouched";

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
