// `explain`'s reads: one Snapshot of what the webhook's facts are made of,
// read with the operator's kube::Client (GETs and LISTs only, no watch), so
// the command needs read access to the target, its Namespace and
// LimitRanges, the PrometheusAgents of the agent namespaces and the Nodes.
#pragma once

#include <string>
#include <vector>

#include "common/kube/client.h"
#include "common/util/result.h"
#include "operator/api/agent.h"
#include "operator/explain/explain.h"

namespace promsidecar::explain {

struct LiveOptions {
  api::AgentApiGroup group;
  std::vector<std::string> agent_namespaces;  // where the operator watches agents; empty: all
  std::string node_selector;                  // --webhook.node-selector
};

// Errors name the object that could not be read and what to do about it.
Result<Snapshot> ReadSnapshot(kube::Client& client, const Target& target, const LiveOptions& options);

}  // namespace promsidecar::explain
