// promsidecar-demo: the local demo behind `scripts/demo` (the README's main
// command). On a running control plane (scripts/cluster) it starts the pod
// runner, a receiving Prometheus, promsidecar-operator, creates a Sidecar-mode
// PrometheusAgent and annotated sample-app pods in two namespaces, waits until
// their series arrive in Prometheus, prints where to look, and stays up until
// interrupted. Everything it started is stopped, and what it created in the
// cluster deleted, on SIGINT/SIGTERM.
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>
#include <random>

#include "common/kube/resource.h"
#include "e2e/chain.h"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace e2e = promsidecar::e2e;
namespace testing = promsidecar::testing;

constexpr const char* kOptInLabel = "promsidecar.io/demo";

// Names as a Deployment's ReplicaSet would give them: the agent derives the
// job from the pod's app.kubernetes.io/name label, else from such a name.
std::string PodName(int i) {
  static const char* kSuffixes[] = {"x7k2p", "q9m4t", "b3n8w", "h6v1z", "r2c5d", "f8j3s"};
  return "sampleapp-5d8c7b9f4-" + std::string(kSuffixes[i % 6]) + (i >= 6 ? std::to_string(i) : "");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "promsidecar-demo: control plane + pod runner + promsidecar-operator + annotated sample apps, metrics "
      "arriving in Prometheus. Run through scripts/demo, which sets up and starts the control plane."};
  std::string work_dir = std::string(PROMSIDECAR_BINARY_DIR) + "/demo";
  int prometheus_port = 9090;
  int pods_per_namespace = 2;
  int series = 20;
  bool exit_when_ready = false;
  e2e::ChainOptions options;
  options.node_name = "demo-node";
  options.bridge = "psdemo0";
  options.pod_cidr = "10.213.32.0/24";
  app.add_option("--work-dir", work_dir, "logs, pod runner state, certificates")->capture_default_str();
  app.add_option("--prometheus-port", prometheus_port,
                 "Prometheus UI/API port on 127.0.0.1 (0: any free port)")
      ->capture_default_str();
  app.add_option("--pods-per-namespace", pods_per_namespace, "sample-app pods in each of the two namespaces")
      ->check(CLI::Range(1, 50))
      ->capture_default_str();
  app.add_option("--series", series, "series each sample app exposes")->capture_default_str();
  app.add_option("--node-name", options.node_name, "the pod runner's Node")->capture_default_str();
  app.add_option("--bridge", options.bridge, "the pod runner's bridge interface")->capture_default_str();
  app.add_option("--pod-cidr", options.pod_cidr, "host-only pod subnet")->capture_default_str();
  app.add_flag("--exit-when-ready", exit_when_ready,
               "Stop and clean up as soon as every pod's series arrived (the ctest smoke run)");
  CLI11_PARSE(app, argc, argv);
  options.work_dir = work_dir;

  // Signals are taken by sigwait below; children get an empty mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto env = testing::ClusterEnv::Load();
  if (!env.ok()) {
    std::cerr << "promsidecar-demo: no control plane found: " << env.message()
              << "\n(run scripts/demo, which starts one)\n";
    return 1;
  }
  if (prometheus_port != 0) {
    // A busy 9090 (another Prometheus) should not stop the demo.
    auto r = testing::RunCapturingOutput({"ss", "-Htln", "sport = :" + std::to_string(prometheus_port)});
    if (r.ok() && !r.out.empty()) {
      std::cerr << "port " << prometheus_port << " is busy; Prometheus gets a free port instead\n";
      prometheus_port = 0;
    }
  }
  options.prometheus_port = prometheus_port;

  const std::vector<std::string> namespaces = {"demo-team-a", "demo-team-b"};
  e2e::Chain chain(*env, options);
  int status = 0;
  try {
    std::cout << "== starting the pod runner, Prometheus and promsidecar-operator (logs in " << work_dir
              << ")\n";
    chain.Start();
    std::cout << "== creating PrometheusAgent promsidecar-system/demo (mode: Sidecar) and "
              << pods_per_namespace * namespaces.size() << " annotated sample-app pods\n";
    json agent = chain.Agent("promsidecar-system", "demo", kOptInLabel, "demo");
    agent["spec"]["scrapeInterval"] = "5s";
    agent["spec"]["sampleLimit"] = 2000;
    // Serves the pods that name no agent, in the namespaces it admits.
    agent["spec"]["sidecar"]["default"] = true;
    chain.ApplyAgent(agent);
    for (const auto& ns : namespaces) {
      chain.CreateNamespace(ns, {{kOptInLabel, "true"}});
      for (int i = 0; i < pods_per_namespace; ++i) {
        json pod = e2e::SampleAppPod(ns, PodName(i), chain.node_name(), series);
        pod["metadata"]["annotations"]["prometheus.operator.io/scrape-interval"] = "5s";
        chain.CreatePod(pod);
      }
    }
    for (const auto& ns : namespaces) {
      for (int i = 0; i < pods_per_namespace; ++i) {
        if (!chain.WaitPodRunning(ns, PodName(i), 180s)) {
          throw std::runtime_error("pod " + ns + "/" + PodName(i) + " is not running; pod runner log:\n" +
                                   chain.PodRunnerLog().substr(0, 4000));
        }
      }
    }
    std::cout << "== pods running; waiting for their series in Prometheus\n";
    const std::string query = "count by (namespace, pod) (sampleapp_series)";
    const size_t want = pods_per_namespace * namespaces.size();
    if (!testing::PollUntil(
            180s, [&] { return chain.QueryOrEmpty(query).size() >= want; }, 1s)) {
      throw std::runtime_error("no series from every pod after 3 minutes; operator log:\n" +
                               chain.OperatorLog().substr(0, 4000));
    }
    const std::string url = chain.prometheus().Url();
    const std::string graph_expr = "sum by (namespace, pod) (rate(sampleapp_events_total[1m]))";
    json pod0 = chain.GetPod(namespaces[0], PodName(0));
    std::cout
        << "\n== metrics are arriving\n\n"
        << "Prometheus (remote-write receiver):  " << url << "\n"
        << "  graph:   " << url << "/graph?g0.expr=" << promsidecar::kube::UrlEncode(graph_expr)
        << "&g0.tab=0&g0.range_input=5m\n"
        << "  PromQL:  sampleapp_series            every pod's series, with namespace, pod, job, instance, "
           "cluster labels\n"
        << "           up{job=\"sampleapp\"}         one scrape target per pod, scraped by its own sidecar\n"
        << "           promsidecar_agent_remote_samples_sent_total   each sidecar's own health series "
           "(job=\"promsidecar-agent\")\n\n"
        << "kubectl:   export KUBECONFIG=" << env->kubeconfig << "\n"
        << "           " << env->kubectl
        << " get psagent -A      (psagent: our PrometheusAgent's short name)\n\n"
        << chain.MustKubectl({"get", "prometheusagents.promsidecar.io", "-A"}) << "\n"
        << chain.MustKubectl({"get", "pods", "-A", "-l", "prometheus.operator.io/agent", "-o", "wide"})
        << "\n"
        << "cardinality spike (only that pod's scrape fails: sampleLimit 2000):\n"
        << "           curl -d series=5000 http://" << pod0["status"].value("podIP", "POD_IP")
        << ":8080/control\n\n"
        << "Stop everything: Ctrl-C (the demo stops its processes and the control plane).\n";
    std::cout.flush();
    if (!exit_when_ready) {
      int sig = 0;
      sigwait(&signals, &sig);
      std::cout << "\n== stopping\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "promsidecar-demo failed: " << e.what() << "\n";
    status = 1;
  }
  // Pods first, while the pod runner still runs (it reports their end).
  for (const auto& ns : namespaces) (void)chain.Kubectl({"delete", "namespace", ns, "--wait=false"});
  (void)chain.Kubectl({"delete", "prometheusagents.promsidecar.io", "-n", "promsidecar-system", "demo",
                       "--ignore-not-found", "--wait=false"});
  chain.Stop();
  return status;
}
