// The pod injection webhook as the operator serves it, for load tests: the
// real AdmissionServer (TLS, decode, encode), the real PodInjectionWebhook and
// the operator's real informer cache, filled from a fake API server in this
// process (a kube::Transport answering LISTs and idle WATCHes): N Nodes
// (realistic objects, a few kubelet versions) and M PrometheusAgents, one the
// cluster default that admits the pods' namespace by label, the others in
// their own namespaces. So an admission pays what it pays in a cluster of that
// size, and no API server is involved in the measurement.
//
// One source for two trees: it compiles against this tree's shared cache
// (operator/cache) and against the earlier admission::ClusterCache, so
// bench/run can build it in a worktree of an older commit and measure both
// in the same run (--webhook-baseline).
//
//   webhook_server [--threads=N] [--nodes=N] [--agents=M]
// makes a throw-away CA and serving certificate for 127.0.0.1 in a temporary
// directory, then prints one line on stdout once it serves:
//   port=P control_port=C ca=FILE namespace=NS
// POST https://127.0.0.1:P/mutate-pod takes AdmissionReviews; GET
// http://127.0.0.1:C/metrics has the injection counters and
// bench_webhook_duration_seconds, a histogram of the same interval the
// operator's own latency metric measures (reading the review to the encoded
// answer; not TLS or HTTP parsing), with buckets fine enough (10% apart) for
// p50/p99/p999 below a millisecond. Runs until SIGTERM/SIGINT.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http/server.h"
#include "common/kube/client.h"
#include "common/kube/transport.h"
#include "common/metrics/metrics.h"
#include "operator/admission/certs.h"
#include "operator/admission/server.h"
#include "operator/admission/webhooks.h"
#include "operator/api/agent.h"

#if __has_include("operator/cache/cache.h")
#include "operator/admission/cache_facts.h"
#include "operator/cache/cache.h"
#define SHARED_CACHE 1
#else
#include "operator/admission/cluster_cache.h"
#define SHARED_CACHE 0
#endif

namespace {

using namespace promsidecar;
using nlohmann::json;

// The namespace and labels the load tool's pods use (bench/webhook_bench.py
// writes the AdmissionReviews).
constexpr const char* kPodNamespace = "team-a";
constexpr const char* kAgentNamespace = "monitoring";

json List(const char* kind, json items) {
  return {{"apiVersion", "v1"},
          {"kind", kind},
          {"metadata", {{"resourceVersion", "100"}}},
          {"items", std::move(items)}};
}

// A Node as a kubelet reports it (labels, conditions, images): about 4 KB.
json Node(int i) {
  const std::string name = "node-" + std::to_string(i);
  const char* version = i % 10 == 0 ? "v1.33.5" : (i % 3 == 0 ? "v1.34.1" : "v1.34.4");
  json images = json::array();
  for (int k = 0; k < 12; ++k) {
    images.push_back(
        {{"names",
          {"registry.example.com/team-" + std::to_string(k) +
               "/service@sha256:" + std::string(64, 'a' + k % 6),
           "registry.example.com/team-" + std::to_string(k) + "/service:1." + std::to_string(k)}},
         {"sizeBytes", 50'000'000 + k * 1'000'000}});
  }
  json conditions = json::array();
  for (const char* type : {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"}) {
    conditions.push_back({{"type", type},
                          {"status", std::string(type) == "Ready" ? "True" : "False"},
                          {"lastHeartbeatTime", "2026-12-01T10:00:00Z"},
                          {"lastTransitionTime", "2026-11-01T10:00:00Z"},
                          {"reason", std::string("Kubelet") + type},
                          {"message", "kubelet is posting ready status"}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata",
           {{"name", name},
            {"uid", "00000000-0000-4000-8000-" + std::to_string(100000000000 + i)},
            {"resourceVersion", std::to_string(1000 + i)},
            {"labels",
             {{"kubernetes.io/hostname", name},
              {"kubernetes.io/os", "linux"},
              {"kubernetes.io/arch", "amd64"},
              {"node.kubernetes.io/instance-type", "m6i.2xlarge"},
              {"topology.kubernetes.io/region", "eu-west-1"},
              {"topology.kubernetes.io/zone", "eu-west-1" + std::string(1, static_cast<char>('a' + i % 3))},
              {"node-pool", "general"}}},
            {"annotations",
             {{"node.alpha.kubernetes.io/ttl", "0"},
              {"volumes.kubernetes.io/controller-managed-attach-detach", "true"}}}}},
          {"spec",
           {{"podCIDR", "10.244." + std::to_string(i % 250) + ".0/24"}, {"providerID", "aws:///" + name}}},
          {"status",
           {{"capacity", {{"cpu", "8"}, {"memory", "32Gi"}, {"pods", "110"}}},
            {"allocatable", {{"cpu", "7910m"}, {"memory", "31Gi"}, {"pods", "110"}}},
            {"conditions", conditions},
            {"addresses",
             {{{"type", "InternalIP"},
               {"address", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250)}},
              {{"type", "Hostname"}, {"address", name}}}},
            {"nodeInfo",
             {{"kubeletVersion", version},
              {"kubeProxyVersion", version},
              {"containerRuntimeVersion", "containerd://1.7.22"},
              {"kernelVersion", "6.1.0-27-amd64"},
              {"osImage", "Debian GNU/Linux 12 (bookworm)"},
              {"operatingSystem", "linux"},
              {"architecture", "amd64"}}},
            {"images", images}}}};
}

// Agent 0 is the cluster default admitting the pods' namespace; the others
// serve their own namespaces (as per-team agents do).
json Agent(int i) {
  const bool main = i == 0;
  json sidecar =
      main ? json{{"default", true}, {"namespaceSelector", {{"matchLabels", {{"metrics", "enabled"}}}}}}
           : json{{"walSizeLimit", "128Mi"}};
  return {{"apiVersion", "promsidecar.io/v1alpha1"},
          {"kind", "PrometheusAgent"},
          {"metadata",
           {{"name", main ? std::string("agent") : "team-" + std::to_string(i)},
            {"namespace", main ? std::string(kAgentNamespace) : "team-ns-" + std::to_string(i)},
            {"uid", "10000000-0000-4000-8000-" + std::to_string(100000000000 + i)},
            {"resourceVersion", std::to_string(5000 + i)},
            {"generation", 1}}},
          {"spec",
           {{"mode", "Sidecar"},
            {"externalLabels", {{"cluster", "bench"}, {"team", "team-" + std::to_string(i)}}},
            {"remoteWrite",
             {{{"url", "https://metrics.example.com/api/v1/write"},
               {"basicAuth",
                {{"username", {{"name", "rw"}, {"key", "user"}}},
                 {"password", {{"name", "rw"}, {"key", "pass"}}}}},
               {"queueConfig", {{"maxSamplesPerSend", 2000}, {"batchSendDeadline", "5s"}}}}}},
            {"sampleLimit", 5000},
            {"sidecar", sidecar}}}};
}

// A read-only API server: LISTs of fixed objects, WATCHes that stay open and
// quiet until the informer stops.
class FakeApi : public kube::Transport {
 public:
  FakeApi(int nodes, int agents) {
    json node_items = json::array();
    for (int i = 0; i < nodes; ++i) node_items.push_back(Node(i));
    for (int i = 0; i < agents; ++i) {
      json a = Agent(i);
      const std::string ns = a["metadata"]["namespace"].get<std::string>();
      agents_[ns] = List("PrometheusAgentList", json::array({std::move(a)})).dump();
    }
    nodes_ = List("NodeList", std::move(node_items)).dump();
    namespaces_ =
        List(
            "NamespaceList",
            json::array(
                {{{"apiVersion", "v1"},
                  {"kind", "Namespace"},
                  {"metadata",
                   {{"name", kPodNamespace},
                    {"resourceVersion", "7"},
                    {"labels", {{"kubernetes.io/metadata.name", kPodNamespace}, {"metrics", "enabled"}}}}}}}))
            .dump();
  }

  Result<http::Response> Do(const http::Request& req, http::FailureKind* failure) override {
    const std::string& url = req.url;
    if (url.find("watch=true") != std::string::npos) {
      while (!req.should_abort || !req.should_abort())
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      *failure = http::FailureKind::kAborted;
      return MakeError("aborted");
    }
    http::Response r;
    r.status = 200;
    if (url.find("/version") != std::string::npos) {
      r.body = R"({"major":"1","minor":"34","gitVersion":"v1.34.4"})";
    } else if (url.find("/nodes") != std::string::npos) {
      r.body = nodes_;
    } else if (const size_t at = url.find("/prometheusagents"); at != std::string::npos) {
      // .../namespaces/<ns>/prometheusagents: that namespace's agent.
      const size_t start = url.rfind("/namespaces/", at) + std::strlen("/namespaces/");
      auto it = agents_.find(url.substr(start, at - start));
      r.body = it != agents_.end() ? it->second : List("PrometheusAgentList", json::array()).dump();
    } else if (url.find("/api/v1/namespaces?") != std::string::npos || url.ends_with("/api/v1/namespaces")) {
      r.body = namespaces_;
    } else {
      r.body = List("List", json::array()).dump();  // pods, secrets, configmaps, limitranges
    }
    return r;
  }

 private:
  std::string nodes_, namespaces_;
  std::map<std::string, std::string> agents_;  // namespace → its list
};

// 5 µs to ~1 s, each bound 10% above the last.
std::vector<double> FineBuckets() {
  std::vector<double> b;
  for (double v = 5e-6; v < 1.0; v *= 1.1) b.push_back(v);
  return b;
}

bool WriteFile(const std::filesystem::path& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
  return static_cast<bool>(f);
}

std::atomic<bool> g_stop{false};
void OnSignal(int) {
  g_stop = true;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 8;  // the operator's AdmissionServer default
  int nodes = 1000;
  int agents = 50;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--nodes=", 8) == 0) {
      nodes = std::atoi(argv[i] + 8);
    } else if (std::strncmp(argv[i], "--agents=", 9) == 0) {
      agents = std::atoi(argv[i] + 9);
    } else {
      std::fprintf(stderr, "webhook_server: unknown argument %s (use --threads=N --nodes=N --agents=M)\n",
                   argv[i]);
      return 2;
    }
  }
  if (threads < 1 || nodes < 1 || agents < 1) {
    std::fprintf(stderr, "webhook_server: --threads, --nodes and --agents must be at least 1\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);

  char dir_template[] = "/tmp/webhook-bench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("webhook_server: mkdtemp");
    return 1;
  }
  const std::filesystem::path dir = dir_template;
  const auto now = std::chrono::system_clock::now();
  auto ca = admission::GenerateCa({.common_name = "webhook-bench-ca",
                                   .not_before = now - std::chrono::hours(1),
                                   .not_after = now + std::chrono::hours(48)});
  if (!ca.ok()) {
    std::fprintf(stderr, "webhook_server: CA: %s\n", ca.message().c_str());
    return 1;
  }
  auto serving = admission::IssueServingCert(*ca, {.common_name = "webhook-bench",
                                                   .dns_names = {"localhost"},
                                                   .ip_addresses = {"127.0.0.1"},
                                                   .not_before = now - std::chrono::hours(1),
                                                   .not_after = now + std::chrono::hours(48)});
  if (!serving.ok()) {
    std::fprintf(stderr, "webhook_server: serving certificate: %s\n", serving.message().c_str());
    return 1;
  }
  if (!WriteFile(dir / "ca.crt", ca->cert_pem) || !WriteFile(dir / "tls.crt", serving->cert_pem) ||
      !WriteFile(dir / "tls.key", serving->key_pem)) {
    std::fprintf(stderr, "webhook_server: cannot write the certificates to %s\n", dir.c_str());
    return 1;
  }

  metrics::Registry registry;
  admission::WebhookMetrics webhook_metrics = admission::WebhookMetrics::Register(registry);
  webhook_metrics.latency_seconds = &registry.AddHistogramFamily(
      "bench_webhook_duration_seconds", "The operator's webhook latency interval, with fine buckets.",
      {"webhook", "code"}, FineBuckets());

  kube::Config config;
  config.server = "https://api.bench.invalid";
  kube::Client client(config, std::make_shared<FakeApi>(nodes, agents));
  const api::AgentApiGroup group = api::AgentApiGroup::Own();
  std::vector<std::string> agent_namespaces = {kAgentNamespace};
  for (int i = 1; i < agents; ++i) agent_namespaces.push_back("team-ns-" + std::to_string(i));
#if SHARED_CACHE
  cache::ClusterCache cluster(client, {.group = group, .agent_namespaces = agent_namespaces});
  admission::CacheFacts facts(cluster);
#else
  admission::ClusterCache cluster(client, {.group = group, .agent_namespaces = agent_namespaces});
  admission::ClusterCache& facts = cluster;
#endif
  cluster.Start();
  if (!cluster.WaitForSync(std::chrono::seconds(120))) {
    std::fprintf(stderr, "webhook_server: the cache did not fill from the fake API server\n");
    return 1;
  }

  inject::OperatorSettings settings;
  settings.operator_namespace = "promsidecar-system";
  admission::PodInjectionWebhook pods(facts, settings, webhook_metrics);
  admission::AdmissionServerOptions options;
  options.http.listen_address = "127.0.0.1:0";
  options.http.tls = http::ServerTlsOptions{(dir / "tls.crt").string(), (dir / "tls.key").string()};
  options.http.worker_threads = static_cast<size_t>(threads);
  options.metrics = webhook_metrics;
  admission::AdmissionServer server(options);
  server.Register(admission::kMutatePodPath,
                  [&pods](const admission::AdmissionRequest& r) { return pods.Handle(r); });

  http::Server control({.listen_address = "127.0.0.1:0", .name = "control"});
  control.Handle("GET", "/metrics", [&registry](const http::ServerRequest&) {
    return http::ServerResponse::Text(200, registry.Render());
  });

  if (auto s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "webhook_server: %s\n", s.message().c_str());
    return 1;
  }
  if (auto s = control.Start(); !s.ok()) {
    std::fprintf(stderr, "webhook_server: control: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("port=%d control_port=%d ca=%s namespace=%s\n", server.BoundPort(), control.BoundPort(),
              (dir / "ca.crt").c_str(), kPodNamespace);
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server.Stop();
  control.Stop();
  cluster.Stop();
  std::filesystem::remove_all(dir);
  return 0;
}
