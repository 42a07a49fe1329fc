// Whether the injection webhook can be reached through its Service, asked
// before the operator restarts a workload (repair, updateStrategy Rollout):
// a restart while no replica serves it (a new leader whose own pod is not
// Ready yet, the only replica restarting) lets the API server admit the new
// pods without the sidecar again (failurePolicy Ignore), and the workload is
// then not restarted again for an hour.
//
// Reachable = the Service's EndpointSlices have had a ready endpoint for
// `settle` without a break: that long for the endpoint to reach the
// API server's path to the Service (kube-proxy rules).
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"
#include "operator/controller/api_calls.h"

namespace promsidecar::controller {

// Whether an EndpointSlice List has an endpoint ready to serve. A missing
// `ready` condition counts as ready (its API documents nil as "unknown,
// consumers should treat it as ready"); a terminating endpoint does not.
bool AnyEndpointReady(const nlohmann::json& endpoint_slice_list);

class WebhookReadiness {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::string ns;       // the Service's namespace (the operator's)
    std::string service;  // its name (--webhook.service-name)
    std::chrono::seconds settle{10};
    std::chrono::seconds recheck{2};  // answers are reused this long (no List per pod)
  };
  WebhookReadiness(kube::Client& client, ApiCalls& calls, Options options);

  // True once a ready endpoint has been seen for `settle`. Without RBAC to
  // read EndpointSlices (an older installation) it answers true and says once
  // in the log what the check needs.
  bool Reachable(Clock::time_point now = Clock::now());

 private:
  kube::Client& client_;
  ApiCalls& calls_;
  const Options options_;
  std::mutex mu_;
  std::optional<Clock::time_point> ready_since_;
  std::optional<Clock::time_point> checked_at_;
  bool forbidden_ = false;
};

}  // namespace promsidecar::controller
