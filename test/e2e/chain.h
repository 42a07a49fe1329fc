// The whole product on one machine, installed as a user installs it, as the
// demo shows it and the whole-chain tests exercise it: a running cluster with
// a real node (scripts/cluster: control plane, controller-manager, scheduler,
// kubelet on containerd), our images imported into the node
// (scripts/build-images), promsidecar-operator installed from its image with
// the Helm chart (its own ServiceAccount and RBAC, webhooks reached through
// its Service, self-managed certificates), and a receiving Prometheus
// (Debian's, remote-write receiver on, UI on loopback) that pods reach
// through a forwarder on the node IP. The demo (demo.cc) and the tests
// (chain_test.cc) drive the same code.
//
//   auto env = testing::ClusterEnv::Load();
//   e2e::Chain chain(*env, {.work_dir = dir.path()});
//   chain.Start();                       // throws with the logs on failure
//   chain.CreateNamespace("team-a", {{"promsidecar-demo", "true"}});
//   chain.ApplyAgent(chain.Agent("promsidecar-system", "agent", "promsidecar-demo"));
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

// Images scripts/build-images builds and imports into the node; the chart and
// the injector name the first two by default.
inline constexpr const char* kOperatorImage = "ghcr.io/promsidecar/promsidecar-operator:v0.1.0";
inline constexpr const char* kAgentImage = "ghcr.io/promsidecar/promsidecar-agent:v0.1.0";
// A second agent build with another version, for in-place upgrades.
inline constexpr const char* kAgentImageNext = "ghcr.io/promsidecar/promsidecar-agent:v0.1.1-test";
inline constexpr const char* kSampleAppImage = "promsidecar/sampleapp:v1";

struct ChainOptions {
  std::string work_dir;  // required: logs, Helm values, Prometheus data
  // The Helm release and the operator's namespace (agents live there).
  std::string release = "promsidecar";
  std::string operator_namespace = "promsidecar-system";
  int replicas = 1;
  // Helm values (`--set key=value`) and extra operator flags (extraArgs).
  std::map<std::string, std::string> helm_values;
  std::vector<std::string> operator_extra_args;
  std::string log_level = "info";
  int prometheus_port = 0;  // the UI/API on 127.0.0.1; 0: a free port
  // Rule files the receiving Prometheus evaluates (every 15 s), e.g. the
  // monitoring mixin's alerts.
  std::vector<std::string> prometheus_rule_files;
};

class Chain {
 public:
  Chain(testing::ClusterEnv env, ChainOptions options);
  ~Chain();  // Stop()s
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  // Checks the images are on the node, starts Prometheus and its forwarder,
  // `helm install`s the operator and returns when its Deployment is available
  // and the API server calls its pod webhook. Throws std::runtime_error naming
  // what failed, with the logs.
  void Start();
  // Deletes every PrometheusAgent (the operator removes its finalizers), then
  // `helm uninstall`s and stops Prometheus and the forwarders.
  void Stop();

  // The operator scaled to 0 (webhook outage) and back.
  void StopOperator();
  void StartOperator();
  // SIGKILL to every operator process on the node (whatever it was doing is
  // cut off), then scaled to 0 so it stays down until StartOperator().
  void KillOperator();

  testing::PrometheusServer& prometheus() { return *prometheus_; }
  const testing::ClusterEnv& env() const { return env_; }
  const ChainOptions& options() const { return options_; }
  // The receiver as pods see it (through the forwarder on the node IP).
  std::string RemoteWriteUrl() const;
  // Makes a loopback-only server reachable from pods: a forwarder on the node
  // IP; returns "<node ip>:<port>".
  std::string ForwardFromPods(int loopback_port);
  std::string NodeIp() const { return env_.node_ip; }
  const std::string& node_name() const { return env_.node_name; }

  // Every operator container's log (current and previous runs).
  std::string OperatorLog() const;
  // The kubelet's and containerd's logs.
  std::string NodeLog() const;
  // http://<an operator pod IP>:8080 (empty when none runs).
  std::string OperatorMetricsUrl() const;

  // kubectl with the admin kubeconfig; throws with stderr when it fails.
  std::string MustKubectl(const std::vector<std::string>& args, const std::string& stdin_data = "") const;
  testing::CommandOutput Kubectl(const std::vector<std::string>& args,
                                 const std::string& stdin_data = "") const;
  // crictl against the node's containerd.
  testing::CommandOutput Crictl(const std::vector<std::string>& args) const;

  // A namespace with these labels; returns once the controller-manager has
  // created its `default` ServiceAccount (pods cannot be created before).
  void CreateNamespace(const std::string& name, const std::map<std::string, std::string>& labels);
  // Deletes a namespace and waits until it is gone (generous deadline).
  void DeleteNamespace(const std::string& name,
                       std::chrono::milliseconds deadline = std::chrono::seconds(180));
  // A Sidecar-mode PrometheusAgent in `ns` writing to this chain's receiver:
  // 2 s scrape interval (minScrapeInterval 1s), admitting namespaces labelled
  // `label_key=true`, external label cluster=<cluster_label>.
  nlohmann::json Agent(const std::string& ns, const std::string& name, const std::string& label_key,
                       const std::string& cluster_label = "e2e") const;
  void ApplyAgent(const nlohmann::json& agent);
  // Creates the pod (through the webhook) and returns the stored object.
  nlohmann::json CreatePod(const nlohmann::json& pod);
  nlohmann::json GetPod(const std::string& ns, const std::string& name) const;
  // Polls until the pod is Running with every container running (completed
  // regular init containers are fine).
  bool WaitPodRunning(const std::string& ns, const std::string& name,
                      std::chrono::milliseconds deadline = std::chrono::seconds(120)) const;
  // `kubectl logs` of a container (with --previous too when it restarted).
  std::string ContainerLog(const nlohmann::json& pod, const std::string& container) const;
  // Prometheus instant query; empty array on any error (tests poll).
  nlohmann::json QueryOrEmpty(const std::string& promql) const;

 private:
  void CheckImages() const;
  void StartPrometheusAndForwarder();
  void HelmInstall();
  void WaitOperatorReady();
  std::string Helm() const;

  testing::ClusterEnv env_;
  ChainOptions options_;
  std::string receiver_address_;  // Prometheus as pods see it
  bool installed_ = false;
  std::unique_ptr<testing::PrometheusServer> prometheus_;
  std::vector<std::unique_ptr<testing::Subprocess>> forwarders_;
};

// An annotated sample-app pod: one container `app` serving `series` series on
// :8080/metrics, Pod Security `restricted`-compliant.
nlohmann::json SampleAppPod(const std::string& ns, const std::string& name, int series = 10);
// The same pod template in a Deployment of `replicas` pods.
nlohmann::json SampleAppDeployment(const std::string& ns, const std::string& name, int replicas,
                                   int series = 10);
// The status of the named container (regular or init), or null.
nlohmann::json ContainerStatus(const nlohmann::json& pod, const std::string& name);

}  // namespace promsidecar::e2e
