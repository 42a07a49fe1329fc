#include "operator/admission/webhook_config.h"

#include <algorithm>
#include <utility>

#include "common/kube/errors.h"
#include "common/util/base64.h"
#include "operator/admission/review.h"
#include "operator/admission/server.h"
#include "operator/api/well_known.h"

namespace promsidecar::admission {

using nlohmann::json;

namespace {

std::string AnnotationIsTrue(const std::string& key) {
  return "('" + key + "' in object.metadata.annotations && object.metadata.annotations['" + key +
         "'] == 'true')";
}

json ClientConfig(const WebhookConfigOptions& o, const std::string& path) {
  json cc;
  if (!o.url_base.empty()) {
    cc["url"] = o.url_base + path;
  } else {
    cc["service"] = {{"name", o.service_name},
                     {"namespace", o.service_namespace},
                     {"path", path},
                     {"port", o.service_port}};
  }
  if (!o.ca_bundle_pem.empty()) cc["caBundle"] = EncodeBase64(o.ca_bundle_pem);
  return cc;
}

json NamespaceSelector(const WebhookConfigOptions& o) {
  std::vector<std::string> excluded;
  auto exclude = [&excluded](const std::string& ns) {
    if (!ns.empty() && std::find(excluded.begin(), excluded.end(), ns) == excluded.end())
      excluded.push_back(ns);
  };
  for (const auto& ns : o.excluded_namespaces) exclude(ns);
  exclude(o.operator_namespace);
  json expressions = json::array();
  expressions.push_back(
      {{"key", "kubernetes.io/metadata.name"}, {"operator", "NotIn"}, {"values", excluded}});
  if (!o.namespace_opt_in_label.empty()) {
    auto eq = o.namespace_opt_in_label.find('=');
    if (eq == std::string::npos) {
      expressions.push_back({{"key", o.namespace_opt_in_label}, {"operator", "Exists"}});
    } else {
      expressions.push_back({{"key", o.namespace_opt_in_label.substr(0, eq)},
                             {"operator", "In"},
                             {"values", {o.namespace_opt_in_label.substr(eq + 1)}}});
    }
  }
  return {{"matchExpressions", expressions}};
}

json Metadata(const WebhookConfigOptions& o) {
  json metadata = {{"name", o.name}, {"labels", {{"app.kubernetes.io/managed-by", kFieldManager}}}};
  if (!o.cert_manager_inject_ca_from.empty()) {
    metadata["annotations"] = {{"cert-manager.io/inject-ca-from", o.cert_manager_inject_ca_from}};
  }
  return metadata;
}

}  // namespace

const char* FailurePolicyName(FailurePolicy policy) {
  return policy == FailurePolicy::kFail ? "Fail" : "Ignore";
}

Result<FailurePolicy> ParseFailurePolicy(std::string_view text) {
  for (FailurePolicy p : {FailurePolicy::kIgnore, FailurePolicy::kFail}) {
    if (text == FailurePolicyName(p)) return p;
  }
  return MakeError("\"" + std::string(text) + "\" is not a failurePolicy; use Ignore or Fail");
}

std::string OptInExpression(bool legacy_annotations) {
  std::string e = "has(object.metadata.annotations) && (" + AnnotationIsTrue(api::kScrapeAnnotation);
  if (legacy_annotations) e += " || " + AnnotationIsTrue(api::kLegacyScrapeAnnotation);
  return e + ")";
}

json BuildMutatingWebhookConfiguration(const WebhookConfigOptions& o) {
  json webhook = {
      {"name", "pods.promsidecar.io"},
      {"clientConfig", ClientConfig(o, kMutatePodPath)},
      {"rules",
       {{{"apiGroups", {""}},
         {"apiVersions", {"v1"}},
         {"operations", {"CREATE"}},
         {"resources", {"pods"}},
         {"scope", "Namespaced"}}}},
      {"namespaceSelector", NamespaceSelector(o)},
      {"matchConditions", {{{"name", "opted-in"}, {"expression", OptInExpression(o.legacy_annotations)}}}},
      {"failurePolicy", FailurePolicyName(o.failure_policy)},
      {"sideEffects", "None"},
      {"timeoutSeconds", o.timeout_seconds},
      {"admissionReviewVersions", {"v1"}},
      // Runs again after webhooks that add mesh init containers after us.
      {"reinvocationPolicy", "IfNeeded"},
  };
  return {{"apiVersion", "admissionregistration.k8s.io/v1"},
          {"kind", "MutatingWebhookConfiguration"},
          {"metadata", Metadata(o)},
          {"webhooks", {webhook}}};
}

json BuildValidatingWebhookConfiguration(const WebhookConfigOptions& o) {
  json webhook = {
      {"name", std::string(api::kAgentPlural) + "." + "validate.promsidecar.io"},
      {"clientConfig", ClientConfig(o, kValidateAgentPath)},
      {"rules",
       {{{"apiGroups", {o.group.group}},
         {"apiVersions", {api::kAgentVersion}},
         {"operations", {"CREATE", "UPDATE"}},
         {"resources", {api::kAgentPlural}},
         {"scope", "Namespaced"}}}},
      // An agent that was not validated must not be stored.
      {"failurePolicy", "Fail"},
      {"sideEffects", "None"},
      {"timeoutSeconds", o.timeout_seconds},
      {"admissionReviewVersions", {"v1"}},
  };
  return {{"apiVersion", "admissionregistration.k8s.io/v1"},
          {"kind", "ValidatingWebhookConfiguration"},
          {"metadata", Metadata(o)},
          {"webhooks", {webhook}}};
}

bool AnyLegacyAnnotations(const std::vector<api::Agent>& agents) {
  return std::any_of(agents.begin(), agents.end(),
                     [](const api::Agent& a) { return a.is_sidecar() && a.sidecar.legacy_annotations; });
}

Status ApplyWebhookConfigurations(kube::Client& client, const WebhookConfigOptions& options) {
  auto mutating = client.Apply(kube::resources::MutatingWebhookConfigurations(),
                               BuildMutatingWebhookConfiguration(options), kFieldManager, /*force=*/true);
  if (!mutating.ok())
    return MakeError("applying MutatingWebhookConfiguration " + options.name + ": " + mutating.message());
  auto validating = client.Apply(kube::resources::ValidatingWebhookConfigurations(),
                                 BuildValidatingWebhookConfiguration(options), kFieldManager, /*force=*/true);
  if (!validating.ok())
    return MakeError("applying ValidatingWebhookConfiguration " + options.name + ": " + validating.message());
  return {};
}

WebhookConfigurator::WebhookConfigurator(kube::Client& client, WebhookConfigOptions options)
    : client_(client), options_(std::move(options)) {}

Status WebhookConfigurator::Apply() {
  std::lock_guard<std::mutex> lock(mu_);
  return ApplyWebhookConfigurations(client_, options_);
}

Status WebhookConfigurator::SetCaBundle(const std::string& pem) {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.ca_bundle_pem == pem) return {};
  WebhookConfigOptions next = options_;
  next.ca_bundle_pem = pem;
  if (auto applied = ApplyWebhookConfigurations(client_, next); !applied.ok()) return applied;
  options_ = std::move(next);
  return {};
}

Status WebhookConfigurator::SetLegacyAnnotations(bool legacy) {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.legacy_annotations == legacy) return {};
  WebhookConfigOptions next = options_;
  next.legacy_annotations = legacy;
  if (auto applied = ApplyWebhookConfigurations(client_, next); !applied.ok()) return applied;
  options_ = std::move(next);
  return {};
}

WebhookConfigOptions WebhookConfigurator::options() const {
  std::lock_guard<std::mutex> lock(mu_);
  return options_;
}

Status DeleteWebhookConfigurations(kube::Client& client, const std::string& name) {
  for (const auto& r : {kube::resources::MutatingWebhookConfigurations(),
                        kube::resources::ValidatingWebhookConfigurations()}) {
    auto deleted = client.Delete(r, "", name);
    if (!deleted.ok() && !kube::IsNotFound(deleted.error())) {
      return MakeError("deleting " + r.Name() + " " + name + ": " + deleted.message());
    }
  }
  return {};
}

}  // namespace promsidecar::admission
