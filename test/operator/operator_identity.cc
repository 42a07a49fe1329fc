#include "operator_identity.h"

#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

const std::string kSource = PROMSIDECAR_SOURCE_DIR;

}  // namespace

Result<std::string> OperatorToken(const ClusterEnv& env, const std::vector<std::string>& agent_namespaces,
                                  bool restart_rbac) {
  std::vector<std::string> files = {"/deploy/00-namespace.yaml", "/deploy/10-serviceaccount.yaml",
                                    "/deploy/20-rbac.yaml"};
  if (restart_rbac) files.push_back("/deploy/optional/restart-workloads-rbac.yaml");
  for (const auto& f : files) {
    auto r = Kubectl(env, {"apply", "-f", kSource + f});
    if (!r.ok()) return MakeError("kubectl apply -f " + f + ": " + r.err);
  }
  for (const auto& ns : agent_namespaces) {
    const std::string binding =
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: promsidecar-agents\n"
        "  namespace: " +
        ns +
        "\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: promsidecar-agents\n"
        "subjects:\n- kind: ServiceAccount\n  name: promsidecar-operator\n  namespace: promsidecar-system\n";
    auto r = Kubectl(env, {"apply", "-f", "-"}, binding);
    if (!r.ok()) return MakeError("binding promsidecar-agents in " + ns + ": " + r.err);
  }
  auto token =
      Kubectl(env, {"create", "token", "promsidecar-operator", "-n", kOperatorNamespace, "--duration=2h"});
  if (!token.ok()) return MakeError("kubectl create token: " + token.err);
  std::string t = token.out;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

kube::Config OperatorConfig(const ClusterEnv& env, const std::string& token) {
  kube::Config c;
  c.server = env.apiserver_url;
  c.ca_pem = ReadFile(env.ca_file);
  c.token = token;
  c.ns = kOperatorNamespace;
  return c;
}

void WriteOperatorKubeconfig(const ClusterEnv& env, const std::string& token, const std::string& path) {
  WriteFile(path, "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " +
                      env.apiserver_url + "\n    certificate-authority: " + env.ca_file +
                      "\nusers:\n- name: op\n  user:\n    token: " + token +
                      "\ncontexts:\n- name: op\n  context:\n    cluster: c\n    user: op\n"
                      "    namespace: promsidecar-system\ncurrent-context: op\n");
}

}  // namespace promsidecar::testing
