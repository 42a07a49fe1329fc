#include "operator/admission/webhooks.h"

#include <exception>
#include <utility>

#include "common/log/log.h"
#include "operator/api/field_error.h"
#include "operator/api/well_known.h"

namespace promsidecar::admission {

using nlohmann::json;

WebhookMetrics WebhookMetrics::Register(metrics::Registry& registry) {
  WebhookMetrics m;
  m.injections =
      &registry.AddCounterFamily("promsidecar_operator_injections_total",
                                 "Pod admission decisions of the injection webhook.", {"outcome", "reason"});
  m.validations = &registry.AddCounterFamily("promsidecar_operator_agent_validations_total",
                                             "PrometheusAgent admission decisions.", {"result"});
  m.latency_seconds = &registry.AddHistogramFamily(
      "promsidecar_operator_webhook_duration_seconds",
      "Time from reading an AdmissionReview to writing the answer.", {"webhook", "code"},
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  m.deadline_exceeded = &registry.AddCounter(
      "promsidecar_operator_webhook_requests_deadline_exceeded_total",
      "Webhook requests not received whole within the request deadline; their connections were closed.");
  return m;
}

namespace {

std::string AnnotationValue(const json& pod, const char* key) {
  auto md = pod.find("metadata");
  if (md == pod.end() || !md->is_object()) return {};
  auto ann = md->find("annotations");
  if (ann == md->end() || !ann->is_object()) return {};
  auto it = ann->find(key);
  if (it == ann->end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::string MetadataString(const json& object, const char* key) {
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return {};
  auto it = md->find(key);
  return it != md->end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string OutcomeLabel(inject::Outcome outcome) {
  switch (outcome) {
    case inject::Outcome::kInjected: return "injected";
    case inject::Outcome::kSkipped: return "skipped";
    case inject::Outcome::kAlreadyInjected: return "already_injected";
    case inject::Outcome::kNotApplicable: break;
  }
  return "not_applicable";
}

}  // namespace

bool PodOptsIn(const json& pod) {
  if (!pod.is_object()) return false;
  return AnnotationValue(pod, api::kScrapeAnnotation) == "true" ||
         AnnotationValue(pod, api::kLegacyScrapeAnnotation) == "true";
}

PodInjectionWebhook::PodInjectionWebhook(ClusterFactsSource& facts, inject::OperatorSettings settings,
                                         WebhookMetrics metrics)
    : facts_(facts), settings_(std::move(settings)), metrics_(metrics) {}

AdmissionResponse PodInjectionWebhook::Handle(const AdmissionRequest& request) {
  auto count = [&](const std::string& outcome, const std::string& reason) {
    if (metrics_.injections) metrics_.injections->With({outcome, reason}).Inc();
  };
  // Only pod creations are ours; anything else the configuration should not
  // have sent is admitted untouched.
  if (request.kind.group != "" || request.kind.kind != "Pod" || !request.sub_resource.empty() ||
      request.operation != "CREATE" || !request.object.is_object()) {
    count("not_applicable", "NotAPodCreate");
    return AdmissionResponse::Allow();
  }
  const json& pod = request.object;
  // Checked again by Decide; here so the common case never touches a cache
  // (API servers that ignore matchConditions send every pod).
  if (!PodOptsIn(pod)) {
    count("not_applicable", "NotOptedIn");
    return AdmissionResponse::Allow();
  }
  std::string ns = !request.namespace_.empty() ? request.namespace_ : MetadataString(pod, "namespace");
  const std::string pod_name = !MetadataString(pod, "name").empty() ? MetadataString(pod, "name")
                                                                    : MetadataString(pod, "generateName");

  auto facts = facts_.FactsFor(ns);
  if (!facts.ok()) {
    log::Warn("pod admitted without injection: cluster facts unavailable",
              {{"namespace", ns}, {"pod", pod_name}, {"error", facts.message()}});
    count("error", "FactsUnavailable");
    AdmissionResponse r;
    r.warnings.push_back("promsidecar: metrics agent not injected: the operator's caches are not ready (" +
                         facts.message() + "); recreate the pod later");
    return r;
  }
  facts->settings = settings_;

  inject::InjectionResult result;
  try {
    result = inject::Decide(pod, ns, *facts);
  } catch (const std::exception& e) {
    // Decide is pure and should not throw; a hostile pod must still never
    // block admission (failurePolicy Ignore would admit it anyway).
    log::Error("injection decision failed", {{"namespace", ns}, {"pod", pod_name}, {"error", e.what()}});
    count("error", "InternalError");
    AdmissionResponse r;
    r.warnings.push_back("promsidecar: metrics agent not injected: internal error");
    return r;
  }
  count(OutcomeLabel(result.outcome), result.reason);
  if (result.outcome == inject::Outcome::kInjected || result.outcome == inject::Outcome::kSkipped) {
    // A skipped pod is a problem someone should see; an injection is routine
    // (counted in promsidecar_operator_injections_total), and a line per pod
    // would cost as much as the decision at a thousand pods a second.
    const auto level = result.outcome == inject::Outcome::kSkipped ? log::Level::kInfo : log::Level::kDebug;
    if (log::Enabled(level)) {
      log::Write(level, "pod admission",
                 {{"namespace", ns},
                  {"pod", pod_name},
                  {"outcome", OutcomeLabel(result.outcome)},
                  {"reason", result.reason},
                  {"agent", result.agent},
                  {"dryRun", request.dry_run ? "true" : "false"}});
    }
  }
  AdmissionResponse r;
  r.patch = result.patch.is_array() ? std::move(result.patch) : json::array();
  r.warnings = std::move(result.warnings);
  return r;
}

AgentValidationWebhook::AgentValidationWebhook(ValidationContextSource& context, api::AgentApiGroup group,
                                               WebhookMetrics metrics)
    : context_(context), group_(std::move(group)), metrics_(metrics) {}

AdmissionResponse AgentValidationWebhook::Handle(const AdmissionRequest& request) {
  auto count = [&](const char* result) {
    if (metrics_.validations) metrics_.validations->With({result}).Inc();
  };
  if (request.kind.group != group_.group || request.kind.kind != api::kAgentKind ||
      !request.sub_resource.empty() || (request.operation != "CREATE" && request.operation != "UPDATE")) {
    count("allowed");
    return AdmissionResponse::Allow();
  }
  if (!request.object.is_object()) {
    count("denied");
    return AdmissionResponse::Deny(
        400, request.operation + " of " + std::string(api::kAgentKind) + " without an object");
  }
  const std::string ns =
      !request.namespace_.empty() ? request.namespace_ : MetadataString(request.object, "namespace");
  auto ctx = context_.ContextFor(ns);
  if (!ctx.ok()) {
    count("error");
    return AdmissionResponse::Deny(
        503, "cannot validate PrometheusAgent " + ns + "/" + request.name + " now: " + ctx.message(),
        "ServiceUnavailable");
  }
  std::vector<api::FieldError> findings;
  try {
    findings = validate::Validate(request.object, *ctx);
  } catch (const std::exception& e) {
    count("error");
    log::Error("agent validation failed", {{"namespace", ns}, {"name", request.name}, {"error", e.what()}});
    return AdmissionResponse::Deny(
        500, "internal error validating PrometheusAgent " + ns + "/" + request.name, "InternalError");
  }
  AdmissionResponse r;
  for (const auto& f : findings) {
    if (!f.is_error()) r.warnings.push_back(f.ToString());
  }
  if (api::HasErrors(findings)) {
    count("denied");
    r.allowed = false;
    r.status_code = 422;
    r.status_reason = "Invalid";
    r.status_message = "PrometheusAgent " + ns + "/" + MetadataString(request.object, "name") +
                       " is invalid: " + api::JoinErrors(findings);
    return r;
  }
  count("allowed");
  return r;
}

}  // namespace promsidecar::admission
