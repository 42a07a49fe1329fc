#include "common/kube/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "testing/temp_dir.h"

namespace promsidecar::kube {
namespace {

namespace fs = std::filesystem;
using promsidecar::testing::TempDir;

// base64 of "CA-PEM", "CERT-PEM", "KEY-PEM".
constexpr const char* kCaB64 = "Q0EtUEVN";
constexpr const char* kCertB64 = "Q0VSVC1QRU0=";
constexpr const char* kKeyB64 = "S0VZLVBFTQ==";

std::string Kubeconfig() {
  return std::string(R"(apiVersion: v1
kind: Config
current-context: files
clusters:
- name: c-files
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: pki/ca.crt
- name: c-data
  cluster:
    server: https://10.0.0.1
    certificate-authority-data: )") +
         kCaB64 + R"(
    insecure-skip-tls-verify: true
    proxy-url: http://proxy:3128
users:
- name: u-files
  user:
    client-certificate: pki/admin.crt
    client-key: /ABS/admin.key
- name: u-data
  user:
    client-certificate-data: )" +
         kCertB64 + R"(
    client-key-data: )" +
         kKeyB64 + R"(
- name: u-token
  user:
    token: secret-token
- name: u-tokenfile
  user:
    tokenFile: tok
- name: u-exec
  user:
    exec:
      command: gcloud
contexts:
- name: files
  context: {cluster: c-files, user: u-files, namespace: team-a}
- name: data
  context: {cluster: c-data, user: u-data}
- name: token
  context: {cluster: c-data, user: u-token}
- name: tokenfile
  context: {cluster: c-data, user: u-tokenfile}
- name: exec
  context: {cluster: c-data, user: u-exec}
- name: missing-cluster
  context: {cluster: nope, user: u-token}
)";
}

std::string WithAbs(std::string text, const fs::path& dir) {
  auto pos = text.find("/ABS");
  text.replace(pos, 4, dir.string());
  return text;
}

TEST(DecodeBase64, Variants) {
  EXPECT_EQ(DecodeBase64("Q0EtUEVN").value(), "CA-PEM");
  EXPECT_EQ(DecodeBase64("S0VZLVBFTQ==").value(), "KEY-PEM");
  EXPECT_EQ(DecodeBase64("S0VZLVBFTQ").value(), "KEY-PEM");
  EXPECT_EQ(DecodeBase64("S0VZ\nLVBF TQ==").value(), "KEY-PEM");
  EXPECT_EQ(DecodeBase64("").value(), "");
  EXPECT_FALSE(DecodeBase64("S0V*").ok());
  EXPECT_FALSE(DecodeBase64("S").ok());
  EXPECT_FALSE(DecodeBase64("S0==VZ").ok());
}

TEST(Kubeconfig, CurrentContextWithFilesRelativeToTheKubeconfigDir) {
  TempDir dir;
  dir.Write("pki/ca.crt", "CA FROM FILE");
  dir.Write("pki/admin.crt", "CERT FROM FILE");
  dir.Write("admin.key", "KEY FROM FILE");
  dir.Write("config", WithAbs(Kubeconfig(), dir.path()));
  auto cfg = LoadKubeconfig(dir.Join("config"));
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, "CA FROM FILE");
  EXPECT_EQ(cfg->cert_pem, "CERT FROM FILE");
  EXPECT_EQ(cfg->key_pem, "KEY FROM FILE");
  EXPECT_EQ(cfg->ns, "team-a");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_TRUE(cfg->token.empty());
}

TEST(Kubeconfig, NamedContextWithDataFields) {
  auto cfg = ParseKubeconfig(Kubeconfig(), "/nonexistent", "data");
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->server, "https://10.0.0.1");
  EXPECT_EQ(cfg->ca_pem, "CA-PEM");
  EXPECT_EQ(cfg->cert_pem, "CERT-PEM");
  EXPECT_EQ(cfg->key_pem, "KEY-PEM");
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->proxy_url, "http://proxy:3128");
  EXPECT_EQ(cfg->ns, "");
  auto opts = cfg->ToClientOptions();
  EXPECT_EQ(opts.tls.ca_pem, "CA-PEM");
  EXPECT_TRUE(opts.tls.insecure_skip_verify);
}

TEST(Kubeconfig, TokenAndTokenFile) {
  auto cfg = ParseKubeconfig(Kubeconfig(), "/nonexistent", "token");
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->token, "secret-token");

  TempDir dir;
  dir.Write("tok", "file-token\n");
  cfg = ParseKubeconfig(Kubeconfig(), dir.path(), "tokenfile");
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->token_file, dir.Join("tok"));
}

TEST(Kubeconfig, ErrorsNameTheField) {
  auto missing_file = ParseKubeconfig(Kubeconfig(), "/nonexistent-dir", "files", "kubeconfig /x/config");
  ASSERT_FALSE(missing_file.ok());
  EXPECT_NE(missing_file.message().find("kubeconfig /x/config"), std::string::npos) << missing_file.message();
  EXPECT_NE(missing_file.message().find("clusters[\"c-files\"].cluster.certificate-authority"),
            std::string::npos)
      << missing_file.message();
  EXPECT_NE(missing_file.message().find("/nonexistent-dir/pki/ca.crt"), std::string::npos)
      << missing_file.message();

  auto exec = ParseKubeconfig(Kubeconfig(), "/", "exec");
  ASSERT_FALSE(exec.ok());
  EXPECT_NE(exec.message().find("users[\"u-exec\"].user.exec"), std::string::npos) << exec.message();

  auto no_cluster = ParseKubeconfig(Kubeconfig(), "/", "missing-cluster");
  ASSERT_FALSE(no_cluster.ok());
  EXPECT_NE(no_cluster.message().find("no cluster named \"nope\""), std::string::npos)
      << no_cluster.message();

  auto no_context = ParseKubeconfig(Kubeconfig(), "/", "other");
  ASSERT_FALSE(no_context.ok());
  EXPECT_NE(no_context.message().find("no context named \"other\""), std::string::npos)
      << no_context.message();

  auto no_tokenfile = ParseKubeconfig(Kubeconfig(), "/nonexistent-dir", "tokenfile");
  ASSERT_FALSE(no_tokenfile.ok());
  EXPECT_NE(no_tokenfile.message().find("tokenFile"), std::string::npos) << no_tokenfile.message();

  std::string bad_data = Kubeconfig();
  bad_data.replace(bad_data.find(kCertB64), std::string(kCertB64).size(), "not*base64");
  auto bad = ParseKubeconfig(bad_data, "/", "data");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("users[\"u-data\"].user.client-certificate-data"), std::string::npos)
      << bad.message();

  auto not_yaml = ParseKubeconfig("clusters: [", "/");
  ASSERT_FALSE(not_yaml.ok());
  EXPECT_NE(not_yaml.message().find("not valid YAML"), std::string::npos);

  auto no_current = ParseKubeconfig("clusters: []\n", "/");
  ASSERT_FALSE(no_current.ok());
  EXPECT_NE(no_current.message().find("current-context"), std::string::npos);

  auto no_server = ParseKubeconfig(
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: "
      "{}}]\n",
      "/");
  ASSERT_FALSE(no_server.ok());
  EXPECT_NE(no_server.message().find("clusters[\"c\"].cluster.server"), std::string::npos);
}

TEST(InCluster, ReadsServiceAccountFilesAndEnvironment) {
  TempDir dir;
  dir.Write("token", "sa-token\n");
  dir.Write("ca.crt", "CLUSTER CA");
  dir.Write("namespace", "monitoring\n");
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}};
  InClusterOptions opts;
  opts.root = dir.path();
  opts.getenv = [&](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto cfg = LoadInClusterConfig(opts);
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->server, "https://10.96.0.1:443");
  EXPECT_EQ(cfg->ca_pem, "CLUSTER CA");
  EXPECT_EQ(cfg->ns, "monitoring");
  EXPECT_EQ(cfg->token_file, dir.Join("token"));

  env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  cfg = LoadInClusterConfig(opts);
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->server, "https://[fd00::1]:443");

  env.erase("KUBERNETES_SERVICE_PORT");
  auto no_env = LoadInClusterConfig(opts);
  ASSERT_FALSE(no_env.ok());
  EXPECT_NE(no_env.message().find("KUBERNETES_SERVICE_PORT"), std::string::npos);

  env["KUBERNETES_SERVICE_PORT"] = "443";
  fs::remove(dir.Join("token"));
  auto no_token = LoadInClusterConfig(opts);
  ASSERT_FALSE(no_token.ok());
  EXPECT_NE(no_token.message().find("token"), std::string::npos);
}

TEST(TokenSource, RereadsTheFileWhenItChangesAtMostEveryInterval) {
  TempDir dir;
  dir.Write("token", "one\n");
  auto now = std::chrono::steady_clock::time_point{};
  TokenSource src("", dir.Join("token"), std::chrono::seconds(60), [&] { return now; });
  EXPECT_EQ(src.Token().value(), "one");

  dir.Write("token", "two");
  // Different mtime, guaranteed even on coarse-grained filesystems.
  fs::last_write_time(dir.Join("token"), fs::last_write_time(dir.Join("token")) + std::chrono::seconds(5));
  now += std::chrono::seconds(30);
  EXPECT_EQ(src.Token().value(), "one");  // not yet checked again
  now += std::chrono::seconds(31);
  EXPECT_EQ(src.Token().value(), "two");

  dir.Write("token", "three");
  fs::last_write_time(dir.Join("token"), fs::last_write_time(dir.Join("token")) + std::chrono::seconds(10));
  src.Invalidate();  // e.g. after a 401
  EXPECT_EQ(src.Token().value(), "three");

  fs::remove(dir.Join("token"));
  now += std::chrono::seconds(120);
  EXPECT_EQ(src.Token().value(), "three");  // keeps the last good token

  TokenSource fixed("static", "");
  EXPECT_EQ(fixed.Token().value(), "static");
  TokenSource none("", dir.Join("missing"));
  EXPECT_FALSE(none.Token().ok());
}

}  // namespace
}  // namespace promsidecar::kube
