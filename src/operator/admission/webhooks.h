// The two admission webhooks as plain functions of an AdmissionRequest:
// the pod injection webhook (/mutate-pod) and the PrometheusAgent validation
// webhook (/validate-prometheusagent). What they need from the cluster comes
// through small interfaces, so unit tests use fakes and the operator uses its
// one shared cache (cache::ClusterCache, operator/cache/cache.h) through
// CacheFacts (cache_facts.h).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics/metrics.h"
#include "common/util/result.h"
#include "operator/admission/review.h"
#include "operator/api/agent.h"
#include "operator/inject/inject.h"
#include "operator/validate/validate.h"

namespace promsidecar::admission {

// What inject::Decide needs to know about the cluster for one pod.
class ClusterFactsSource {
 public:
  virtual ~ClusterFactsSource() = default;
  // Facts for a pod in `pod_namespace` (agents, the namespace's labels and
  // LimitRanges, kubelet and apiserver versions; settings are filled by the
  // webhook). An error when the caches are not ready: the pod is then
  // admitted uninjected with a warning (failurePolicy Ignore would do the
  // same, silently).
  virtual Result<inject::ClusterFacts> FactsFor(const std::string& pod_namespace) = 0;
};

// What validate::Validate needs besides the object.
class ValidationContextSource {
 public:
  virtual ~ValidationContextSource() = default;
  // Existing agents and the Secret/ConfigMap names of `agent_namespace`.
  // When references cannot be listed, set references_known = false rather
  // than fail; an error fails the validation (failurePolicy Fail applies).
  virtual Result<validate::ValidationContext> ContextFor(const std::string& agent_namespace) = 0;
};

// Metrics of both webhooks; Register() adds them to a registry.
struct WebhookMetrics {
  // outcome: injected, skipped, already_injected, not_applicable, error;
  // reason: inject::InjectionResult::reason.
  metrics::Family<metrics::Counter>* injections = nullptr;
  // result: allowed, denied, error.
  metrics::Family<metrics::Counter>* validations = nullptr;
  // webhook: mutate-pod, validate-prometheusagent; code: HTTP status.
  metrics::Family<metrics::Histogram>* latency_seconds = nullptr;
  // Requests cut by the webhook server's request deadline (a client sending
  // too slowly): AdmissionServer hands it to its http::Server.
  metrics::Counter* deadline_exceeded = nullptr;

  static WebhookMetrics Register(metrics::Registry& registry);
};

class PodInjectionWebhook {
 public:
  PodInjectionWebhook(ClusterFactsSource& facts, inject::OperatorSettings settings,
                      WebhookMetrics metrics = {});
  AdmissionResponse Handle(const AdmissionRequest& request);

 private:
  ClusterFactsSource& facts_;
  inject::OperatorSettings settings_;
  WebhookMetrics metrics_;
};

class AgentValidationWebhook {
 public:
  AgentValidationWebhook(ValidationContextSource& context, api::AgentApiGroup group,
                         WebhookMetrics metrics = {});
  AdmissionResponse Handle(const AdmissionRequest& request);

 private:
  ValidationContextSource& context_;
  api::AgentApiGroup group_;
  WebhookMetrics metrics_;
};

// Whether the pod's annotations opt in by either trigger annotation (the
// cheap check done before any cache is read). Pure.
bool PodOptsIn(const nlohmann::json& pod);

}  // namespace promsidecar::admission
