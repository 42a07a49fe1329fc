#include <gtest/gtest.h>
#include <set>

#include "agent/scrape/limits.h"
#include "agent/scrape/offset.h"
#include "agent/scrape/staleness.h"

namespace promsidecar::scrape {
namespace {

using model::Labels;

TEST(LabelLimits, Table) {
  struct Case {
    Labels labels;
    Limits limits;
    const char* want;  // substring of the reason, or nullptr for OK
  };
  const Labels three{{"__name__", "m"}, {"a", "1"}, {"bb", "22"}};
  const Case cases[] = {
      {three, {}, nullptr},
      {three, {.label_limit = 3}, nullptr},
      {three, {.label_limit = 2}, "label_limit exceeded"},
      {three, {.label_name_length_limit = 8}, nullptr},
      {three, {.label_name_length_limit = 7}, "label name \"__name__\""},
      {three, {.label_value_length_limit = 2}, nullptr},
      {three, {.label_value_length_limit = 1}, "value of label \"bb\""},
  };
  for (const auto& c : cases) {
    auto got = CheckLabelLimits(c.labels, c.limits);
    if (c.want == nullptr) {
      EXPECT_FALSE(got.has_value()) << *got;
    } else {
      ASSERT_TRUE(got.has_value()) << c.want;
      EXPECT_NE(got->find(c.want), std::string::npos) << *got;
    }
  }
}

TEST(LabelLimits, NeverEchoesTheValue) {
  auto got = CheckLabelLimits({{"secretish", std::string(100, 'x')}}, {.label_value_length_limit = 10});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->find("xxxxxxxxxx"), std::string::npos);
}

TEST(SampleLimit, Table) {
  EXPECT_FALSE(CheckSampleLimit(1000000, {}));
  EXPECT_FALSE(CheckSampleLimit(10, {.sample_limit = 10}));
  auto got = CheckSampleLimit(11, {.sample_limit = 10});
  ASSERT_TRUE(got);
  EXPECT_NE(got->find("11 samples"), std::string::npos);
}

TEST(Staleness, MissingSeriesGoStale) {
  StalenessTracker t;
  t.BeginScrape();
  for (SeriesRef r : {1, 2, 3}) t.Seen(r);
  EXPECT_TRUE(t.EndScrape().empty());
  t.BeginScrape();
  for (SeriesRef r : {1, 3, 4}) t.Seen(r);
  EXPECT_EQ(t.EndScrape(), (std::vector<SeriesRef>{2}));
  t.BeginScrape();
  t.Seen(4);
  EXPECT_EQ(t.EndScrape(), (std::vector<SeriesRef>{1, 3}));
}

TEST(Staleness, FailedScrapeMarksAllAndStartsOver) {
  StalenessTracker t;
  t.BeginScrape();
  t.Seen(7);
  t.Seen(8);
  (void)t.EndScrape();
  t.BeginScrape();
  t.Seen(7);  // partially parsed before the failure: must not count
  EXPECT_EQ(t.FailScrape(), (std::vector<SeriesRef>{7, 8}));
  EXPECT_TRUE(t.FailScrape().empty());  // nothing left to mark twice
  t.BeginScrape();
  t.Seen(7);
  EXPECT_TRUE(t.EndScrape().empty());
  EXPECT_EQ(t.Drop(), (std::vector<SeriesRef>{7}));
}

TEST(Offset, SlotIsStableAndWithinInterval) {
  const Millis iv(15000);
  uint64_t h = TargetIdentityHash("uid-1", "app", "http://127.0.0.1:8080/metrics");
  for (int64_t now : {0LL, 1LL, 14999LL, 1700000000123LL}) {
    Millis d = DelayToNextSlot(h, iv, now);
    EXPECT_GE(d.count(), 0);
    EXPECT_LT(d.count(), iv.count());
    EXPECT_EQ((now + d.count()) % iv.count(), static_cast<int64_t>(h % iv.count()));
  }
}

TEST(Offset, PodUidSpreadsIdenticalTargets) {
  // 100 pods with the same target spread over the interval instead of one slot.
  std::set<int64_t> slots;
  for (int i = 0; i < 100; ++i) {
    uint64_t h = TargetIdentityHash("pod-uid-" + std::to_string(i), "app", "http://127.0.0.1:8080/metrics");
    slots.insert(static_cast<int64_t>(h % 10000) / 1000);  // which tenth of the interval
  }
  EXPECT_GE(slots.size(), 8u);
}

}  // namespace
}  // namespace promsidecar::scrape
