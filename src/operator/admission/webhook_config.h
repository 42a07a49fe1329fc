// The operator's MutatingWebhookConfiguration (pods) and
// ValidatingWebhookConfiguration (PrometheusAgents): built by pure functions,
// written with server-side apply under the operator's field manager. The
// install manifests do not contain them, so re-applying the manifests never
// resets the caBundle.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"
#include "common/util/result.h"
#include "operator/api/agent.h"

namespace promsidecar::admission {

inline constexpr const char* kFieldManager = "promsidecar-operator";

// The pods webhook's failurePolicy: what the API server does with a pod when
// the webhook cannot be reached or times out.
enum class FailurePolicy {
  // Admit it without the sidecar (the repair report finds it): a monitoring
  // agent never blocks a workload.
  kIgnore,
  // Reject it: no pod ever runs without its sidecar, at the price of pod
  // creation depending on the operator.
  kFail,
};
// The API's spelling, "Ignore" or "Fail". Pure.
const char* FailurePolicyName(FailurePolicy policy);
// Parses the API's spelling (exactly; the API server is case-sensitive too).
// The error names the allowed values, not the flag: callers prefix it. Pure.
Result<FailurePolicy> ParseFailurePolicy(std::string_view text);

// The API server accepts timeoutSeconds from 1 to 30.
inline constexpr int kMinWebhookTimeoutSeconds = 1;
inline constexpr int kMaxWebhookTimeoutSeconds = 30;

struct WebhookConfigOptions {
  // metadata.name of both configurations.
  std::string name = "promsidecar";
  api::AgentApiGroup group;
  std::string operator_namespace = "promsidecar-system";
  // Never get the pods webhook, with operator_namespace (duplicates are
  // fine: the selector lists each name once).
  std::vector<std::string> excluded_namespaces{"kube-system", "kube-public", "kube-node-lease"};
  // "key" or "key=value": only namespaces with that label get the pods webhook.
  std::string namespace_opt_in_label;

  // clientConfig: url_base ("https://127.0.0.1:8443", tests and local runs)
  // when set, else the Service.
  std::string url_base;
  std::string service_name = "promsidecar-webhook";
  std::string service_namespace = "promsidecar-system";
  int service_port = 443;
  // PEM. Empty: caBundle is left out of the applied object, so whoever owns
  // it (cert-manager's CA injector) keeps it.
  std::string ca_bundle_pem;
  // "<namespace>/<Certificate>": cert-manager's CA injector fills caBundle
  // from that Certificate (annotation cert-manager.io/inject-ca-from).
  std::string cert_manager_inject_ca_from;

  // Also let pods with prometheus.io/scrape == "true" through (some agent has
  // spec.sidecar.legacyAnnotations).
  bool legacy_annotations = false;
  // Of both webhooks; kMinWebhookTimeoutSeconds..kMaxWebhookTimeoutSeconds.
  int timeout_seconds = 5;
  // Of the pods webhook only: the PrometheusAgent webhook always fails
  // closed (an agent that was not validated must not be stored).
  FailurePolicy failure_policy = FailurePolicy::kIgnore;
};

// CEL for matchConditions: the pod opts in by annotation. Pure.
std::string OptInExpression(bool legacy_annotations);
nlohmann::json BuildMutatingWebhookConfiguration(const WebhookConfigOptions& options);
nlohmann::json BuildValidatingWebhookConfiguration(const WebhookConfigOptions& options);

// Whether any Sidecar-mode agent asks for legacy annotations. Pure.
bool AnyLegacyAnnotations(const std::vector<api::Agent>& agents);

// Server-side applies both configurations (force: the operator alone owns them).
Status ApplyWebhookConfigurations(kube::Client& client, const WebhookConfigOptions& options);
// Keeps both configurations applied as the inputs change: the caBundle (from
// CertManager) and the legacy-annotations trigger (from the PrometheusAgent
// cache). Every apply sends the whole object, so one input never drops the
// other (server-side apply removes fields its manager stops sending).
// Thread-safe; applies only when something changed.
class WebhookConfigurator {
 public:
  WebhookConfigurator(kube::Client& client, WebhookConfigOptions options);
  // Applies the current options (at start).
  Status Apply();
  Status SetCaBundle(const std::string& pem);
  Status SetLegacyAnnotations(bool legacy);
  WebhookConfigOptions options() const;

 private:
  kube::Client& client_;
  mutable std::mutex mu_;
  WebhookConfigOptions options_;
};

// Deletes both (uninstall, tests); absent ones are fine.
Status DeleteWebhookConfigurations(kube::Client& client, const std::string& name);

}  // namespace promsidecar::admission
