// What every executor of the controller shares: counting its API calls
// (promsidecar_operator_api_calls_total{verb,resource,outcome}) and reporting
// a missing permission once, with what needs it and the fix.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "common/log/log.h"
#include "common/metrics/metrics.h"

namespace promsidecar::controller {

class ApiCalls {
 public:
  explicit ApiCalls(metrics::Family<metrics::Counter>* family) : family_(family) {}

  void Count(const std::string& verb, const std::string& resource, bool ok) {
    if (family_) family_->With({verb, resource, ok ? "ok" : "error"}).Inc();
  }

  // Logs a 403 once per verb and resource.
  void Forbidden(const std::string& verb, const std::string& resource, const std::string& needed_by,
                 const std::string& fix) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!forbidden_logged_.insert(verb + " " + resource).second) return;
    }
    log::Error("promsidecar-operator may not " + verb + " " + resource + " (HTTP 403)",
               {{"verb", verb}, {"resource", resource}, {"needed_by", needed_by}, {"fix", fix}});
  }

 private:
  metrics::Family<metrics::Counter>* family_;
  std::mutex mu_;
  std::set<std::string> forbidden_logged_;
};

}  // namespace promsidecar::controller
