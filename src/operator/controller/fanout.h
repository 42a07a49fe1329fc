// The Secret fan-out: carries out a plan's `ensure` and `remove` for one
// agent's rendered Secrets, and remembers, per (agent, namespace), the data
// hash known to be in the cluster, so an unchanged rendering writes nothing
// and is not even read again. Unknown namespaces (after a start, a leadership
// change or a resync) are read once with a GET.
//
// One namespace that refuses a write does not keep the others stale: every
// namespace has its turn and the first failure is returned (the reconcile is
// retried with backoff).
//
// Thread-safety: the controller's worker calls the writers; Known() may be
// read from any thread.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"
#include "common/metrics/metrics.h"
#include "common/util/result.h"
#include "operator/api/agent.h"
#include "operator/controller/api_calls.h"

namespace promsidecar::controller {

class SecretFanout {
 public:
  SecretFanout(kube::Client& client, ApiCalls& calls, metrics::Counter* writes)
      : client_(client), calls_(calls), writes_(writes) {}

  // The data hash of the agent's Secret in `ns` as last written or read; ""
  // known absent; nullopt unknown.
  std::optional<std::string> Known(const std::string& agent_key, const std::string& ns) const;
  // Namespaces where the agent's Secret is known to be.
  std::vector<std::string> KnownPresent(const std::string& agent_key) const;

  // `secret` without a namespace; `written` lists namespaces written.
  Status Ensure(const std::string& agent_key, const api::Agent& agent, const nlohmann::json& secret,
                const std::string& hash, const std::vector<std::string>& namespaces,
                std::vector<std::string>* written);
  Status Remove(const std::string& agent_key, const api::Agent& agent,
                const std::vector<std::string>& namespaces);

  // Forget what is known (another replica may have written meanwhile).
  void Forget(const std::string& agent_key);
  void ForgetAll();

 private:
  Status EnsureOne(const std::string& agent_key, const api::Agent& agent, nlohmann::json desired,
                   const std::string& hash, bool* wrote);
  void SetKnown(const std::string& agent_key, const std::string& ns, std::string hash);

  kube::Client& client_;
  ApiCalls& calls_;
  metrics::Counter* writes_;
  mutable std::mutex mu_;
  // agent key → namespace → data hash ("" absent).
  std::map<std::string, std::map<std::string, std::string>> known_;
};

}  // namespace promsidecar::controller
