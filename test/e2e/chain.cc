#include "e2e/chain.h"

#include <signal.h>

#include <filesystem>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace promsidecar::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A namespace no agent admits: the pod webhook answers for it (skipped), which
// is how Start() knows the API server calls the webhook.
constexpr const char* kProbeNamespace = "promsidecar-webhook-probe";
constexpr const char* kOperatorSelector = "app.kubernetes.io/name=promsidecar-operator";

std::string Tail(const std::string& text, size_t max = 6000) {
  return text.size() <= max ? text : "...\n" + text.substr(text.size() - max);
}

std::string Join(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) out += " " + a;
  return out;
}

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

Chain::Chain(testing::ClusterEnv env, ChainOptions options)
    : env_(std::move(env)), options_(std::move(options)) {
  if (options_.work_dir.empty()) throw std::invalid_argument("ChainOptions.work_dir is required");
  if (!env_.has_node) {
    throw std::invalid_argument(
        "the chain needs a cluster with a node (scripts/cluster up without "
        "--control-plane-only); found " +
        env_.state_dir);
  }
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
  if (!r.ok()) throw std::runtime_error("kubectl" + Join(args) + " failed: " + r.err);
  return r.out;
}

testing::CommandOutput Chain::Crictl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {env_.crictl, "--runtime-endpoint", "unix://" + env_.containerd_address,
                                   "--image-endpoint", "unix://" + env_.containerd_address};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunCapturingOutput(argv);
}

void Chain::CheckImages() const {
  auto r = Crictl({"images", "-o", "json"});
  if (!r.ok()) throw std::runtime_error("crictl images failed: " + r.err);
  const std::string listed = r.out;
  std::string missing;
  for (const char* image : {kOperatorImage, kAgentImage, kAgentImageNext, kSampleAppImage}) {
    // The runtime lists short names fully qualified (docker.io/...).
    if (listed.find(std::string(image) + "\"") == std::string::npos) missing += std::string(" ") + image;
  }
  if (!missing.empty()) {
    throw std::runtime_error(
        "images missing on node " + env_.node_name + ":" + missing +
        " (build and import them: scripts/build-images, then scripts/cluster --state-dir " + env_.state_dir +
        " import build/images/*.tar)");
  }
}

void Chain::StartPrometheusAndForwarder() {
  testing::PrometheusOptions po;
  po.port = options_.prometheus_port;
  if (!options_.prometheus_rule_files.empty()) {
    po.config_yaml = "global:\n  scrape_interval: 1m\n  evaluation_interval: 15s\nrule_files:\n";
    for (const auto& f : options_.prometheus_rule_files)
      po.config_yaml += "  - " + json(std::filesystem::absolute(f).string()).dump() + "\n";
  }
  prometheus_ = std::make_unique<testing::PrometheusServer>(po);
  // Pods reach only the node IP; Prometheus stays on loopback.
  receiver_address_ = ForwardFromPods(prometheus_->port());
}

std::string Chain::ForwardFromPods(int loopback_port) {
  const int port = testing::FreePort();
  testing::ProcessOptions f;
  f.argv = {"socat", "TCP-LISTEN:" + std::to_string(port) + ",bind=" + env_.node_ip + ",reuseaddr,fork",
            "TCP:127.0.0.1:" + std::to_string(loopback_port)};
  f.log_file = options_.work_dir + "/forwarder-" + std::to_string(port) + ".log";
  forwarders_.push_back(std::make_unique<testing::Subprocess>(f));
  testing::Subprocess& forwarder = *forwarders_.back();
  const std::string address = env_.node_ip + ":" + std::to_string(port);
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

std::string Chain::Helm() const {
  auto r =
      testing::RunCapturingOutput({std::string(PROMSIDECAR_SOURCE_DIR) + "/scripts/build-helm"}, "", 1200s);
  auto lines = Words(r.out);
  if (!r.ok() || lines.empty()) throw std::runtime_error("scripts/build-helm failed: " + r.err);
  return lines.back();
}

void Chain::HelmInstall() {
  // The process-level integration tests apply the chart's objects from
  // deploy/ (the CRD, the operator's ServiceAccount and RBAC) to this cluster
  // and leave them; Helm refuses to install over objects without its
  // ownership metadata and adopts them once they carry it (its documented
  // way to take over existing objects). Objects that are not there are
  // reported by kubectl and skipped.
  auto status = testing::RunCapturingOutput({Helm(), "status", options_.release, "--kubeconfig",
                                             env_.kubeconfig, "--namespace", options_.operator_namespace},
                                            "", 60s);
  if (!status.ok()) {
    for (const char* f :
         {"/deploy/crd/promsidecar.io_prometheusagents.yaml", "/deploy/10-serviceaccount.yaml",
          "/deploy/20-rbac.yaml", "/deploy/optional/restart-workloads-rbac.yaml"}) {
      const std::string path = std::string(PROMSIDECAR_SOURCE_DIR) + f;
      (void)Kubectl({"label", "--overwrite", "-f", path, "app.kubernetes.io/managed-by=Helm"});
      (void)Kubectl({"annotate", "--overwrite", "-f", path, "meta.helm.sh/release-name=" + options_.release,
                     "meta.helm.sh/release-namespace=" + options_.operator_namespace});
    }
  }
  json extra = json::array();
  for (const auto& a : options_.operator_extra_args) extra.push_back(a);
  std::vector<std::string> argv = {Helm(),
                                   "upgrade",
                                   "--install",
                                   options_.release,
                                   std::string(PROMSIDECAR_SOURCE_DIR) + "/deploy/helm/promsidecar",
                                   "--kubeconfig",
                                   env_.kubeconfig,
                                   "--namespace",
                                   options_.operator_namespace,
                                   "--create-namespace",
                                   "--set",
                                   "namespace.create=false",
                                   "--set",
                                   "replicas=" + std::to_string(options_.replicas),
                                   "--set",
                                   "logLevel=" + options_.log_level,
                                   "--set-json",
                                   "extraArgs=" + extra.dump()};
  for (const auto& [k, v] : options_.helm_values) {
    argv.push_back("--set");
    argv.push_back(k + "=" + v);
  }
  auto r = testing::RunCapturingOutput(argv, "", 300s);
  if (!r.ok()) throw std::runtime_error("helm install failed:\n" + r.out + r.err);
  installed_ = true;
}

void Chain::WaitOperatorReady() {
  const auto deadline = 180s;
  auto r = Kubectl({"rollout", "status", "deployment/promsidecar-operator", "-n", options_.operator_namespace,
                    "--timeout=" + std::to_string(deadline.count()) + "s"});
  if (!r.ok()) {
    throw std::runtime_error("the operator Deployment did not become available: " + r.err + "\n" +
                             Kubectl({"get", "pods", "-n", options_.operator_namespace, "-o", "wide"}).out +
                             Tail(OperatorLog()));
  }
  // The leader writes the webhook configurations and their caBundle; the API
  // server activates them asynchronously: a dry-run pod that opts in must come
  // back labelled by the webhook.
  json probe = SampleAppPod(kProbeNamespace, "webhook-probe");
  const bool active = testing::PollUntil(120s, [&] {
    auto r = Kubectl({"create", "--dry-run=server", "-o", "json", "-f", "-"}, probe.dump());
    if (!r.ok()) return false;
    json pod = json::parse(r.out, nullptr, false);
    return !pod.is_discarded() &&
           pod["metadata"].value("labels", json::object()).contains("prometheus.operator.io/injection");
  });
  if (!active)
    throw std::runtime_error("the pod webhook is not called by the API server:\n" + Tail(OperatorLog()));
  // Only the leader renders Secrets: a pod admitted before there is one waits
  // for the kubelet's next sync (about a minute) for its shared config.
  const bool leading = testing::PollUntil(120s, [&] {
    auto holder = Kubectl({"get", "lease", "promsidecar-operator", "-n", options_.operator_namespace, "-o",
                           "jsonpath={.spec.holderIdentity}"});
    auto pods = Kubectl({"get", "pods", "-n", options_.operator_namespace, "-l", kOperatorSelector, "-o",
                         "jsonpath={.items[*].metadata.name}"});
    if (!holder.ok() || holder.out.empty() || !pods.ok()) return false;
    for (const auto& pod : Words(pods.out))
      if (holder.out.rfind(pod + "_", 0) == 0) return true;
    return false;
  });
  if (!leading) throw std::runtime_error("no operator replica became the leader:\n" + Tail(OperatorLog()));
}

void Chain::Start() {
  CheckImages();
  CreateNamespace(kProbeNamespace, {});
  StartPrometheusAndForwarder();
  HelmInstall();
  WaitOperatorReady();
}

void Chain::Stop() {
  if (installed_) {
    // The documented uninstall (docs/install.md): agents first, while the
    // operator runs (it removes their finalizers); then the webhook
    // configurations, which the operator made and helm does not own — left
    // behind, the agent webhook (failurePolicy Fail) refuses every later
    // agent write in the cluster; then the release.
    (void)Kubectl({"delete", "prometheusagents.promsidecar.io", "--all", "-A", "--timeout=60s"});
    (void)Kubectl({"delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "promsidecar",
                   "--ignore-not-found", "--timeout=60s"});
    auto r = testing::RunCapturingOutput(
        {Helm(), "uninstall", options_.release, "--kubeconfig", env_.kubeconfig, "--namespace",
         options_.operator_namespace, "--wait", "--timeout", "120s"},
        "", 180s);
    if (!r.ok()) std::cerr << "helm uninstall failed: " << r.err << "\n";
    installed_ = false;
  }
  for (auto& f : forwarders_) f->Stop(5s);
  forwarders_.clear();
  prometheus_.reset();
}

void Chain::StopOperator() {
  MustKubectl(
      {"scale", "deployment/promsidecar-operator", "-n", options_.operator_namespace, "--replicas=0"});
  const bool gone = testing::PollUntil(120s, [&] {
    auto r =
        Kubectl({"get", "pods", "-n", options_.operator_namespace, "-l", kOperatorSelector, "-o", "name"});
    return r.ok() && r.out.empty();
  });
  if (!gone) throw std::runtime_error("operator pods still there 120 s after scaling to 0");
}

void Chain::StartOperator() {
  MustKubectl({"scale", "deployment/promsidecar-operator", "-n", options_.operator_namespace,
               "--replicas=" + std::to_string(options_.replicas)});
  WaitOperatorReady();
}

void Chain::KillOperator() {
  auto ids = Crictl({"ps", "-q", "--name", "^operator$", "--label",
                     "io.kubernetes.pod.namespace=" + options_.operator_namespace});
  for (const auto& id : Words(ids.out)) {
    auto pid = Crictl({"inspect", "-o", "go-template", "--template", "{{.info.pid}}", id});
    if (pid.ok() && !Words(pid.out).empty()) ::kill(std::stoi(Words(pid.out)[0]), SIGKILL);
  }
  StopOperator();
}

std::string Chain::OperatorLog() const {
  std::string out;
  auto pods = Kubectl({"get", "pods", "-n", options_.operator_namespace, "-l", kOperatorSelector, "-o",
                       "jsonpath={.items[*].metadata.name}"});
  for (const auto& pod : Words(pods.out)) {
    for (const char* previous : {"--previous", ""}) {
      std::vector<std::string> args = {"logs", "-n", options_.operator_namespace, pod, "-c", "operator"};
      if (*previous) args.push_back(previous);
      auto r = Kubectl(args);
      if (r.ok() && !r.out.empty()) out += "--- " + pod + (*previous ? " (previous)" : "") + "\n" + r.out;
    }
  }
  return out;
}

std::string Chain::NodeLog() const {
  std::string out;
  for (const char* name : {"kubelet", "containerd"}) {
    const std::string path = env_.state_dir + "/logs/" + name + ".log";
    if (std::filesystem::exists(path)) out += "--- " + std::string(name) + "\n" + testing::ReadFile(path);
  }
  return out;
}

std::string Chain::OperatorMetricsUrl() const {
  auto r = Kubectl({"get", "pods", "-n", options_.operator_namespace, "-l", kOperatorSelector, "-o",
                    "jsonpath={.items[*].status.podIP}"});
  auto ips = Words(r.out);
  return ips.empty() ? "" : "http://" + ips[0] + ":8080";
}

void Chain::CreateNamespace(const std::string& name, const std::map<std::string, std::string>& labels) {
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
  for (const auto& [k, v] : labels) ns["metadata"]["labels"][k] = v;
  MustKubectl({"apply", "-f", "-"}, ns.dump());
  const bool ready = testing::PollUntil(60s, [&] {
    return Kubectl({"get", "serviceaccount", "default", "-n", name}).ok();
  });
  if (!ready) throw std::runtime_error("namespace " + name + " got no default ServiceAccount within 60 s");
}

void Chain::DeleteNamespace(const std::string& name, std::chrono::milliseconds deadline) {
  (void)Kubectl({"delete", "namespace", name, "--ignore-not-found", "--wait=false"});
  const bool gone = testing::PollUntil(deadline, [&] {
    auto r = Kubectl({"get", "namespace", name, "--ignore-not-found", "-o", "name"});
    return r.ok() && r.out.empty();
  });
  if (!gone) std::cerr << "namespace " << name << " still terminating after the deadline\n";
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
  const std::string ns = pod["metadata"].value("namespace", ""), name = pod["metadata"].value("name", "");
  std::string out;
  json status = ContainerStatus(pod, container);
  if (status.is_object() && status.value("restartCount", 0) > 0) {
    auto prev = Kubectl({"logs", "-n", ns, name, "-c", container, "--previous"});
    if (prev.ok()) out += "--- previous\n" + prev.out;
  }
  auto r = Kubectl({"logs", "-n", ns, name, "-c", container});
  out += r.ok() ? r.out : "(kubectl logs failed: " + r.err + ")";
  return out;
}

json Chain::QueryOrEmpty(const std::string& promql) const {
  try {
    return prometheus_->Query(promql);
  } catch (const std::exception&) {
    return json::array();
  }
}

namespace {

json SampleAppTemplate(int series) {
  return {{"metadata",
           {{"labels", {{"app.kubernetes.io/name", "sampleapp"}}},
            {"annotations",
             {{"prometheus.operator.io/scrape", "true"},
              {"prometheus.operator.io/port", "8080"},
              {"prometheus.operator.io/scrape-interval", "2s"}}}}},
          {"spec",
           {{"terminationGracePeriodSeconds", 20},
            // Pod Security `restricted`, so the same pod runs in namespaces that enforce it.
            {"securityContext", {{"runAsNonRoot", true}, {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
            {"containers",
             {{{"name", "app"},
               {"image", kSampleAppImage},
               {"args", {"--series", std::to_string(series), "--listen", ":8080"}},
               {"ports", {{{"name", "http-metrics"}, {"containerPort", 8080}}}},
               {"resources",
                {{"requests", {{"cpu", "5m"}, {"memory", "16Mi"}}}, {"limits", {{"memory", "64Mi"}}}}},
               {"securityContext",
                {{"allowPrivilegeEscalation", false},
                 {"readOnlyRootFilesystem", true},
                 {"capabilities", {{"drop", {"ALL"}}}}}}}}}}}};
}

}  // namespace

json SampleAppPod(const std::string& ns, const std::string& name, int series) {
  json pod = SampleAppTemplate(series);
  pod["apiVersion"] = "v1";
  pod["kind"] = "Pod";
  pod["metadata"]["name"] = name;
  pod["metadata"]["namespace"] = ns;
  return pod;
}

json SampleAppDeployment(const std::string& ns, const std::string& name, int replicas, int series) {
  json tmpl = SampleAppTemplate(series);
  tmpl["metadata"]["labels"]["app"] = name;
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"replicas", replicas}, {"selector", {{"matchLabels", {{"app", name}}}}}, {"template", tmpl}}}};
}

json ContainerStatus(const json& pod, const std::string& name) {
  if (!pod.is_object() || !pod.contains("status")) return json();
  for (const char* field : {"containerStatuses", "initContainerStatuses"})
    for (const auto& s : pod["status"].value(field, json::array()))
      if (s.value("name", "") == name) return s;
  return json();
}

}  // namespace promsidecar::e2e
