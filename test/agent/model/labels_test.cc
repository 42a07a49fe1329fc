#include "agent/model/labels.h"

#include <gtest/gtest.h>

#include <cmath>

namespace promsidecar::model {
namespace {

TEST(Labels, CanonicalizeSortsDedupsAndDropsEmpty) {
  Labels l{{"job", "a"}, {"__name__", "up"}, {"empty", ""}, {"job", "b"}};
  Canonicalize(l);
  EXPECT_EQ(l, (Labels{{"__name__", "up"}, {"job", "b"}}));
  EXPECT_TRUE(IsCanonical(l));
  EXPECT_FALSE(IsCanonical(Labels{{"b", "1"}, {"a", "1"}}));
  EXPECT_FALSE(IsCanonical(Labels{{"a", ""}}));
}

TEST(Labels, GetAndSet) {
  Labels l{{"a", "1"}, {"c", "3"}};
  Set(l, "b", "2");
  EXPECT_EQ(l, (Labels{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  EXPECT_EQ(Get(l, "b"), "2");
  EXPECT_EQ(Get(l, "z"), "");
  Set(l, "a", "");
  EXPECT_EQ(l, (Labels{{"b", "2"}, {"c", "3"}}));
  Set(l, "c", "x");
  EXPECT_EQ(Get(l, "c"), "x");
}

TEST(Labels, HashSeparatesNameAndValueBoundaries) {
  EXPECT_NE(Hash({{"ab", "c"}}), Hash({{"a", "bc"}}));
  EXPECT_EQ(Hash({{"a", "b"}}), Hash({{"a", "b"}}));
}

TEST(Labels, NameValidity) {
  EXPECT_TRUE(IsValidMetricName("http_requests:rate5m"));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("_x1"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("a-b"));
}

TEST(StaleNaN, DistinctFromOrdinaryNaN) {
  EXPECT_TRUE(std::isnan(StaleNaN()));
  EXPECT_TRUE(IsStaleNaN(StaleNaN()));
  EXPECT_FALSE(IsStaleNaN(NormalNaN()));
  EXPECT_FALSE(IsStaleNaN(std::nan("")));
}

TEST(Labels, ToStringEscapes) {
  EXPECT_EQ(ToString({{"a", "x\"y"}}), "{a=\"x\\\"y\"}");
}

}  // namespace
}  // namespace promsidecar::model
