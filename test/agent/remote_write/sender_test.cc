#include "agent/remote_write/sender.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <deque>
#include <future>
#include <thread>

#include "agent/remote_write/roundtrip.h"
#include "remote.pb.h"

namespace promsidecar::remote_write {
namespace {

using std::chrono::milliseconds;
using SteadyPoint = std::chrono::steady_clock::time_point;

// Time that moves only when the sender sleeps; records every sleep.
class FakeClock : public Clock {
 public:
  TimePoint Now() override { return now_; }
  std::chrono::system_clock::time_point WallNow() override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)) + (now_ - TimePoint());
  }
  void SleepUntil(TimePoint t, Wakeup&) override {
    sleeps.push_back(std::chrono::duration_cast<milliseconds>(t - now_));
    if (t > now_) now_ = t;
  }
  std::vector<milliseconds> sleeps;

 private:
  TimePoint now_ = TimePoint() + std::chrono::hours(1);
};

Batch MakeBatch(std::vector<std::pair<model::Labels, std::vector<model::Sample>>> series, uint64_t pos) {
  Batch b;
  for (auto& [labels, samples] : series) {
    Batch::Series s;
    s.labels = std::make_shared<const model::Labels>(labels);
    s.first = static_cast<uint32_t>(b.samples.size());
    s.count = static_cast<uint32_t>(samples.size());
    b.samples.insert(b.samples.end(), samples.begin(), samples.end());
    b.series.push_back(std::move(s));
  }
  b.end = Position{0, pos, 0};
  return b;
}

// Hands out scripted batches; when they run out, calls on_empty (the tests
// stop the sender there). Thread-safe enough for the threaded tests.
class FakeSource : public SampleSource {
 public:
  bool NextBatch(Batch& batch, SteadyPoint deadline, bool flush) override {
    std::unique_lock lock(mu_);
    if (!batches_.empty()) {
      batch = std::move(batches_.front());
      batches_.pop_front();
      return true;
    }
    if (flush && flush_batch_) {
      batch = std::move(*flush_batch_);
      flush_batch_.reset();
      return true;
    }
    if (on_empty) {
      lock.unlock();
      on_empty();
      return false;
    }
    // Idle like a real source: wait for data or the deadline.
    cv_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + milliseconds(20)));
    return false;
  }
  void Ack(const Position& end) override {
    std::lock_guard lock(mu_);
    acks_.push_back(end.offset);
  }
  std::vector<std::shared_ptr<const model::Metadata>> FamilyMetadata() const override { return metadata; }
  std::vector<std::shared_ptr<const model::Metadata>> metadata;
  void Add(Batch b) {
    std::lock_guard lock(mu_);
    batches_.push_back(std::move(b));
  }
  // Only handed out when the sender flushes (a batch that is not due yet).
  void SetFlushBatch(Batch b) { flush_batch_ = std::move(b); }
  std::vector<uint64_t> acks() {
    std::lock_guard lock(mu_);
    return acks_;
  }
  std::function<void()> on_empty;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> batches_;
  std::optional<Batch> flush_batch_;
  std::vector<uint64_t> acks_;
};

// Answers from a script (the last answer repeats) and keeps every body.
class FakeTransport : public Transport {
 public:
  explicit FakeTransport(std::vector<Result<HttpResult>> script) : script_(std::move(script)) {}
  Result<HttpResult> Post(const Request& r) override {
    std::lock_guard lock(mu_);
    bodies_.emplace_back(r.body);
    timeouts_.push_back(r.timeout);
    messages_.push_back(r.message);
    size_t i = std::min(calls_++, script_.size() - 1);
    return script_[i];
  }
  size_t calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  std::vector<milliseconds> timeouts() {
    std::lock_guard lock(mu_);
    return timeouts_;
  }
  std::vector<MessageType> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }

 private:
  std::mutex mu_;
  std::vector<Result<HttpResult>> script_;
  size_t calls_ = 0;
  std::vector<std::string> bodies_;
  std::vector<milliseconds> timeouts_;
  std::vector<MessageType> messages_;
};

Result<HttpResult> Http(int status, std::string retry_after = "") {
  return HttpResult{status, std::move(retry_after), "body of " + std::to_string(status)};
}

SenderOptions Options(bool retry_429 = false) {
  SenderOptions o;
  o.name = "http://receiver.test/write";
  o.retry.min_backoff = milliseconds(100);
  o.retry.max_backoff = milliseconds(1000);
  o.retry.retry_on_http_429 = retry_429;
  return o;
}

model::Labels L(const std::string& name) {
  return {{"__name__", name}, {"job", "j"}};
}

// Runs the sender on this thread until the source is drained.
void RunToEnd(Sender& sender, FakeSource& source, FakeClock& clock) {
  source.on_empty = [&] { sender.Stop(clock.Now()); };
  sender.Run();
}

TEST(Sender, RetriesServerErrorsUntilSuccessThenAcksOnce) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}, {2, 2}}}, {L("b"), {{1, model::StaleNaN()}}}}, 10));
  FakeTransport transport({Http(500), Http(503), MakeError("connection refused"), Http(200)});
  FakeClock clock;
  Sender sender(Options(), source, transport, clock, [] { return 1.0; });
  RunToEnd(sender, source, clock);

  EXPECT_EQ(transport.calls(), 4u);
  EXPECT_EQ(source.acks(), std::vector<uint64_t>{10});
  EXPECT_EQ(clock.sleeps,
            (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(400)}));
  auto s = sender.stats();
  EXPECT_EQ(s.samples_sent, 3u);
  EXPECT_EQ(s.samples_retried, 9u);
  EXPECT_EQ(s.samples_failed, 0u);
  EXPECT_EQ(s.batches_sent, 1u);
  EXPECT_EQ(s.pending_samples, 0u);
  EXPECT_EQ(s.bytes_sent, transport.bodies().back().size());
  EXPECT_GT(s.last_send_timestamp_ms, 1'700'000'000'000);
  // Every attempt carried the same, correct request.
  std::vector<SeriesInput> want{{L("a"), {{1, 1}, {2, 2}}}, {L("b"), {{1, model::StaleNaN()}}}};
  for (const auto& body : transport.bodies()) {
    auto st = CheckDecodesTo(body, want);
    EXPECT_TRUE(st.ok()) << st.message();
  }
}

TEST(Sender, BackoffResetsAfterSuccess) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}}}}, 1));
  source.Add(MakeBatch({{L("a"), {{2, 1}}}}, 2));
  FakeTransport transport({Http(500), Http(500), Http(200), Http(500), Http(200)});
  FakeClock clock;
  Sender sender(Options(), source, transport, clock, [] { return 1.0; });
  RunToEnd(sender, source, clock);
  EXPECT_EQ(clock.sleeps,
            (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(100)}));
  EXPECT_EQ(source.acks(), (std::vector<uint64_t>{1, 2}));
}

TEST(Sender, DropsClientErrorsAndAcks) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}, {2, 2}}}}, 7));
  source.Add(MakeBatch({{L("a"), {{3, 3}}}}, 8));
  FakeTransport transport({Http(400), Http(200)});
  FakeClock clock;
  Sender sender(Options(), source, transport, clock);
  RunToEnd(sender, source, clock);
  EXPECT_EQ(transport.calls(), 2u);
  EXPECT_EQ(source.acks(), (std::vector<uint64_t>{7, 8}));
  EXPECT_TRUE(clock.sleeps.empty());
  auto s = sender.stats();
  EXPECT_EQ(s.samples_failed, 2u);
  EXPECT_EQ(s.batches_failed, 1u);
  EXPECT_EQ(s.samples_sent, 1u);
  EXPECT_EQ(s.samples_retried, 0u);
}

TEST(Sender, HonoursRetryAfterOn429WhenEnabled) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}}}}, 3));
  FakeTransport transport({Http(429, "7"), Http(200)});
  FakeClock clock;
  Sender sender(Options(/*retry_429=*/true), source, transport, clock, [] { return 1.0; });
  RunToEnd(sender, source, clock);
  EXPECT_EQ(clock.sleeps, std::vector<milliseconds>{milliseconds(7000)});
  EXPECT_EQ(source.acks(), std::vector<uint64_t>{3});
  EXPECT_EQ(sender.stats().samples_sent, 1u);
}

TEST(Sender, Drops429WhenRetryIsDisabled) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}}}}, 3));
  FakeTransport transport({Http(429, "7"), Http(200)});
  FakeClock clock;
  Sender sender(Options(/*retry_429=*/false), source, transport, clock);
  RunToEnd(sender, source, clock);
  EXPECT_EQ(transport.calls(), 1u);
  EXPECT_EQ(source.acks(), std::vector<uint64_t>{3});
  EXPECT_EQ(sender.stats().samples_failed, 1u);
}

TEST(Sender, PreservesOrderAcrossBatchesAndRetries) {
  FakeSource source;
  std::vector<std::vector<SeriesInput>> sent;
  for (uint64_t i = 0; i < 5; ++i) {
    std::vector<model::Sample> a{{static_cast<int64_t>(i * 2), 1.0 * i},
                                 {static_cast<int64_t>(i * 2 + 1), 2.0 * i}};
    std::vector<model::Sample> b{{static_cast<int64_t>(i), -1.0 * i}};
    source.Add(MakeBatch({{L("a"), a}, {L("b"), b}}, 100 + i));
    sent.push_back({{L("a"), a}, {L("b"), b}});
  }
  FakeTransport transport({Http(500), Http(200), Http(502), Http(500), Http(200), Http(200), Http(503),
                           MakeError("timeout"), Http(200), Http(200)});
  FakeClock clock;
  Sender sender(Options(), source, transport, clock, [] { return 0.5; });
  RunToEnd(sender, source, clock);
  EXPECT_EQ(source.acks(), (std::vector<uint64_t>{100, 101, 102, 103, 104}));
  // The successful requests, in order, carry the batches in order.
  auto bodies = transport.bodies();
  std::vector<size_t> ok_calls{1, 4, 5, 8, 9};
  ASSERT_EQ(bodies.size(), 10u);
  for (size_t k = 0; k < ok_calls.size(); ++k) {
    auto st = CheckDecodesTo(bodies[ok_calls[k]], sent[k]);
    EXPECT_TRUE(st.ok()) << "batch " << k << ": " << st.message();
  }
}

TEST(Sender, AcksEmptyBatchesWithoutSending) {
  FakeSource source;
  Batch empty;
  empty.end = Position{0, 42, 0};
  source.Add(empty);
  FakeTransport transport({Http(200)});
  FakeClock clock;
  Sender sender(Options(), source, transport, clock);
  RunToEnd(sender, source, clock);
  EXPECT_EQ(transport.calls(), 0u);
  EXPECT_EQ(source.acks(), std::vector<uint64_t>{42});
}

TEST(Sender, FlushesPendingDataAtStop) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}}}}, 1));
  source.SetFlushBatch(MakeBatch({{L("a"), {{2, 1}}}}, 2));
  FakeTransport transport({Http(200)});
  FakeClock clock;
  Sender sender(Options(), source, transport, clock);
  RunToEnd(sender, source, clock);  // the first on_empty stops with a deadline of "now"
  // Deadline "now" leaves no time to flush; a real one does.
  EXPECT_EQ(source.acks(), std::vector<uint64_t>{1});

  FakeSource source2;
  source2.SetFlushBatch(MakeBatch({{L("a"), {{2, 1}}}}, 2));
  FakeClock clock2;
  Sender sender2(Options(), source2, transport, clock2);
  sender2.Stop(clock2.Now() + std::chrono::seconds(5));
  sender2.Run();
  EXPECT_EQ(source2.acks(), std::vector<uint64_t>{2});
  EXPECT_EQ(transport.timeouts().back(), milliseconds(5000));  // bounded by the flush deadline
}

TEST(Sender, GivesUpRetryingAtTheFlushDeadlineWithoutAck) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}}}}, 1));
  FakeTransport transport({Http(500)});
  FakeClock clock;
  Sender sender(Options(), source, transport, clock, [] { return 1.0; });
  sender.Stop(clock.Now() + milliseconds(350));
  sender.Run();
  // 100 + 200 ms of backoff fit before the deadline, the next 400 ms do not.
  EXPECT_EQ(transport.calls(), 3u);
  EXPECT_TRUE(source.acks().empty());
  EXPECT_EQ(sender.stats().pending_samples, 1u);
}

TEST(Sender, StopWakesASenderWaitingOutALongBackoff) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}}}}, 1));
  FakeTransport transport({Http(503, "240")});  // Retry-After: 4 minutes
  RealClock clock;
  Sender sender(Options(), source, transport, clock);
  std::thread t([&] { sender.Run(); });
  // Poll (generously) until the first attempt failed, then stop.
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (transport.calls() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_EQ(transport.calls(), 1u);
  auto done = std::async(std::launch::async, [&] { t.join(); });
  sender.Stop(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  EXPECT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  done.wait();
  EXPECT_TRUE(source.acks().empty());
  EXPECT_EQ(transport.calls(), 1u);
}

TEST(Sender, ADeadEndpointDoesNotBlockAnotherSender) {
  FakeSource dead_source, live_source;
  for (uint64_t i = 0; i < 20; ++i) {
    dead_source.Add(MakeBatch({{L("a"), {{static_cast<int64_t>(i), 1}}}}, i));
    live_source.Add(MakeBatch({{L("a"), {{static_cast<int64_t>(i), 1}}}}, i));
  }
  FakeTransport dead({Http(503)});
  FakeTransport live({Http(200)});
  RealClock clock;
  auto opts = Options();
  opts.retry.min_backoff = milliseconds(5);
  opts.retry.max_backoff = milliseconds(20);
  Sender dead_sender(opts, dead_source, dead, clock);
  Sender live_sender(opts, live_source, live, clock);
  std::thread a([&] { dead_sender.Run(); });
  std::thread b([&] { live_sender.Run(); });
  // The live sender delivers everything while the dead one keeps retrying
  // (its thread may not have sent anything yet when the live one is done:
  // wait for a retry too, or Stop could come before its first call).
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((live_source.acks().size() < 20 || dead.calls() < 2) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(live_source.acks().size(), 20u);
  EXPECT_EQ(live_sender.stats().samples_sent, 20u);
  EXPECT_GE(dead.calls(), 2u);
  auto now = std::chrono::steady_clock::now();
  dead_sender.Stop(now);
  live_sender.Stop(now);
  a.join();
  b.join();
  EXPECT_TRUE(dead_source.acks().empty());
  EXPECT_EQ(dead_sender.stats().samples_sent, 0u);
  EXPECT_GT(dead_sender.stats().samples_retried, 0u);
}

// ---- remote write 2.0

Result<HttpResult> Written(int status, std::optional<uint64_t> samples,
                           std::optional<uint64_t> histograms = {}, std::optional<uint64_t> exemplars = {}) {
  HttpResult r{status, "", ""};
  r.samples_written = samples;
  r.histograms_written = histograms;
  r.exemplars_written = exemplars;
  return r;
}

SenderOptions V2() {
  SenderOptions o = Options();
  o.message = MessageType::kV2;
  return o;
}

// The spec lets a 2.x sender fall back to 1.0 on 415: the same batch is sent
// again as 1.0 at once (nothing was written), and 1.0 it stays.
TEST(SenderV2, UnsupportedMediaTypeFallsBackToV1ForGood) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}}}}, 1));
  source.Add(MakeBatch({{L("a"), {{2, 2}}}}, 2));
  FakeTransport transport({Http(415), Http(200)});
  FakeClock clock;
  Sender sender(V2(), source, transport, clock, [] { return 1.0; });
  EXPECT_EQ(sender.stats().message, MessageType::kV2);
  RunToEnd(sender, source, clock);
  EXPECT_EQ(transport.messages(),
            (std::vector<MessageType>{MessageType::kV2, MessageType::kV1, MessageType::kV1}));
  EXPECT_EQ(source.acks(), (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(clock.sleeps.empty()) << "a fallback is not a retry";
  auto st = CheckDecodesTo(transport.bodies()[1], std::vector<SeriesInput>{{L("a"), {{1, 1}}}});
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(sender.stats().message, MessageType::kV1);
  EXPECT_EQ(sender.stats().samples_sent, 2u);
  EXPECT_EQ(sender.stats().samples_failed, 0u);
}

// A 1.0 receiver that ignores Content-Type decodes a 2.0 body as an empty
// 1.0 request and answers 2xx without the Written headers: the spec says to
// treat that as 415.
TEST(SenderV2, SuccessWithoutWrittenHeadersIsA415) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}}}}, 1));
  FakeTransport transport({Http(204), Http(204)});
  FakeClock clock;
  Sender sender(V2(), source, transport, clock, [] { return 1.0; });
  RunToEnd(sender, source, clock);
  EXPECT_EQ(transport.messages(), (std::vector<MessageType>{MessageType::kV2, MessageType::kV1}));
  EXPECT_EQ(source.acks(), std::vector<uint64_t>{1});
  EXPECT_EQ(sender.stats().message, MessageType::kV1);
}

TEST(SenderV2, WrittenHeadersConfirmOrAreCountedAsUnconfirmed) {
  FakeSource source;
  Batch b = MakeBatch({{L("a"), {{1, 1}, {2, 2}}}}, 1);
  b.histograms.push_back({3, model::Histogram{}});
  b.series[0].histograms_count = 1;
  b.exemplars.push_back(model::Exemplar{{{"trace_id", "x"}}, 1, 1, true});
  b.series[0].exemplars_count = 1;
  source.Add(b);
  source.Add(MakeBatch({{L("a"), {{4, 4}}}}, 2));
  // All confirmed; then a 2xx confirming nothing for samples (header missing: 0).
  FakeTransport transport({Written(200, 2, 1, 1), Written(200, std::nullopt, 0)});
  FakeClock clock;
  Sender sender(V2(), source, transport, clock, [] { return 1.0; });
  RunToEnd(sender, source, clock);
  auto s = sender.stats();
  EXPECT_EQ(s.message, MessageType::kV2);
  EXPECT_EQ(s.samples_sent, 3u);
  EXPECT_EQ(s.histograms_sent, 1u);
  EXPECT_EQ(s.exemplars_sent, 1u);
  EXPECT_EQ(s.written_unconfirmed, 1u);
  EXPECT_EQ(source.acks(), (std::vector<uint64_t>{1, 2}));
}

TEST(SenderV2, ClientErrorIsDroppedNotAFallback) {
  FakeSource source;
  source.Add(MakeBatch({{L("a"), {{1, 1}}}}, 1));
  FakeTransport transport({Written(400, 0)});
  FakeClock clock;
  Sender sender(V2(), source, transport, clock, [] { return 1.0; });
  RunToEnd(sender, source, clock);
  EXPECT_EQ(transport.calls(), 1u);
  EXPECT_EQ(sender.stats().message, MessageType::kV2);
  EXPECT_EQ(sender.stats().samples_failed, 1u);
}

// Remote write 1.0 sends metadata in requests of its own, every interval.
TEST(SenderV1, MetadataRequestsEveryInterval) {
  FakeSource source;
  source.metadata = {std::make_shared<const model::Metadata>(
                         model::Metadata{model::MetricType::kCounter, "Jobs.", "", "jobs"}),
                     std::make_shared<const model::Metadata>(
                         model::Metadata{model::MetricType::kGauge, "Temp.", "celsius", "temp_celsius"})};
  FakeTransport transport({Http(200)});
  FakeClock clock;
  SenderOptions o = Options();
  o.metadata_max_per_send = 1;  // two families: two requests
  Sender sender(o, source, transport, clock, [] { return 1.0; });
  RunToEnd(sender, source, clock);
  ASSERT_EQ(transport.calls(), 2u);
  const auto bodies = transport.bodies();
  for (size_t i = 0; i < 2; ++i) {
    std::string raw;
    const auto& body = bodies[i];
    ASSERT_TRUE(snappy::Uncompress(body.data(), body.size(), &raw));
    prompb::WriteRequest req;
    ASSERT_TRUE(req.ParseFromString(raw));
    EXPECT_EQ(req.timeseries_size(), 0);
    ASSERT_EQ(req.metadata_size(), 1);
    EXPECT_EQ(req.metadata(0).metric_family_name(), i == 0 ? "jobs" : "temp_celsius");
  }
  EXPECT_EQ(sender.stats().metadata_sent, 2u);
  // 2.0 carries metadata in its series, never in requests of its own.
  FakeTransport t2({Written(200, 0)});
  Sender v2(V2(), source, t2, clock, [] { return 1.0; });
  RunToEnd(v2, source, clock);
  EXPECT_EQ(t2.calls(), 0u);
}

}  // namespace
}  // namespace promsidecar::remote_write
