#include <gtest/gtest.h>
#include <functional>

#include "agent/podinfo/downward.h"
#include "agent/podinfo/scrape_job.h"

namespace promsidecar::podinfo {
namespace {

TEST(DownwardApiFile, ParsesTheKubeletFormat) {
  // As fieldpath.FormatMap writes it: sorted, %q-quoted, no final newline.
  auto got = ParseDownwardApiFile(
      "a=\"plain\"\n"
      "b=\"line1\\nline2 \\\"quoted\\\" back\\\\slash\"\n"
      "c=\"\\x00\\a\\b\\f\\r\\t\\v\"\n"
      "d=\"caf\xc3\xa9 \\u00e9 \\U0001f600\"\n"
      "e=\"\\xff\\xfe\"\n"
      "f=\"\"");
  ASSERT_TRUE(got.ok()) << got.message();
  EXPECT_EQ(got->at("a"), "plain");
  EXPECT_EQ(got->at("b"), "line1\nline2 \"quoted\" back\\slash");
  EXPECT_EQ(got->at("c"), std::string("\0\a\b\f\r\t\v", 7));
  EXPECT_EQ(got->at("d"), "caf\xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(got->at("e"), "\xff\xfe");
  EXPECT_EQ(got->at("f"), "");
  EXPECT_EQ(got->size(), 6u);
}

TEST(DownwardApiFile, EmptyFileIsEmptyMap) {
  auto got = ParseDownwardApiFile("");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
}

TEST(DownwardApiFile, ErrorsNameTheLineNotTheValue) {
  for (const char* bad :
       {"novalue", "k=\"unterminated", "k=\"bad \\q escape\"", "k=\"\\x4\"", "=\"x\"", "k=\"\\ud800\""}) {
    auto got = ParseDownwardApiFile(std::string("ok=\"1\"\n") + bad);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_NE(got.message().find("line 2"), std::string::npos) << got.message();
  }
  auto secret = ParseDownwardApiFile("k=\"s3cr3t \\q\"");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.message().find("s3cr3t"), std::string::npos) << secret.message();
}

TEST(WorkloadName, Table) {
  const std::pair<std::string, std::string> cases[] = {
      {"web-7d4b9c8f6-x2x9k", "web"},
      {"my-app-5b7f8d9c4b-qwxz2", "my-app"},
      {"db-0", "db"},
      {"db-12", "db"},
      {"agent-x2x9k", "agent"},
      {"standalone", "standalone"},
      {"backup-28345678-abcde", "backup-28345678-abcde"},  // 'a','e' are not in the generated alphabet
      {"x-1a", "x-1a"},
      {"-0", "-0"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(WorkloadName(in), want) << in;
}

const PodEnv kPod{"web-7d4b9c8f6-x2x9k", "shop", "uid-1", "10.213.0.5"};

SidecarSettings Defaults() {
  SidecarSettings s;
  s.default_interval = std::chrono::seconds(30);
  s.default_timeout = std::chrono::seconds(10);
  s.limits.sample_limit = 5000;
  return s;
}

std::map<std::string, std::string> A(std::initializer_list<std::pair<const std::string, std::string>> extra) {
  std::map<std::string, std::string> a{{"prometheus.operator.io/scrape", "true"},
                                       {"prometheus.operator.io/port", "8080"}};
  for (const auto& [k, v] : extra) a[k] = v;
  return a;
}

TEST(DeriveScrapeJob, DefaultsAndTargetLabels) {
  auto d = DeriveScrapeJob(A({}), {}, kPod, Defaults());
  ASSERT_TRUE(d.scrape) << d.reason;
  EXPECT_TRUE(d.problems.empty());
  EXPECT_EQ(d.job.job_name, "web");
  EXPECT_EQ(d.job.metrics_path, "/metrics");
  EXPECT_EQ(d.job.scheme, "http");
  EXPECT_EQ(d.job.scrape_interval, std::chrono::seconds(30));
  EXPECT_EQ(d.job.scrape_timeout, std::chrono::seconds(10));
  EXPECT_EQ(d.job.limits.sample_limit, 5000u);
  ASSERT_EQ(d.job.static_configs.size(), 1u);
  EXPECT_EQ(d.job.static_configs[0].targets, std::vector<std::string>{"127.0.0.1:8080"});
  EXPECT_EQ(
      d.job.static_configs[0].labels,
      (model::Labels{{"instance", "web-7d4b9c8f6-x2x9k:8080"}, {"namespace", "shop"}, {"pod", kPod.name}}));
}

TEST(DeriveScrapeJob, NoScrapeWithoutTrue) {
  EXPECT_FALSE(DeriveScrapeJob({}, {}, kPod, Defaults()).scrape);
  auto d = DeriveScrapeJob(A({{"prometheus.operator.io/scrape", "yes"}}), {}, kPod, Defaults());
  EXPECT_FALSE(d.scrape);
  EXPECT_NE(d.reason.find("\"yes\""), std::string::npos);
}

TEST(DeriveScrapeJob, JobLabelPrecedence) {
  EXPECT_EQ(DeriveScrapeJob(A({{"prometheus.operator.io/job", "checkout"}}),
                            {{"app.kubernetes.io/name", "n"}, {"app", "a"}}, kPod, Defaults())
                .job.job_name,
            "checkout");
  EXPECT_EQ(
      DeriveScrapeJob(A({}), {{"app.kubernetes.io/name", "n"}, {"app", "a"}}, kPod, Defaults()).job.job_name,
      "n");
  EXPECT_EQ(DeriveScrapeJob(A({}), {{"app", "a"}}, kPod, Defaults()).job.job_name, "a");
}

TEST(DeriveScrapeJob, SeveralPorts) {
  auto d = DeriveScrapeJob(A({{"prometheus.operator.io/port", "8080, 9090,8080"}}), {}, kPod, Defaults());
  ASSERT_EQ(d.job.static_configs.size(), 2u);
  EXPECT_EQ(d.job.static_configs[1].targets[0], "127.0.0.1:9090");
  EXPECT_EQ(model::Get(d.job.static_configs[1].labels, "instance"), kPod.name + ":9090");
}

// Names resolve through the container-ports annotation the webhook writes;
// an unresolvable name skips that target and says why.
struct NamedPortCase {
  std::string port;
  std::string container_ports;  // empty: annotation absent
  std::vector<std::string> want_targets;
  std::string problem_substr;  // empty: no problem expected
};

TEST(DeriveScrapeJob, NamedPortsTable) {
  const std::string declared = "http=8080,http-metrics=9102,sidecar-admin=15000";
  const NamedPortCase cases[] = {
      {"http-metrics", declared, {"127.0.0.1:9102"}, ""},
      {"http", declared, {"127.0.0.1:8080"}, ""},
      {"sidecar-admin", declared, {"127.0.0.1:15000"}, ""},
      {"8080", declared, {"127.0.0.1:8080"}, ""},
      {"http-metrics,9102,http", declared, {"127.0.0.1:9102", "127.0.0.1:8080"}, ""},
      {"http-metrics,grpc", declared, {"127.0.0.1:9102"}, "\"grpc\" is not a port number nor a port name"},
      {"grpc", declared, {}, "they declare: http http-metrics sidecar-admin"},
      {"http-metrics", "", {}, "declare no named ports"},
      {"http", "http=8080,http=8081", {}, "declare as 8080 and 8081"},
      {"http", "http=8080,http=8080", {"127.0.0.1:8080"}, ""},
  };
  for (const NamedPortCase& c : cases) {
    auto a = A({{"prometheus.operator.io/port", c.port}});
    if (!c.container_ports.empty()) a["prometheus.operator.io/container-ports"] = c.container_ports;
    auto d = DeriveScrapeJob(a, {}, kPod, Defaults());
    std::vector<std::string> targets;
    for (const auto& sc : d.job.static_configs)
      targets.insert(targets.end(), sc.targets.begin(), sc.targets.end());
    EXPECT_EQ(targets, c.want_targets) << c.port;
    EXPECT_EQ(d.scrape, !c.want_targets.empty()) << c.port;
    if (c.problem_substr.empty()) {
      EXPECT_TRUE(d.problems.empty()) << c.port << ": " << d.problems[0].problem;
      continue;
    }
    ASSERT_EQ(d.problems.size(), 1u) << c.port;
    EXPECT_EQ(d.problems[0].annotation, "prometheus.operator.io/port");
    EXPECT_NE(d.problems[0].problem.find(c.problem_substr), std::string::npos) << d.problems[0].problem;
    EXPECT_NE(d.problems[0].problem.find("that target is skipped"), std::string::npos);
    // Nothing left to scrape: the reason says which name did not resolve.
    if (!d.scrape) {
      EXPECT_NE(d.reason.find(c.problem_substr), std::string::npos) << d.reason;
    }
  }
}

struct InvalidCase {
  std::string key;
  std::string value;
  std::string problem_substr;
  std::function<bool(const DerivedJob&)> fallback_ok;
};

TEST(DeriveScrapeJob, InvalidValuesFallBackAndAreReported) {
  const std::string p = "prometheus.operator.io/";
  const InvalidCase cases[] = {
      {p + "port", "0", "not a port", [](const DerivedJob& d) { return !d.scrape; }},
      {p + "port", "70000", "not a port", [](const DerivedJob& d) { return !d.scrape; }},
      {p + "port", "http", "not a port", [](const DerivedJob& d) { return !d.scrape; }},
      {p + "port", "8080,0", "not a port",
       [](const DerivedJob& d) { return d.scrape && d.job.static_configs.size() == 1; }},
      {p + "scrape-interval", "banana", "not a duration",
       [](const DerivedJob& d) { return d.job.scrape_interval == std::chrono::seconds(30); }},
      {p + "scrape-interval", "1s", "below the agent's minScrapeInterval",
       [](const DerivedJob& d) { return d.job.scrape_interval == std::chrono::seconds(10); }},
      {p + "scrape-timeout", "2m", "longer than the scrape interval",
       [](const DerivedJob& d) { return d.job.scrape_timeout == std::chrono::seconds(10); }},
      {p + "scrape-timeout", "soon", "not a duration",
       [](const DerivedJob& d) { return d.job.scrape_timeout == std::chrono::seconds(10); }},
      {p + "path", "metrics", "not an absolute path",
       [](const DerivedJob& d) { return d.job.metrics_path == "/metrics"; }},
      {p + "scheme", "ftp", "not http or https", [](const DerivedJob& d) { return d.job.scheme == "http"; }},
      {p + "insecure-skip-verify", "maybe", "not true or false",
       [](const DerivedJob& d) { return !d.job.tls_config.insecure_skip_verify; }},
      {p + "sample-limit", "10000", "above the agent's sampleLimit",
       [](const DerivedJob& d) { return d.job.limits.sample_limit == 5000; }},
      {p + "sample-limit", "lots", "not a positive number",
       [](const DerivedJob& d) { return d.job.limits.sample_limit == 5000; }},
      {p + "params", "a=%zz", "not a URL-encoded query",
       [](const DerivedJob& d) { return d.job.params.empty(); }},
      {p + "scrape-host", "example.com", "not localhost or pod-ip",
       [](const DerivedJob& d) { return d.job.static_configs[0].targets[0] == "127.0.0.1:8080"; }},
  };
  for (const auto& c : cases) {
    auto d = DeriveScrapeJob(A({{c.key, c.value}}), {}, kPod, Defaults());
    ASSERT_FALSE(d.problems.empty()) << c.key << "=" << c.value;
    EXPECT_EQ(d.problems[0].annotation, c.key);
    EXPECT_NE(d.problems[0].problem.find(c.problem_substr), std::string::npos) << d.problems[0].problem;
    EXPECT_TRUE(c.fallback_ok(d)) << c.key << "=" << c.value;
  }
}

TEST(DeriveScrapeJob, ValidOptionalSettings) {
  const std::string p = "prometheus.operator.io/";
  auto d = DeriveScrapeJob(A({{p + "path", "/stats"},
                              {p + "scrape-interval", "15s"},
                              {p + "scrape-timeout", "5s"},
                              {p + "scheme", "https"},
                              {p + "insecure-skip-verify", "true"},
                              {p + "params", "module=http_2xx&x=a+b"},
                              {p + "sample-limit", "100"},
                              {p + "scrape-host", "pod-ip"}}),
                           {}, kPod, Defaults());
  ASSERT_TRUE(d.scrape);
  EXPECT_TRUE(d.problems.empty()) << d.problems[0].problem;
  EXPECT_EQ(d.job.metrics_path, "/stats");
  EXPECT_EQ(d.job.scrape_interval, std::chrono::seconds(15));
  EXPECT_EQ(d.job.scrape_timeout, std::chrono::seconds(5));
  EXPECT_EQ(d.job.scheme, "https");
  EXPECT_TRUE(d.job.tls_config.insecure_skip_verify);
  EXPECT_EQ(d.job.params.at("x"), std::vector<std::string>{"a b"});
  EXPECT_EQ(d.job.limits.sample_limit, 100u);
  EXPECT_EQ(d.job.static_configs[0].targets[0], "10.213.0.5:8080");
}

TEST(DeriveScrapeJob, LegacyAnnotationsOnlyWhenEnabledAndOursWin) {
  std::map<std::string, std::string> legacy{
      {"prometheus.io/scrape", "true"}, {"prometheus.io/port", "9100"}, {"prometheus.io/path", "/m"}};
  EXPECT_FALSE(DeriveScrapeJob(legacy, {}, kPod, Defaults()).scrape);
  auto s = Defaults();
  s.legacy_annotations = true;
  auto d = DeriveScrapeJob(legacy, {}, kPod, s);
  ASSERT_TRUE(d.scrape);
  EXPECT_EQ(d.job.static_configs[0].targets[0], "127.0.0.1:9100");
  EXPECT_EQ(d.job.metrics_path, "/m");
  legacy["prometheus.operator.io/port"] = "8080";
  EXPECT_EQ(DeriveScrapeJob(legacy, {}, kPod, s).job.static_configs[0].targets[0], "127.0.0.1:8080");
}

TEST(DeriveScrapeJob, NeverEchoesOtherAnnotations) {
  auto a = A({{"kubectl.kubernetes.io/last-applied-configuration", "{\"secret\":\"hunter2\"}"},
              {"prometheus.operator.io/port", "bad"}});
  auto d = DeriveScrapeJob(a, {}, kPod, Defaults());
  for (const auto& p : d.problems) EXPECT_EQ(p.problem.find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace promsidecar::podinfo
