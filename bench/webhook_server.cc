// The pod injection webhook as the operator serves it, for load tests: the
// real AdmissionServer (TLS, decode, encode) and the real PodInjectionWebhook,
// with the cluster facts fixed in memory (one Sidecar agent, the cluster
// default, that admits the pods' namespace by label) instead of informer caches, so the figures are those of
// the webhook path itself and no API server is involved.
//
//   webhook_server [--threads=N]
// makes a throw-away CA and serving certificate for 127.0.0.1 in a temporary
// directory, then prints one line on stdout once it serves:
//   port=P control_port=C ca=FILE
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
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http/server.h"
#include "common/metrics/metrics.h"
#include "operator/admission/certs.h"
#include "operator/admission/server.h"
#include "operator/admission/webhooks.h"
#include "operator/api/agent.h"

namespace {

using namespace promsidecar;

// The namespace and labels the load tool's pods use (bench/run writes the
// AdmissionReviews); the agent admits them by label, as a platform team's would.
constexpr const char* kPodNamespace = "team-a";

class FixedFacts : public admission::ClusterFactsSource {
 public:
  explicit FixedFacts(api::Agent agent) : agent_(std::move(agent)) {}
  Result<inject::ClusterFacts> FactsFor(const std::string& pod_namespace) override {
    inject::ClusterFacts f;
    f.agents.push_back(agent_);
    f.namespace_labels = {{"kubernetes.io/metadata.name", pod_namespace}, {"metrics", "enabled"}};
    f.apiserver_version = "v1.34.0";
    f.node_kubelet_versions = {"v1.34.0", "v1.34.0", "v1.33.5"};
    return f;
  }

 private:
  api::Agent agent_;
};

api::Agent SidecarAgent() {
  const nlohmann::json object = {
      {"apiVersion", "promsidecar.io/v1alpha1"},
      {"kind", "PrometheusAgent"},
      {"metadata", {{"name", "agent"}, {"namespace", "monitoring"}, {"generation", 1}}},
      {"spec",
       {{"mode", "Sidecar"},
        {"externalLabels", {{"cluster", "bench"}}},
        {"remoteWrite", {{{"url", "https://metrics.example.com/api/v1/write"}}}},
        {"sidecar",
         {{"default", true}, {"namespaceSelector", {{"matchLabels", {{"metrics", "enabled"}}}}}}}}}};
  auto agent = api::ParseAgent(object);
  if (!agent.ok()) {
    std::fprintf(stderr, "webhook_server: the built-in agent does not parse: %s\n", agent.message().c_str());
    std::exit(1);
  }
  return *agent;
}

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
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else {
      std::fprintf(stderr, "webhook_server: unknown argument %s (use --threads=N)\n", argv[i]);
      return 2;
    }
  }
  if (threads < 1) {
    std::fprintf(stderr, "webhook_server: --threads must be at least 1\n");
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

  FixedFacts facts(SidecarAgent());
  admission::PodInjectionWebhook pods(facts, inject::OperatorSettings{}, webhook_metrics);
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
  std::filesystem::remove_all(dir);
  return 0;
}
