// What integration tests need to talk to the test control plane started by
// scripts/cluster (the ctest fixture `cluster`): where it is, a kubectl
// runner, and a reader of its audit log for counting API calls.
//
//   auto env = testing::ClusterEnv::Load();
//   ASSERT_TRUE(env.ok()) << env.message();
//   testing::AuditLog audit(env->audit_log);
//   auto mark = audit.Mark();
//   auto r = testing::Kubectl(*env, {"create", "namespace", ns});
//   ASSERT_EQ(r.exit_code, 0) << r.err;
//   EXPECT_EQ(audit.WaitForCount({.verb = "create", .resource = "namespaces"}, mark, 1), 1);
//
// Test-only code: not thread-safe unless stated.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/result.h"

namespace promsidecar::testing {

struct ClusterEnv {
  std::string kubeconfig;              // KUBECONFIG
  std::string apiserver_url;           // APISERVER_URL, https://127.0.0.1:PORT
  std::string audit_log;               // AUDIT_LOG (empty when only $KUBECONFIG was found)
  std::string ca_file;                 // CLUSTER_CA: the CA of the apiserver's serving and client certs
  std::string admin_cert;              // ADMIN_CERT: client certificate, CN admin, O system:masters
  std::string admin_key;               // ADMIN_KEY
  std::string kubectl;                 // KUBECTL
  std::string state_dir;               // CLUSTER_STATE_DIR
  std::string kubernetes_version;      // KUBERNETES_VERSION, e.g. v1.34.4
  bool service_account_plugin = true;  // SERVICE_ACCOUNT_PLUGIN: create `default` SAs yourself
  // A cluster with a node (CLUSTER_MODE=node): controller-manager, scheduler,
  // kubelet on containerd, kube-proxy. Empty fields below otherwise.
  bool has_node = false;
  std::string node_name;           // NODE_NAME
  std::string node_ip;             // NODE_IP: on the pod bridge, reachable from pods
  std::string pod_subnet;          // POD_SUBNET
  std::string containerd_address;  // CONTAINERD_ADDRESS: the node's containerd socket
  std::string crictl;              // CRICTL

  // Finds the control plane, first match wins:
  //  1. $PROMSIDECAR_CLUSTER_ENV (an env file written by scripts/cluster),
  //  2. $PROMSIDECAR_CLUSTER_DIR/env,
  //  3. <build dir>/cluster-state/env (the ctest fixture `cluster`),
  //  4. $KUBECONFIG (kubectl from $KUBECTL or PATH; no audit log),
  //  5. <source dir>/build/cluster/env (a manual `scripts/cluster up`).
  static Result<ClusterEnv> Load();
  // Reads one env file (lines `export KEY='value'`).
  static Result<ClusterEnv> LoadFile(const std::string& env_file);
};

// Parses `export KEY=value` / `KEY='value'` / `KEY="value"` lines; comments
// and blank lines are skipped. Pure.
Result<std::map<std::string, std::string>> ParseEnvFile(std::string_view text);

struct CommandOutput {
  int exit_code = -1;  // the exit status; 128+N after signal N; -1 when it could not run or timed out
  std::string out;     // stdout
  std::string err;     // stderr (or why it could not run)
  bool ok() const { return exit_code == 0; }
};

// Runs argv[0] (PATH lookup) with the given arguments, no shell involved, and
// feeds `stdin_data` to it. Kills it after `timeout`.
CommandOutput RunCapturingOutput(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                                 std::chrono::milliseconds timeout = std::chrono::seconds(120));

// kubectl --kubeconfig <env.kubeconfig> args...
CommandOutput Kubectl(const ClusterEnv& env, const std::vector<std::string>& args,
                      const std::string& stdin_data = "",
                      std::chrono::milliseconds timeout = std::chrono::seconds(120));

// Makes sure pods can be created in namespace `ns`: with a node (the
// controller-manager makes every namespace's `default` ServiceAccount) it waits
// for that ServiceAccount, up to `timeout`; on a control plane alone with the
// ServiceAccount admission plugin on it creates it. An error names what failed.
Status EnsureDefaultServiceAccount(const ClusterEnv& env, const std::string& ns,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(60));

// One request as the audit log records it (policy: Metadata level for all).
struct AuditEvent {
  std::string audit_id;
  std::string stage;  // ResponseStarted (long-running requests), ResponseComplete, Panic
  std::string verb;   // get, list, watch, create, update, patch, delete, deletecollection
  std::string user;
  std::string user_agent;
  std::string request_uri;
  std::string api_group;  // objectRef.apiGroup ("" for the core group)
  std::string resource;   // objectRef.resource, e.g. "pods"
  std::string subresource;
  std::string namespace_;
  std::string name;
  int code = 0;  // responseStatus.code
};

// Parses one JSON line of the audit log; nullopt for anything else. Pure.
std::optional<AuditEvent> ParseAuditLine(std::string_view line);

// Empty fields match anything.
struct AuditFilter {
  std::string verb;
  std::string resource;
  std::string namespace_;
  std::string user;
  std::string name;
  std::string subresource;
  std::string api_group;  // matched only when set; "core" would not be a value here
};
bool Matches(const AuditEvent& event, const AuditFilter& filter);

// Reads the JSON-lines audit file. A request appears once or twice (a watch
// logs ResponseStarted and, when it ends, ResponseComplete); counts are of
// distinct requests (audit IDs).
class AuditLog {
 public:
  using Position = std::uint64_t;  // a byte offset at a line boundary

  explicit AuditLog(std::string path) : path_(std::move(path)) {}

  // The current end of the log: later calls with `since = Mark()` only see
  // requests logged after this point.
  Position Mark() const;
  // Complete lines after `since`, parsed (unparseable lines skipped).
  std::vector<AuditEvent> EventsSince(Position since) const;
  // Distinct requests after `since` that match.
  int Count(const AuditFilter& filter, Position since = 0) const;
  // The apiserver writes an event after it answers: poll (generous deadline)
  // until at least `at_least` requests match, then return the count.
  int WaitForCount(const AuditFilter& filter, Position since, int at_least,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Counts requests in already-read events (pure); used by AuditLog.
int CountDistinct(const std::vector<AuditEvent>& events, const AuditFilter& filter);

}  // namespace promsidecar::testing
