#include "agent/remote_write/batcher.h"

#include <gtest/gtest.h>

#include <chrono>

namespace promsidecar::remote_write {
namespace {

using model::Labels;
using model::Sample;
using std::chrono::milliseconds;

const SteadyTime kT0 = SteadyTime() + std::chrono::hours(1);

Labels L(std::string name, std::string job = "j") {
  return {{"__name__", std::move(name)}, {"job", std::move(job)}};
}

// samples of batch series i, as (ts, value) pairs for easy comparison
std::vector<std::pair<int64_t, double>> SamplesOf(const Batch& b, size_t i) {
  std::vector<std::pair<int64_t, double>> out;
  for (uint32_t k = 0; k < b.series[i].count; ++k) {
    const auto& s = b.samples[b.series[i].first + k];
    out.emplace_back(s.timestamp_ms, s.value);
  }
  return out;
}

TEST(Batcher, GroupsBySeriesKeepingArrivalOrder) {
  Batcher b({.max_samples_per_send = 100});
  ASSERT_TRUE(b.SetSeries(1, L("a")));
  ASSERT_TRUE(b.SetSeries(2, L("b")));
  b.Append(2, {10, 1}, kT0);
  b.Append(1, {10, 2}, kT0);
  b.Append(2, {20, 3}, kT0);
  b.Append(1, {20, 4}, kT0);
  b.Append(2, {30, 5}, kT0);
  b.MarkPosition({3, 400, 0});
  Batch batch;
  b.TakeBatch(batch);
  ASSERT_EQ(batch.series.size(), 2u);
  EXPECT_EQ(*batch.series[0].labels, L("b"));  // order of first appearance
  EXPECT_EQ(*batch.series[1].labels, L("a"));
  EXPECT_EQ(SamplesOf(batch, 0), (std::vector<std::pair<int64_t, double>>{{10, 1}, {20, 3}, {30, 5}}));
  EXPECT_EQ(SamplesOf(batch, 1), (std::vector<std::pair<int64_t, double>>{{10, 2}, {20, 4}}));
  EXPECT_EQ(batch.end, (Position{3, 400, 0}));
  EXPECT_EQ(b.pending(), 0u);

  // The next batch starts empty and reuses the same Batch object.
  b.Append(1, {30, 6}, kT0);
  b.TakeBatch(batch);
  ASSERT_EQ(batch.series.size(), 1u);
  EXPECT_EQ(SamplesOf(batch, 0), (std::vector<std::pair<int64_t, double>>{{30, 6}}));
}

TEST(Batcher, DoesNotSortOutOfOrderArrivals) {
  // The batcher never reorders a series: order is the source's business.
  Batcher b({});
  ASSERT_TRUE(b.SetSeries(1, L("a")));
  b.Append(1, {20, 1}, kT0);
  b.Append(1, {10, 2}, kT0);
  Batch batch;
  b.TakeBatch(batch);
  EXPECT_EQ(SamplesOf(batch, 0), (std::vector<std::pair<int64_t, double>>{{20, 1}, {10, 2}}));
}

TEST(Batcher, FlushesWhenFull) {
  Batcher b({.max_samples_per_send = 3, .batch_send_deadline = milliseconds(5000)});
  ASSERT_TRUE(b.SetSeries(1, L("a")));
  b.Append(1, {1, 1}, kT0);
  b.Append(1, {2, 1}, kT0);
  EXPECT_FALSE(b.Full());
  EXPECT_FALSE(b.ShouldFlush(kT0));
  b.Append(1, {3, 1}, kT0);
  EXPECT_TRUE(b.Full());
  EXPECT_TRUE(b.ShouldFlush(kT0));
}

TEST(Batcher, FlushesAtDeadlineCountedFromFirstPendingSample) {
  Batcher b({.max_samples_per_send = 100, .batch_send_deadline = milliseconds(5000)});
  ASSERT_TRUE(b.SetSeries(1, L("a")));
  EXPECT_FALSE(b.FlushDeadline().has_value());
  EXPECT_FALSE(b.ShouldFlush(kT0 + std::chrono::hours(10)));  // nothing pending
  b.Append(1, {1, 1}, kT0);
  b.Append(1, {2, 1}, kT0 + milliseconds(4000));
  EXPECT_EQ(b.FlushDeadline(), kT0 + milliseconds(5000));
  EXPECT_FALSE(b.ShouldFlush(kT0 + milliseconds(4999)));
  EXPECT_TRUE(b.ShouldFlush(kT0 + milliseconds(5000)));
  Batch batch;
  b.TakeBatch(batch);
  EXPECT_FALSE(b.FlushDeadline().has_value());
  b.Append(1, {3, 1}, kT0 + milliseconds(6000));
  EXPECT_EQ(b.FlushDeadline(), kT0 + milliseconds(11000));
}

TEST(Batcher, ExternalLabelsAreAddedUnlessTheSeriesHasThem) {
  Batcher b({.external_labels = {{"cluster", "prod"}, {"job", "ext"}, {"zone", "z1"}}});
  ASSERT_TRUE(b.SetSeries(1, L("a", "own")));
  b.Append(1, {1, 1}, kT0);
  Batch batch;
  b.TakeBatch(batch);
  EXPECT_EQ(*batch.series[0].labels,
            (Labels{{"__name__", "a"}, {"cluster", "prod"}, {"job", "own"}, {"zone", "z1"}}));
}

TEST(Batcher, RelabelHookRunsAfterExternalLabelsAndCanDrop) {
  std::vector<Labels> seen;
  Batcher b({.external_labels = {{"cluster", "prod"}}, .relabel = [&](Labels& l) {
               seen.push_back(l);
               if (model::Get(l, "__name__") == "drop_me") return false;
               model::Set(l, "added", "yes");
               return true;
             }});
  ASSERT_TRUE(b.SetSeries(1, L("keep")));
  EXPECT_FALSE(b.SetSeries(2, L("drop_me")));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(model::Get(seen[0], "cluster"), "prod");
  b.Append(1, {1, 1}, kT0);
  b.Append(2, {1, 1}, kT0);
  b.Append(2, {2, 1}, kT0);
  EXPECT_EQ(b.pending(), 1u);
  EXPECT_EQ(b.stats().series_dropped_relabel, 1u);
  EXPECT_EQ(b.stats().samples_dropped_relabel, 2u);
  Batch batch;
  b.TakeBatch(batch);
  ASSERT_EQ(batch.series.size(), 1u);
  EXPECT_EQ(model::Get(*batch.series[0].labels, "added"), "yes");
}

TEST(Batcher, InvalidSeriesAreDroppedAndCounted) {
  Batcher b({.relabel = [](Labels& l) {
    if (model::Get(l, "__name__") == "unsorted") std::swap(l[0], l[1]);  // a buggy rule
    return true;
  }});
  EXPECT_FALSE(b.SetSeries(1, L("unsorted")));
  EXPECT_FALSE(b.SetSeries(2, {{"__name__", "m"}, {"bad-name", "x"}}));
  EXPECT_FALSE(b.SetSeries(3, {{"__name__", "1starts_with_digit"}}));
  EXPECT_FALSE(b.SetSeries(4, {{"__name__", "m"}, {"v", "\xff\xfe"}}));
  EXPECT_FALSE(b.SetSeries(5, {{"__name__", "m"}, {"a", ""}}));
  EXPECT_FALSE(b.SetSeries(6, {{"__name__", "m"}, {"a", "1"}, {"a", "2"}}));
  EXPECT_FALSE(b.SetSeries(7, {}));
  EXPECT_TRUE(b.SetSeries(8, {{"__name__", "ok:metric"}, {"v", "h\xc3\xa9"}}));
  EXPECT_EQ(b.stats().series_invalid, 7u);
  for (SeriesRef r = 1; r <= 8; ++r) b.Append(r, {1, 1}, kT0);
  b.Append(99, {1, 1}, kT0);
  EXPECT_EQ(b.stats().samples_invalid, 7u);
  EXPECT_EQ(b.stats().samples_unknown_series, 1u);
  EXPECT_EQ(b.pending(), 1u);
}

TEST(Batcher, ValidateLabelsExplainsTheProblem) {
  EXPECT_FALSE(ValidateLabels({{"__name__", "m"}, {"a", "b"}}).has_value());
  auto why = ValidateLabels({{"b", "1"}, {"a", "1"}});
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("sorted"), std::string::npos);
  // Overlong encoding and a surrogate are not valid UTF-8.
  EXPECT_TRUE(ValidateLabels({{"a", "\xc0\xaf"}}).has_value());
  EXPECT_TRUE(ValidateLabels({{"a", "\xed\xa0\x80"}}).has_value());
  EXPECT_FALSE(ValidateLabels({{"a", "\xf0\x9f\x98\x80"}}).has_value());
}

TEST(Batcher, RemovedSeriesStillSendsItsPendingSamples) {
  Batcher b({});
  ASSERT_TRUE(b.SetSeries(1, L("a")));
  ASSERT_TRUE(b.SetSeries(2, L("b")));
  b.Append(1, {1, 1}, kT0);
  b.RemoveSeries(1);
  b.RemoveSeries(2);  // nothing pending: gone at once
  EXPECT_EQ(b.series_count(), 1u);
  Batch batch;
  b.TakeBatch(batch);
  ASSERT_EQ(batch.series.size(), 1u);
  EXPECT_EQ(*batch.series[0].labels, L("a"));
  EXPECT_EQ(b.series_count(), 0u);
  b.Append(1, {2, 1}, kT0);
  EXPECT_EQ(b.stats().samples_unknown_series, 1u);
}

TEST(Batcher, BatchKeepsLabelsAliveWhenSeriesIsRedefined) {
  Batcher b({});
  ASSERT_TRUE(b.SetSeries(1, L("old")));
  b.Append(1, {1, 1}, kT0);
  Batch batch;
  b.TakeBatch(batch);
  ASSERT_TRUE(b.SetSeries(1, L("new")));
  b.RemoveSeries(1);
  EXPECT_EQ(*batch.series[0].labels, L("old"));
}

TEST(Batcher, AllDroppedStillYieldsAnEmptyBatchWithPosition) {
  Batcher b({.relabel = [](Labels&) { return false; }});
  b.SetSeries(1, L("a"));
  b.Append(1, {1, 1}, kT0);
  b.MarkPosition({1, 2, 3});
  Batch batch;
  b.TakeBatch(batch);
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(batch.end, (Position{1, 2, 3}));
}

TEST(Batcher, SeriesDroppedAfterAppendIsNotSent) {
  bool drop = false;
  Batcher b({.relabel = [&](Labels&) { return !drop; }});
  ASSERT_TRUE(b.SetSeries(1, L("a")));
  ASSERT_TRUE(b.SetSeries(2, L("b")));
  b.Append(1, {1, 1}, kT0);
  b.Append(2, {1, 1}, kT0);
  drop = true;
  EXPECT_FALSE(b.SetSeries(1, L("a")));  // redefined as dropped while pending
  Batch batch;
  b.TakeBatch(batch);
  ASSERT_EQ(batch.series.size(), 1u);
  EXPECT_EQ(*batch.series[0].labels, L("b"));
  EXPECT_EQ(batch.samples.size(), 1u);
  EXPECT_EQ(b.stats().samples_dropped_relabel, 1u);
}

model::HistogramSample H(int64_t ts, uint64_t count) {
  model::HistogramSample h;
  h.timestamp_ms = ts;
  h.histogram.count_int = count;
  return h;
}

model::Exemplar E(int64_t ts, std::string trace) {
  return model::Exemplar{{{"trace_id", std::move(trace)}}, 1, ts, true};
}

TEST(Batcher, HistogramsAndExemplarsGoWithTheirSeriesWhenTheEndpointSendsThem) {
  Batcher b({.max_samples_per_send = 100, .send_native_histograms = true, .send_exemplars = true});
  ASSERT_TRUE(b.SetSeries(1, L("h")));
  ASSERT_TRUE(b.SetSeries(2, L("c")));
  b.AppendHistogram(1, H(10, 1), kT0);
  b.Append(2, {10, 5}, kT0);
  b.AppendExemplar(2, E(9, "a"), kT0);
  b.AppendHistogram(1, H(20, 2), kT0);
  b.Append(1, {30, model::StaleNaN()}, kT0);  // a histogram series' staleness marker
  EXPECT_EQ(b.pending(), 5u);                 // every item counts against max_samples_per_send
  Batch batch;
  b.TakeBatch(batch);
  ASSERT_EQ(batch.series.size(), 2u);
  EXPECT_EQ(batch.items(), 5u);
  const auto& h = batch.series[0];
  EXPECT_EQ(*h.labels, L("h"));
  ASSERT_EQ(h.histograms_count, 2u);
  EXPECT_EQ(batch.histograms[h.histograms_first].histogram.count_int, 1u);
  EXPECT_EQ(batch.histograms[h.histograms_first + 1].timestamp_ms, 20);
  ASSERT_EQ(h.count, 1u);
  EXPECT_TRUE(model::IsStaleNaN(batch.samples[h.first].value));
  const auto& c = batch.series[1];
  ASSERT_EQ(c.exemplars_count, 1u);
  EXPECT_EQ(batch.exemplars[c.exemplars_first].labels[0].value, "a");
  EXPECT_EQ(c.histograms_count, 0u);
}

TEST(Batcher, WithoutSendNativeHistogramsOrExemplarsTheyAreNotSent) {
  Batcher b({.max_samples_per_send = 100});
  ASSERT_TRUE(b.SetSeries(1, L("h")));
  b.AppendHistogram(1, H(10, 1), kT0);
  b.AppendExemplar(1, E(10, "a"), kT0);
  b.Append(1, {10, 1}, kT0);
  EXPECT_EQ(b.pending(), 1u);
  EXPECT_EQ(b.stats().histograms_not_sent, 1u);
  Batch batch;
  b.TakeBatch(batch);
  EXPECT_TRUE(batch.histograms.empty());
  EXPECT_TRUE(batch.exemplars.empty());
  EXPECT_EQ(batch.samples.size(), 1u);
}

TEST(Batcher, MetadataPerSeriesAndPerFamily) {
  Batcher b({});
  ASSERT_TRUE(b.SetSeries(1, L("c_total")));
  ASSERT_TRUE(b.SetSeries(2, L("c_total", "other")));
  ASSERT_TRUE(b.SetSeries(3, L("g")));
  const model::Metadata counter{model::MetricType::kCounter, "Jobs.", "", "c"};
  b.SetMetadata(1, counter);
  b.SetMetadata(2, counter);
  b.SetMetadata(3, {model::MetricType::kGauge, "G.", "bytes", "g"});
  b.SetMetadata(99, counter);  // unknown: ignored
  b.Append(1, {10, 1}, kT0);
  b.Append(3, {10, 1}, kT0);
  Batch batch;
  b.TakeBatch(batch);
  ASSERT_EQ(batch.series.size(), 2u);
  ASSERT_TRUE(batch.series[0].metadata);
  EXPECT_EQ(*batch.series[0].metadata, counter);
  EXPECT_EQ(batch.series[1].metadata->unit, "bytes");
  auto families = b.FamilyMetadata();
  ASSERT_EQ(families.size(), 2u);  // c once, g once
  EXPECT_EQ(families[0]->family, "c");
  EXPECT_EQ(families[1]->family, "g");
  // A redefinition forgets the metadata until the source announces it again.
  ASSERT_TRUE(b.SetSeries(1, L("c_total")));
  b.Append(1, {20, 1}, kT0);
  b.TakeBatch(batch);
  EXPECT_FALSE(batch.series[0].metadata);
}

TEST(Batcher, MetadataNotKeptWhenNotSent) {
  Batcher b({.send_metadata = false});
  ASSERT_TRUE(b.SetSeries(1, L("c")));
  b.SetMetadata(1, {model::MetricType::kCounter, "Jobs.", "", "c"});
  b.Append(1, {10, 1}, kT0);
  Batch batch;
  b.TakeBatch(batch);
  EXPECT_FALSE(batch.series[0].metadata);
  EXPECT_TRUE(b.FamilyMetadata().empty());
}

// A batch cut between a sample and its exemplar: the exemplar waits for the
// series' next sample (remote write 2.0 refuses a series without samples)
// across one batch with samples; it never causes a batch by itself.
TEST(Batcher, ExemplarsWithoutASampleInTheBatchWaitForTheNextOne) {
  Batcher b({.max_samples_per_send = 100, .send_exemplars = true});
  ASSERT_TRUE(b.SetSeries(1, L("a")));
  ASSERT_TRUE(b.SetSeries(2, L("b")));
  ASSERT_TRUE(b.SetSeries(3, L("c")));
  b.Append(1, {10, 1}, kT0);
  Batch batch;
  b.TakeBatch(batch);  // the cut
  b.AppendExemplar(1, E(10, "x"), kT0);
  b.AppendExemplar(2, E(10, "y"), kT0);
  b.Append(3, {10, 1}, kT0);
  b.TakeBatch(batch);
  EXPECT_TRUE(batch.exemplars.empty());
  ASSERT_EQ(batch.series.size(), 1u) << "a series with nothing to send is left out";
  EXPECT_EQ(b.pending(), 0u) << "held exemplars are not pending";
  EXPECT_FALSE(b.FlushDeadline().has_value());
  // An empty take (only an acknowledgement) does not give them up.
  b.TakeBatch(batch);
  EXPECT_EQ(b.stats().exemplars_without_sample, 0u);
  // The next scrape: a has a sample again, b does not.
  b.Append(1, {20, 2}, kT0);
  b.Append(3, {20, 2}, kT0);
  b.TakeBatch(batch);
  ASSERT_EQ(batch.exemplars.size(), 1u);
  EXPECT_EQ(batch.exemplars[0].labels[0].value, "x");
  EXPECT_EQ(*batch.series[0].labels, L("a"));
  EXPECT_EQ(b.stats().exemplars_without_sample, 1u);  // y: a whole batch more without b's sample
  // A series removed while its exemplar is held stays until that is resolved.
  b.AppendExemplar(2, E(30, "z"), kT0);
  b.Append(3, {30, 3}, kT0);
  b.TakeBatch(batch);
  b.RemoveSeries(2);
  b.Append(3, {40, 4}, kT0);
  b.TakeBatch(batch);
  EXPECT_EQ(b.stats().exemplars_without_sample, 2u);
  EXPECT_EQ(b.series_count(), 2u);
}

}  // namespace
}  // namespace promsidecar::remote_write
