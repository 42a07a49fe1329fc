#include "agent/scrape/scrape_processor.h"

#include <gtest/gtest.h>

#include <cmath>

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
  auto r = t.Process("a 2\nb 2\nc 2\n", Format::kPrometheusText, 2000, 0, app);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("sample_limit"), std::string::npos) << r.error;
  EXPECT_TRUE(app.Of(WithTarget("c")).empty());  // nothing of the failed scrape
  auto a = app.Of(WithTarget("a"));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(model::IsStaleNaN(a[1].value));  // previous series go stale
  EXPECT_EQ(app.Of(WithTarget("up")).back().value, 0);
  EXPECT_EQ(app.Of(WithTarget("scrape_samples_scraped")).back().value, 3);
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

}  // namespace
}  // namespace promsidecar::scrape
