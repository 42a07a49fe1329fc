// The operator's own identity for integration tests: the ServiceAccount and
// RBAC shipped in deploy/ (never system:masters), with a token from the
// TokenRequest API, as a client Config or a kubeconfig file. Whatever the
// operator may not do under deploy/'s RBAC fails in the tests too.
#pragma once

#include <string>
#include <vector>

#include "cluster/cluster_env.h"
#include "common/kube/config.h"
#include "common/util/result.h"

namespace promsidecar::testing {

inline constexpr const char* kOperatorNamespace = "promsidecar-system";
inline constexpr const char* kOperatorUser = "system:serviceaccount:promsidecar-system:promsidecar-operator";

// Applies deploy/'s namespace, ServiceAccount and RBAC (and, with
// `restart_rbac`, deploy/optional/restart-workloads-rbac.yaml), binds the
// agent-namespace role in each of `agent_namespaces` (as docs/install.md
// says to), and mints a token for the operator's ServiceAccount.
Result<std::string> OperatorToken(const ClusterEnv& env,
                                  const std::vector<std::string>& agent_namespaces = {},
                                  bool restart_rbac = false);
// A client configuration that authenticates with `token`.
kube::Config OperatorConfig(const ClusterEnv& env, const std::string& token);
// The same as a kubeconfig file (for `promsidecar-operator run --kubeconfig`).
void WriteOperatorKubeconfig(const ClusterEnv& env, const std::string& token, const std::string& path);

}  // namespace promsidecar::testing
