#include "operator/cli/cluster_flags.h"

#include <CLI/CLI.hpp>

#include "operator/api/names.h"

namespace promsidecar::cli {
std::vector<std::string> SplitCommas(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& item : in) {
    size_t start = 0;
    while (start <= item.size()) {
      size_t end = item.find(',', start);
      if (end == std::string::npos) end = item.size();
      std::string part = item.substr(start, end - start);
      if (!part.empty()) out.push_back(part);
      start = end + 1;
    }
  }
  return out;
}

void AddSettingsFlags(CLI::App* cmd, SettingsFlags* f) {
  cmd->add_option("--agent-image", f->agent_image, "Default agent image (what would be injected now)");
  cmd->add_option("--operator-namespace", f->operator_namespace,
                  "The operator's namespace, never injected (default: $POD_NAMESPACE, else for run the "
                  "kubeconfig's, else promsidecar-system; with -f: from --facts, else promsidecar-system)");
  cmd->add_option("--webhook.namespace-opt-in-label", f->namespace_opt_in_label,
                  "\"key\" or \"key=value\": only namespaces with this label get the pod webhook");
  cmd->add_option("--webhook.exclude-namespaces", f->exclude_namespaces,
                  "Namespaces that never get the pod webhook, comma-separated or repeated; added to "
                  "kube-system, kube-public, kube-node-lease and the operator's namespace, always excluded")
      // One value per occurrence: a list flag must not swallow the object
      // name that follows it (`--agent-namespaces ns pod/web-0`).
      ->allow_extra_args(false);
}

void ApplySettingsFlags(const SettingsFlags& f, inject::OperatorSettings* settings) {
  if (!f.agent_image.empty()) settings->agent_image = f.agent_image;
  if (!f.operator_namespace.empty()) settings->operator_namespace = f.operator_namespace;
  if (!f.namespace_opt_in_label.empty()) settings->namespace_opt_in_label = f.namespace_opt_in_label;
  for (const auto& ns : SplitCommas(f.exclude_namespaces)) settings->excluded_namespaces.push_back(ns);
}

Status CheckSettingsFlags(SettingsFlags* f) {
  f->exclude_namespaces = SplitCommas(f->exclude_namespaces);
  for (const auto& ns : f->exclude_namespaces) {
    if (Status s = api::CheckNamespaceName(ns); !s.ok())
      return MakeError("--webhook.exclude-namespaces: " + s.message());
  }
  return {};
}

void AddClusterFlags(CLI::App* cmd, ClusterFlags* f) {
  cmd->add_option("--kubeconfig", f->kubeconfig,
                  "kubeconfig file (default: in-cluster, else $KUBECONFIG, else ~/.kube/config)");
  cmd->add_option("--context", f->context, "kubeconfig context (default: current-context)");
  cmd->add_option(
         "--agent-namespaces", f->agent_namespaces,
         "Namespaces whose PrometheusAgents (and the Secrets/ConfigMaps they reference) are watched; "
         "comma-separated or repeated (default: the operator's namespace)")
      ->allow_extra_args(false);
  cmd->add_option("--api-group", f->api_group, "Group serving PrometheusAgent")
      ->check(CLI::IsMember({"promsidecar.io", "monitoring.coreos.com"}));
  cmd->add_option("--webhook.node-selector", f->node_selector,
                  "Label selector of the Nodes whose kubelet versions decide native sidecars and in-place "
                  "upgrades (default: all); the webhook and the controller read the same Node view");
  AddSettingsFlags(cmd, &f->settings);
}

void ResolveClusterFlags(const char* pod_namespace, const std::string& config_namespace, ClusterFlags* f) {
  std::string& ns = f->settings.operator_namespace;
  if (ns.empty()) {
    if (pod_namespace != nullptr && *pod_namespace != '\0') {
      ns = pod_namespace;
    } else if (!config_namespace.empty()) {
      ns = config_namespace;
    } else {
      ns = "promsidecar-system";
    }
  }
  f->agent_namespaces = SplitCommas(f->agent_namespaces);
  if (f->agent_namespaces.empty()) f->agent_namespaces.push_back(ns);
}

}  // namespace promsidecar::cli
