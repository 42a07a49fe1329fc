// Remote write 2.0 and the new data kinds end to end: the real agent scrapes
// a protobuf target (native histogram, exemplars, metadata) and sends to a
// receiver that speaks 1.0 and 2.0, or refuses 2.0. Waits poll with generous
// deadlines; nothing asserts on timing.
#include <gtest/gtest.h>

#include <chrono>

#include "agent_process.h"
#include "native_page.h"
#include "rw_receiver.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

using std::chrono::seconds;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Config(const std::string& target, const std::string& url, const std::string& rw_extra) {
  return "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: app\n"
         "    scrape_native_histograms: true\n    static_configs:\n      - targets: [\"" +
         target + "\"]\nremote_write:\n  - url: " + url +
         "\n    queue_config: {batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 1s}\n" + rw_extra;
}

const std::map<std::string, std::string> kRpc{{"__name__", "rpc_duration_seconds"}, {"job", "app"}};
const std::map<std::string, std::string> kJobs{{"__name__", "jobs_total"}, {"job", "app"}};

size_t HistogramsOf(RwReceiver& rx) {
  size_t n = 0;
  for (const auto& s : rx.Series(kRpc)) n += s.histograms.size();
  return n;
}

std::string Metrics(AgentProcess& agent) {
  return HttpGetBody(agent.MetricsUrl());
}

TEST(RemoteWrite2E2E, NativeHistogramsExemplarsAndMetadataArriveAsV2) {
  TempDir dir;
  RwReceiver rx;
  ProtoTarget target([](uint64_t n) { return NativePage(n, NowMs()); });
  AgentProcess agent(dir.path(), Config(target.Address(), rx.Url(),
                                        "    protobuf_message: io.prometheus.write.v2.Request\n"
                                        "    send_exemplars: true\n    send_native_histograms: true\n"));
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return HistogramsOf(rx) >= 3; })) << agent.Log();
  // The scrape asked for the protobuf format first (scrape_native_histograms).
  EXPECT_EQ(
      target.last_accept().rfind(
          "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7",
          0),
      0u)
      << target.last_accept();
  auto requests = rx.Requests();
  ASSERT_FALSE(requests.empty());
  for (const auto& r : requests) {
    EXPECT_TRUE(r.v2) << r.content_type;
    EXPECT_EQ(r.content_type, "application/x-protobuf;proto=io.prometheus.write.v2.Request");
    EXPECT_EQ(r.version, "2.0.0");
    EXPECT_EQ(r.encoding, "snappy");
    EXPECT_EQ(r.error, "");
    ASSERT_FALSE(r.symbols.empty());
    EXPECT_EQ(r.symbols[0], "");
  }
  // The histogram as exposed: 3n observations, buckets 0 and 16 of schema 3.
  bool found = false;
  for (const auto& s : rx.Series(kRpc)) {
    for (const auto& hs : s.histograms) {
      const auto& h = hs.histogram;
      EXPECT_FALSE(h.is_float);
      EXPECT_EQ(h.schema, 3);
      ASSERT_EQ(h.positive_spans.size(), 2u);
      EXPECT_EQ(h.positive_spans[1].offset, 15);
      EXPECT_EQ(h.count_int % 3, 0u);
      EXPECT_EQ(h.positive_deltas[0], static_cast<int64_t>(2 * h.count_int / 3));
      found = true;
    }
    ASSERT_TRUE(s.metadata.has_value());
    EXPECT_EQ(s.metadata->type, model::MetricType::kHistogram);
    EXPECT_EQ(s.metadata->help, "RPC latency.");
  }
  EXPECT_TRUE(found);
  // Exemplars: the counter's and the histogram's, each once although every
  // scrape exposes one (a new one each scrape here).
  ASSERT_TRUE(PollUntil(seconds(30), [&] {
    size_t n = 0;
    for (const auto& s : rx.Series(kJobs)) n += s.exemplars.size();
    return n >= 2;
  }));
  std::set<std::string> traces;
  for (const auto& s : rx.Series(kJobs)) {
    for (const auto& e : s.exemplars) {
      EXPECT_TRUE(traces.insert(model::ToString(e.labels)).second) << "exemplar sent twice";
    }
  }
  auto temp = rx.Series({{"__name__", "temperature_celsius"}});
  ASSERT_FALSE(temp.empty());
  ASSERT_TRUE(temp[0].metadata.has_value());
  EXPECT_EQ(temp[0].metadata->unit, "celsius");
  EXPECT_EQ(temp[0].metadata->type, model::MetricType::kGauge);
  const std::string m = Metrics(agent);
  EXPECT_NE(m.find("promsidecar_agent_remote_message_version{remote_name="), std::string::npos);
  EXPECT_NE(m.find("promsidecar_agent_remote_written_unconfirmed_total"), std::string::npos) << m;
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0) << agent.Log();
}

// A receiver that refuses 2.0 with 415: the agent falls back to 1.0 for that
// endpoint, logs it once, and loses nothing (the refused batch goes again).
TEST(RemoteWrite2E2E, ReceiverRefusingV2With415GetsV1AndTheFallbackIsLoggedOnce) {
  TempDir dir;
  RwReceiver rx;
  rx.SetV2Mode(RwReceiver::V2Mode::kRefuse415);
  ProtoTarget target([](uint64_t n) { return NativePage(n, NowMs()); });
  AgentProcess agent(dir.path(), Config(target.Address(), rx.Url(),
                                        "    protobuf_message: io.prometheus.write.v2.Request\n"
                                        "    send_native_histograms: true\n"
                                        "    metadata_config: {send_interval: 1s}\n"));
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return HistogramsOf(rx) >= 3; })) << agent.Log();
  auto requests = rx.Requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_TRUE(requests[0].v2);
  EXPECT_EQ(requests[0].status, 415);
  for (size_t i = 1; i < requests.size(); ++i) {
    EXPECT_FALSE(requests[i].v2) << i;
    EXPECT_EQ(requests[i].content_type, "application/x-protobuf");
    EXPECT_EQ(requests[i].version, "0.1.0");
  }
  // Every scrape's counter value arrives: the refused batch was sent again.
  std::vector<double> jobs;
  for (const auto& s : rx.Series(kJobs)) {
    for (const auto& smp : s.samples) jobs.push_back(smp.value);
  }
  ASSERT_FALSE(jobs.empty());
  EXPECT_EQ(jobs.front(), 1) << "the first (refused) batch was lost";
  const std::string log = agent.Log();
  size_t fallbacks = 0;
  for (size_t at = log.find("remote write 2.0 is not accepted"); at != std::string::npos;
       at = log.find("remote write 2.0 is not accepted", at + 1)) {
    ++fallbacks;
  }
  EXPECT_EQ(fallbacks, 1u) << log;
  EXPECT_NE(Metrics(agent).find("promsidecar_agent_remote_message_version{remote_name="), std::string::npos);
  // 1.0 sends metadata in requests of its own, per family.
  ASSERT_TRUE(PollUntil(seconds(30), [&] {
    for (const auto& r : rx.Requests()) {
      for (const auto& md : r.metadata) {
        if (md.family == "rpc_duration_seconds" && md.type == model::MetricType::kHistogram) return true;
      }
    }
    return false;
  })) << agent.Log();
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0) << agent.Log();
}

// Remote write 1.0 carries native histograms and exemplars only when asked
// (send_native_histograms, send_exemplars), as in Prometheus.
TEST(RemoteWrite2E2E, V1SendsHistogramsAndExemplarsOnlyWhenAsked) {
  TempDir a_dir, b_dir;
  RwReceiver plain, rich;
  ProtoTarget target([](uint64_t n) { return NativePage(n, NowMs()); });
  AgentProcess a(a_dir.path(), Config(target.Address(), plain.Url(), ""));
  AgentProcess b(b_dir.path(), Config(target.Address(), rich.Url(),
                                      "    send_exemplars: true\n    send_native_histograms: true\n"));
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return HistogramsOf(rich) >= 2 && plain.Series(kJobs).size() >= 2;
  })) << b.Log();
  EXPECT_EQ(HistogramsOf(plain), 0u);
  for (const auto& s : plain.Series(kJobs)) EXPECT_TRUE(s.exemplars.empty());
  ASSERT_TRUE(PollUntil(seconds(30), [&] {
    for (const auto& s : rich.Series(kJobs)) {
      if (!s.exemplars.empty()) return true;
    }
    return false;
  }));
  for (const auto& r : rich.Requests()) EXPECT_FALSE(r.v2);
  EXPECT_EQ(a.process().Stop(seconds(20)), 0);
  EXPECT_EQ(b.process().Stop(seconds(20)), 0);
}

}  // namespace
}  // namespace promsidecar::testing
