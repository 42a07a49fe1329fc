#include "operator/controller/webhook_ready.h"

#include "common/log/log.h"

namespace promsidecar::controller {

bool AnyEndpointReady(const nlohmann::json& list) {
  const auto items = list.find("items");
  if (items == list.end() || !items->is_array()) return false;
  for (const auto& slice : *items) {
    const auto endpoints = slice.find("endpoints");
    if (endpoints == slice.end() || !endpoints->is_array()) continue;
    for (const auto& endpoint : *endpoints) {
      const auto conditions = endpoint.find("conditions");
      if (conditions == endpoint.end() || !conditions->is_object()) return true;
      const auto ready = conditions->find("ready");
      if (ready == conditions->end() || ready->is_null() || (ready->is_boolean() && ready->get<bool>()))
        return true;
    }
  }
  return false;
}

WebhookReadiness::WebhookReadiness(kube::Client& client, ApiCalls& calls, Options options)
    : client_(client), calls_(calls), options_(std::move(options)) {}

bool WebhookReadiness::Reachable(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (forbidden_) return true;
  if (!checked_at_ || now - *checked_at_ >= options_.recheck) {
    checked_at_ = now;
    const kube::Resource slices{"discovery.k8s.io", "v1", "endpointslices", true};
    auto list = client_.List(slices, options_.ns,
                             {.label_selector = "kubernetes.io/service-name=" + options_.service});
    calls_.Count("list", "endpointslices", list.ok());
    if (!list.ok() && kube::IsForbidden(list.error())) {
      calls_.Forbidden("list", "endpointslices.discovery.k8s.io in namespace " + options_.ns,
                       "restarting workloads only while the injection webhook is reachable (repair, "
                       "updateStrategy: Rollout); without it restarts are not held back",
                       "upgrade the chart, or grant list on endpointslices.discovery.k8s.io in the "
                       "operator's namespace (Role promsidecar-leader-election in deploy/)");
      forbidden_ = true;
      return true;
    }
    if (!list.ok()) {
      log::Warn("cannot read the webhook Service's endpoints; workload restarts wait",
                {{"service", options_.ns + "/" + options_.service}, {"error", list.error().What()}});
      ready_since_.reset();
    } else if (!AnyEndpointReady(*list)) {
      if (ready_since_) {
        log::Info("the injection webhook's Service has no ready endpoint; workload restarts wait",
                  {{"service", options_.ns + "/" + options_.service}});
      }
      ready_since_.reset();
    } else if (!ready_since_) {
      ready_since_ = now;
    }
  }
  return ready_since_ && now - *ready_since_ >= options_.settle;
}

}  // namespace promsidecar::controller
