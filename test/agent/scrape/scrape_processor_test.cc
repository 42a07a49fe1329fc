#include "agent/scrape/scrape_processor.h"

#include <gtest/gtest.h>

#include <cmath>

#include "../textparse/proto_page.h"
#include "memory_appender.h"

namespace promsidecar::scrape {
namespace {

using model::Labels;
using textparse::Format;

const Labels kTarget{{"instance", "pod-a:8080"}, {"job", "app"}};

TargetSettings Settings() {
  TargetSettings s;
  s.target_labels = kTarget;
  return s;
}

Labels L(std::initializer_list<model::Label> extra) {
  Labels l(extra);
  model::Canonicalize(l);
  return l;
}

Labels WithTarget(std::string name, std::initializer_list<model::Label> extra = {}) {
  Labels l = kTarget;
  for (const auto& e : extra) l.push_back(e);
  l.push_back({"__name__", std::move(name)});
  model::Canonicalize(l);
  return l;
}

TEST(ScrapeProcessor, AppendsSamplesWithTargetLabelsAndSyntheticSeries) {
  MemoryAppender app;
  TargetState t(Settings());
  auto r =
      t.Process("# TYPE a counter\na_total 1\nb{x=\"y\"} 2.5\n", Format::kPrometheusText, 1000, 0.25, app);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.samples_scraped, 2u);
  EXPECT_EQ(r.samples_post_relabel, 2u);
  EXPECT_EQ(r.series_added, 2u);
  ASSERT_EQ(app.Of(WithTarget("a_total")).size(), 1u);
  EXPECT_EQ(app.Of(WithTarget("a_total"))[0].value, 1);
  EXPECT_EQ(app.Of(WithTarget("b", {{"x", "y"}}))[0].value, 2.5);
  EXPECT_EQ(app.Of(WithTarget("up"))[0].value, 1);
  EXPECT_EQ(app.Of(WithTarget("scrape_duration_seconds"))[0].value, 0.25);
  EXPECT_EQ(app.Of(WithTarget("scrape_samples_scraped"))[0].value, 2);
  EXPECT_EQ(app.Of(WithTarget("scrape_samples_post_metric_relabeling"))[0].value, 2);
  EXPECT_EQ(app.Of(WithTarget("scrape_series_added"))[0].value, 2);
  for (const auto& row : app.rows_) EXPECT_EQ(row.ts, 1000);
  EXPECT_EQ(app.commits_, 1);
  EXPECT_TRUE(app.unknown_refs_.empty());
}

// A valid OpenMetrics timestamp beyond int64 milliseconds: the scrape
// succeeds as in Prometheus, which cannot store that one sample; without
// honor_timestamps it is stored at the scrape's time.
TEST(ScrapeProcessor, TimestampOutOfInt64RangeDropsOnlyThatSample) {
  const std::string page =
      "# TYPE a counter\na_total{n=\"1\"} 1 12345678901234567890.1234567890\na_total{n=\"2\"} 2 1.5\n# EOF\n";
  {
    MemoryAppender app;
    TargetState t(Settings());
    auto r = t.Process(page, Format::kOpenMetrics, 9000, 0, app);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.out_of_bounds, 1u);
    EXPECT_EQ(r.samples_scraped, 2u);
    EXPECT_TRUE(app.Of(WithTarget("a_total", {{"n", "1"}})).empty());
    auto kept = app.Of(WithTarget("a_total", {{"n", "2"}}));
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_EQ(kept[0].ts, 1500);
    EXPECT_EQ(app.Of(WithTarget("up"))[0].value, 1);
  }
  {
    TargetSettings s = Settings();
    s.honor_timestamps = false;
    MemoryAppender app;
    TargetState t(s);
    auto r = t.Process(page, Format::kOpenMetrics, 9000, 0, app);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.out_of_bounds, 0u);
    auto stored = app.Of(WithTarget("a_total", {{"n", "1"}}));
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(stored[0].ts, 9000);
  }
}

TEST(ScrapeProcessor, SecondScrapeReusesCachedSeries) {
  MemoryAppender app;
  TargetState t(Settings());
  ASSERT_TRUE(t.Process("a 1\n", Format::kPrometheusText, 1000, 0, app).ok);
  size_t series = app.series_.size();
  auto r = t.Process("a 2\n", Format::kPrometheusText, 2000, 0, app);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.series_added, 0u);
  EXPECT_EQ(app.series_.size(), series);
  auto rows = app.Of(WithTarget("a"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].value, 2);
  EXPECT_EQ(app.Of(WithTarget("scrape_series_added")).back().value, 0);
}

TEST(ScrapeProcessor, HonorLabelsFalseRenamesClashesToExported) {
  MemoryAppender app;
  TargetState t(Settings());
  ASSERT_TRUE(t.Process("m{job=\"theirs\",exported_job=\"x\"} 1\n", Format::kPrometheusText, 1, 0, app).ok);
  EXPECT_EQ(app.Of(WithTarget("m", {{"exported_exported_job", "theirs"}, {"exported_job", "x"}})).size(), 1u);
}

TEST(ScrapeProcessor, HonorLabelsTrueKeepsExposedLabels) {
  MemoryAppender app;
  auto s = Settings();
  s.honor_labels = true;
  TargetState t(s);
  ASSERT_TRUE(t.Process("m{job=\"theirs\"} 1\n", Format::kPrometheusText, 1, 0, app).ok);
  EXPECT_EQ(app.Of(L({{"__name__", "m"}, {"instance", "pod-a:8080"}, {"job", "theirs"}})).size(), 1u);
}

TEST(ScrapeProcessor, HonorTimestamps) {
  for (bool honor : {true, false}) {
    MemoryAppender app;
    auto s = Settings();
    s.honor_timestamps = honor;
    TargetState t(s);
    ASSERT_TRUE(t.Process("m 1 123\n", Format::kPrometheusText, 5000, 0, app).ok);
    EXPECT_EQ(app.Of(WithTarget("m"))[0].ts, honor ? 123 : 5000);
  }
}

TEST(ScrapeProcessor, OpenMetricsTimestampsAreSeconds) {
  MemoryAppender app;
  TargetState t(Settings());
  ASSERT_TRUE(t.Process("m 1 1.5\n# EOF\n", Format::kOpenMetrics, 5000, 0, app).ok);
  EXPECT_EQ(app.Of(WithTarget("m"))[0].ts, 1500);
}

TEST(ScrapeProcessor, MissingSeriesGetStaleMarkers) {
  MemoryAppender app;
  TargetState t(Settings());
  ASSERT_TRUE(t.Process("a 1\nb 1\n", Format::kPrometheusText, 1000, 0, app).ok);
  auto r = t.Process("a 2\n", Format::kPrometheusText, 2000, 0, app);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.stale_markers, 1u);
  auto b = app.Of(WithTarget("b"));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_TRUE(model::IsStaleNaN(b[1].value));
  EXPECT_EQ(b[1].ts, 2000);
}

TEST(ScrapeProcessor, InputNaNIsNeverAStaleMarker) {
  MemoryAppender app;
  TargetState t(Settings());
  ASSERT_TRUE(t.Process("a NaN\n", Format::kPrometheusText, 1000, 0, app).ok);
  double v = app.Of(WithTarget("a"))[0].value;
  EXPECT_TRUE(std::isnan(v));
  EXPECT_FALSE(model::IsStaleNaN(v));
}

TEST(ScrapeProcessor, SampleLimitFailsTheWholeScrape) {
  MemoryAppender app;
  auto s = Settings();
  s.limits.sample_limit = 2;
  TargetState t(s);
  ASSERT_TRUE(t.Process("a 1\nb 1\n", Format::kPrometheusText, 1000, 0, app).ok);
  auto r = t.Process("a 2\nb 2\nc 2\nd 2\ne 2\n", Format::kPrometheusText, 2000, 0, app);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("sample_limit"), std::string::npos) << r.error;
  EXPECT_TRUE(app.Of(WithTarget("c")).empty());  // nothing of the failed scrape
  EXPECT_TRUE(app.Of(WithTarget("e")).empty());
  auto a = app.Of(WithTarget("a"));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(model::IsStaleNaN(a[1].value));  // previous series go stale
  EXPECT_EQ(app.Of(WithTarget("up")).back().value, 0);
  // The whole page is counted, as Prometheus counts it, not only up to the limit.
  EXPECT_EQ(app.Of(WithTarget("scrape_samples_scraped")).back().value, 5);
  EXPECT_TRUE(app.unknown_refs_.empty());
  // Back under the limit: flowing again, and no stale marker twice.
  auto r3 = t.Process("a 3\n", Format::kPrometheusText, 3000, 0, app);
  ASSERT_TRUE(r3.ok);
  EXPECT_EQ(r3.stale_markers, 0u);
  EXPECT_EQ(app.Of(WithTarget("up")).back().value, 1);
  EXPECT_TRUE(app.unknown_refs_.empty());
}

TEST(ScrapeProcessor, SampleLimitCountsAfterMetricRelabeling) {
  MemoryAppender app;
  auto s = Settings();
  s.limits.sample_limit = 1;
  relabel::RelabelConfigSpec drop;
  drop.source_labels = std::vector<std::string>{"__name__"};
  drop.regex = "noisy_.*";
  drop.action = relabel::Action::kDrop;
  s.metric_relabel.push_back(relabel::Compile(drop).value());
  TargetState t(s);
  auto r = t.Process("noisy_a 1\nnoisy_b 1\nkept 1\n", Format::kPrometheusText, 1000, 0, app);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.samples_scraped, 3u);
  EXPECT_EQ(r.samples_post_relabel, 1u);
  EXPECT_TRUE(app.Of(WithTarget("noisy_a")).empty());
  // Dropped series stay cached as dropped: relabeling does not run again.
  auto r2 = t.Process("noisy_a 1\nnoisy_b 1\nkept 1\n", Format::kPrometheusText, 2000, 0, app);
  ASSERT_TRUE(r2.ok);
  EXPECT_EQ(r2.samples_post_relabel, 1u);
}

TEST(ScrapeProcessor, LabelLimitFailsTheScrape) {
  MemoryAppender app;
  auto s = Settings();
  s.limits.label_limit = 3;  // __name__, instance, job
  TargetState t(s);
  auto r = t.Process("m{a=\"1\"} 1\n", Format::kPrometheusText, 1000, 0, app);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("label_limit"), std::string::npos);
}

TEST(ScrapeProcessor, ParseErrorFailsWithLineAndAppendsNothingOfTheBody) {
  MemoryAppender app;
  TargetState t(Settings());
  auto r = t.Process("a 1\nb{x=} 2\n", Format::kPrometheusText, 1000, 0, app);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("line 2"), std::string::npos) << r.error;
  EXPECT_TRUE(app.Of(WithTarget("a")).empty());
  EXPECT_EQ(app.Of(WithTarget("up")).back().value, 0);
  EXPECT_EQ(app.rollbacks_, 1);
  // The series `a` of the failed scrape must not stay cached with a ref the
  // WAL never saw.
  ASSERT_TRUE(t.Process("a 1\n", Format::kPrometheusText, 2000, 0, app).ok);
  EXPECT_EQ(app.Of(WithTarget("a")).size(), 1u);
  EXPECT_TRUE(app.unknown_refs_.empty());
}

TEST(ScrapeProcessor, DuplicateSeriesKeepsTheFirstSample) {
  MemoryAppender app;
  TargetState t(Settings());
  auto r = t.Process("a 1\na 2\n", Format::kPrometheusText, 1000, 0, app);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.duplicates, 1u);
  auto a = app.Of(WithTarget("a"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].value, 1);
}

TEST(ScrapeProcessor, FetchFailureMarksEverythingStale) {
  MemoryAppender app;
  TargetState t(Settings());
  ASSERT_TRUE(t.Process("a 1\n", Format::kPrometheusText, 1000, 0, app).ok);
  auto r = t.Fail("connection refused", 2000, 0.001, app);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(model::IsStaleNaN(app.Of(WithTarget("a")).back().value));
  EXPECT_EQ(app.Of(WithTarget("up")).back().value, 0);
}

TEST(ScrapeProcessor, DropMarksSyntheticSeriesStaleToo) {
  MemoryAppender app;
  TargetState t(Settings());
  ASSERT_TRUE(t.Process("a 1\n", Format::kPrometheusText, 1000, 0, app).ok);
  ASSERT_TRUE(t.Drop(3000, app).ok());
  EXPECT_TRUE(model::IsStaleNaN(app.Of(WithTarget("a")).back().value));
  EXPECT_TRUE(model::IsStaleNaN(app.Of(WithTarget("up")).back().value));
  EXPECT_EQ(app.Of(WithTarget("up")).back().ts, 3000);
}

TEST(ScrapeProcessor, CommitFailureForgetsNewSeries) {
  MemoryAppender app;
  TargetState t(Settings());
  app.fail_next_commit_ = true;
  auto r = t.Process("a 1\n", Format::kPrometheusText, 1000, 0, app);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("disk full"), std::string::npos);
  ASSERT_TRUE(t.Process("a 2\n", Format::kPrometheusText, 2000, 0, app).ok);
  EXPECT_EQ(app.Of(WithTarget("a")).size(), 1u);
  EXPECT_TRUE(app.unknown_refs_.empty());
}

TEST(ScrapeProcessor, InvalidNameAfterRelabelingFails) {
  MemoryAppender app;
  auto s = Settings();
  relabel::RelabelConfigSpec rule;
  rule.action = relabel::Action::kLabelDrop;
  rule.regex = "__name__";
  s.metric_relabel.push_back(relabel::Compile(rule).value());
  TargetState t(s);
  auto r = t.Process("m 1\n", Format::kPrometheusText, 1, 0, app);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no metric name"), std::string::npos) << r.error;
}

TEST(ScrapeProcessor, CacheEvictsSeriesUnseenForTtlScrapes) {
  MemoryAppender app;
  TargetState t(Settings());
  ASSERT_TRUE(t.Process("a 1\nb 1\n", Format::kPrometheusText, 0, 0, app).ok);
  for (int i = 1; i <= 2 * static_cast<int>(TargetState::kCacheTtlScrapes); ++i) {
    ASSERT_TRUE(t.Process("a 1\n", Format::kPrometheusText, i * 1000, 0, app).ok);
  }
  EXPECT_EQ(t.cached_series(), 1u);
}

// ---- the protobuf format: native histograms, exemplars, metadata, limits

namespace client = promsidecar::testing::client;

client::MetricFamily NativeFamily(int32_t schema, int buckets, uint64_t count,
                                  const char* help = "Latency.") {
  client::MetricFamily f;
  f.set_name("rpc_seconds");
  f.set_help(help);
  f.set_type(client::HISTOGRAM);
  auto* m = f.add_metric();
  auto* h = m->mutable_histogram();
  h->set_schema(schema);
  h->set_sample_count(count);
  h->set_sample_sum(2.5);
  h->set_zero_threshold(1e-128);
  auto* span = h->add_positive_span();
  span->set_offset(0);
  span->set_length(static_cast<uint32_t>(buckets));
  for (int i = 0; i < buckets; ++i) h->add_positive_delta(i == 0 ? 1 : 0);
  auto* ex = h->add_exemplars();
  auto* l = ex->add_label();
  l->set_name("trace_id");
  l->set_value("abc");
  ex->set_value(0.3);
  promsidecar::testing::SetTimestamp(ex->mutable_timestamp(), 1700000000500);
  return f;
}

client::MetricFamily CounterFamily(const char* help, double value, int64_t created_ms = 0) {
  client::MetricFamily f;
  f.set_name("jobs_total");
  f.set_help(help);
  f.set_type(client::COUNTER);
  auto* c = f.add_metric()->mutable_counter();
  c->set_value(value);
  if (created_ms) promsidecar::testing::SetTimestamp(c->mutable_start_timestamp(), created_ms);
  return f;
}

TargetSettings NativeSettings() {
  TargetSettings s = Settings();
  s.proto.native_histograms = true;
  return s;
}

TEST(ScrapeProcessorProto, NativeHistogramWithExemplarAndMetadataOncePerChange) {
  MemoryAppender app;
  TargetState t(NativeSettings());
  const std::string page =
      promsidecar::testing::DelimitedPage({NativeFamily(3, 4, 4), CounterFamily("Jobs.", 7)});
  auto r = t.Process(page, Format::kProtobuf, 1000, 0, app);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.histograms, 1u);
  EXPECT_EQ(r.samples_scraped, 2u);
  ASSERT_EQ(app.histograms_.size(), 1u);
  EXPECT_EQ(app.LabelsOf(app.histograms_[0].ref), WithTarget("rpc_seconds"));
  EXPECT_EQ(app.histograms_[0].h.schema, 3);
  EXPECT_EQ(app.histograms_[0].h.count_int, 4u);
  ASSERT_EQ(app.exemplars_.size(), 1u);
  EXPECT_EQ(app.exemplars_[0].e.labels, (Labels{{"trace_id", "abc"}}));
  EXPECT_EQ(app.exemplars_[0].e.timestamp_ms, 1700000000500);
  const SeriesRef h = app.histograms_[0].ref;
  EXPECT_EQ(app.metadata_.at(h),
            (model::Metadata{model::MetricType::kHistogram, "Latency.", "", "rpc_seconds"}));
  ASSERT_EQ(app.Of(WithTarget("jobs_total")).size(), 1u);
  const SeriesRef c = app.Of(WithTarget("jobs_total"))[0].ref;
  EXPECT_EQ(app.metadata_.at(c).type, model::MetricType::kCounter);
  EXPECT_EQ(app.metadata_updates_, 2u);

  // The same page again: no new metadata, the repeated exemplar kept once.
  ASSERT_TRUE(t.Process(page, Format::kProtobuf, 2000, 0, app).ok);
  EXPECT_EQ(app.metadata_updates_, 2u);
  EXPECT_EQ(app.exemplars_.size(), 1u);
  EXPECT_EQ(app.histograms_.size(), 2u);
  // A changed help text is written again, for that family only.
  ASSERT_TRUE(
      t.Process(promsidecar::testing::DelimitedPage({NativeFamily(3, 4, 5), CounterFamily("Jobs run.", 8)}),
                Format::kProtobuf, 3000, 0, app)
          .ok);
  EXPECT_EQ(app.metadata_updates_, 3u);
  EXPECT_EQ(app.metadata_.at(c).help, "Jobs run.");
  // The histogram series disappears: its stale marker is a float stale NaN.
  ASSERT_TRUE(t.Process(promsidecar::testing::DelimitedPage({CounterFamily("Jobs run.", 9)}),
                        Format::kProtobuf, 4000, 0, app)
                  .ok);
  bool marked = false;
  for (const auto& row : app.rows_) marked |= row.ref == h && model::IsStaleNaN(row.value) && row.ts == 4000;
  EXPECT_TRUE(marked);
}

TEST(ScrapeProcessorProto, TextFormatMetadataFromHelpTypeUnitLines) {
  MemoryAppender app;
  TargetState t(Settings());
  auto r = t.Process(
      "# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\n"
      "temp_celsius 21\n# TYPE c counter\nc_total 1\nc_created 5\nbare 3\n# EOF\n",
      Format::kOpenMetrics, 1000, 0, app);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(app.metadata_.at(app.Of(WithTarget("temp_celsius"))[0].ref),
            (model::Metadata{model::MetricType::kGauge, "Temperature.", "celsius", "temp_celsius"}));
  EXPECT_EQ(app.metadata_.at(app.Of(WithTarget("c_total"))[0].ref).type, model::MetricType::kCounter);
  EXPECT_EQ(app.metadata_.at(app.Of(WithTarget("c_created"))[0].ref).type, model::MetricType::kCounter);
  EXPECT_FALSE(app.metadata_.contains(app.Of(WithTarget("bare"))[0].ref)) << "no metadata, none written";
}

TEST(ScrapeProcessorProto, BucketLimitLowersResolutionOrFailsTheScrape) {
  {
    TargetSettings s = NativeSettings();
    s.native_histogram_bucket_limit = 4;
    MemoryAppender app;
    TargetState t(s);
    // 8 consecutive buckets at schema 3: schema 2 merges pairs, 4 buckets remain (or 5 with the offset).
    auto r = t.Process(promsidecar::testing::DelimitedPage({NativeFamily(3, 8, 1)}), Format::kProtobuf, 1000,
                       0, app);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(app.histograms_.size(), 1u);
    EXPECT_LE(app.histograms_[0].h.bucket_count(), 4u);
    EXPECT_LT(app.histograms_[0].h.schema, 3);
  }
  {
    TargetSettings s = NativeSettings();
    s.native_histogram_bucket_limit = 1;
    MemoryAppender app;
    TargetState t(s);
    // Buckets spread so widely that even schema -4 keeps two of them.
    client::MetricFamily f = NativeFamily(0, 1, 2);
    auto* h = f.mutable_metric(0)->mutable_histogram();
    auto* far = h->add_positive_span();
    far->set_offset(1000);
    far->set_length(1);
    h->add_positive_delta(0);
    auto r = t.Process(promsidecar::testing::DelimitedPage({f}), Format::kProtobuf, 1000, 0, app);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("native_histogram_bucket_limit 1 exceeded"), std::string::npos) << r.error;
    EXPECT_TRUE(app.histograms_.empty());
    EXPECT_EQ(app.Of(WithTarget("up"))[0].value, 0);
  }
}

TEST(ScrapeProcessorProto, MinBucketFactorCapsTheSchema) {
  TargetSettings s = NativeSettings();
  s.native_histogram_max_schema = model::PickSchema(1.1);  // schema 2: growth 2^(1/4) ≈ 1.19
  MemoryAppender app;
  TargetState t(s);
  ASSERT_TRUE(
      t.Process(promsidecar::testing::DelimitedPage({NativeFamily(5, 6, 6)}), Format::kProtobuf, 1000, 0, app)
          .ok);
  ASSERT_EQ(app.histograms_.size(), 1u);
  EXPECT_EQ(app.histograms_[0].h.schema, 2);
  EXPECT_EQ(model::PickSchema(1.1), 2);
  EXPECT_EQ(model::PickSchema(0), 8);
  EXPECT_EQ(model::PickSchema(65536), -4);
}

TEST(ScrapeProcessorProto, ClassicHistogramsKeptBesideNativeWhenAsked) {
  client::MetricFamily f = NativeFamily(3, 2, 3);
  auto* b = f.mutable_metric(0)->mutable_histogram()->add_bucket();
  b->set_upper_bound(1);
  b->set_cumulative_count(2);
  for (bool keep : {false, true}) {
    TargetSettings s = NativeSettings();
    s.proto.keep_classic_histograms = keep;
    MemoryAppender app;
    TargetState t(s);
    ASSERT_TRUE(t.Process(promsidecar::testing::DelimitedPage({f}), Format::kProtobuf, 1000, 0, app).ok);
    EXPECT_EQ(app.histograms_.size(), 1u);
    EXPECT_EQ(app.Of(WithTarget("rpc_seconds_bucket", {{"le", "1.0"}})).size(), keep ? 1u : 0u);
    EXPECT_EQ(app.Of(WithTarget("rpc_seconds_count")).size(), keep ? 1u : 0u);
  }
}

TEST(ScrapeProcessorProto, CreatedTimestampZeroSampleOncePerReset) {
  TargetSettings s = Settings();
  s.created_timestamp_zero_ingestion = true;
  MemoryAppender app;
  TargetState t(s);
  ASSERT_TRUE(t.Process(promsidecar::testing::DelimitedPage({CounterFamily("J.", 5, 500)}), Format::kProtobuf,
                        1000, 0, app)
                  .ok);
  ASSERT_TRUE(t.Process(promsidecar::testing::DelimitedPage({CounterFamily("J.", 6, 500)}), Format::kProtobuf,
                        2000, 0, app)
                  .ok);
  // A reset: a newer created timestamp.
  ASSERT_TRUE(t.Process(promsidecar::testing::DelimitedPage({CounterFamily("J.", 1, 2500)}),
                        Format::kProtobuf, 3000, 0, app)
                  .ok);
  auto rows = app.Of(WithTarget("jobs_total"));
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].ts, 500);
  EXPECT_EQ(rows[0].value, 0);
  EXPECT_EQ(rows[1].ts, 1000);
  EXPECT_EQ(rows[2].ts, 2000);
  EXPECT_EQ(rows[3].ts, 2500);
  EXPECT_EQ(rows[3].value, 0);
  EXPECT_EQ(rows[4].ts, 3000);
}

TEST(ScrapeProcessorProto, LongExemplarLabelSetIsDroppedNotTheSample) {
  MemoryAppender app;
  TargetState t(Settings());
  const std::string long_value(130, 'x');
  auto r = t.Process("# TYPE a counter\na_total 1 # {trace_id=\"" + long_value + "\"} 1\n# EOF\n",
                     Format::kOpenMetrics, 1000, 0, app);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.exemplars_dropped, 1u);
  EXPECT_TRUE(app.exemplars_.empty());
  EXPECT_EQ(app.Of(WithTarget("a_total")).size(), 1u);
}

}  // namespace
}  // namespace promsidecar::scrape
