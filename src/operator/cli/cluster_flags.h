// The flags that say how the operator sees the cluster and what it injects,
// defined once: `run` serves with them, and `explain` must be given the same
// values to reach the same decision as the running webhook.
#pragma once

#include <string>
#include <vector>

#include "common/util/result.h"
#include "operator/inject/inject.h"

namespace CLI {
class App;
}

namespace promsidecar::cli {

// Each element split at commas, empty parts dropped: a list flag may be
// given as "a,b" or repeated.
std::vector<std::string> SplitCommas(const std::vector<std::string>& in);

// What is injected (inject::OperatorSettings); empty: the setting's default.
struct SettingsFlags {
  std::string agent_image;
  std::string operator_namespace;
  std::string namespace_opt_in_label;
  // Never given the pod webhook (Decide skips them too, so the repair report
  // never counts their pods); split at commas by CheckSettingsFlags.
  std::vector<std::string> exclude_namespaces;
};
void AddSettingsFlags(CLI::App* cmd, SettingsFlags* f);
// Splits --webhook.exclude-namespaces at commas and checks each is a
// namespace name; the error names the flag.
Status CheckSettingsFlags(SettingsFlags* f);
// Overrides the settings the flags set.
void ApplySettingsFlags(const SettingsFlags& f, inject::OperatorSettings* settings);

// How the operator reads the cluster, plus SettingsFlags.
struct ClusterFlags {
  std::string kubeconfig;
  std::string context;
  std::vector<std::string> agent_namespaces;
  std::string api_group = "promsidecar.io";
  std::string node_selector;
  SettingsFlags settings;
};
void AddClusterFlags(CLI::App* cmd, ClusterFlags* f);
// The defaults that need the loaded configuration: the operator's namespace
// ($POD_NAMESPACE, `pod_namespace` here, else `config_namespace`, else
// promsidecar-system) and the agent namespaces (split at commas; default:
// the operator's namespace). `run` passes its kubeconfig's namespace (an
// operator run from a workstation); `explain` passes none, since a user's
// context namespace is where their pods are, not the operator.
void ResolveClusterFlags(const char* pod_namespace, const std::string& config_namespace, ClusterFlags* f);

}  // namespace promsidecar::cli
