// The whole product on one machine, as the demo shows it and the whole-chain
// tests exercise it: a running control plane (scripts/cluster), the pod runner
// playing the kubelet (docs/podrunner.md), a receiving Prometheus (Debian's,
// remote-write receiver on, UI on loopback), a forwarder that lets pods reach
// it from the pod network, and promsidecar-operator (webhooks + controller)
// registered by URL. The demo (demo.cc) and the tests (chain_test.cc) drive
// the same code.
//
//   auto env = testing::ClusterEnv::Load();
//   e2e::Chain chain(*env, {.work_dir = dir.path()});
//   chain.Start();                       // throws with the logs on failure
//   chain.CreateNamespace("team-a", {{"promsidecar-demo", "true"}});
//   chain.ApplyAgent(chain.Agent("monitoring", "agent"));
//   chain.CreatePod(e2e::SampleAppPod("team-a", "app-1"));
//   chain.WaitPodRunning("team-a", "app-1");
//   chain.prometheus().Query("sampleapp_series");
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/cluster_env.h"
#include "testing/prometheus.h"
#include "testing/subprocess.h"

namespace promsidecar::e2e {

// Images the pod runner maps to local binaries.
inline constexpr const char* kAgentImageRepository = "ghcr.io/promsidecar/promsidecar-agent";
inline constexpr const char* kAgentImage = "ghcr.io/promsidecar/promsidecar-agent:v0.1.0";
// A second agent build (a copy of the same binary: another imageID), for upgrades.
inline constexpr const char* kAgentImageNext = "ghcr.io/promsidecar/promsidecar-agent:v0.1.1";
inline constexpr const char* kSampleAppImage = "promsidecar/sampleapp:v1";
inline constexpr const char* kPrometheusImage = "quay.io/prometheus/prometheus";

struct ChainOptions {
  std::string work_dir;  // required: logs, pod runner state, certificates
  // Where promsidecar-agent, promsidecar-operator and the sample app were
  // built (default: this build tree).
  std::string build_dir;
  std::string podrunner_binary;  // default: <build_dir>/tools/podrunner
  std::string node_name = "promsidecar-e2e";
  std::string bridge = "pse2e0";
  std::string pod_cidr = "10.213.64.0/24";
  int prometheus_port = 0;  // the UI/API on 127.0.0.1; 0: a free port
  // The operator's namespace (agents live there).
  std::string operator_namespace = "promsidecar-system";
  std::vector<std::string> operator_extra_args;
  std::string log_level = "info";
  // metadata.name of the operator's webhook configurations (deleted by Stop()).
  std::string webhook_configuration_name = "promsidecar";
};

class Chain {
 public:
  Chain(testing::ClusterEnv env, ChainOptions options);
  ~Chain();  // Stop()s
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  // CRD, operator namespace, pod runner, Prometheus, forwarder, operator;
  // returns when the node is Ready and the operator serves its webhooks.
  // Throws std::runtime_error naming what failed, with its log.
  void Start();
  // Stops the operator and deletes its webhook configurations (as the
  // documented uninstall does), stops the pod runner (it stops every pod),
  // the forwarders and Prometheus. Other objects are left to the caller.
  void Stop();

  // The operator alone (webhook outage, operator restart tests).
  void StopOperator();
  void StartOperator();
  // SIGKILL: no graceful shutdown, whatever it was doing is cut off.
  void KillOperator();
  // What uninstalling does first: pod creation never waits for a dead webhook.
  void DeleteWebhookConfigurations();

  testing::PrometheusServer& prometheus() { return *prometheus_; }
  const testing::ClusterEnv& env() const { return env_; }
  // The receiver as pods see it (through the forwarder on the bridge).
  std::string RemoteWriteUrl() const;
  // Makes a loopback-only server reachable from pods: a forwarder on the
  // bridge address; returns "<bridge ip>:<port>".
  std::string ForwardFromPods(int loopback_port);
  std::string BridgeIp() const { return bridge_ip_; }
  std::string OperatorLog() const;
  std::string PodRunnerLog() const;
  std::string operator_metrics_url() const { return "http://127.0.0.1:" + std::to_string(metrics_port_); }

  // kubectl with the admin kubeconfig; throws with stderr when it fails.
  std::string MustKubectl(const std::vector<std::string>& args, const std::string& stdin_data = "") const;
  testing::CommandOutput Kubectl(const std::vector<std::string>& args,
                                 const std::string& stdin_data = "") const;

  // A namespace with these labels and its `default` ServiceAccount (there is
  // no controller-manager to create it).
  void CreateNamespace(const std::string& name, const std::map<std::string, std::string>& labels);
  // A Sidecar-mode PrometheusAgent in `ns` writing to this chain's receiver:
  // 2 s scrape interval (minScrapeInterval 1s), admitting namespaces labelled
  // `label_key=true`, external label cluster=<cluster_label>.
  nlohmann::json Agent(const std::string& ns, const std::string& name, const std::string& label_key,
                       const std::string& cluster_label = "e2e") const;
  void ApplyAgent(const nlohmann::json& agent);
  // Creates the pod (through the webhook) and returns the stored object.
  nlohmann::json CreatePod(const nlohmann::json& pod);
  nlohmann::json GetPod(const std::string& ns, const std::string& name) const;
  // Polls until the pod is Running with every container ready or started.
  bool WaitPodRunning(const std::string& ns, const std::string& name,
                      std::chrono::milliseconds deadline = std::chrono::seconds(120)) const;
  // The current log of a container (pod runner log files).
  std::string ContainerLog(const nlohmann::json& pod, const std::string& container) const;
  // Prometheus instant query; empty array on any error (tests poll).
  nlohmann::json QueryOrEmpty(const std::string& promql) const;

  const std::string& node_name() const { return options_.node_name; }

 private:
  void StartPodRunner();
  void StartPrometheusAndForwarder();
  std::string WriteImageMap();

  testing::ClusterEnv env_;
  ChainOptions options_;
  std::string bridge_ip_;
  std::string receiver_address_;  // Prometheus as pods see it
  int webhook_port_ = 0;
  int metrics_port_ = 0;
  int health_port_ = 0;
  bool started_ = false;
  std::unique_ptr<testing::Subprocess> podrunner_;
  std::unique_ptr<testing::PrometheusServer> prometheus_;
  std::vector<std::unique_ptr<testing::Subprocess>> forwarders_;
  std::unique_ptr<testing::Subprocess> operator_;
};

// An annotated sample-app pod bound to `node` (there is no scheduler): one
// container `app` serving `series` series on :8080/metrics.
nlohmann::json SampleAppPod(const std::string& ns, const std::string& name, const std::string& node,
                            int series = 10);

}  // namespace promsidecar::e2e
