// The agent end to end: the real binary scrapes a local target and writes to a
// real Prometheus (Debian's, --web.enable-remote-write-receiver) and to a
// counting receiver that sees every sample. Waits poll with generous
// deadlines; nothing asserts on timing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <thread>

#include "agent_process.h"
#include "common/http/client.h"
#include "testing/prometheus.h"
#include "testing/receiver.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

using std::chrono::seconds;

std::string Config(const std::string& target, const std::vector<std::string>& urls,
                   const std::string& extra_job = "") {
  std::string c = R"(global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  external_labels: {cluster: test-1}
scrape_configs:
  - job_name: app
    static_configs:
      - targets: [")" +
                  target + R"("]
        labels: {team: blue}
)" + extra_job + "remote_write:\n";
  for (const auto& u : urls) {
    c += "  - url: " + u +
         "\n    queue_config: {batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 1s}\n";
  }
  return c;
}

std::string Get(const std::string& url) {
  http::Client c;
  http::Request r;
  r.url = url;
  r.timeout = seconds(5);
  auto resp = c.Do(r);
  return resp.ok() ? std::to_string(resp->status) + " " + resp->body : "error: " + resp.message();
}

// The values a receiver got for test_scrapes_total, in arrival order.
std::vector<double> Values(const std::vector<ReceivedSample>& samples) {
  std::vector<double> v;
  for (const auto& s : samples) {
    if (!std::isnan(s.value)) v.push_back(s.value);
  }
  return v;
}

// Values must be exactly first..last, each once, in order.
::testing::AssertionResult Contiguous(const std::vector<double>& v) {
  if (v.empty()) return ::testing::AssertionFailure() << "no samples";
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] != v[i - 1] + 1) {
      return ::testing::AssertionFailure()
             << "after " << v[i - 1] << " came " << v[i] << " (index " << i << " of " << v.size() << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

class AgentE2E : public ::testing::Test {
 protected:
  TempDir dir_;
  MetricsTarget target_;
};

TEST_F(AgentE2E, SeriesArriveInPrometheusWithTargetExternalAndSyntheticLabels) {
  PrometheusServer prom;
  AgentProcess agent(dir_.path(), Config(target_.Address(), {prom.RemoteWriteUrl()}));
  target_.SetPage([](uint64_t n) {
    return "# TYPE test_scrapes_total counter\ntest_scrapes_total " + std::to_string(n) +
           "\nvanishing{kind=\"x\"} 1\n";
  });
  nlohmann::json result;
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    result = prom.Query("test_scrapes_total");
    return result.size() == 1;
  })) << agent.Log();
  const auto& m = result[0]["metric"];
  EXPECT_EQ(m["job"], "app");
  EXPECT_EQ(m["instance"], target_.Address());
  EXPECT_EQ(m["team"], "blue");
  EXPECT_EQ(m["cluster"], "test-1");
  for (const char* synthetic : {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                                "scrape_samples_post_metric_relabeling", "scrape_series_added"}) {
    ASSERT_TRUE(PollUntil(seconds(30), [&] { return prom.Query(synthetic).size() == 1; })) << synthetic;
    auto r = prom.Query(synthetic);
    EXPECT_EQ(r[0]["metric"]["job"], "app") << synthetic;
    EXPECT_EQ(r[0]["metric"]["cluster"], "test-1") << synthetic;
  }
  EXPECT_EQ(prom.Query("up")[0]["value"][1], "1");

  // A series that disappears gets a stale marker: Prometheus stops returning it
  // right after (without the marker it would for 5 minutes).
  ASSERT_TRUE(PollUntil(seconds(30), [&] { return prom.Query("vanishing").size() == 1; }));
  target_.SetPage([](uint64_t n) { return "test_scrapes_total " + std::to_string(n) + "\n"; });
  EXPECT_TRUE(PollUntil(seconds(30), [&] { return prom.Query("vanishing").empty(); }))
      << "vanishing is still returned: no stale marker";
  EXPECT_EQ(prom.Query("test_scrapes_total").size(), 1u);

  // The agent's own endpoints.
  EXPECT_EQ(Get("http://127.0.0.1:" + std::to_string(agent.port()) + "/-/healthy").substr(0, 3), "200");
  EXPECT_EQ(Get("http://127.0.0.1:" + std::to_string(agent.port()) + "/-/ready").substr(0, 3), "200");
  std::string metrics = Get("http://127.0.0.1:" + std::to_string(agent.port()) + "/metrics");
  EXPECT_NE(metrics.find("promsidecar_agent_remote_samples_sent_total{"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("promsidecar_agent_target_up{job=\"app\""), std::string::npos);
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0) << agent.Log();
}

TEST_F(AgentE2E, ReceiverDownTwentySecondsLosesNothingAndDuplicatesNothing) {
  PrometheusServer prom;
  CountingReceiver counting;
  AgentProcess agent(dir_.path(), Config(target_.Address(), {prom.RemoteWriteUrl(), counting.Url()}));
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(counting.SamplesOf("test_scrapes_total")).size() >= 3;
  })) << agent.Log();
  const int outage_s = std::getenv("PROMSIDECAR_LONG") ? 120 : 20;
  double before = Values(counting.SamplesOf("test_scrapes_total")).back();
  prom.Stop();
  counting.Down();
  uint64_t scrapes_at_start = target_.scrapes();
  std::this_thread::sleep_for(seconds(outage_s));  // the outage itself, not a wait for a result
  ASSERT_GE(target_.scrapes() - scrapes_at_start, static_cast<uint64_t>(outage_s / 2))
      << "agent did not scrape";
  prom.Restart();
  counting.Up();
  uint64_t last = target_.scrapes();
  ASSERT_TRUE(PollUntil(seconds(90), [&] {
    auto v = Values(counting.SamplesOf("test_scrapes_total"));
    return !v.empty() && v.back() >= static_cast<double>(last);
  })) << agent.Log();
  auto v = Values(counting.SamplesOf("test_scrapes_total"));
  EXPECT_TRUE(Contiguous(v)) << "counting receiver";
  EXPECT_GT(v.back(), before + outage_s / 2);
  EXPECT_TRUE(counting.ProtocolErrors().empty()) << counting.ProtocolErrors()[0];

  // Prometheus has every scrape of the outage too, in order.
  nlohmann::json raw;
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    raw = prom.RawSamples("test_scrapes_total", outage_s + 120, 0);
    return raw.size() == 1 &&
           std::stod(raw[0]["values"].back()[1].get<std::string>()) >= static_cast<double>(last);
  })) << raw.dump();
  std::vector<double> pv;
  for (const auto& p : raw[0]["values"]) pv.push_back(std::stod(p[1].get<std::string>()));
  EXPECT_TRUE(Contiguous(pv)) << "Prometheus";
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0);
}

TEST_F(AgentE2E, KilledDuringOutageThenRestartedLosesNothing) {
  CountingReceiver counting;
  AgentProcess agent(dir_.path(), Config(target_.Address(), {counting.Url()}));
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(counting.SamplesOf("test_scrapes_total")).size() >= 3;
  })) << agent.Log();
  counting.Down();
  uint64_t start = target_.scrapes();
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return target_.scrapes() >= start + 8; }));
  agent.process().Signal(SIGKILL);
  ASSERT_TRUE(agent.process().Wait(seconds(10)).has_value());
  uint64_t scraped_before_kill = target_.scrapes();
  agent.Start();  // same WAL directory
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return target_.scrapes() >= scraped_before_kill + 3; }))
      << agent.Log();
  counting.Up();
  uint64_t last = target_.scrapes();
  ASSERT_TRUE(PollUntil(seconds(90), [&] {
    auto v = Values(counting.SamplesOf("test_scrapes_total"));
    return !v.empty() && v.back() >= static_cast<double>(last);
  })) << agent.Log();
  auto v = Values(counting.SamplesOf("test_scrapes_total"));
  EXPECT_TRUE(Contiguous(v));
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0);
}

TEST_F(AgentE2E, BadRequestDropsRetryableRetriesAndADeadEndpointDoesNotHoldBackAnother) {
  CountingReceiver healthy, flaky;
  const std::string dead = "http://127.0.0.1:" + std::to_string(FreePort()) + "/api/v1/write";
  flaky.SetStatus(500);
  AgentProcess agent(dir_.path(), Config(target_.Address(), {dead, flaky.Url(), healthy.Url()}));
  // The healthy endpoint receives while the other two fail.
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(healthy.SamplesOf("test_scrapes_total")).size() >= 5;
  })) << agent.Log();
  EXPECT_TRUE(Values(flaky.SamplesOf("test_scrapes_total")).empty());
  size_t attempts = flaky.requests();
  ASSERT_TRUE(PollUntil(seconds(30), [&] { return flaky.requests() > attempts + 2; }))
      << "500 is not retried";
  // 500 → retried until it works: everything arrives, in order.
  flaky.SetStatus(200);
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    auto v = Values(flaky.SamplesOf("test_scrapes_total"));
    return !v.empty() && v.front() == 1 && v.size() >= 5;
  })) << agent.Log();
  EXPECT_TRUE(Contiguous(Values(flaky.SamplesOf("test_scrapes_total"))));
  // 400 → that batch is dropped (counted), later ones go through.
  flaky.SetStatus(400);
  size_t req400 = flaky.requests();
  ASSERT_TRUE(PollUntil(seconds(30), [&] { return flaky.requests() >= req400 + 2; }));
  std::string metrics = Get("http://127.0.0.1:" + std::to_string(agent.port()) + "/metrics");
  EXPECT_NE(metrics.find("promsidecar_agent_remote_samples_failed_total{remote_name="), std::string::npos);
  flaky.SetStatus(200);
  size_t got = Values(flaky.SamplesOf("test_scrapes_total")).size();
  ASSERT_TRUE(
      PollUntil(seconds(30), [&] { return Values(flaky.SamplesOf("test_scrapes_total")).size() > got + 2; }));
  auto v = Values(flaky.SamplesOf("test_scrapes_total"));
  EXPECT_FALSE(Contiguous(v)) << "the 400 batches should be missing";
  // The healthy endpoint never missed anything.
  EXPECT_TRUE(Contiguous(Values(healthy.SamplesOf("test_scrapes_total"))));
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0);
}

bool IsStaleMarker(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits == 0x7ff0000000000002ULL;
}

// Like Prometheus: stopping the process writes no staleness markers (a
// restart resumes the series), while a target that goes away gets them.
TEST_F(AgentE2E, ShutdownFlushesWithoutStaleMarkersAndARemovedTargetGetsThem) {
  CountingReceiver counting;
  MetricsTarget other;
  other.SetPage([](uint64_t n) { return "other_scrapes_total " + std::to_string(n) + "\n"; });
  const std::string other_job =
      "  - job_name: other\n    static_configs:\n      - targets: [\"" + other.Address() + "\"]\n";
  AgentProcess agent(dir_.path(), Config(target_.Address(), {counting.Url()}, other_job));
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(counting.SamplesOf("test_scrapes_total")).size() >= 2 &&
           Values(counting.SamplesOf("other_scrapes_total")).size() >= 2;
  })) << agent.Log();
  // The job removed by a reload: its series and its `up` end with a marker.
  agent.Rewrite(Config(target_.Address(), {counting.Url()}));
  agent.process().Signal(SIGHUP);
  ASSERT_TRUE(PollUntil(seconds(30),
                        [&] {
                          auto s = counting.SamplesOf("other_scrapes_total");
                          return !s.empty() && IsStaleMarker(s.back().value);
                        }))
      << "no stale marker for the removed target: " << agent.Log();
  bool up_marked = false;
  for (const auto& [key, samples] : counting.Series()) {
    if (key.find("__name__=\"up\"") != std::string::npos && key.find("job=\"other\"") != std::string::npos)
      up_marked = !samples.empty() && IsStaleMarker(samples.back().value);
  }
  EXPECT_TRUE(up_marked) << "up of the removed target has no stale marker";

  EXPECT_EQ(agent.process().Stop(seconds(20)), 0) << agent.Log();
  uint64_t last = target_.scrapes();
  auto samples = counting.SamplesOf("test_scrapes_total");
  ASSERT_FALSE(samples.empty());
  EXPECT_EQ(samples.back().value, static_cast<double>(last))
      << "the last scrape was not flushed, or was marked";
  for (const auto& [key, series] : counting.Series()) {
    if (key.find("job=\"app\"") == std::string::npos) continue;
    for (const auto& s : series) EXPECT_FALSE(IsStaleMarker(s.value)) << "stale marker at shutdown: " << key;
  }
  EXPECT_NE(agent.Log().find("staleness markers not written"), std::string::npos) << agent.Log();
}

TEST_F(AgentE2E, InvalidConfigIsRefusedAndReloadKeepsTheRunningOne) {
  TempDir bad;
  WriteFile(bad.Join("c.yml"), "scrape_configs:\n  - job_name: x\n    kubernetes_sd_configs: []\n");
  auto check = RunCommand({AgentBinary(), "check", "config", bad.Join("c.yml")});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_NE(check.output.find("c.yml:3"), std::string::npos) << check.output;
  EXPECT_NE(check.output.find("kubernetes_sd_configs"), std::string::npos) << check.output;
  auto run = RunCommand({AgentBinary(), "--config.file=" + bad.Join("c.yml"), "--wal.dir=" + bad.Join("wal"),
                         "--web.listen-address=127.0.0.1:0"});
  EXPECT_EQ(run.exit_code, 1) << run.output;

  CountingReceiver counting;
  AgentProcess agent(dir_.path(), Config(target_.Address(), {counting.Url()}), {"--web.enable-lifecycle"});
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return !counting.SamplesOf("test_scrapes_total").empty(); }));
  agent.Rewrite("global: {scrape_interval: banana}\n");
  agent.process().Signal(SIGHUP);
  ASSERT_TRUE(PollUntil(seconds(30), [&] {
    return Get("http://127.0.0.1:" + std::to_string(agent.port()) + "/metrics")
               .find("promsidecar_agent_config_last_reload_successful 0") != std::string::npos;
  })) << agent.Log();
  size_t n = counting.SamplesOf("test_scrapes_total").size();
  EXPECT_TRUE(PollUntil(seconds(30), [&] { return counting.SamplesOf("test_scrapes_total").size() > n + 2; }))
      << "the old config stopped working";
  // POST /-/reload with a valid config.
  agent.Rewrite(Config(target_.Address(), {counting.Url()}));
  http::Client c;
  http::Request r;
  r.method = "POST";
  r.url = "http://127.0.0.1:" + std::to_string(agent.port()) + "/-/reload";
  auto resp = c.Do(r);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 200) << resp->body;
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0);
}

// Credentials in URLs (remote-write userinfo and ?api_key=, a scrape job's
// params) reach neither the log, at debug level, nor /metrics: the agent names
// every URL through http::RedactUrl, failing endpoints included.
TEST_F(AgentE2E, UrlCredentialsReachNeitherTheLogNorMetrics) {
  CountingReceiver live;
  const std::string live_url = live.Url();  // http://127.0.0.1:port/api/v1/write
  const std::string with_secrets = "http://user:pw-secret@" + live_url.substr(7) + "?api_key=query-secret";
  const std::string dead =
      "http://user:pw-secret@127.0.0.1:" + std::to_string(FreePort()) + "/api/v1/write?api_key=query-secret";
  const std::string dead_job =
      "  - job_name: gone\n    params: {token: [scrape-secret]}\n"
      "    static_configs:\n      - targets: [\"127.0.0.1:" +
      std::to_string(FreePort()) + "\"]\n";
  AgentProcess agent(dir_.path(), Config(target_.Address(), {with_secrets, dead}, dead_job));
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(live.SamplesOf("test_scrapes_total")).size() >= 3;
  })) << agent.Log();
  // The failures are logged with the URLs, redacted.
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    const std::string log = agent.Log();
    return log.find("remote write request failed") != std::string::npos &&
           log.find("scrape failed") != std::string::npos;
  })) << agent.Log();
  const std::string redacted_live = "http://<redacted>@" + live_url.substr(7) + "?<redacted>";
  std::string metrics = Get("http://127.0.0.1:" + std::to_string(agent.port()) + "/metrics");
  EXPECT_NE(metrics.find("url=\"" + redacted_live + "\""), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("secret"), std::string::npos) << metrics;
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0);
  const std::string log = agent.Log();
  EXPECT_NE(log.find(redacted_live), std::string::npos) << log;
  EXPECT_NE(log.find("/metrics?<redacted>"), std::string::npos) << log;  // the scrape URL
  EXPECT_EQ(log.find("secret"), std::string::npos) << log;
}

TEST_F(AgentE2E, PortInUseDoesNotStopScrapingAndTheBindIsRetried) {
  // Hold the port the agent wants.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);

  CountingReceiver counting;
  WriteFile(dir_.Join("config.yml"), Config(target_.Address(), {counting.Url()}));
  ProcessOptions p;
  p.argv = {AgentBinary(), "--config.file=" + dir_.Join("config.yml"), "--wal.dir=" + dir_.Join("wal"),
            "--web.listen-address=127.0.0.1:" + std::to_string(port)};
  p.log_file = dir_.Join("agent.log");
  Subprocess agent(p);
  EXPECT_TRUE(
      PollUntil(seconds(60), [&] { return Values(counting.SamplesOf("test_scrapes_total")).size() >= 3; }))
      << "a port clash stopped scraping: " << ReadFile(dir_.Join("agent.log"));
  EXPECT_NE(ReadFile(dir_.Join("agent.log")).find("cannot listen"), std::string::npos);
  close(fd);
  EXPECT_TRUE(PollUntil(
      seconds(60),
      [&] { return Get("http://127.0.0.1:" + std::to_string(port) + "/-/healthy").substr(0, 3) == "200"; }))
      << "the bind was not retried: " << ReadFile(dir_.Join("agent.log"));
  std::string metrics = Get("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  EXPECT_EQ(metrics.find("promsidecar_agent_web_bind_failures_total 0"), std::string::npos) << metrics;
  EXPECT_EQ(agent.Stop(seconds(20)), 0);
}

TEST(AgentCheckMetrics, ReportsLineAndExitsOneOnParseErrors) {
  auto good = RunCommand({AgentBinary(), "check", "metrics"}, "# TYPE a counter\na_total 1\n");
  EXPECT_EQ(good.exit_code, 0) << good.output;
  auto bad = RunCommand({AgentBinary(), "check", "metrics"}, "a 1\nb{x=} 2\n");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("line 2"), std::string::npos) << bad.output;
  auto om = RunCommand({AgentBinary(), "check", "metrics", "--format=openmetrics"}, "a_total 1\n");
  EXPECT_EQ(om.exit_code, 1) << "OpenMetrics without # EOF must not parse: " << om.output;
}

}  // namespace
}  // namespace promsidecar::testing
