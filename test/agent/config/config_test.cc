#include "agent/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "testing/temp_dir.h"

namespace promsidecar::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

const std::string kTestdata = std::string(PROMSIDECAR_TESTDATA) + "/config";

std::string JoinErrors(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) out += e + "\n";
  return out;
}

AgentConfig MustParse(const std::string& yaml, const std::string& file = "test.yml") {
  ParseOutcome out = ParseConfig(yaml, file);
  EXPECT_TRUE(out.errors.empty()) << JoinErrors(out.errors);
  EXPECT_TRUE(out.config.has_value());
  return out.config.value_or(AgentConfig{});
}

TEST(Config, FullFileParsesEveryKey) {
  const std::string path = kTestdata + "/full.yml";
  auto loaded = LoadConfigFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const AgentConfig& c = *loaded;

  EXPECT_EQ(c.global.scrape_interval, seconds(30));
  EXPECT_EQ(c.global.scrape_timeout, seconds(20));
  EXPECT_EQ(c.global.external_labels, (model::Labels{{"cluster", "prod-eu-1"}, {"replica", "a"}}));
  EXPECT_EQ(c.global.limits.sample_limit, 5000u);
  EXPECT_EQ(c.global.limits.label_limit, 64u);
  EXPECT_EQ(c.global.limits.label_name_length_limit, 128u);
  EXPECT_EQ(c.global.limits.label_value_length_limit, 1024u);
  EXPECT_EQ(c.global.limits.body_size_limit, 10u * 1024 * 1024);

  ASSERT_EQ(c.scrape_configs.size(), 2u);
  const ScrapeConfig& app = c.scrape_configs[0];
  EXPECT_EQ(app.job_name, "app");
  ASSERT_EQ(app.static_configs.size(), 2u);
  EXPECT_EQ(app.static_configs[0].targets, (std::vector<std::string>{"localhost:8080", "127.0.0.1:9100"}));
  EXPECT_EQ(app.static_configs[0].labels, (model::Labels{{"namespace", "default"}, {"pod", "example"}}));
  EXPECT_EQ(app.static_configs[1].targets, (std::vector<std::string>{"[::1]:9090"}));
  EXPECT_TRUE(app.static_configs[1].labels.empty());
  EXPECT_EQ(app.metrics_path, "/custom/metrics");
  EXPECT_EQ(app.scheme, "https");
  EXPECT_EQ(app.params.at("module"), (std::vector<std::string>{"http_2xx", "tcp"}));
  EXPECT_EQ(app.params.at("debug"), (std::vector<std::string>{"1"}));
  EXPECT_TRUE(app.honor_labels);
  EXPECT_FALSE(app.honor_timestamps);
  EXPECT_EQ(app.scrape_interval, seconds(15));
  EXPECT_EQ(app.scrape_timeout, seconds(5));
  EXPECT_EQ(app.limits.sample_limit, 100u);
  EXPECT_EQ(app.limits.label_limit, 10u);
  EXPECT_EQ(app.limits.label_name_length_limit, 20u);
  EXPECT_EQ(app.limits.label_value_length_limit, 30u);
  EXPECT_EQ(app.limits.body_size_limit, 1024u);
  ASSERT_EQ(app.relabel_configs.size(), 2u);
  EXPECT_EQ(app.relabel_configs[0].action(), relabel::Action::kReplace);
  EXPECT_EQ(app.relabel_configs[0].spec().regex, std::optional<std::string>("(.*):\\d+"));
  EXPECT_EQ(app.relabel_configs[1].action(), relabel::Action::kLabelDrop);
  ASSERT_EQ(app.metric_relabel_configs.size(), 2u);
  EXPECT_EQ(app.metric_relabel_configs[1].action(), relabel::Action::kHashMod);
  EXPECT_EQ(app.metric_relabel_configs[1].spec().modulus, std::optional<uint64_t>(4));
  EXPECT_EQ(app.metric_relabel_configs[1].spec().separator, std::optional<std::string>("/"));
  // The compiled relabel rules work as loaded.
  model::Labels target{{"__address__", "localhost:8080"}, {"tmp_x", "1"}};
  ASSERT_TRUE(relabel::Process(target, app.relabel_configs));
  EXPECT_EQ(target, (model::Labels{{"__address__", "localhost:8080"}, {"host", "localhost"}}));

  ASSERT_TRUE(app.basic_auth.has_value());
  EXPECT_EQ(app.basic_auth->username, "scraper");
  EXPECT_TRUE(app.basic_auth->password.value.empty());
  // Relative credential paths resolve against the config file's directory.
  EXPECT_EQ(app.basic_auth->password.file, kTestdata + "/secrets/scrape-password");
  EXPECT_FALSE(app.authorization.has_value());
  EXPECT_EQ(app.tls_config.ca_file, kTestdata + "/certs/ca.pem");
  EXPECT_EQ(app.tls_config.cert_file, "/etc/certs/client.pem");
  EXPECT_EQ(app.tls_config.key_file, "/etc/certs/client.key");
  EXPECT_EQ(app.tls_config.server_name, "app.local");
  EXPECT_TRUE(app.tls_config.insecure_skip_verify);
  EXPECT_EQ(app.tls_config.min_version, "TLS12");

  const ScrapeConfig& self = c.scrape_configs[1];
  EXPECT_EQ(self.scrape_interval, seconds(30));  // global
  EXPECT_EQ(self.scrape_timeout, seconds(20));   // global
  EXPECT_EQ(self.limits.sample_limit, 5000u);    // global default
  EXPECT_EQ(self.limits.body_size_limit, 10u * 1024 * 1024);
  EXPECT_EQ(self.metrics_path, "/metrics");
  ASSERT_TRUE(self.authorization.has_value());
  EXPECT_EQ(self.authorization->type, "Bearer");
  EXPECT_EQ(self.authorization->credentials.file, kTestdata + "/token");

  ASSERT_EQ(c.remote_write.size(), 3u);
  const RemoteWriteConfig& primary = c.remote_write[0];
  EXPECT_EQ(primary.url, "https://metrics.example.com/api/v1/write");
  EXPECT_EQ(primary.name, "primary");
  EXPECT_EQ(primary.remote_timeout, seconds(10));
  EXPECT_EQ(primary.headers, (std::map<std::string, std::string>{{"X-Scope-OrgID", "tenant-1"}}));
  ASSERT_EQ(primary.write_relabel_configs.size(), 1u);
  ASSERT_TRUE(primary.authorization.has_value());
  EXPECT_EQ(primary.authorization->credentials.value.Reveal(), "s3cr3t-token");
  EXPECT_EQ(primary.tls_config.ca_file, kTestdata + "/ca.pem");
  EXPECT_EQ(primary.proxy_url, "http://proxy.internal:3128");
  EXPECT_EQ(primary.queue_config.capacity, 2500u);
  EXPECT_EQ(primary.queue_config.max_samples_per_send, 500u);
  EXPECT_EQ(primary.queue_config.batch_send_deadline, seconds(2));
  EXPECT_EQ(primary.queue_config.min_backoff, milliseconds(100));
  EXPECT_EQ(primary.queue_config.max_backoff, seconds(10));
  EXPECT_FALSE(primary.queue_config.retry_on_http_429);

  const RemoteWriteConfig& backup = c.remote_write[1];
  ASSERT_TRUE(backup.oauth2.has_value());
  EXPECT_EQ(backup.oauth2->client_id, "agent");
  EXPECT_EQ(backup.oauth2->client_secret.file, "/var/run/secrets/oauth/secret");
  EXPECT_EQ(backup.oauth2->token_url, "https://auth.example.com/token");
  EXPECT_EQ(backup.oauth2->scopes, (std::vector<std::string>{"metrics.write"}));
  EXPECT_EQ(backup.oauth2->endpoint_params.at("audience"), "metrics");
  EXPECT_TRUE(backup.oauth2->tls_config.insecure_skip_verify);
  EXPECT_EQ(backup.name.size(), 6u);  // default: a short hash
  EXPECT_EQ(backup.name.find_first_not_of("0123456789abcdef"), std::string::npos);

  const RemoteWriteConfig& third = c.remote_write[2];
  ASSERT_TRUE(third.basic_auth.has_value());
  EXPECT_EQ(third.basic_auth->password.value.Reveal(), "hunter2");
  EXPECT_NE(third.name, backup.name);

  EXPECT_EQ(c.FindJob("app"), &c.scrape_configs[0]);
  EXPECT_EQ(c.FindJob("nope"), nullptr);
  EXPECT_EQ(c.FindRemoteWrite("primary"), &c.remote_write[0]);
  EXPECT_TRUE(CheckConfig(path).empty());
}

TEST(Config, DefaultsMatchPrometheus) {
  auto loaded = LoadConfigFile(kTestdata + "/minimal.yml");
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const AgentConfig& c = *loaded;
  EXPECT_EQ(c.global.scrape_interval, minutes(1));
  EXPECT_EQ(c.global.scrape_timeout, seconds(10));
  EXPECT_TRUE(c.global.external_labels.empty());
  EXPECT_EQ(c.global.limits, ScrapeLimits{});
  ASSERT_EQ(c.scrape_configs.size(), 1u);
  const ScrapeConfig& sc = c.scrape_configs[0];
  EXPECT_EQ(sc.metrics_path, "/metrics");
  EXPECT_EQ(sc.scheme, "http");
  EXPECT_FALSE(sc.honor_labels);
  EXPECT_TRUE(sc.honor_timestamps);
  EXPECT_EQ(sc.scrape_interval, minutes(1));
  EXPECT_EQ(sc.scrape_timeout, seconds(10));
  EXPECT_TRUE(sc.params.empty());
  EXPECT_FALSE(sc.basic_auth || sc.authorization);
  ASSERT_EQ(c.remote_write.size(), 1u);
  const RemoteWriteConfig& rw = c.remote_write[0];
  EXPECT_EQ(rw.remote_timeout, seconds(30));
  EXPECT_EQ(rw.queue_config.capacity, 10000u);
  EXPECT_EQ(rw.queue_config.max_samples_per_send, 2000u);
  EXPECT_EQ(rw.queue_config.batch_send_deadline, seconds(5));
  EXPECT_EQ(rw.queue_config.min_backoff, milliseconds(30));
  EXPECT_EQ(rw.queue_config.max_backoff, seconds(5));
  EXPECT_TRUE(rw.queue_config.retry_on_http_429);  // our documented deviation
  EXPECT_FALSE(rw.name.empty());
}

TEST(Config, TimeoutDefaultsToMinOfGlobalTimeoutAndInterval) {
  auto c = MustParse(R"(
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: a
    scrape_interval: 2s
  - job_name: b
  - job_name: c
    scrape_interval: 1m
)");
  EXPECT_EQ(c.global.scrape_timeout, seconds(5));  // min(10s, 5s)
  EXPECT_EQ(c.scrape_configs[0].scrape_timeout, seconds(2));
  EXPECT_EQ(c.scrape_configs[1].scrape_interval, seconds(5));
  EXPECT_EQ(c.scrape_configs[1].scrape_timeout, seconds(5));
  EXPECT_EQ(c.scrape_configs[2].scrape_timeout, seconds(5));  // global timeout
}

TEST(Config, EmptyDocumentsAreValid) {
  EXPECT_EQ(MustParse(""), AgentConfig{});
  EXPECT_EQ(MustParse("# only a comment\n"), AgentConfig{});
  EXPECT_EQ(MustParse("global:\nscrape_configs:\n"), AgentConfig{});
}

TEST(Config, JobLimitZeroInheritsGlobal) {
  auto c = MustParse(R"(
global: {sample_limit: 10}
scrape_configs:
  - job_name: a
    sample_limit: 0
  - job_name: b
    sample_limit: 3
)");
  EXPECT_EQ(c.scrape_configs[0].limits.sample_limit, 10u);
  EXPECT_EQ(c.scrape_configs[1].limits.sample_limit, 3u);
}

struct BadCase {
  std::string name;
  std::string yaml;
  int line;
  std::string key;  // full key path
  std::string message_part;
};

// Each case must produce an error "bad.yml:LINE: KEY: ...MESSAGE_PART...".
TEST(Config, BadConfigsNameLineAndKey) {
  const std::vector<BadCase> cases = {
      {"unknown top-level key", "rule_files: [a.yml]\n", 1, "rule_files", "unsupported key"},
      {"alerting", "global: {}\nalerting: {}\n", 2, "alerting",
       "supported here: global, sidecar, scrape_configs, remote_write"},
      {"remote_read", "remote_read:\n  - url: http://x\n", 1, "remote_read", "unsupported key"},
      {"storage", "storage: {}\n", 1, "storage", "unsupported key"},
      {"unknown global key", "global:\n  evaluation_interval: 1m\n", 2, "global.evaluation_interval",
       "unsupported key"},
      {"service discovery",
       "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: pod\n", 3,
       "scrape_configs[0].kubernetes_sd_configs",
       "unsupported key (promsidecar-agent supports static_configs only)"},
      {"unknown static_config key",
       "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: []\n        tgts: []\n", 5,
       "scrape_configs[0].static_configs[0].tgts", "unsupported key"},
      {"unknown relabel key",
       "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: keep\n        regexp: x\n", 5,
       "scrape_configs[0].relabel_configs[0].regexp", "unsupported key"},
      {"unknown queue key", "remote_write:\n  - url: http://x\n    queue_config:\n      max_shards: 4\n", 4,
       "remote_write[0].queue_config.max_shards", "unsupported key"},
      {"unknown tls key", "remote_write:\n  - url: http://x\n    tls_config:\n      ca: inline\n", 4,
       "remote_write[0].tls_config.ca", "unsupported key"},
      {"scrape oauth2 unsupported",
       "scrape_configs:\n  - job_name: a\n    oauth2: {client_id: x, token_url: http://t}\n", 3,
       "scrape_configs[0].oauth2", "unsupported key"},
      {"global not a map", "global: [1, 2]\n", 1, "global", "must be a map"},
      {"scrape_configs not a list", "scrape_configs:\n  job_name: a\n", 2, "scrape_configs",
       "must be a list"},
      {"targets not a list",
       "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: localhost:80\n", 4,
       "scrape_configs[0].static_configs[0].targets", "must be a list of strings"},
      {"job_name is a map", "scrape_configs:\n  - job_name: {a: b}\n", 2, "scrape_configs[0].job_name",
       "must be a string, got a map"},
      {"bool wrong", "scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n", 3,
       "scrape_configs[0].honor_labels", "must be true or false"},
      {"negative limit", "global:\n  sample_limit: -1\n", 2, "global.sample_limit", "non-negative integer"},
      {"limit as text", "scrape_configs:\n  - job_name: a\n    label_limit: many\n", 3,
       "scrape_configs[0].label_limit", "non-negative integer, got \"many\""},
      {"bad duration", "global:\n  scrape_interval: 1x\n", 2, "global.scrape_interval",
       "invalid duration \"1x\""},
      {"bad job duration", "scrape_configs:\n  - job_name: a\n    scrape_timeout: 5 seconds\n", 3,
       "scrape_configs[0].scrape_timeout", "invalid duration"},
      {"bad size", "global:\n  body_size_limit: 10 apples\n", 2, "global.body_size_limit", ""},
      {"global timeout > interval", "global:\n  scrape_interval: 10s\n  scrape_timeout: 20s\n", 3,
       "global.scrape_timeout", "20s is greater than scrape_interval 10s"},
      {"job timeout > interval",
       "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n", 4,
       "scrape_configs[0].scrape_timeout", "6s is greater than scrape_interval 5s"},
      {"job timeout > global interval",
       "global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: a\n    scrape_timeout: 6s\n", 5,
       "scrape_configs[0].scrape_timeout", "greater than scrape_interval 5s"},
      {"missing job name", "scrape_configs:\n  - static_configs: []\n", 2, "scrape_configs[0].job_name",
       "is required"},
      {"duplicate job names", "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n", 4,
       "scrape_configs[2].job_name", "duplicate job_name \"a\" (also used at line 2"},
      {"bad scheme", "scrape_configs:\n  - job_name: a\n    scheme: ftp\n", 3, "scrape_configs[0].scheme",
       "must be http or https"},
      {"relative metrics path", "scrape_configs:\n  - job_name: a\n    metrics_path: metrics\n", 3,
       "scrape_configs[0].metrics_path", "must be an absolute path"},
      {"params not lists", "scrape_configs:\n  - job_name: a\n    params:\n      module: http_2xx\n", 4,
       "scrape_configs[0].params", "list of values"},
      {"target without port",
       "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets:\n          - localhost:80\n  "
       "        - localhost\n",
       6, "scrape_configs[0].static_configs[0].targets[1]",
       "\"localhost\" is not a valid target (use host:port"},
      {"target with scheme",
       "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"http://localhost:80\"]\n",
       4, "scrape_configs[0].static_configs[0].targets[0]", "no scheme or path"},
      {"target with bad port",
       "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"localhost:99999\"]\n", 4,
       "scrape_configs[0].static_configs[0].targets[0]", "not a valid target"},
      {"bare ipv6 target",
       "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"::1:80\"]\n", 4,
       "scrape_configs[0].static_configs[0].targets[0]", "not a valid target"},
      {"bad static label name",
       "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: []\n        labels:\n        "
       "  ok: x\n          bad-name: y\n",
       7, "scrape_configs[0].static_configs[0].labels", "\"bad-name\" is not a valid label name"},
      {"bad external label name", "global:\n  external_labels:\n    0cluster: x\n", 3,
       "global.external_labels", "\"0cluster\" is not a valid label name"},
      {"external labels not a map", "global:\n  external_labels: [a]\n", 2, "global.external_labels",
       "must be a map of strings"},
      {"bad relabel regex",
       "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - source_labels: [a]\n        "
       "regex: \"(unclosed\"\n        action: keep\n",
       5, "scrape_configs[0].metric_relabel_configs[0].regex", "does not compile as RE2"},
      {"non-RE2 regex",
       "remote_write:\n  - url: http://x\n    write_relabel_configs:\n      - source_labels: [a]\n        "
       "regex: \"(?!x)\"\n        action: drop\n",
       5, "remote_write[0].write_relabel_configs[0].regex", "RE2"},
      {"unknown relabel action",
       "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: rename\n", 4,
       "scrape_configs[0].relabel_configs[0].action",
       "unknown relabel action \"rename\" (one of replace, keep"},
      {"relabel missing target",
       "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n        action: "
       "replace\n",
       4, "scrape_configs[0].relabel_configs[0].target_label", "requires target_label"},
      {"relabel hashmod without modulus",
       "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - target_label: s\n        action: "
       "hashmod\n",
       4, "scrape_configs[0].relabel_configs[0].modulus", "modulus greater than 0"},
      {"relabel bad source label",
       "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [\"a.b\"]\n        "
       "target_label: c\n",
       4, "scrape_configs[0].relabel_configs[0].source_labels", "not a valid label name"},
      {"relabel labeldrop with target",
       "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: labeldrop\n        regex: "
       "x\n        target_label: y\n",
       6, "scrape_configs[0].relabel_configs[0].target_label", "takes only regex"},
      {"null relabel rule", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      -\n", 3,
       "scrape_configs[0].relabel_configs[0]", "empty relabel rule"},
      {"two scrape auths",
       "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    authorization: {credentials: "
       "t}\n",
       4, "scrape_configs[0]", "at most one of basic_auth and authorization"},
      {"missing url", "remote_write:\n  - name: x\n", 2, "remote_write[0].url", "is required"},
      {"bad url scheme", "remote_write:\n  - url: ftp://example.com/write\n", 2, "remote_write[0].url",
       "must be an http:// or https:// URL"},
      {"url without host", "remote_write:\n  - url: http:///write\n", 2, "remote_write[0].url",
       "with a host"},
      {"url not a url", "remote_write:\n  - url: example.com/write\n", 2, "remote_write[0].url", "http://"},
      {"url with spaces", "remote_write:\n  - url: http://exa mple.com/\n", 2, "remote_write[0].url", "URL"},
      {"bad proxy url", "remote_write:\n  - url: http://x\n    proxy_url: socks://p:1\n", 3,
       "remote_write[0].proxy_url", "http:// or https://"},
      {"reserved header",
       "remote_write:\n  - url: http://x\n    headers:\n      X-Custom: ok\n      Content-Encoding: gzip\n",
       5, "remote_write[0].headers.Content-Encoding", "reserved header"},
      {"reserved header any case",
       "remote_write:\n  - url: http://x\n    headers:\n      x-prometheus-remote-write-version: \"2.0\"\n",
       4, "remote_write[0].headers.x-prometheus-remote-write-version", "reserved header"},
      {"user agent header", "remote_write:\n  - url: http://x\n    headers:\n      User-Agent: me\n", 4,
       "remote_write[0].headers.User-Agent", "reserved header"},
      {"content type header", "remote_write:\n  - url: http://x\n    headers:\n      content-type: a\n", 4,
       "remote_write[0].headers.content-type", "reserved"},
      {"authorization header",
       "remote_write:\n  - url: http://x\n    headers:\n      Authorization: Bearer x\n", 4,
       "remote_write[0].headers.Authorization", "basic_auth, authorization or oauth2"},
      {"bad header name", "remote_write:\n  - url: http://x\n    headers:\n      \"X Bad\": v\n", 4,
       "remote_write[0].headers.X Bad", "not a valid HTTP header name"},
      {"two remote auths",
       "remote_write:\n  - url: http://x\n    basic_auth: {username: u, password: p}\n    oauth2: "
       "{client_id: c, token_url: http://t}\n",
       4, "remote_write[0]",
       "at most one of basic_auth, authorization and oauth2 (found basic_auth, oauth2)"},
      {"password and password_file",
       "remote_write:\n  - url: http://x\n    basic_auth:\n      username: u\n      password: p\n      "
       "password_file: /f\n",
       6, "remote_write[0].basic_auth.password_file", "at most one of password and password_file"},
      {"credentials and file",
       "remote_write:\n  - url: http://x\n    authorization:\n      credentials: c\n      credentials_file: "
       "f\n",
       5, "remote_write[0].authorization.credentials_file",
       "at most one of credentials and credentials_file"},
      {"basic authorization type",
       "remote_write:\n  - url: http://x\n    authorization:\n      type: basic\n      credentials: c\n", 4,
       "remote_write[0].authorization.type", "use basic_auth instead"},
      {"oauth2 without client_id",
       "remote_write:\n  - url: http://x\n    oauth2:\n      token_url: http://t\n", 3,
       "remote_write[0].oauth2.client_id", "is required"},
      {"oauth2 bad token url",
       "remote_write:\n  - url: http://x\n    oauth2:\n      client_id: c\n      token_url: t\n", 5,
       "remote_write[0].oauth2.token_url", "http:// or https://"},
      {"oauth2 secret twice",
       "remote_write:\n  - url: http://x\n    oauth2:\n      client_id: c\n      token_url: http://t\n      "
       "client_secret: s\n      client_secret_file: f\n",
       7, "remote_write[0].oauth2.client_secret_file", "at most one"},
      {"bad tls version", "remote_write:\n  - url: http://x\n    tls_config:\n      min_version: TLS1.2\n", 4,
       "remote_write[0].tls_config.min_version", "use TLS10, TLS11, TLS12 or TLS13"},
      {"cert without key", "remote_write:\n  - url: http://x\n    tls_config:\n      cert_file: c.pem\n", 4,
       "remote_write[0].tls_config.key_file", "cert_file needs key_file"},
      {"zero capacity", "remote_write:\n  - url: http://x\n    queue_config:\n      capacity: 0\n", 4,
       "remote_write[0].queue_config.capacity", "greater than 0"},
      {"zero batch", "remote_write:\n  - url: http://x\n    queue_config:\n      max_samples_per_send: 0\n",
       4, "remote_write[0].queue_config.max_samples_per_send", "greater than 0"},
      {"backoff order",
       "remote_write:\n  - url: http://x\n    queue_config:\n      min_backoff: 10s\n      max_backoff: 1s\n",
       5, "remote_write[0].queue_config.max_backoff", "1s is less than min_backoff 10s"},
      {"bad retry bool",
       "remote_write:\n  - url: http://x\n    queue_config:\n      retry_on_http_429: sometimes\n", 4,
       "remote_write[0].queue_config.retry_on_http_429", "true or false"},
      {"duplicate remote names",
       "remote_write:\n  - url: http://a\n    name: x\n  - url: http://b\n    name: x\n", 4,
       "remote_write[1].name", "duplicate remote_write name \"x\""},
      {"identical unnamed remote writes", "remote_write:\n  - url: http://a\n  - url: http://a\n", 3,
       "remote_write[1]", "duplicate remote_write section (same settings as remote_write[0]"},
      {"zero remote timeout", "remote_write:\n  - url: http://a\n    remote_timeout: 0s\n", 3,
       "remote_write[0].remote_timeout", "greater than 0"},
      {"duplicate yaml key", "global:\n  scrape_interval: 1m\n  scrape_interval: 2m\n", 3,
       "global.scrape_interval", "duplicate key"},
      {"top level not a map", "- a\n- b\n", 1, "", "must be a map"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ParseOutcome out = ParseConfig(c.yaml, "bad.yml");
    EXPECT_FALSE(out.config.has_value());
    ASSERT_FALSE(out.errors.empty());
    const std::string prefix =
        "bad.yml:" + std::to_string(c.line) + ": " + (c.key.empty() ? "" : c.key + ": ");
    bool found = false;
    for (const auto& e : out.errors) {
      if (e.rfind(prefix, 0) == 0 && e.find(c.message_part) != std::string::npos) found = true;
    }
    EXPECT_TRUE(found) << "want prefix [" << prefix << "] containing [" << c.message_part << "], got:\n"
                       << JoinErrors(out.errors);
  }
}

TEST(Config, OneErrorPerMalformedItem) {
  ParseOutcome out = ParseConfig(
      "scrape_configs:\n  - just-a-name\nremote_write:\n  - http://a\n  - http://a\n"
      "  - url: http://b\n    write_relabel_configs: [drop]\n",
      "m.yml");
  const std::vector<std::string> want = {
      "m.yml:2: scrape_configs[0]: must be a map of keys, got a scalar",
      "m.yml:4: remote_write[0]: must be a map of keys, got a scalar",
      "m.yml:5: remote_write[1]: must be a map of keys, got a scalar",
      "m.yml:7: remote_write[2].write_relabel_configs[0]: must be a map of keys, got a scalar",
  };
  EXPECT_EQ(out.errors, want);
}

TEST(Config, YamlSyntaxErrorNamesLine) {
  ParseOutcome out = ParseConfig("global:\n  scrape_interval: [1m\nscrape_configs: []\n", "syntax.yml");
  ASSERT_EQ(out.errors.size(), 1u) << JoinErrors(out.errors);
  EXPECT_THAT(out.errors[0], HasSubstr("syntax.yml:"));
  EXPECT_THAT(out.errors[0], HasSubstr("invalid YAML"));
}

TEST(Config, CollectsEveryErrorInFileOrder) {
  const std::string path = kTestdata + "/many_errors.yml";
  std::vector<std::string> errors = CheckConfig(path);
  const std::vector<std::pair<int, std::string>> want = {
      {2, "global.scrape_interval: invalid duration \"1x\""},
      {3, "global.evaluation_interval: unsupported key"},
      {4, "rule_files: unsupported key"},
      {7,
       "scrape_configs[0].kubernetes_sd_configs: unsupported key (promsidecar-agent supports static_configs "
       "only)"},
      {10, "scrape_configs[0].static_configs[0].targets[0]: \"localhost\" is not a valid target"},
      {11, "scrape_configs[1].job_name: duplicate job_name \"a\""},
      {13, "scrape_configs[1].scrape_timeout: 20s is greater than scrape_interval 10s"},
      {15, "remote_write[0].url: must be an http:// or https:// URL"},
      {17, "remote_write[0].headers.Content-Type: is a reserved header"},
  };
  ASSERT_EQ(errors.size(), want.size()) << JoinErrors(errors);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(errors[i].rfind(path + ":" + std::to_string(want[i].first) + ": " + want[i].second, 0), 0u)
        << errors[i];
  }
  auto loaded = LoadConfigFile(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.message(), JoinErrors(errors).substr(0, JoinErrors(errors).size() - 1));
}

TEST(Config, MissingFileIsAnError) {
  auto errors = CheckConfig(kTestdata + "/does-not-exist.yml");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("does-not-exist.yml: cannot read config file"));
  EXPECT_FALSE(LoadConfigFile(kTestdata + "/does-not-exist.yml").ok());
}

TEST(Config, SecretsNeverAppearInErrors) {
  const std::string yaml = R"(
remote_write:
  - url: https://user:urlpassw0rd@-bad host/write
    basic_auth:
      username: u
      password: hunter2-secret
      password_file: /also/set
      extra: 1
    authorization:
      credentials: tok3n-secret
      type: basic
    oauth2:
      client_id: c
      client_secret: 0auth-secret
      client_secret_file: f
      token_url: "ftp://x:t0kenurl-pass@host"
  - url: https://a:b@[::1
    basic_auth:
      password: [list-secret]
  - url: ftp://host/write?api_key=query-secret
)";
  ParseOutcome out = ParseConfig(yaml, "s.yml");
  ASSERT_FALSE(out.errors.empty());
  const std::string all = JoinErrors(out.errors);
  for (const char* secret : {"hunter2-secret", "tok3n-secret", "0auth-secret", "urlpassw0rd", "t0kenurl-pass",
                             "list-secret", "query-secret"}) {
    EXPECT_EQ(all.find(secret), std::string::npos) << secret << " leaked in:\n" << all;
  }
  // The URLs are shown, redacted (http::RedactUrl).
  EXPECT_THAT(all, HasSubstr("\"ftp://<redacted>@host\""));
  EXPECT_THAT(all, HasSubstr("\"ftp://host/write?<redacted>\""));
  std::ostringstream os;
  os << Secret("hunter2");
  EXPECT_EQ(os.str(), "<secret>");
}

TEST(Config, ReadSecretReadsTheFileEachTime) {
  promsidecar::testing::TempDir tmp;
  const std::filesystem::path dir = tmp.path();
  const std::string cfg_path = (dir / "agent.yml").string();
  {
    std::ofstream(cfg_path)
        << "remote_write:\n  - url: http://x\n    authorization:\n      credentials_file: tok\n";
    std::ofstream(dir / "tok") << "  first-token\n";
  }
  auto loaded = LoadConfigFile(cfg_path);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const SecretSource& src = loaded->remote_write[0].authorization->credentials;
  EXPECT_EQ(src.file, (dir / "tok").string());
  auto first = ReadSecret(src);
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_EQ(first->Reveal(), "first-token");
  std::ofstream(dir / "tok") << "second-token";  // rotation
  auto second = ReadSecret(src);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->Reveal(), "second-token");
  std::filesystem::remove(dir / "tok");
  auto missing = ReadSecret(src);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.message(), HasSubstr((dir / "tok").string()));
  EXPECT_EQ(ReadSecret(SecretSource{Secret("inline"), ""})->Reveal(), "inline");
}

TEST(Config, EqualityTellsWhatChanged) {
  const std::string base = R"(
scrape_configs:
  - job_name: a
    static_configs: [{targets: ["localhost:1"]}]
  - job_name: b
    static_configs: [{targets: ["localhost:2"]}]
    metric_relabel_configs:
      - {source_labels: [__name__], regex: "x.*", action: drop}
remote_write:
  - url: http://one/write
  - url: http://two/write
    basic_auth: {username: u, password: p1}
)";
  AgentConfig a = MustParse(base);
  AgentConfig same = MustParse(base);
  EXPECT_EQ(a, same);

  std::string changed = base;
  changed.replace(changed.find("regex: \"x.*\""), 12, "regex: \"y.*\"");
  changed.replace(changed.find("password: p1"), 12, "password: p2");
  AgentConfig b = MustParse(changed);
  EXPECT_FALSE(a == b);
  EXPECT_EQ(*a.FindJob("a"), *b.FindJob("a"));
  EXPECT_FALSE(*a.FindJob("b") == *b.FindJob("b"));
  EXPECT_EQ(a.remote_write[0], b.remote_write[0]);  // an unchanged sender can be kept
  EXPECT_EQ(a.remote_write[0].name, b.remote_write[0].name);
  EXPECT_FALSE(a.remote_write[1] == b.remote_write[1]);  // a changed password is a change
}

TEST(Config, DefaultRemoteWriteNameIsStableAndDistinct) {
  auto a = MustParse("remote_write:\n  - url: http://one/write\n  - url: http://two/write\n");
  auto b = MustParse("# moved\nremote_write:\n  - url: http://two/write\n  - url: http://one/write\n");
  EXPECT_NE(a.remote_write[0].name, a.remote_write[1].name);
  EXPECT_EQ(a.remote_write[0].name, b.remote_write[1].name);
  EXPECT_EQ(a.remote_write[1].name, b.remote_write[0].name);
}

TEST(Config, ReservedHeaders) {
  for (const char* h : {"Content-Encoding", "content-type", "X-Prometheus-Remote-Write-Version", "User-Agent",
                        "Host", "Content-Length"}) {
    EXPECT_TRUE(IsReservedHeader(h)) << h;
  }
  EXPECT_FALSE(IsReservedHeader("X-Scope-OrgID"));
}

}  // namespace
}  // namespace promsidecar::config

namespace promsidecar::config {
namespace {

// Prometheus 3's scrape negotiation and native-histogram settings: the job
// inherits the global ones; without scrape_protocols anywhere the default
// list is the text formats, or protobuf first when the job scrapes native
// histograms.
TEST(Config, ScrapeProtocolsAndNativeHistograms) {
  using textparse::ScrapeProtocol;
  AgentConfig c = MustParse(R"(global:
  scrape_native_histograms: true
  always_scrape_classic_histograms: true
scrape_configs:
  - job_name: inherits
    static_configs: [{targets: ["a:1"]}]
  - job_name: own
    scrape_protocols: [PrometheusText0.0.4, PrometheusProto]
    fallback_scrape_protocol: PrometheusText0.0.4
    scrape_native_histograms: false
    always_scrape_classic_histograms: false
    native_histogram_bucket_limit: 160
    native_histogram_min_bucket_factor: 1.1
    static_configs: [{targets: ["a:1"]}]
)");
  const ScrapeConfig& inherits = c.scrape_configs[0];
  EXPECT_TRUE(inherits.scrape_native_histograms);
  EXPECT_TRUE(inherits.always_scrape_classic_histograms);
  const auto proto_first = textparse::ProtoFirstScrapeProtocols();
  EXPECT_EQ(inherits.scrape_protocols, std::vector<ScrapeProtocol>(proto_first.begin(), proto_first.end()));
  EXPECT_FALSE(inherits.fallback_scrape_protocol.has_value());
  EXPECT_EQ(inherits.native_histogram_bucket_limit, 0u);
  const ScrapeConfig& own = c.scrape_configs[1];
  EXPECT_FALSE(own.scrape_native_histograms);
  EXPECT_FALSE(own.always_scrape_classic_histograms);
  EXPECT_EQ(own.scrape_protocols, (std::vector<ScrapeProtocol>{ScrapeProtocol::kPrometheusText0_0_4,
                                                               ScrapeProtocol::kPrometheusProto}));
  EXPECT_EQ(own.fallback_scrape_protocol, ScrapeProtocol::kPrometheusText0_0_4);
  EXPECT_EQ(own.native_histogram_bucket_limit, 160u);
  EXPECT_DOUBLE_EQ(own.native_histogram_min_bucket_factor, 1.1);

  AgentConfig plain =
      MustParse("scrape_configs:\n  - job_name: x\n    static_configs: [{targets: [\"a:1\"]}]\n");
  const auto text = textparse::DefaultScrapeProtocols();
  EXPECT_EQ(plain.scrape_configs[0].scrape_protocols, std::vector<ScrapeProtocol>(text.begin(), text.end()));
  AgentConfig global = MustParse(
      "global:\n  scrape_protocols: [OpenMetricsText1.0.0]\nscrape_configs:\n  - job_name: x\n"
      "    scrape_native_histograms: true\n    static_configs: [{targets: [\"a:1\"]}]\n");
  EXPECT_EQ(global.scrape_configs[0].scrape_protocols,
            std::vector<ScrapeProtocol>{ScrapeProtocol::kOpenMetricsText1_0_0});
}

TEST(Config, BadScrapeProtocolsNameTheKeyAndTheChoices) {
  struct Case {
    const char* yaml;
    const char* want;
  };
  const Case cases[] = {
      {"scrape_configs:\n  - job_name: x\n    scrape_protocols: [PrometheusText0.0.4, Bogus]\n",
       "test.yml:3: scrape_configs[0].scrape_protocols[1]: unknown scrape protocol \"Bogus\" (one of "
       "PrometheusProto"},
      {"scrape_configs:\n  - job_name: x\n    scrape_protocols: [PrometheusProto, PrometheusProto]\n",
       "scrape_protocols[1]: duplicate protocol \"PrometheusProto\""},
      {"global:\n  scrape_protocols: []\n", "test.yml:2: global.scrape_protocols: must not be empty"},
      {"scrape_configs:\n  - job_name: x\n    fallback_scrape_protocol: OpenMetricsText2.0.0\n",
       "scrape_configs[0].fallback_scrape_protocol: OpenMetricsText2.0.0 is not supported"},
      {"scrape_configs:\n  - job_name: x\n    native_histogram_min_bucket_factor: -1\n",
       "scrape_configs[0].native_histogram_min_bucket_factor: must be a number of at least 0"},
      {"scrape_configs:\n  - job_name: x\n    native_histogram_bucket_limit: lots\n",
       "scrape_configs[0].native_histogram_bucket_limit: must be a non-negative integer"},
      {"scrape_configs:\n  - job_name: x\n    convert_classic_histograms_to_nhcb: true\n",
       "scrape_configs[0].convert_classic_histograms_to_nhcb: unsupported key"},
  };
  for (const auto& c : cases) {
    ParseOutcome out = ParseConfig(c.yaml, "test.yml");
    EXPECT_THAT(JoinErrors(out.errors), HasSubstr(c.want)) << c.yaml;
  }
}

TEST(SidecarSection, ParsesAndRejectsBadValues) {
  auto ok = LoadConfigString(
      "sidecar:\n  min_scrape_interval: 30s\n  legacy_annotations: true\n  self_monitoring: false\n",
      "s.yml");
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->sidecar.min_scrape_interval, std::chrono::seconds(30));
  EXPECT_TRUE(ok->sidecar.legacy_annotations);
  EXPECT_FALSE(ok->sidecar.self_monitoring);
  auto defaults = LoadConfigString("global: {}\n", "d.yml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->sidecar.min_scrape_interval, std::chrono::seconds(10));
  EXPECT_TRUE(defaults->sidecar.self_monitoring);
  auto bad = LoadConfigString("sidecar:\n  min_scrape_interval: 0s\n  unknown_key: 1\n", "b.yml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("b.yml:2: sidecar.min_scrape_interval"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("b.yml:3: sidecar.unknown_key"), std::string::npos) << bad.message();
}

}  // namespace
}  // namespace promsidecar::config
