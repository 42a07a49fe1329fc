#include "agent/textparse/content_type.h"

#include <gtest/gtest.h>

namespace promsidecar::textparse {
namespace {

TEST(FormatForContentType, PicksParserAndFlagsFallback) {
  struct Case {
    const char* content_type;
    Format format;
    bool fallback;
  };
  const Case cases[] = {
      {"application/openmetrics-text; version=1.0.0; charset=utf-8", Format::kOpenMetrics, false},
      {"application/openmetrics-text;version=0.0.1", Format::kOpenMetrics, false},
      {"Application/OpenMetrics-Text", Format::kOpenMetrics, false},
      {" application/openmetrics-text ;version=1.0.0", Format::kOpenMetrics, false},
      {"text/plain; version=0.0.4; charset=utf-8", Format::kPrometheusText, false},
      {"text/plain", Format::kPrometheusText, false},
      {"", Format::kPrometheusText, true},
      {"application/json", Format::kPrometheusText, true},
      {"application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily", Format::kPrometheusText,
       true},
      {";;;", Format::kPrometheusText, true},
      {"text/html", Format::kPrometheusText, true},
  };
  for (const auto& c : cases) {
    NegotiatedFormat got = FormatForContentType(c.content_type);
    EXPECT_EQ(got.format, c.format) << c.content_type;
    EXPECT_EQ(got.fallback, c.fallback) << c.content_type;
  }
}

TEST(ScrapeAcceptHeader, PrefersOpenMetricsThenText) {
  EXPECT_EQ(kScrapeAcceptHeader,
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
            "text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
}

}  // namespace
}  // namespace promsidecar::textparse
