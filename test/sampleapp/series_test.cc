#include "sampleapp/series.h"

#include <gtest/gtest.h>

namespace promsidecar::sampleapp {
namespace {

TEST(SeriesSet, RendersOneCounterPerSeriesAndTheCount) {
  SeriesSet set(3);
  set.Tick();
  set.Tick();
  EXPECT_EQ(set.Render(),
            "# HELP sampleapp_events_total Events per series; every series grows by one per tick.\n"
            "# TYPE sampleapp_events_total counter\n"
            "sampleapp_events_total{series=\"0\"} 2\n"
            "sampleapp_events_total{series=\"1\"} 2\n"
            "sampleapp_events_total{series=\"2\"} 2\n"
            "# HELP sampleapp_series Number of sampleapp_events_total series exposed.\n"
            "# TYPE sampleapp_series gauge\n"
            "sampleapp_series 3\n"
            "# HELP sampleapp_scrapes_total Scrapes of this page, this one included.\n"
            "# TYPE sampleapp_scrapes_total counter\n"
            "sampleapp_scrapes_total 1\n");
}

TEST(SeriesSet, EveryRenderCountsOneScrape) {
  SeriesSet set(1);
  EXPECT_NE(set.Render().find("sampleapp_scrapes_total 1\n"), std::string::npos);
  set.Tick();
  EXPECT_NE(set.Render().find("sampleapp_scrapes_total 2\n"), std::string::npos);
  EXPECT_NE(set.Render().find("sampleapp_scrapes_total 3\n"), std::string::npos);
}

TEST(SeriesSet, ShrinkingDropsSeriesAndGrowingStartsNewOnesAtZero) {
  SeriesSet set(2);
  set.Tick();
  set.SetCount(1);
  EXPECT_EQ(set.Render().find("series=\"1\""), std::string::npos);
  set.SetCount(3);
  set.Tick();
  const std::string page = set.Render();
  EXPECT_NE(page.find("sampleapp_events_total{series=\"0\"} 2\n"), std::string::npos) << page;
  EXPECT_NE(page.find("sampleapp_events_total{series=\"1\"} 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("sampleapp_events_total{series=\"2\"} 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("sampleapp_series 3\n"), std::string::npos) << page;
}

TEST(SeriesSet, ZeroSeriesStillRendersTheCountGauge) {
  SeriesSet set(0);
  EXPECT_NE(set.Render().find("sampleapp_series 0\n"), std::string::npos);
}

TEST(ParseSeriesCount, AcceptsWholeNumbersWithWhitespace) {
  auto n = ParseSeriesCount(" 250\n", "file f");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value(), 250);
}

TEST(ParseSeriesCount, RejectsJunkNegativeAndHugeNamingTheSource) {
  for (const char* text : {"", "abc", "12x", "-1", "99999999999"}) {
    auto n = ParseSeriesCount(text, "query parameter series");
    ASSERT_FALSE(n.ok()) << text;
    EXPECT_NE(n.error().message.find("query parameter series"), std::string::npos);
  }
}

}  // namespace
}  // namespace promsidecar::sampleapp
