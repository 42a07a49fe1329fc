#include "e2e/chain.h"

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <stdexcept>
#include <thread>

#include "common/http/client.h"

namespace promsidecar::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The operator's own namespace is never sent to the pod webhook.
constexpr const char* kProbeNamespace = "promsidecar-webhook-probe";

std::string Tail(const std::string& text, size_t max = 6000) {
  return text.size() <= max ? text : "...\n" + text.substr(text.size() - max);
}

// "10.213.64.0/24" -> "10.213.64.1": the pod runner puts the first address on
// the bridge.
std::string FirstAddress(const std::string& cidr) {
  const std::string net = cidr.substr(0, cidr.find('/'));
  const size_t dot = net.rfind('.');
  return net.substr(0, dot + 1) + std::to_string(std::stoi(net.substr(dot + 1)) + 1);
}

bool HttpOk(const std::string& url) {
  http::Client client;
  http::Request req;
  req.url = url;
  req.timeout = 2s;
  auto resp = client.Do(req);
  return resp.ok() && resp->status == 200;
}

}  // namespace

Chain::Chain(testing::ClusterEnv env, ChainOptions options)
    : env_(std::move(env)), options_(std::move(options)) {
  if (options_.work_dir.empty()) throw std::invalid_argument("ChainOptions.work_dir is required");
  if (options_.build_dir.empty()) options_.build_dir = PROMSIDECAR_BINARY_DIR;
  if (options_.podrunner_binary.empty()) options_.podrunner_binary = options_.build_dir + "/tools/podrunner";
  bridge_ip_ = FirstAddress(options_.pod_cidr);
  std::filesystem::create_directories(options_.work_dir);
}

Chain::~Chain() {
  Stop();
}

testing::CommandOutput Chain::Kubectl(const std::vector<std::string>& args,
                                      const std::string& stdin_data) const {
  return testing::Kubectl(env_, args, stdin_data);
}

std::string Chain::MustKubectl(const std::vector<std::string>& args, const std::string& stdin_data) const {
  auto r = Kubectl(args, stdin_data);
  if (!r.ok()) {
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    throw std::runtime_error("kubectl" + cmd + " failed: " + r.err);
  }
  return r.out;
}

std::string Chain::WriteImageMap() {
  // A copy of the agent binary plays the next release: another file, so
  // another imageID, as a new image would have.
  const std::string agent = options_.build_dir + "/src/agent/promsidecar-agent";
  // Same base name: the injected container's command is `promsidecar-agent`.
  std::filesystem::create_directories(options_.work_dir + "/agent-next");
  const std::string agent_next = options_.work_dir + "/agent-next/promsidecar-agent";
  std::filesystem::copy_file(agent, agent_next, std::filesystem::copy_options::overwrite_existing);
  // A byte appended: a different sha256 (ELF ignores trailing bytes).
  testing::WriteFile(agent_next, testing::ReadFile(agent_next) + std::string(1, '\0'));
  ::chmod(agent_next.c_str(), 0755);
  json map = {{"images",
               {{{"image", std::string(kAgentImageRepository) + ":v0.1.0"}, {"path", agent}},
                {{"image", std::string(kAgentImageNext)}, {"path", agent_next}},
                {{"image", std::string(kSampleAppImage)},
                 {"path", options_.build_dir + "/test/sampleapp/promsidecar-sampleapp"}},
                {{"image", std::string(kPrometheusImage) + "*"},
                 {"path", "/usr/bin/prometheus"},
                 {"commands", {{"/bin/prometheus", "/usr/bin/prometheus"}}}}}}};
  const std::string path = options_.work_dir + "/images.json";
  testing::WriteFile(path, map.dump(2));
  return path;
}

void Chain::StartPodRunner() {
  testing::ProcessOptions p;
  p.argv = {options_.podrunner_binary,
            "--kubeconfig=" + env_.kubeconfig,
            "--node-name=" + options_.node_name,
            "--image-map=" + WriteImageMap(),
            "--state-dir=" + options_.work_dir + "/podrunner",
            "--bridge=" + options_.bridge,
            "--pod-cidr=" + options_.pod_cidr,
            "--publish-root-ca=" + env_.ca_file,
            "--restart-backoff=1s",
            "--log-level=" + options_.log_level};
  p.log_file = options_.work_dir + "/podrunner.log";
  podrunner_ = std::make_unique<testing::Subprocess>(p);
  const bool ready = testing::PollUntil(90s, [&] {
    if (!podrunner_->Running()) return false;
    auto r = Kubectl({"get", "node", options_.node_name, "-o",
                      "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"});
    return r.ok() && r.out == "True";
  });
  if (!ready)
    throw std::runtime_error("the pod runner's node did not become Ready:\n" + Tail(podrunner_->Log()));
}

void Chain::StartPrometheusAndForwarder() {
  testing::PrometheusOptions po;
  po.port = options_.prometheus_port;
  prometheus_ = std::make_unique<testing::PrometheusServer>(po);
  // Pods reach only the bridge subnet; Prometheus stays on loopback.
  receiver_address_ = ForwardFromPods(prometheus_->port());
}

std::string Chain::ForwardFromPods(int loopback_port) {
  const int port = testing::FreePort();
  testing::ProcessOptions f;
  f.argv = {"socat", "TCP-LISTEN:" + std::to_string(port) + ",bind=" + bridge_ip_ + ",reuseaddr,fork",
            "TCP:127.0.0.1:" + std::to_string(loopback_port)};
  f.log_file = options_.work_dir + "/forwarder-" + std::to_string(port) + ".log";
  forwarders_.push_back(std::make_unique<testing::Subprocess>(f));
  testing::Subprocess& forwarder = *forwarders_.back();
  const std::string address = bridge_ip_ + ":" + std::to_string(port);
  const bool listening = testing::PollUntil(30s, [&] {
    auto r = testing::RunCapturingOutput({"ss", "-Htln", "sport = :" + std::to_string(port)});
    return forwarder.Running() && r.ok() && !r.out.empty();
  });
  if (!listening)
    throw std::runtime_error("socat forwarder on " + address + " did not start:\n" + forwarder.Log());
  return address;
}

std::string Chain::RemoteWriteUrl() const {
  return "http://" + receiver_address_ + "/api/v1/write";
}

void Chain::StartOperator() {
  if (webhook_port_ == 0) {
    webhook_port_ = testing::FreePort();
    metrics_port_ = testing::FreePort();
    health_port_ = testing::FreePort();
  }
  testing::ProcessOptions o;
  o.argv = {options_.build_dir + "/src/operator/promsidecar-operator", "run",
            "--kubeconfig=" + env_.kubeconfig, "--operator-namespace=" + options_.operator_namespace,
            "--agent-namespaces=" + options_.operator_namespace, "--agent-image=" + std::string(kAgentImage),
            "--leader-election=false", "--webhook.listen-address=127.0.0.1:" + std::to_string(webhook_port_),
            "--webhook.url=https://127.0.0.1:" + std::to_string(webhook_port_),
            "--webhook.generated-cert-dir=" + options_.work_dir + "/webhook-certs",
            "--webhook.configuration-name=" + options_.webhook_configuration_name,
            // Only the pod runner's Node counts for native-sidecar detection.
            "--webhook.node-selector=kubernetes.io/hostname=" + options_.node_name,
            "--metrics-address=127.0.0.1:" + std::to_string(metrics_port_),
            "--health-address=127.0.0.1:" + std::to_string(health_port_), "--resync-period=30",
            "--log.level=" + options_.log_level};
  for (const auto& a : options_.operator_extra_args) o.argv.push_back(a);
  o.log_file = options_.work_dir + "/operator.log";
  operator_ = std::make_unique<testing::Subprocess>(o);
  const std::string readyz = "http://127.0.0.1:" + std::to_string(health_port_) + "/readyz";
  if (!testing::PollUntil(90s, [&] { return operator_->Running() && HttpOk(readyz); })) {
    throw std::runtime_error("promsidecar-operator did not become ready:\n" + Tail(operator_->Log()));
  }
  // The apiserver activates webhook configurations asynchronously: a
  // dry-run pod that opts in must come back injected.
  // (A namespace no agent admits: the pod comes back labelled as skipped.)
  json probe = SampleAppPod(kProbeNamespace, "webhook-probe", options_.node_name);
  const bool active = testing::PollUntil(60s, [&] {
    auto r = Kubectl({"create", "--dry-run=server", "-o", "json", "-f", "-"}, probe.dump());
    if (!r.ok()) return false;
    json pod = json::parse(r.out, nullptr, false);
    return !pod.is_discarded() &&
           pod["metadata"].value("labels", json::object()).contains("prometheus.operator.io/injection");
  });
  if (!active)
    throw std::runtime_error("the pod webhook is not called by the apiserver:\n" + Tail(operator_->Log()));
}

void Chain::StopOperator() {
  if (operator_) operator_->Stop(15s);
  operator_.reset();
}

void Chain::KillOperator() {
  if (operator_) {
    operator_->Signal(SIGKILL);
    operator_->Wait(10s);
  }
  operator_.reset();
}

void Chain::DeleteWebhookConfigurations() {
  (void)Kubectl({"delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration",
                 options_.webhook_configuration_name, "--ignore-not-found"});
}

void Chain::Start() {
  started_ = true;
  MustKubectl({"apply", "--server-side", "-f", std::string(PROMSIDECAR_SOURCE_DIR) + "/deploy/crd"});
  MustKubectl(
      {"wait", "--for=condition=Established", "--timeout=60s", "crd/prometheusagents.promsidecar.io"});
  CreateNamespace(options_.operator_namespace, {});
  CreateNamespace(kProbeNamespace, {});
  StartPodRunner();
  StartPrometheusAndForwarder();
  StartOperator();
}

void Chain::Stop() {
  StopOperator();
  // Left behind, the validating webhook (failurePolicy Fail) would refuse
  // every PrometheusAgent write of whoever uses this cluster next.
  if (started_) DeleteWebhookConfigurations();
  started_ = false;
  // The runner stops its pods (the agents flush) before it exits.
  if (podrunner_) podrunner_->Stop(60s);
  podrunner_.reset();
  for (auto& f : forwarders_) f->Stop(5s);
  forwarders_.clear();
  prometheus_.reset();
}

std::string Chain::OperatorLog() const {
  return operator_ ? operator_->Log() : "";
}
std::string Chain::PodRunnerLog() const {
  return podrunner_ ? podrunner_->Log() : "";
}

void Chain::CreateNamespace(const std::string& name, const std::map<std::string, std::string>& labels) {
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
  for (const auto& [k, v] : labels) ns["metadata"]["labels"][k] = v;
  MustKubectl({"apply", "-f", "-"}, ns.dump());
  json sa = {{"apiVersion", "v1"},
             {"kind", "ServiceAccount"},
             {"metadata", {{"name", "default"}, {"namespace", name}}}};
  MustKubectl({"apply", "-f", "-"}, sa.dump());
}

json Chain::Agent(const std::string& ns, const std::string& name, const std::string& label_key,
                  const std::string& cluster_label) const {
  return {
      {"apiVersion", "promsidecar.io/v1alpha1"},
      {"kind", "PrometheusAgent"},
      {"metadata", {{"name", name}, {"namespace", ns}}},
      {"spec",
       {{"mode", "Sidecar"},
        {"scrapeInterval", "2s"},
        {"externalLabels", {{"cluster", cluster_label}}},
        {"remoteWrite", {{{"url", RemoteWriteUrl()}}}},
        {"sidecar",
         {{"minScrapeInterval", "1s"}, {"namespaceSelector", {{"matchLabels", {{label_key, "true"}}}}}}}}}};
}

void Chain::ApplyAgent(const json& agent) {
  MustKubectl({"apply", "-f", "-"}, agent.dump());
}

json Chain::CreatePod(const json& pod) {
  return json::parse(MustKubectl({"create", "-o", "json", "-f", "-"}, pod.dump()));
}

json Chain::GetPod(const std::string& ns, const std::string& name) const {
  auto r = Kubectl({"get", "pod", "-n", ns, name, "-o", "json"});
  if (!r.ok()) return json();
  return json::parse(r.out, nullptr, false);
}

bool Chain::WaitPodRunning(const std::string& ns, const std::string& name,
                           std::chrono::milliseconds deadline) const {
  return testing::PollUntil(deadline, [&] {
    json pod = GetPod(ns, name);
    if (!pod.is_object() || pod["status"].value("phase", "") != "Running") return false;
    for (const char* field : {"containerStatuses", "initContainerStatuses"}) {
      for (const auto& s : pod["status"].value(field, json::array())) {
        const bool running = s.contains("state") && s["state"].contains("running");
        // Completed regular init containers are fine.
        const bool completed = s.contains("state") && s["state"].contains("terminated") &&
                               std::string(field) == "initContainerStatuses" &&
                               s["state"]["terminated"].value("exitCode", 1) == 0;
        if (!running && !completed) return false;
      }
    }
    return true;
  });
}

std::string Chain::ContainerLog(const json& pod, const std::string& container) const {
  const std::string dir = options_.work_dir + "/podrunner/logs/" + pod["metadata"].value("namespace", "") +
                          "_" + pod["metadata"].value("name", "") + "_" + pod["metadata"].value("uid", "") +
                          "/" + container;
  std::string out;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) out += "--- " + f.filename().string() + "\n" + testing::ReadFile(f.string());
  return out;
}

json Chain::QueryOrEmpty(const std::string& promql) const {
  try {
    return prometheus_->Query(promql);
  } catch (const std::exception&) {
    return json::array();
  }
}

json SampleAppPod(const std::string& ns, const std::string& name, const std::string& node, int series) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"labels", {{"app.kubernetes.io/name", "sampleapp"}}},
            {"annotations",
             {{"prometheus.operator.io/scrape", "true"},
              {"prometheus.operator.io/port", "8080"},
              {"prometheus.operator.io/scrape-interval", "2s"}}}}},
          {"spec",
           {{"nodeName", node},
            {"terminationGracePeriodSeconds", 20},
            {"containers",
             {{{"name", "app"},
               {"image", kSampleAppImage},
               {"args", {"--series", std::to_string(series), "--listen", ":8080"}}}}}}}};
}

}  // namespace promsidecar::e2e
