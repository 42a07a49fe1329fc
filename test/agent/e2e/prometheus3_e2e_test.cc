// The agent against a real Prometheus 3 (built from the Go module proxy by
// scripts/build-prometheus3; the test builds it the first time and fails if
// it cannot) as remote-write 2.0 receiver: native histograms, exemplars and
// metadata scraped from a protobuf target, held in the WAL across a kill -9
// while Prometheus is not up yet, arrive and are queryable — histogram_quantile
// over the native histogram, the exemplars API, and the metadata as
// Prometheus 3 keeps remote-written metadata (type and unit as __type__ and
// __unit__ labels with type-and-unit-labels; its /api/v1/metadata serves only
// what it scrapes itself). Waits poll with generous deadlines.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "agent_process.h"
#include "native_page.h"
#include "rw_receiver.h"
#include "testing/prometheus.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

using std::chrono::seconds;

double NowS() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t NowMs() {
  return static_cast<int64_t>(NowS() * 1000);
}

std::string Prometheus3() {
  auto built = RunCommand({std::string(PROMSIDECAR_SOURCE_DIR) + "/scripts/build-prometheus3", "prometheus"},
                          "", std::chrono::minutes(45));
  if (built.exit_code != 0) return "";
  std::string out = built.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
}

double Scalar(const nlohmann::json& result) {
  if (result.size() != 1) return NAN;
  return std::stod(result[0]["value"][1].get<std::string>());
}

TEST(Prometheus3E2E, NativeHistogramsExemplarsMetadataSurviveKill9AndAreQueryable) {
  const std::string binary = Prometheus3();
  ASSERT_FALSE(binary.empty()) << "scripts/build-prometheus3 prometheus failed";
  auto version = RunCommand({binary, "--version"});
  ASSERT_NE(version.output.find("version 3."), std::string::npos) << version.output;

  TempDir dir;
  ProtoTarget target([](uint64_t n) { return NativePage(n, NowMs()); });
  const int prom_port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(prom_port) + "/api/v1/write";
  const std::string config =
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  scrape_native_histograms: true\n"
      "scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [\"" +
      target.Address() + "\"]\nremote_write:\n  - url: " + url +
      "\n    protobuf_message: io.prometheus.write.v2.Request\n    send_exemplars: true\n"
      "    send_native_histograms: true\n"
      "    queue_config: {batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 500ms}\n";

  // Scrape while the receiver is down: everything stays in the WAL; then kill -9.
  AgentProcess agent(dir.path(), config);
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return target.scrapes() >= 5; })) << agent.Log();
  agent.process().Signal(SIGKILL);
  ASSERT_TRUE(agent.process().Wait(seconds(10)).has_value());
  const double killed_at = NowS();
  const uint64_t scraped_before_kill = target.scrapes();

  PrometheusOptions po;
  po.binary = binary;
  po.port = prom_port;
  po.extra_args = {"--enable-feature=exemplar-storage,type-and-unit-labels,metadata-wal-records",
                   "--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest",
                   "--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request"};
  PrometheusServer prom(po);
  agent.Start();  // the same WAL directory

  // Histograms scraped before the kill arrive: raw samples at the kill time.
  nlohmann::json raw;
  ASSERT_TRUE(PollUntil(seconds(90),
                        [&] {
                          raw = prom.RawSamples("rpc_duration_seconds", 600, killed_at);
                          return raw.size() == 1 && raw[0].contains("histograms") &&
                                 raw[0]["histograms"].size() >= 3;
                        }))
      << raw.dump() << "\nagent:\n"
      << agent.Log() << "\nprometheus:\n"
      << prom.Log();
  EXPECT_GE(scraped_before_kill, 5u);
  // And later ones keep coming.
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    auto now = prom.RawSamples("rpc_duration_seconds", 600, 0);
    return now.size() == 1 && now[0]["histograms"].size() > raw[0]["histograms"].size();
  }));

  // histogram_quantile over the native histogram: 2/3 of the observations are
  // 1.0 (bucket (2^-1/8, 1]), 1/3 are 4.0 (bucket (2^15/8, 4]).
  const double p50 = Scalar(prom.Query("histogram_quantile(0.5, rpc_duration_seconds)"));
  EXPECT_GT(p50, 0.9);
  EXPECT_LE(p50, 1.0);
  const double p90 = Scalar(prom.Query("histogram_quantile(0.9, rpc_duration_seconds)"));
  EXPECT_GT(p90, 3.6);
  EXPECT_LE(p90, 4.0);
  const double count = Scalar(prom.Query("histogram_count(rpc_duration_seconds)"));
  EXPECT_EQ(std::fmod(count, 3), 0) << count;
  EXPECT_GT(count, 0);

  // Exemplars API: the counter's and the native histogram's.
  const std::string range =
      "&start=" + std::to_string(killed_at - 600) + "&end=" + std::to_string(NowS() + 60);
  for (const char* metric : {"jobs_total", "rpc_duration_seconds"}) {
    nlohmann::json ex;
    ASSERT_TRUE(PollUntil(seconds(60),
                          [&] {
                            ex = prom.Api(
                                "/api/v1/query_exemplars?query=" + PrometheusServer::Encode(metric) + range);
                            return ex.is_array() && !ex.empty() && !ex[0]["exemplars"].empty();
                          }))
        << metric << ": " << ex.dump();
    const auto& e = ex[0]["exemplars"][0];
    EXPECT_TRUE(e["labels"].contains("trace_id")) << e.dump();
  }

  // Metadata: type and unit as labels of the stored series (type-and-unit-labels).
  nlohmann::json series;
  ASSERT_TRUE(PollUntil(seconds(30), [&] {
    series = prom.Api("/api/v1/series?match[]=" + PrometheusServer::Encode("temperature_celsius"));
    return series.is_array() && !series.empty();
  }));
  bool typed = false;
  for (const auto& s : series) {
    typed = typed || (s.value("__type__", "") == "gauge" && s.value("__unit__", "") == "celsius");
  }
  EXPECT_TRUE(typed) << series.dump();
  auto hist_series = prom.Api("/api/v1/series?match[]=" + PrometheusServer::Encode("rpc_duration_seconds"));
  ASSERT_FALSE(hist_series.empty());
  EXPECT_EQ(hist_series[0].value("__type__", ""), "histogram") << hist_series.dump();

  // 2.0 all along: Prometheus 3 answered with the Written headers, no fallback.
  const std::string metrics = HttpGetBody(agent.MetricsUrl());
  const auto at = metrics.find("promsidecar_agent_remote_message_version{");
  ASSERT_NE(at, std::string::npos) << metrics;
  const auto line = metrics.substr(at, metrics.find('\n', at) - at);
  EXPECT_EQ(line.back(), '2') << line;
  EXPECT_EQ(agent.Log().find("remote write 2.0 is not accepted"), std::string::npos) << agent.Log();
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0) << agent.Log();
}

}  // namespace
}  // namespace promsidecar::testing
