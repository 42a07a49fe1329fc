#include "cluster/cluster_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace promsidecar::testing {
namespace {

const std::string kSample = std::string(CLUSTER_TESTDATA) + "/audit_sample.jsonl";

TEST(ParseAuditLine, ReadsTheFieldsTestsFilterOn) {
  auto e = ParseAuditLine(
      R"({"kind":"Event","auditID":"x","stage":"ResponseComplete","verb":"update","user":{"username":"admin"},)"
      R"("userAgent":"op/1","requestURI":"/apis/g/v1/namespaces/n/things/t/status",)"
      R"("objectRef":{"resource":"things","namespace":"n","name":"t","apiGroup":"g","subresource":"status"},)"
      R"("responseStatus":{"code":409}})");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->audit_id, "x");
  EXPECT_EQ(e->stage, "ResponseComplete");
  EXPECT_EQ(e->verb, "update");
  EXPECT_EQ(e->user, "admin");
  EXPECT_EQ(e->user_agent, "op/1");
  EXPECT_EQ(e->resource, "things");
  EXPECT_EQ(e->subresource, "status");
  EXPECT_EQ(e->namespace_, "n");
  EXPECT_EQ(e->name, "t");
  EXPECT_EQ(e->api_group, "g");
  EXPECT_EQ(e->code, 409);
}

TEST(ParseAuditLine, RejectsNonEvents) {
  EXPECT_FALSE(ParseAuditLine("not json").has_value());
  EXPECT_FALSE(ParseAuditLine(R"({"kind":"List"})").has_value());
  EXPECT_FALSE(ParseAuditLine(R"({"kind":"Event","verb":"get"})").has_value());  // no auditID
  EXPECT_FALSE(ParseAuditLine("").has_value());
}

TEST(AuditLog, CountsDistinctRequestsByFilter) {
  AuditLog log(kSample);
  auto events = log.EventsSince(0);
  EXPECT_EQ(events.size(), 6u);  // 8 lines, 2 of them not events
  EXPECT_EQ(log.Count({}), 5);   // a3 (watch) logged twice, counted once
  EXPECT_EQ(log.Count({.verb = "create", .resource = "pods"}), 1);
  EXPECT_EQ(log.Count({.resource = "pods", .namespace_ = "ns1"}), 3);
  EXPECT_EQ(log.Count({.verb = "watch", .user = "system:serviceaccount:ns1:op"}), 1);
  EXPECT_EQ(log.Count({.user = "admin"}), 4);
  EXPECT_EQ(
      log.Count({.resource = "prometheusagents", .subresource = "status", .api_group = "promsidecar.io"}), 1);
  EXPECT_EQ(log.Count({.namespace_ = "ns3"}), 0);
}

TEST(AuditLog, MarkSeesOnlyLaterCompleteLines) {
  char dir_tmpl[] = "/tmp/promsidecar-audit-XXXXXX";
  ASSERT_NE(mkdtemp(dir_tmpl), nullptr);
  std::string path = std::string(dir_tmpl) + "/audit.log";
  std::ifstream sample(kSample);
  std::string first, second;
  std::getline(sample, first);
  std::getline(sample, second);
  {
    std::ofstream out(path);
    out << first << "\n";
  }
  AuditLog log(path);
  auto mark = log.Mark();
  EXPECT_EQ(log.Count({}, mark), 0);
  EXPECT_EQ(log.Count({}), 1);
  {
    std::ofstream out(path, std::ios::app);
    out << second << "\n" << first.substr(0, 40);  // a line still being written
  }
  EXPECT_EQ(log.Count({}, mark), 1);
  EXPECT_EQ(log.WaitForCount({.verb = "get"}, mark, 1), 1);
  EXPECT_EQ(log.Count({.verb = "create"}, mark), 0);
  // Mark() stops before the partial line, so it is counted once completed.
  auto mark2 = log.Mark();
  {
    std::ofstream out(path, std::ios::app);
    out << first.substr(40) << "\n";
  }
  EXPECT_EQ(log.Count({.verb = "create"}, mark2), 1);
  unlink(path.c_str());
  rmdir(dir_tmpl);
}

TEST(AuditLog, MissingFileIsEmpty) {
  AuditLog log("/nonexistent/promsidecar/audit.log");
  EXPECT_EQ(log.Mark(), 0u);
  EXPECT_EQ(log.Count({}), 0);
}

TEST(ParseEnvFile, ReadsExportsWithQuoting) {
  auto vars = ParseEnvFile(
      "# comment\n"
      "export KUBECONFIG='/a b/kubeconfig'\n"
      "\n"
      "export QUOTED='it'\\''s'\n"
      "PLAIN=x=y\n"
      "DOUBLE=\"v\"\n");
  ASSERT_TRUE(vars.ok()) << vars.message();
  EXPECT_EQ(vars->at("KUBECONFIG"), "/a b/kubeconfig");
  EXPECT_EQ(vars->at("QUOTED"), "it's");
  EXPECT_EQ(vars->at("PLAIN"), "x=y");
  EXPECT_EQ(vars->at("DOUBLE"), "v");
  EXPECT_EQ(vars->size(), 4u);
}

TEST(ParseEnvFile, RejectsLinesWithoutAssignment) {
  auto vars = ParseEnvFile("export A=1\nnonsense\n");
  ASSERT_FALSE(vars.ok());
  EXPECT_NE(vars.message().find("line 2"), std::string::npos) << vars.message();
}

TEST(ClusterEnv, LoadFileRequiresTheCoreVariables) {
  char dir_tmpl[] = "/tmp/promsidecar-env-XXXXXX";
  ASSERT_NE(mkdtemp(dir_tmpl), nullptr);
  std::string path = std::string(dir_tmpl) + "/env";
  {
    std::ofstream out(path);
    out << "export KUBECONFIG='/k'\nexport APISERVER_URL='https://127.0.0.1:1'\nexport "
           "KUBECTL='/bin/kubectl'\n"
           "export AUDIT_LOG='/a.log'\nexport SERVICE_ACCOUNT_PLUGIN='0'\n";
  }
  auto env = ClusterEnv::LoadFile(path);
  ASSERT_TRUE(env.ok()) << env.message();
  EXPECT_EQ(env->kubeconfig, "/k");
  EXPECT_EQ(env->apiserver_url, "https://127.0.0.1:1");
  EXPECT_EQ(env->audit_log, "/a.log");
  EXPECT_FALSE(env->service_account_plugin);
  {
    std::ofstream out(path);
    out << "export KUBECONFIG='/k'\n";
  }
  EXPECT_FALSE(ClusterEnv::LoadFile(path).ok());
  unlink(path.c_str());
  rmdir(dir_tmpl);
  EXPECT_FALSE(ClusterEnv::LoadFile(path).ok());
}

TEST(RunCapturingOutput, PassesArgumentsVerbatimWithoutAShell) {
  auto r = RunCapturingOutput({"printf", "%s|%s", "$(echo injected); echo x", "a b"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "$(echo injected); echo x|a b");
}

TEST(RunCapturingOutput, FeedsStdinAndSeparatesStreamsAndExitCodes) {
  std::string big(200000, 'z');  // larger than a pipe buffer
  auto cat = RunCapturingOutput({"cat"}, big);
  EXPECT_EQ(cat.exit_code, 0);
  EXPECT_EQ(cat.out, big);
  auto fail = RunCapturingOutput({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(fail.exit_code, 3);
  EXPECT_EQ(fail.out, "out\n");
  EXPECT_EQ(fail.err, "err\n");
  auto missing = RunCapturingOutput({"/nonexistent/promsidecar-binary"});
  EXPECT_EQ(missing.exit_code, -1);
  EXPECT_NE(missing.err.find("cannot run"), std::string::npos);
  auto slow = RunCapturingOutput({"sleep", "30"}, "", std::chrono::milliseconds(200));
  EXPECT_EQ(slow.exit_code, -1);
}

}  // namespace
}  // namespace promsidecar::testing
