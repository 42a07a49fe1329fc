// promsidecar-demo: the local demo behind `scripts/demo` (the README's main
// command). On a running cluster with a real node (scripts/cluster) and our
// images imported into it, it starts a receiving Prometheus, installs
// promsidecar-operator with the Helm chart, creates a Sidecar-mode
// PrometheusAgent and an annotated sample-app Deployment in each of two
// namespaces, waits until every pod's series arrive in Prometheus, prints
// where to look, and stays up until interrupted. On SIGINT/SIGTERM what it
// created in the cluster is deleted, the chart uninstalled, Prometheus stopped.
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>

#include "common/kube/resource.h"
#include "e2e/chain.h"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace e2e = promsidecar::e2e;
namespace testing = promsidecar::testing;

constexpr const char* kOptInLabel = "promsidecar.io/demo";

// What a failed smoke run needs to be understood from its output alone: the
// pods as the API server sees them, each sidecar's log (where a scrape or a
// remote write fails), the operator's log and what `up` says.
std::string Diagnostics(const e2e::Chain& chain, const std::vector<std::string>& namespaces) {
  std::string out = "up: " + chain.QueryOrEmpty("up").dump() + "\n";
  for (const auto& ns : namespaces) {
    out += chain.Kubectl({"get", "pods", "-n", ns, "-o", "wide", "--show-labels"}).out;
    out +=
        chain
            .Kubectl({"get", "pods", "-n", ns, "-o",
                      "custom-columns=POD:.metadata.name,INIT:.spec.initContainers[*].name,CONTAINERS:.spec."
                      "containers[*].name"})
            .out;
    auto pods = chain.Kubectl({"get", "pods", "-n", ns, "-o", "json"});
    json list = json::parse(pods.out, nullptr, false);
    if (list.is_discarded()) continue;
    for (const auto& pod : list.value("items", json::array())) {
      const std::string log = chain.ContainerLog(pod, "promsidecar-agent");
      out += "--- " + ns + "/" + pod["metadata"].value("name", "") +
             " promsidecar-agent (last 3000 bytes)\n" +
             (log.size() > 3000 ? log.substr(log.size() - 3000) : log) + "\n";
    }
  }
  const std::string log = chain.OperatorLog();
  return out + "--- operator log (last 4000 bytes)\n" +
         (log.size() > 4000 ? log.substr(log.size() - 4000) : log);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "promsidecar-demo: promsidecar-operator installed with Helm on a real node, annotated sample-app "
      "Deployments, metrics arriving in Prometheus. Run through scripts/demo, which sets up the cluster and "
      "the images."};
  std::string work_dir = std::string(PROMSIDECAR_BINARY_DIR) + "/demo";
  int prometheus_port = 9090;
  int pods_per_namespace = 2;
  int series = 20;
  bool exit_when_ready = false;
  e2e::ChainOptions options;
  // The chart's default: two replicas serve the webhooks, one (the leader) reconciles.
  options.replicas = 2;
  // The pod webhook's failurePolicy is Ignore (a monitoring agent must never
  // block a workload), so a pod admitted while the webhook is slow or
  // restarting runs without its sidecar; the repair report finds such pods
  // and, enabled as here, restarts their Deployment. A short interval so the
  // demo heals within its wait.
  options.helm_values["repair.enabled"] = "true";
  options.operator_extra_args = {"--repair.interval=30s"};
  app.add_option("--work-dir", work_dir, "logs and Prometheus data")->capture_default_str();
  app.add_option("--prometheus-port", prometheus_port,
                 "Prometheus UI/API port on 127.0.0.1 (0: any free port)")
      ->capture_default_str();
  app.add_option("--pods-per-namespace", pods_per_namespace,
                 "replicas of the sample-app Deployment in each of the two namespaces")
      ->check(CLI::Range(1, 50))
      ->capture_default_str();
  app.add_option("--series", series, "series each sample app exposes")->capture_default_str();
  app.add_option("--replicas", options.replicas, "operator replicas")
      ->check(CLI::Range(1, 3))
      ->capture_default_str();
  app.add_option("--rule-file", options.prometheus_rule_files,
                 "a Prometheus rule file its Prometheus evaluates (repeatable), e.g. "
                 "deploy/monitoring/promsidecar-rules.yaml; the alerts page then shows them")
      ->check(CLI::ExistingFile);
  std::string when_ready;
  app.add_option("--when-ready", when_ready,
                 "A shell command run once every pod's series arrived, with PROMETHEUS_URL set (e.g. the "
                 "dashboard check); retried for up to 3 minutes while it fails, then the demo fails with "
                 "its output");
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
    std::cerr << "promsidecar-demo: no cluster found: " << env.message()
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
    std::cout << "== installing promsidecar-operator with Helm, starting Prometheus (logs in " << work_dir
              << ")\n";
    chain.Start();
    std::cout << "== creating PrometheusAgent promsidecar-system/demo (mode: Sidecar) and a sample-app "
                 "Deployment of "
              << pods_per_namespace << " pods in each of " << namespaces[0] << " and " << namespaces[1]
              << "\n";
    json agent = chain.Agent("promsidecar-system", "demo", kOptInLabel, "demo");
    agent["spec"]["scrapeInterval"] = "5s";
    agent["spec"]["sampleLimit"] = 2000;
    // Serves the pods that name no agent, in the namespaces it admits.
    agent["spec"]["sidecar"]["default"] = true;
    chain.ApplyAgent(agent);
    for (const auto& ns : namespaces) {
      chain.CreateNamespace(ns, {{kOptInLabel, "true"}});
      json deployment = e2e::SampleAppDeployment(ns, "sampleapp", pods_per_namespace, series);
      deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.operator.io/scrape-interval"] =
          "5s";
      chain.MustKubectl({"apply", "-f", "-"}, deployment.dump());
    }
    for (const auto& ns : namespaces) {
      auto r = chain.Kubectl({"rollout", "status", "deployment/sampleapp", "-n", ns, "--timeout=180s"});
      if (!r.ok()) {
        throw std::runtime_error("Deployment " + ns + "/sampleapp is not available: " + r.err +
                                 chain.Kubectl({"get", "pods", "-n", ns, "-o", "wide"}).out);
      }
    }
    std::cout << "== pods running; waiting for their series in Prometheus\n";
    const std::string query = "count by (namespace, pod) (sampleapp_series)";
    const size_t want = pods_per_namespace * namespaces.size();
    if (!testing::PollUntil(
            180s, [&] { return chain.QueryOrEmpty(query).size() >= want; }, 1s)) {
      throw std::runtime_error("no series from every pod after 3 minutes (Prometheus has " +
                               chain.QueryOrEmpty(query).dump() + ")\n" + Diagnostics(chain, namespaces));
    }
    const std::string url = chain.prometheus().Url();
    if (!when_ready.empty()) {
      // Rates need a few scrapes and the agents' own series follow their
      // first sends: the command gets time to find data.
      std::cout << "== running --when-ready: " << when_ready << "\n";
      testing::CommandOutput r;
      const bool passed = testing::PollUntil(
          180s,
          [&] {
            r = testing::RunCapturingOutput({"env", "PROMETHEUS_URL=" + url, "sh", "-c", when_ready}, "",
                                            120s);
            return r.ok();
          },
          10s);
      std::cout << r.out << r.err;
      if (!passed) throw std::runtime_error("--when-ready failed for 3 minutes: " + when_ready);
    }
    const std::string graph_expr = "sum by (namespace, pod) (rate(sampleapp_events_total[1m]))";
    const std::string pod0_ip = chain
                                    .Kubectl({"get", "pods", "-n", namespaces[0], "-l", "app=sampleapp", "-o",
                                              "jsonpath={.items[0].status.podIP}"})
                                    .out;
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
        << (options.prometheus_rule_files.empty() ? ""
                                                  : "  alerts:  " + url +
                                                        "/classic/alerts   (the rules of --rule-file; "
                                                        "Debian's Prometheus serves its classic UI)\n")
        << "screenshots in docs/ come from the graph link above and the alerts page "
           "(scripts/screenshots)\n\n"
        << "kubectl:   export KUBECONFIG=" << env->kubeconfig << "\n"
        << "           " << env->kubectl
        << " get psagent -A      (psagent: our PrometheusAgent's short name)\n\n"
        << chain.MustKubectl({"get", "prometheusagents.promsidecar.io", "-A"}) << "\n"
        << chain.MustKubectl({"get", "pods", "-A", "-l", "prometheus.operator.io/agent", "-o", "wide"})
        << "\n"
        << "cardinality spike (only that pod's scrape fails: sampleLimit 2000):\n"
        << "           curl -d series=5000 http://" << (pod0_ip.empty() ? "POD_IP" : pod0_ip)
        << ":8080/control\n\n"
        << "Stop everything: Ctrl-C (the demo uninstalls the chart and stops the cluster).\n";
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
  for (const auto& ns : namespaces) chain.DeleteNamespace(ns, 120s);
  chain.Stop();
  return status;
}
