// What the public remote-write sender compliance suites check (the 1.0 cases
// and the 2.0 cases of prometheus/compliance), written here from the specs as
// our own tests: the real agent scrapes a set of pages, one job per kind of
// input, and sends to five receivers at once — plain 1.0, 2.0 with native
// histograms, exemplars and metadata, a slow one, and two that refuse their
// first request with 500 and with 400. Each test checks one behaviour in what
// arrived. docs/agent.md lists the suites' cases with the tests here that
// cover them. Waits poll with generous deadlines; nothing asserts on timing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../textparse/proto_page.h"
#include "agent_process.h"
#include "rw_receiver.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr char kText004[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kOpenMetrics[] = "application/openmetrics-text; version=1.0.0; charset=utf-8";
constexpr char kProtobuf[] =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

// Pages by path: /<job> serves page(n) for the job's n-th scrape (1-based).
class Pages {
 public:
  using Page = std::function<std::string(uint64_t)>;
  Pages() {
    // One thread per job: the agent keeps each job's connection alive, and
    // httplib's default pool (8) would leave the other jobs' scrapes waiting.
    server_.new_task_queue = [] { return new httplib::ThreadPool(64); };
    server_.Get(R"(/(\w+))", [this](const httplib::Request& req, httplib::Response& res) {
      auto it = pages_.find(req.matches[1].str());
      if (it == pages_.end()) {
        res.status = 404;
        return;
      }
      res.set_content(it->second.page(++*it->second.scrapes), it->second.content_type);
    });
  }
  ~Pages() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void Add(const std::string& job, std::string content_type, Page page) {
    pages_[job] = {std::move(content_type), std::move(page), std::make_unique<std::atomic<uint64_t>>(0)};
  }
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = testing::ServeInBackground(server_);
  }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> Jobs() const {
    std::vector<std::string> out;
    for (const auto& [job, _] : pages_) out.push_back(job);
    return out;
  }
  // Pages that hold protobuf: their jobs scrape native histograms.
  bool IsProtobuf(const std::string& job) const { return pages_.at(job).content_type == kProtobuf; }

 private:
  struct Entry {
    std::string content_type;
    Page page;
    std::unique_ptr<std::atomic<uint64_t>> scrapes;
  };
  std::map<std::string, Entry> pages_;  // fixed before Start()
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// The 1,000 gauges of the ordering case.
std::string OrderingPage() {
  std::string out = "# TYPE ordering gauge\n";
  for (int i = 0; i < 1000; ++i) out += "ordering{i=\"" + std::to_string(i) + "\"} 1\n";
  return out;
}

const std::string kLongLabelName(200, 'n');
const std::string kLongLabelValue(10000, 'v');
const std::string kLongMetricName = "long_" + std::string(700, 'm');

std::string LabelsPage() {
  std::string many = "labels_many{";
  for (int i = 0; i < 30; ++i) many += (i ? "," : "") + std::string("l") + std::to_string(100 + i) + "=\"x\"";
  return "labels_unicode{v=\"日本語 ✓ ünïcödé\"} 1\n"
         "labels_special{v=\"quote \\\" backslash \\\\ newline \\n tab\tend\"} 1\n"
         "labels_long{" +
         kLongLabelName + "=\"" + kLongLabelValue + "\"} 1\n" + many + "} 1\n";
}

// The special values of the 2.0 sample-encoding cases, as written on the page.
const std::vector<std::pair<std::string, std::string>> kValues{
    {"float", "3.14159"},
    {"integer", "42"},
    {"zero", "0"},
    {"negative", "-17.5"},
    {"pos_inf", "+Inf"},
    {"neg_inf", "-Inf"},
    {"nan", "NaN"},
    {"large", "1.7976931348623157e+308"},
    {"small", "4.9406564584124654e-324"},
    {"scientific", "1.23e-5"},
    {"precision", "0.30000000000000004"},
};

std::string ValuesPage() {
  std::string out = "# TYPE values gauge\n";
  for (const auto& [kind, text] : kValues) out += "values{kind=\"" + kind + "\"} " + text + "\n";
  return out;
}

std::string OpenMetricsPage(uint64_t n) {
  const std::string ts = std::to_string(NowMs() / 1000) + ".5";
  return "# TYPE om_requests counter\n"
         "# HELP om_requests Requests with \\\"quotes\\\" and a \\\\ backslash,\\nover two lines.\n"
         "om_requests_total{path=\"/a\"} " +
         std::to_string(n) + " # {trace_id=\"om-" + std::to_string(n) + "\",span_id=\"s1\"} 1.0 " + ts +
         "\n"
         "om_requests_total{path=\"/b\"} " +
         std::to_string(2 * n) +
         "\n"
         "# TYPE om_latency_seconds gauge\n"
         "# UNIT om_latency_seconds seconds\n"
         "# HELP om_latency_seconds Latency.\n"
         "om_latency_seconds 0.25\n"
         "# TYPE om_summary summary\n"
         "# HELP om_summary A summary.\n"
         "om_summary{quantile=\"0.5\"} 1\n"
         "om_summary_sum 2\n"
         "om_summary_count 2\n"
         "# TYPE om_empty_help gauge\n"
         "om_empty_help 1\n"
         "# EOF\n";
}

// The native histogram of the protobuf page: schema 0, zero bucket,
// positive and negative buckets, two exemplars.
client::MetricFamily NativeIntFamily(uint64_t n, int64_t now_ms) {
  client::MetricFamily f;
  f.set_name("native_int_seconds");
  f.set_help("An integer native histogram.");
  f.set_type(client::HISTOGRAM);
  auto* h = f.add_metric()->mutable_histogram();
  h->set_schema(0);
  h->set_zero_threshold(0.001);
  h->set_zero_count(2);
  h->set_sample_count(11);
  h->set_sample_sum(7.5);
  auto* p = h->add_positive_span();
  p->set_offset(0);
  p->set_length(2);
  h->add_positive_delta(3);
  h->add_positive_delta(-1);
  auto* ng = h->add_negative_span();
  ng->set_offset(1);
  ng->set_length(1);
  h->add_negative_delta(4);
  for (double v : {1.5, -3.0}) {
    auto* e = h->add_exemplars();
    auto* l = e->add_label();
    l->set_name("trace_id");
    l->set_value("h" + std::to_string(n) + (v > 0 ? "p" : "n"));
    e->set_value(v);
    SetTimestamp(e->mutable_timestamp(), now_ms);
  }
  return f;
}

std::string NativePage(uint64_t n) {
  const int64_t now = NowMs();
  client::MetricFamily large;
  large.set_name("native_large");
  large.set_help("Large counts.");
  large.set_type(client::HISTOGRAM);
  auto* h = large.add_metric()->mutable_histogram();
  h->set_schema(3);
  h->set_zero_threshold(1e-128);
  h->set_sample_count(1'000'000'000'000'000ULL);
  h->set_sample_sum(1e15);
  auto* s = h->add_positive_span();
  s->set_offset(0);
  s->set_length(1);
  h->add_positive_delta(1'000'000'000'000'000LL);

  client::MetricFamily flt;
  flt.set_name("native_float");
  flt.set_help("A float (gauge) native histogram.");
  flt.set_type(client::GAUGE_HISTOGRAM);
  auto* fh = flt.add_metric()->mutable_histogram();
  fh->set_schema(1);
  fh->set_zero_threshold(1e-128);
  fh->set_sample_count_float(2.5);
  fh->set_sample_sum(4.25);
  auto* fs = fh->add_positive_span();
  fs->set_offset(2);
  fs->set_length(1);
  fh->add_positive_count(2.5);

  client::MetricFamily requests;
  requests.set_name("native_requests_total");
  requests.set_help("Requests.");
  requests.set_type(client::COUNTER);
  auto* c = requests.add_metric()->mutable_counter();
  c->set_value(static_cast<double>(n));
  auto* ex = c->mutable_exemplar();
  for (auto [name, value] : {std::pair{"span_id", "span-1"}, std::pair{"trace_id", "trace-x"}}) {
    auto* l = ex->add_label();
    l->set_name(name);
    l->set_value(value + std::to_string(n));
  }
  ex->set_value(0.5);
  SetTimestamp(ex->mutable_timestamp(), now);
  return DelimitedPage({NativeIntFamily(n, now), large, flt, requests});
}

// A native histogram only on the first scrape, a gauge always.
std::string VanishingNativePage(uint64_t n) {
  client::MetricFamily g;
  g.set_name("remaining");
  g.set_type(client::GAUGE);
  g.add_metric()->mutable_gauge()->set_value(1);
  if (n > 1) return DelimitedPage({g});
  client::MetricFamily f = NativeIntFamily(n, NowMs());
  f.set_name("vanishing_seconds");
  return DelimitedPage({f, g});
}

struct SharedRun {
  int64_t start_ms = 0;
  int64_t page_ts_base_ms = 0;
  Pages pages;
  RwReceiver v1, v2, slow, fail500, fail400;
  TempDir dir;
  std::unique_ptr<AgentProcess> agent;
  int64_t end_ms = 0;  // once every receiver has enough
};
SharedRun* run = nullptr;

std::vector<std::pair<std::string, RwReceiver*>> Receivers() {
  return {{"v1", &run->v1},
          {"v2", &run->v2},
          {"slow", &run->slow},
          {"fail500", &run->fail500},
          {"fail400", &run->fail400}};
}

bool Accepted(const ReceivedRequest& r) {
  return r.status / 100 == 2;
}

// Calls fn for every float sample of every series matching `want` in the
// accepted requests of `rx`, in arrival order.
void ForSamples(RwReceiver& rx, const std::map<std::string, std::string>& want,
                const std::function<void(const ReceivedSeries&, const model::Sample&)>& fn) {
  for (const auto& r : rx.Requests()) {
    if (!Accepted(r)) continue;
    for (const auto& s : r.series) {
      bool all = true;
      for (const auto& [k, v] : want) all = all && model::Get(s.labels, k) == v;
      if (!all) continue;
      for (const auto& smp : s.samples) fn(s, smp);
    }
  }
}

std::vector<double> Values(RwReceiver& rx, const std::map<std::string, std::string>& want) {
  std::vector<double> out;
  ForSamples(rx, want, [&](const ReceivedSeries&, const model::Sample& s) { out.push_back(s.value); });
  return out;
}

size_t UpSamples(RwReceiver& rx, const std::string& job) {
  return Values(rx, {{"__name__", "up"}, {"job", job}}).size();
}

class SenderSpecE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    run = new SharedRun;
    run->start_ms = NowMs();
    run->page_ts_base_ms = run->start_ms - 60'000;
    Pages& p = run->pages;
    auto fixed = [](std::string body) { return [body](uint64_t) { return body; }; };
    p.Add("counter", kText004, [](uint64_t n) {
      return "# TYPE counter_total counter\ncounter_total " + std::to_string(n - 1) + "\n";
    });
    p.Add("now", kText004,
          [](uint64_t) { return "# TYPE now gauge\nnow " + std::to_string(NowMs()) + "\n"; });
    p.Add("gauge", kText004, fixed("# HELP gauge A constant.\n# TYPE gauge gauge\ngauge 42\n"));
    p.Add(
        "histogram", kText004,
        fixed("# HELP histogram A histogram.\n# TYPE histogram histogram\n"
              "histogram_bucket{le=\"1\"} 1\nhistogram_bucket{le=\"2\"} 2\nhistogram_bucket{le=\"+Inf\"} 2\n"
              "histogram_sum 3\nhistogram_count 2\n"));
    p.Add(
        "summary", kText004,
        fixed("# HELP summary A summary.\n# TYPE summary summary\nsummary{quantile=\"0.5\"} 2\n"
              "summary{quantile=\"0.9\"} 3\nsummary{quantile=\"0.99\"} 3\nsummary_sum 6\nsummary_count 3\n"));
    p.Add("sorted_labels", kText004, fixed("# TYPE test gauge\ntest{b=\"2\",a=\"1\"} 1.0\n"));
    p.Add("repeated_labels", kText004, fixed("# TYPE test gauge\ntest{a=\"1\",a=\"1\"} 1.0\n"));
    p.Add("empty_labels", kText004, fixed("# TYPE test gauge\ntest{a=\"\"} 1.0\n"));
    p.Add("name_label", kText004, fixed("# TYPE test gauge\n{label=\"value\"} 1.0\n"));
    p.Add("honor_labels", kText004,
          fixed("# TYPE test gauge\ntest{job=\"original\", instance=\"foo\"} 1.0\n"));
    p.Add("invalid", kText004, fixed("# this is not valid prometheus\n1234notvali}{ 444\n"));
    p.Add("staleness", kText004, [](uint64_t n) { return n == 1 ? "stale 1\nkept 1\n" : "kept 1\n"; });
    p.Add("ordering", kText004, fixed(OrderingPage()));
    p.Add("values", kText004, fixed(ValuesPage()));
    p.Add("labels", kText004, fixed(LabelsPage()));
    p.Add("names", kText004, fixed("a:b:c 1\n" + kLongMetricName + " 1\n"));
    p.Add("empty", kText004, fixed(""));
    const int64_t base = run->page_ts_base_ms;
    p.Add("page_timestamps", kText004, [base](uint64_t n) {
      return "page_ts " + std::to_string(n) + " " + std::to_string(base + static_cast<int64_t>(n) * 1000) +
             "\n";
    });
    p.Add("openmetrics", kOpenMetrics, OpenMetricsPage);
    p.Add("native", kProtobuf, NativePage);
    p.Add("native_stale", kProtobuf, VanishingNativePage);
    p.Start();

    run->slow.SetPolicy([](size_t i) {
      return RwReceiver::Answer{0, milliseconds((i * 7919) % 300)};  // 0-299 ms, not monotonic
    });
    run->fail500.SetPolicy([](size_t i) { return RwReceiver::Answer{i == 0 ? 500 : 0, {}}; });
    run->fail400.SetPolicy([](size_t i) { return RwReceiver::Answer{i == 0 ? 400 : 0, {}}; });

    // 2 s: room for a busy machine; a failed scrape would mark series stale.
    std::string config = "global:\n  scrape_interval: 2s\n  scrape_timeout: 1900ms\nscrape_configs:\n";
    for (const auto& job : p.Jobs()) {
      config += "  - job_name: " + job + "\n    metrics_path: /" + job + "\n";
      if (p.IsProtobuf(job)) config += "    scrape_native_histograms: true\n";
      config += "    static_configs:\n      - targets: [\"" + p.Address() + "\"]\n";
    }
    config += "remote_write:\n";
    const std::string queue =
        "    queue_config: {batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 1s}\n";
    for (auto [name, rx] : Receivers()) {
      config += "  - name: " + name + "\n    url: " + rx->Url() + "\n" + queue;
      if (name == "v2") {
        config +=
            "    protobuf_message: io.prometheus.write.v2.Request\n"
            "    send_exemplars: true\n    send_native_histograms: true\n";
      }
    }
    run->agent = std::make_unique<AgentProcess>(run->dir.path(), config);
    const auto jobs = p.Jobs();
    const bool ready = PollUntil(seconds(180), [&] {
      for (auto [name, rx] : Receivers()) {
        for (const auto& job : jobs) {
          if (UpSamples(*rx, job) < 4) return false;
        }
      }
      return true;
    });
    ASSERT_TRUE(ready) << run->agent->Log();
    // Stopping flushes what was scraped (and, standalone, marks nothing
    // stale), so the tests see whole scrapes only, and nothing moves under them.
    ASSERT_EQ(run->agent->process().Stop(seconds(60)), 0) << run->agent->Log();
    run->end_ms = NowMs();
  }
  static void TearDownTestSuite() {
    delete run;
    run = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(run && run->end_ms > 0) << "the shared run did not get ready"; }
};

// --- The 1.0 cases ---------------------------------------------------------

TEST_F(SenderSpecE2E, Rw1CounterArrivesWithEveryValueInOrder) {
  auto v = Values(run->v1, {{"__name__", "counter_total"}});
  ASSERT_GE(v.size(), 3u);
  for (size_t i = 1; i < v.size(); ++i) EXPECT_EQ(v[i], v[i - 1] + 1) << i;
}

TEST_F(SenderSpecE2E, Rw1GaugeValueIsWhatThePageSaidAtTheScrape) {
  size_t n = 0;
  ForSamples(run->v1, {{"__name__", "now"}}, [&](const ReceivedSeries&, const model::Sample& s) {
    // The page wrote its clock in ms as the value; the scrape's timestamp is
    // taken around the same moment (a minute is far more than any skew).
    EXPECT_LT(std::abs(s.value - static_cast<double>(s.timestamp_ms)), 60'000.0);
    ++n;
  });
  EXPECT_GT(n, 0u);
}

// Prometheus 3 normalizes `le` and `quantile` of classic histograms and
// summaries to the float format ("1" becomes "1.0"), and so do we; the 1.0
// suite still expects Prometheus 2's `le="1"`.
TEST_F(SenderSpecE2E, Rw1HistogramBucketsSumAndCountArriveEveryScrape) {
  auto count = Values(run->v1, {{"__name__", "histogram_count"}});
  ASSERT_GE(count.size(), 3u);
  for (auto [le, want] : {std::pair{"1.0", 1.0}, std::pair{"2.0", 2.0}, std::pair{"+Inf", 2.0}}) {
    auto b = Values(run->v1, {{"__name__", "histogram_bucket"}, {"le", le}});
    EXPECT_EQ(b, std::vector<double>(count.size(), want)) << le;
  }
  EXPECT_EQ(Values(run->v1, {{"__name__", "histogram_sum"}}), std::vector<double>(count.size(), 3.0));
  EXPECT_EQ(count, std::vector<double>(count.size(), 2.0));
  EXPECT_TRUE(Values(run->v1, {{"__name__", "histogram_bucket"}, {"le", "1"}}).empty());
}

TEST_F(SenderSpecE2E, Rw1SummaryQuantilesSumAndCountArriveEveryScrape) {
  auto count = Values(run->v1, {{"__name__", "summary_count"}});
  ASSERT_GE(count.size(), 3u);
  for (auto [q, want] : {std::pair{"0.5", 2.0}, std::pair{"0.9", 3.0}, std::pair{"0.99", 3.0}}) {
    EXPECT_EQ(Values(run->v1, {{"__name__", "summary"}, {"quantile", q}}),
              std::vector<double>(count.size(), want))
        << q;
  }
  EXPECT_EQ(Values(run->v1, {{"__name__", "summary_sum"}}), std::vector<double>(count.size(), 6.0));
}

TEST_F(SenderSpecE2E, Rw1HeadersAreTheSpecs) {
  auto requests = run->v1.Requests();
  ASSERT_FALSE(requests.empty());
  for (const auto& r : requests) {
    EXPECT_EQ(r.content_type, "application/x-protobuf");
    EXPECT_EQ(r.encoding, "snappy");
    EXPECT_EQ(r.version, "0.1.0");
    EXPECT_EQ(r.user_agent.rfind("promsidecar-agent/", 0), 0u) << r.user_agent;
    EXPECT_FALSE(r.v2);
    EXPECT_EQ(r.error, "");
  }
}

TEST_F(SenderSpecE2E, Rw1JobAndInstanceLabelsAreTheTargets) {
  auto v = Values(run->v1, {{"__name__", "gauge"}, {"job", "gauge"}, {"instance", run->pages.Address()}});
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v, std::vector<double>(v.size(), 42.0));
}

TEST_F(SenderSpecE2E, Rw1EveryLabelSetArrivesSortedWithoutEmptyOrRepeatedNames) {
  for (const auto& r : run->v1.Requests()) {
    for (const auto& s : r.series) {
      EXPECT_TRUE(model::IsCanonical(s.labels)) << model::ToString(s.labels);
      ASSERT_FALSE(s.labels.empty());
      EXPECT_EQ(s.labels[0].name, "__name__") << model::ToString(s.labels);
    }
  }
  EXPECT_FALSE(
      Values(run->v1, {{"__name__", "test"}, {"job", "sorted_labels"}, {"a", "1"}, {"b", "2"}}).empty());
}

TEST_F(SenderSpecE2E, Rw1RepeatedLabelNamesFailTheScrape) {
  EXPECT_TRUE(Values(run->v1, {{"__name__", "test"}, {"job", "repeated_labels"}}).empty());
  auto up = Values(run->v1, {{"__name__", "up"}, {"job", "repeated_labels"}});
  ASSERT_FALSE(up.empty());
  EXPECT_EQ(up, std::vector<double>(up.size(), 0.0));
}

TEST_F(SenderSpecE2E, Rw1EmptyLabelValueMeansNoLabel) {
  size_t n = 0;
  ForSamples(run->v1, {{"__name__", "test"}, {"job", "empty_labels"}}, [&](const ReceivedSeries& s, auto&) {
    EXPECT_EQ(s.labels.size(), 3u) << model::ToString(s.labels);  // __name__, instance, job
    ++n;
  });
  EXPECT_GT(n, 0u);
}

TEST_F(SenderSpecE2E, Rw1AMetricWithoutANameFailsTheScrape) {
  EXPECT_TRUE(Values(run->v1, {{"label", "value"}}).empty());
  auto up = Values(run->v1, {{"__name__", "up"}, {"job", "name_label"}});
  ASSERT_FALSE(up.empty());
  EXPECT_EQ(up, std::vector<double>(up.size(), 0.0));
}

TEST_F(SenderSpecE2E, Rw1ClashingTargetLabelsAreExportedWithoutHonorLabels) {
  EXPECT_FALSE(Values(run->v1, {{"__name__", "test"},
                                {"job", "honor_labels"},
                                {"exported_job", "original"},
                                {"exported_instance", "foo"}})
                   .empty());
}

TEST_F(SenderSpecE2E, Rw1UpIsOneForAGoodPageAndZeroForAnInvalidOne) {
  auto good = Values(run->v1, {{"__name__", "up"}, {"job", "gauge"}});
  ASSERT_FALSE(good.empty());
  EXPECT_EQ(good, std::vector<double>(good.size(), 1.0));
  auto bad = Values(run->v1, {{"__name__", "up"}, {"job", "invalid"}});
  ASSERT_FALSE(bad.empty());
  EXPECT_EQ(bad, std::vector<double>(bad.size(), 0.0));
}

TEST_F(SenderSpecE2E, Rw1ASeriesGoneFromThePageGetsAStalenessMarker) {
  std::vector<double> v = Values(run->v1, {{"__name__", "stale"}, {"job", "staleness"}});
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], 1.0);
  EXPECT_TRUE(model::IsStaleNaN(v[1]));
  for (double k : Values(run->v1, {{"__name__", "kept"}, {"job", "staleness"}})) EXPECT_EQ(k, 1.0);
}

// The spec asks for timestamp order within a series, not across series: a
// batch groups each series' samples, so two scrapes in one batch interleave
// (the 1.0 suite's Timestamp case wants one order across all series).
TEST_F(SenderSpecE2E, Rw1TimestampsAreFromTheRunAndIncreaseWithinEachSeries) {
  std::map<std::string, int64_t> last;
  for (const auto& r : run->v1.Requests()) {
    for (const auto& s : r.series) {
      if (model::Get(s.labels, "job") == "page_timestamps") continue;  // the page's own times
      for (const auto& smp : s.samples) {
        EXPECT_GE(smp.timestamp_ms, run->start_ms);
        EXPECT_LE(smp.timestamp_ms, run->end_ms + 60'000);
        auto& prev = last[model::ToString(s.labels)];
        EXPECT_GT(smp.timestamp_ms, prev) << model::ToString(s.labels);
        prev = smp.timestamp_ms;
      }
    }
  }
  EXPECT_FALSE(last.empty());
}

TEST_F(SenderSpecE2E, Rw1SlowReceiverStillGetsEverySeriesInTimestampOrder) {
  std::map<std::string, int64_t> last;
  size_t n = 0;
  ForSamples(run->slow, {{"__name__", "ordering"}}, [&](const ReceivedSeries& s, const model::Sample& smp) {
    auto& prev = last[model::ToString(s.labels)];
    EXPECT_GT(smp.timestamp_ms, prev) << model::ToString(s.labels);
    prev = smp.timestamp_ms;
    ++n;
  });
  EXPECT_EQ(last.size(), 1000u);
  EXPECT_GE(n, 3000u);
}

using SampleKeys = std::set<std::pair<std::string, int64_t>>;
SampleKeys Keys(const ReceivedRequest& r) {
  SampleKeys out;
  for (const auto& s : r.series) {
    for (const auto& smp : s.samples) out.insert({model::ToString(s.labels), smp.timestamp_ms});
  }
  return out;
}

TEST_F(SenderSpecE2E, Rw1A500IsRetriedUntilTheSamplesArrive) {
  auto requests = run->fail500.Requests();
  ASSERT_GE(requests.size(), 2u);
  ASSERT_EQ(requests[0].status, 500);
  const SampleKeys refused = Keys(requests[0]);
  ASSERT_FALSE(refused.empty());
  SampleKeys later;
  for (size_t i = 1; i < requests.size(); ++i) {
    if (Accepted(requests[i])) later.merge(Keys(requests[i]));
  }
  for (const auto& k : refused) EXPECT_TRUE(later.count(k)) << k.first << " @" << k.second;
}

TEST_F(SenderSpecE2E, Rw1A400IsNotRetried) {
  auto requests = run->fail400.Requests();
  ASSERT_GE(requests.size(), 2u);
  ASSERT_EQ(requests[0].status, 400);
  const SampleKeys refused = Keys(requests[0]);
  ASSERT_FALSE(refused.empty());
  for (size_t i = 1; i < requests.size(); ++i) {
    for (const auto& k : Keys(requests[i])) EXPECT_FALSE(refused.count(k)) << k.first << " @" << k.second;
  }
}

TEST_F(SenderSpecE2E, Rw1SendsNoHistogramsOrExemplarsUnlessAsked) {
  for (const auto& r : run->v1.Requests()) {
    for (const auto& s : r.series) {
      EXPECT_TRUE(s.histograms.empty()) << model::ToString(s.labels);
      EXPECT_TRUE(s.exemplars.empty()) << model::ToString(s.labels);
    }
  }
  // Nothing of a native histogram reached this endpoint.
  EXPECT_TRUE(run->v1.Series({{"__name__", "native_int_seconds"}}).empty());
}

// --- The 2.0 cases ---------------------------------------------------------

TEST_F(SenderSpecE2E, Rw2HeadersAreTheSpecs) {
  auto requests = run->v2.Requests();
  ASSERT_FALSE(requests.empty());
  for (const auto& r : requests) {
    EXPECT_TRUE(r.v2);
    EXPECT_EQ(r.content_type, "application/x-protobuf;proto=io.prometheus.write.v2.Request");
    EXPECT_EQ(r.encoding, "snappy");
    EXPECT_EQ(r.version, "2.0.0");
    EXPECT_EQ(r.user_agent.rfind("promsidecar-agent/", 0), 0u) << r.user_agent;
    EXPECT_EQ(r.error, "");  // snappy block format, a parseable Request
  }
}

TEST_F(SenderSpecE2E, Rw2SymbolsStartEmptyHoldEachStringOnceAndEveryReferenceIsValid) {
  for (const auto& r : run->v2.Requests()) {
    ASSERT_FALSE(r.symbols.empty());
    EXPECT_EQ(r.symbols[0], "");
    EXPECT_EQ(std::set<std::string>(r.symbols.begin(), r.symbols.end()).size(), r.symbols.size());
    EXPECT_EQ(r.problems, std::vector<std::string>{});
  }
  size_t most = 0;  // several series per request
  for (const auto& r : run->v2.Requests()) most = std::max(most, r.series.size());
  EXPECT_GT(most, 100u);
}

TEST_F(SenderSpecE2E, Rw2SampleValuesArriveBitForBit) {
  for (const auto& [kind, text] : kValues) {
    auto v = Values(run->v2, {{"__name__", "values"}, {"kind", kind}});
    ASSERT_FALSE(v.empty()) << kind;
    for (double got : v) {
      if (kind == "nan") {
        EXPECT_TRUE(std::isnan(got));
        EXPECT_FALSE(model::IsStaleNaN(got));
      } else {
        const double want = std::strtod(text.c_str(), nullptr);
        EXPECT_EQ(std::bit_cast<uint64_t>(got), std::bit_cast<uint64_t>(want)) << kind;
      }
    }
  }
}

TEST_F(SenderSpecE2E, Rw2TimestampsAreMillisecondsFromThePageOrTheScrape) {
  size_t n = 0;
  ForSamples(run->v2, {{"__name__", "page_ts"}}, [&](const ReceivedSeries&, const model::Sample& s) {
    EXPECT_EQ(s.timestamp_ms, run->page_ts_base_ms + static_cast<int64_t>(s.value) * 1000);
    ++n;
  });
  EXPECT_GT(n, 0u);
  std::map<std::string, int64_t> last;
  for (const auto& r : run->v2.Requests()) {
    for (const auto& s : r.series) {
      for (int64_t t : [&] {
             std::vector<int64_t> ts;
             for (const auto& x : s.samples) ts.push_back(x.timestamp_ms);
             for (const auto& x : s.histograms) ts.push_back(x.timestamp_ms);
             return ts;
           }()) {
        auto& prev = last[model::ToString(s.labels) + (s.histograms.empty() ? "" : " (histograms)")];
        EXPECT_GT(t, prev) << model::ToString(s.labels);
        prev = t;
      }
    }
  }
}

TEST_F(SenderSpecE2E, Rw2LabelValuesAndNamesArriveExactly) {
  EXPECT_FALSE(run->v2.Series({{"__name__", "labels_unicode"}, {"v", "日本語 ✓ ünïcödé"}}).empty());
  EXPECT_FALSE(
      run->v2.Series({{"__name__", "labels_special"}, {"v", "quote \" backslash \\ newline \n tab\tend"}})
          .empty());
  EXPECT_FALSE(run->v2.Series({{"__name__", "labels_long"}, {kLongLabelName, kLongLabelValue}}).empty());
  auto many = run->v2.Series({{"__name__", "labels_many"}});
  ASSERT_FALSE(many.empty());
  EXPECT_EQ(many[0].labels.size(), 33u);  // 30 + __name__, instance, job
  EXPECT_FALSE(run->v2.Series({{"__name__", "a:b:c"}}).empty());
  EXPECT_FALSE(run->v2.Series({{"__name__", kLongMetricName}}).empty());
  for (const auto& r : run->v2.Requests()) {
    for (const auto& s : r.series) {
      EXPECT_TRUE(model::IsCanonical(s.labels)) << model::ToString(s.labels);
      EXPECT_TRUE(model::IsValidMetricName(model::Get(s.labels, "__name__"))) << model::ToString(s.labels);
      for (const auto& l : s.labels) EXPECT_TRUE(model::IsValidLabelName(l.name)) << l.name;
    }
  }
}

TEST_F(SenderSpecE2E, Rw2NativeHistogramsArriveAsExposedInTheirOwnTimeSeries) {
  model::Histogram want;
  want.schema = 0;
  want.zero_threshold = 0.001;
  want.zero_count_int = 2;
  want.count_int = 11;
  want.sum = 7.5;
  want.positive_spans = {{0, 2}};
  want.positive_deltas = {3, -1};
  want.negative_spans = {{1, 1}};
  want.negative_deltas = {4};
  size_t n = 0;
  for (const auto& s : run->v2.Series({{"__name__", "native_int_seconds"}})) {
    EXPECT_TRUE(s.samples.empty());
    for (const auto& hs : s.histograms) {
      auto got = hs.histogram;
      got.reset_hint = want.reset_hint;
      EXPECT_EQ(got, want);
      EXPECT_GE(hs.timestamp_ms, run->start_ms);
      ++n;
    }
  }
  EXPECT_GE(n, 3u);
  auto large = run->v2.Series({{"__name__", "native_large"}});
  ASSERT_FALSE(large.empty());
  ASSERT_FALSE(large[0].histograms.empty());
  EXPECT_EQ(large[0].histograms[0].histogram.count_int, 1'000'000'000'000'000ULL);
  EXPECT_EQ(large[0].histograms[0].histogram.positive_deltas, std::vector<int64_t>{1'000'000'000'000'000LL});
  auto flt = run->v2.Series({{"__name__", "native_float"}});
  ASSERT_FALSE(flt.empty());
  ASSERT_FALSE(flt[0].histograms.empty());
  const auto& fh = flt[0].histograms[0].histogram;
  EXPECT_TRUE(fh.is_float);
  EXPECT_EQ(fh.count_float, 2.5);
  EXPECT_EQ(fh.positive_counts, std::vector<double>{2.5});
  EXPECT_EQ(fh.reset_hint, model::ResetHint::kGauge);
  ASSERT_TRUE(flt[0].metadata.has_value());
  EXPECT_EQ(flt[0].metadata->type, model::MetricType::kGaugeHistogram);
}

TEST_F(SenderSpecE2E, Rw2AVanishedNativeHistogramGetsAFloatStalenessMarker) {
  std::vector<double> markers;
  size_t histograms = 0;
  for (const auto& s : run->v2.Series({{"__name__", "vanishing_seconds"}})) {
    histograms += s.histograms.size();
    for (const auto& smp : s.samples) markers.push_back(smp.value);
  }
  EXPECT_EQ(histograms, 1u);
  ASSERT_EQ(markers.size(), 1u);
  EXPECT_TRUE(model::IsStaleNaN(markers[0]));
}

TEST_F(SenderSpecE2E, Rw2ExemplarsArriveWithTheirSeriesOnceEach) {
  // The counter's exemplar (trace and span id), protobuf and OpenMetrics.
  std::set<std::string> seen;
  for (const auto& want :
       {std::map<std::string, std::string>{{"__name__", "native_requests_total"}},
        std::map<std::string, std::string>{{"__name__", "om_requests_total"}, {"path", "/a"}}}) {
    size_t n = 0;
    for (const auto& s : run->v2.Series(want)) {
      for (const auto& e : s.exemplars) {
        EXPECT_TRUE(seen.insert(model::ToString(e.labels)).second)
            << "sent twice: " << model::ToString(e.labels);
        EXPECT_FALSE(model::Get(e.labels, "trace_id").empty());
        EXPECT_FALSE(model::Get(e.labels, "span_id").empty());
        EXPECT_GT(e.timestamp_ms, run->start_ms - 2000);
        ++n;
      }
    }
    EXPECT_GE(n, 2u) << want.at("__name__");
  }
  // Two per histogram scrape, one per bucket side.
  size_t positive = 0, negative = 0;
  for (const auto& s : run->v2.Series({{"__name__", "native_int_seconds"}})) {
    for (const auto& e : s.exemplars) (e.value > 0 ? positive : negative)++;
  }
  EXPECT_GE(positive, 2u);
  EXPECT_GE(negative, 2u);
}

TEST_F(SenderSpecE2E, Rw2MetadataOfEveryTypeWithHelpAndUnitOnEverySeries) {
  struct Want {
    std::map<std::string, std::string> series;
    model::MetricType type;
    std::string help, unit;
  };
  const std::vector<Want> wants{
      {{{"__name__", "om_requests_total"}, {"path", "/a"}},
       model::MetricType::kCounter,
       "Requests with \"quotes\" and a \\ backslash,\nover two lines.",
       ""},
      {{{"__name__", "om_requests_total"}, {"path", "/b"}},
       model::MetricType::kCounter,
       "Requests with \"quotes\" and a \\ backslash,\nover two lines.",
       ""},
      {{{"__name__", "om_latency_seconds"}}, model::MetricType::kGauge, "Latency.", "seconds"},
      {{{"__name__", "om_summary_count"}}, model::MetricType::kSummary, "A summary.", ""},
      {{{"__name__", "om_empty_help"}}, model::MetricType::kGauge, "", ""},
      {{{"__name__", "gauge"}, {"job", "gauge"}}, model::MetricType::kGauge, "A constant.", ""},
      {{{"__name__", "histogram_bucket"}, {"le", "+Inf"}}, model::MetricType::kHistogram, "A histogram.", ""},
      {{{"__name__", "summary"}, {"quantile", "0.5"}}, model::MetricType::kSummary, "A summary.", ""},
      {{{"__name__", "native_int_seconds"}},
       model::MetricType::kHistogram,
       "An integer native histogram.",
       ""},
  };
  for (const auto& w : wants) {
    auto series = run->v2.Series(w.series);
    ASSERT_FALSE(series.empty()) << w.series.at("__name__");
    for (const auto& s : series) {
      ASSERT_TRUE(s.metadata.has_value()) << model::ToString(s.labels);
      EXPECT_EQ(s.metadata->type, w.type) << model::ToString(s.labels);
      EXPECT_EQ(s.metadata->help, w.help) << model::ToString(s.labels);
      EXPECT_EQ(s.metadata->unit, w.unit) << model::ToString(s.labels);
    }
  }
}

TEST_F(SenderSpecE2E, Rw2AnEmptyPageStillSendsTheScrapesOwnSeries) {
  auto up = Values(run->v2, {{"__name__", "up"}, {"job", "empty"}});
  ASSERT_FALSE(up.empty());
  EXPECT_EQ(up, std::vector<double>(up.size(), 1.0));
  auto scraped = Values(run->v2, {{"__name__", "scrape_samples_scraped"}, {"job", "empty"}});
  ASSERT_FALSE(scraped.empty());
  EXPECT_EQ(scraped, std::vector<double>(scraped.size(), 0.0));
}

}  // namespace
}  // namespace promsidecar::testing
