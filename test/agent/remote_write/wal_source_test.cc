#include "agent/remote_write/wal_source.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <snappy.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "agent/remote_write/curl_transport.h"
#include "agent/remote_write/sender.h"
#include "remote.pb.h"
#include "testing/temp_dir.h"

namespace promsidecar::remote_write {
namespace {

using promsidecar::testing::TempDir;
using std::chrono::milliseconds;
using SteadyPoint = std::chrono::steady_clock::time_point;

std::unique_ptr<wal::Wal> OpenWal(const std::string& dir) {
  wal::Options o;
  o.dir = dir;
  o.fsync = wal::FsyncPolicy::kNever;
  o.max_size = 0;
  auto w = wal::Wal::Open(std::move(o));
  EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.message());
  return w.ok() ? std::move(*w) : nullptr;
}

std::unique_ptr<wal::Reader> OpenReader(wal::Wal& w, const std::string& name) {
  auto r = w.OpenReader(name);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
  return r.ok() ? std::move(*r) : nullptr;
}

model::Labels L(const std::string& name) {
  return {{"__name__", name}, {"job", "app"}};
}

struct FakeNow {
  SteadyPoint t = SteadyPoint() + std::chrono::hours(1);
  WalSampleSource::Now fn() {
    return [this] { return t; };
  }
};

std::vector<int64_t> Timestamps(const Batch& b, size_t series) {
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < b.series[series].count; ++i)
    out.push_back(b.samples[b.series[series].first + i].timestamp_ms);
  return out;
}

// Native histograms, exemplars and metadata travel from the WAL to the
// batch; metadata announced to a reader opened late (after it was written)
// arrives too, and feeds the per-family list of remote write 1.0.
TEST(WalSampleSource, CarriesHistogramsExemplarsAndMetadata) {
  TempDir dir;
  auto w = OpenWal(dir.path());
  ASSERT_TRUE(w);
  const uint64_t h = w->AppendSeries(L("rpc_seconds"));
  const uint64_t c = w->AppendSeries(L("jobs_total"));
  const model::Metadata hm{model::MetricType::kHistogram, "RPC latency.", "seconds", "rpc_seconds"};
  ASSERT_TRUE(w->SetMetadata(h, hm).ok());
  ASSERT_TRUE(w->SetMetadata(c, {model::MetricType::kCounter, "Jobs.", "", "jobs"}).ok());
  model::Histogram hist;
  hist.schema = 1;
  hist.count_int = 3;
  hist.positive_spans = {{0, 1}};
  hist.positive_deltas = {3};
  ASSERT_TRUE(w->AppendHistogram(h, 1000, hist).ok());
  ASSERT_TRUE(w->AppendSample(c, 1000, 5).ok());
  ASSERT_TRUE(w->AppendExemplar(c, {{{"trace_id", "t"}}, 5, 999, true}).ok());
  ASSERT_TRUE(w->Commit().ok());

  FakeNow now;
  BatcherOptions o;
  o.send_native_histograms = true;
  o.send_exemplars = true;
  WalSampleSource src(OpenReader(*w, "late"), o, now.fn());
  Batch b;
  ASSERT_TRUE(src.NextBatch(b, now.t, /*flush=*/true));
  ASSERT_EQ(b.series.size(), 2u);
  EXPECT_EQ(b.items(), 3u);
  ASSERT_EQ(b.histograms.size(), 1u);
  EXPECT_EQ(b.histograms[0].histogram, hist);
  EXPECT_EQ(b.histograms[0].timestamp_ms, 1000);
  ASSERT_EQ(b.exemplars.size(), 1u);
  EXPECT_EQ(b.exemplars[0].timestamp_ms, 999);
  for (const auto& s : b.series) {
    ASSERT_TRUE(s.metadata) << model::ToString(*s.labels);
    EXPECT_EQ(s.metadata->family,
              model::Get(*s.labels, "__name__") == "rpc_seconds" ? "rpc_seconds" : "jobs");
  }
  auto families = src.FamilyMetadata();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(*families[1], hm);
}

TEST(WalSampleSource, GroupsSamplesAndAcksTheRecordEnd) {
  TempDir dir;
  auto w = OpenWal(dir.path());
  ASSERT_TRUE(w);
  auto a = w->AppendSeries(L("a"));
  auto b = w->AppendSeries(L("b"));
  for (int64_t ts = 1000; ts <= 3000; ts += 1000) {
    ASSERT_TRUE(w->AppendSample(a, ts, 1).ok());
    ASSERT_TRUE(w->AppendSample(b, ts, model::StaleNaN()).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  FakeNow now;
  Batch batch;
  {
    auto reader = OpenReader(*w, "rw-test");
    ASSERT_TRUE(reader);
    WalSampleSource source(std::move(reader),
                           {.max_samples_per_send = 100, .external_labels = {{"cluster", "c1"}}}, now.fn());
    EXPECT_FALSE(source.NextBatch(batch, now.t, false));  // 6 samples: neither full nor due yet
    now.t += std::chrono::seconds(6);
    ASSERT_TRUE(source.NextBatch(batch, now.t, false));
    ASSERT_EQ(batch.series.size(), 2u);
    EXPECT_EQ(model::Get(*batch.series[0].labels, "cluster"), "c1");
    EXPECT_EQ(Timestamps(batch, 0), (std::vector<int64_t>{1000, 2000, 3000}));
    EXPECT_TRUE(model::IsStaleNaN(batch.samples[batch.series[1].first].value));
    auto at = source.reader().position();
    EXPECT_EQ(batch.end, (Position{at.segment, at.offset, 0}));
    source.Ack(batch.end);
  }

  // A new reader with the same name starts after the acked data.
  auto again = OpenReader(*w, "rw-test");
  ASSERT_TRUE(again);
  WalSampleSource source2(std::move(again), {}, now.fn());
  EXPECT_FALSE(source2.NextBatch(batch, now.t, /*flush=*/true));
  EXPECT_EQ(source2.pending(), 0u);
}

TEST(WalSampleSource, CutsBatchesInsideARecordAndAcksOnlyWholeRecords) {
  TempDir dir;
  auto w = OpenWal(dir.path());
  ASSERT_TRUE(w);
  auto a = w->AppendSeries(L("a"));
  ASSERT_TRUE(w->Commit().ok());
  auto reader = OpenReader(*w, "rw");
  ASSERT_TRUE(reader);
  for (int64_t ts = 1; ts <= 5; ++ts) ASSERT_TRUE(w->AppendSample(a, ts, 0.5).ok());
  ASSERT_TRUE(w->Commit().ok());  // one samples record of 5

  FakeNow now;
  WalSampleSource source(std::move(reader), {.max_samples_per_send = 3}, now.fn());
  Batch first, second;
  ASSERT_TRUE(source.NextBatch(first, now.t, false));
  EXPECT_EQ(source.pending(), 2u);  // the rest of the record, not yet in a batch
  EXPECT_EQ(Timestamps(first, 0), (std::vector<int64_t>{1, 2, 3}));
  Position record_start = first.end;  // the series record's end: the samples record is not covered yet
  ASSERT_TRUE(source.NextBatch(second, now.t, /*flush=*/true));
  EXPECT_EQ(Timestamps(second, 0), (std::vector<int64_t>{4, 5}));
  EXPECT_LT(record_start, second.end);
  auto at = source.reader().position();
  EXPECT_EQ(second.end, (Position{at.segment, at.offset, 0}));
  EXPECT_EQ(source.pending(), 0u);
}

TEST(WalSampleSource, DroppedDataStillAdvancesThePosition) {
  TempDir dir;
  auto w = OpenWal(dir.path());
  ASSERT_TRUE(w);
  auto a = w->AppendSeries(L("a"));
  ASSERT_TRUE(w->AppendSample(a, 1, 1).ok());
  ASSERT_TRUE(w->Commit().ok());
  auto reader = OpenReader(*w, "rw");
  ASSERT_TRUE(reader);
  FakeNow now;
  WalSampleSource source(std::move(reader), {.relabel = [](model::Labels&) { return false; }}, now.fn());
  Batch batch;
  ASSERT_TRUE(source.NextBatch(batch, now.t, false));
  EXPECT_TRUE(batch.empty());
  auto at = source.reader().position();
  EXPECT_EQ(batch.end, (Position{at.segment, at.offset, 0}));
  EXPECT_EQ(source.batcher_stats().samples_dropped_relabel, 1u);
  EXPECT_FALSE(source.NextBatch(batch, now.t, false));  // nothing new since
}

// The whole chain: WAL -> WalSampleSource -> Sender -> CurlTransport -> a
// local receiver that decodes every request.
TEST(WalSampleSource, EndToEndThroughTheSenderToALocalReceiver) {
  httplib::Server server;
  std::mutex mu;
  std::vector<std::pair<int64_t, double>> received;  // series "a" only
  int requests = 0;
  server.Post("/write", [&](const httplib::Request& req, httplib::Response& res) {
    std::string raw;
    prompb::WriteRequest wr;
    if (!snappy::Uncompress(req.body.data(), req.body.size(), &raw) || !wr.ParseFromString(raw)) {
      res.status = 400;
      return;
    }
    std::lock_guard lock(mu);
    // The first request fails: the sender must retry it, not skip it.
    if (requests++ == 0) {
      res.status = 503;
      return;
    }
    for (const auto& ts : wr.timeseries()) {
      if (ts.labels(0).value() != "a") continue;
      for (const auto& s : ts.samples()) received.emplace_back(s.timestamp(), s.value());
    }
    res.status = 204;
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread server_thread([&] { server.listen_after_bind(); });
  auto started = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!server.is_running() && std::chrono::steady_clock::now() < started) {
    std::this_thread::sleep_for(milliseconds(1));
  }

  TempDir dir;
  auto w = OpenWal(dir.path());
  ASSERT_TRUE(w);
  auto a = w->AppendSeries(L("a"));
  auto b = w->AppendSeries(L("b"));
  constexpr int kScrapes = 50;
  for (int i = 0; i < kScrapes; ++i) {
    ASSERT_TRUE(w->AppendSample(a, i, i * 1.5).ok());
    ASSERT_TRUE(w->AppendSample(b, i, -i).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  auto reader = OpenReader(*w, "rw-e2e");
  ASSERT_TRUE(reader);
  auto source = std::make_unique<WalSampleSource>(
      std::move(reader), BatcherOptions{.max_samples_per_send = 7, .batch_send_deadline = milliseconds(10)});
  TransportConfig tc;
  tc.url = "http://127.0.0.1:" + std::to_string(port) + "/write";
  auto transport = CurlTransport::Create(tc);
  ASSERT_TRUE(transport.ok()) << transport.message();
  RealClock clock;
  SenderOptions so;
  so.name = tc.url;
  so.retry.min_backoff = milliseconds(1);
  so.retry.max_backoff = milliseconds(10);
  Sender sender(so, *source, **transport, clock);
  std::thread sender_thread([&] { sender.Run(); });

  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (sender.stats().samples_sent < 2 * kScrapes && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  sender.Stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  w->NotifyReaders();
  sender_thread.join();
  transport->reset();  // closes the kept-alive connection, so the server stops at once
  server.stop();
  server_thread.join();

  EXPECT_EQ(sender.stats().samples_sent, 2u * kScrapes);
  EXPECT_GT(sender.stats().samples_retried, 0u);
  std::lock_guard lock(mu);
  ASSERT_EQ(received.size(), static_cast<size_t>(kScrapes));
  for (int i = 0; i < kScrapes; ++i) {
    EXPECT_EQ(received[i], (std::pair<int64_t, double>{i, i * 1.5})) << i;
  }
  // Everything was acked: a reopened reader has no samples left.
  source.reset();
  auto again = OpenReader(*w, "rw-e2e");
  ASSERT_TRUE(again);
  WalSampleSource rest(std::move(again), {});
  Batch batch;
  EXPECT_FALSE(rest.NextBatch(batch, std::chrono::steady_clock::now(), /*flush=*/true));
}

}  // namespace
}  // namespace promsidecar::remote_write
