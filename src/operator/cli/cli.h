// The promsidecar-operator command line: `inject` and `explain -f` run the
// webhook's pure decision (inject::Decide) on manifests from files, so GitOps
// users can render and check pods before they reach a cluster; `explain
// OBJECT` runs it on what it reads from the cluster (operator/explain).
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"
#include "common/util/result.h"
#include "operator/cli/cluster_flags.h"
#include "operator/inject/inject.h"

namespace promsidecar::cli {

// One pod (or workload template) and what the webhook would do to it.
struct ObjectDecision {
  std::string object;  // "Pod default/example", "Deployment shop/web (template)"
  inject::InjectionResult result;
};

// Runs Decide on every Pod and on the pod template of every Deployment,
// StatefulSet, DaemonSet, ReplicaSet, Job and CronJob in `docs`, replacing
// each with its mutated form; other objects pass through unchanged.
// `default_namespace` applies to objects without metadata.namespace.
Result<std::vector<nlohmann::json>> MutateDocuments(std::vector<nlohmann::json> docs,
                                                    const std::string& default_namespace,
                                                    const inject::ClusterFacts& facts,
                                                    std::vector<ObjectDecision>* decisions);

// explain OBJECT with a client: reads the snapshot, prints the explanation
// (text; "json" or "yaml" in `output`). `flags` are resolved
// (ResolveClusterFlags). Returns 0, 1 when the cluster cannot be read, 2 for
// an OBJECT that names nothing explain reads.
struct LiveExplainRequest {
  std::string object;  // "pod/web-0", "deployment/web", "web-0"
  std::string ns;
  ClusterFlags flags;
  std::string output;
};
int ExplainLive(kube::Client& client, const LiveExplainRequest& request, std::ostream& out,
                std::ostream& err);

// The whole command line; returns the process exit code (0 ok, 1 bad input,
// 2 usage). `version` is what --version prints after the program's name.
int Main(int argc, const char* const* argv, std::ostream& out, std::ostream& err, std::string_view version);

}  // namespace promsidecar::cli
