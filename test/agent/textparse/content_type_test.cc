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
      {"application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
       Format::kProtobuf, false},
      {";;;", Format::kPrometheusText, true},
      {"text/html", Format::kPrometheusText, true},
  };
  for (const auto& c : cases) {
    NegotiatedFormat got = FormatForContentType(c.content_type);
    EXPECT_EQ(got.format, c.format) << c.content_type;
    EXPECT_EQ(got.fallback, c.fallback) << c.content_type;
  }
}

// Prometheus 3's defaults and header, except that the 1.0.0 text formats
// ask for underscore escaping (Prometheus asks for allow-utf-8).
TEST(ScrapeAcceptHeader, DefaultsAndWeightsAsPrometheus) {
  EXPECT_EQ(AcceptHeader(DefaultScrapeProtocols()),
            "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.7,"
            "application/openmetrics-text;version=0.0.1;q=0.6,"
            "text/plain;version=1.0.0;escaping=underscores;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3");
  EXPECT_EQ(
      AcceptHeader(ProtoFirstScrapeProtocols()),
      "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,"
      "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,"
      "application/openmetrics-text;version=0.0.1;q=0.5,"
      "text/plain;version=1.0.0;escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2");
  const ScrapeProtocol text_only[] = {ScrapeProtocol::kPrometheusText0_0_4};
  EXPECT_EQ(AcceptHeader(text_only), "text/plain;version=0.0.4;q=0.7,*/*;q=0.6");
}

TEST(ScrapeProtocol, NamesRoundTripAndAreCaseSensitive) {
  for (const char* name : {"PrometheusProto", "OpenMetricsText1.0.0", "OpenMetricsText0.0.1",
                           "PrometheusText1.0.0", "PrometheusText0.0.4"}) {
    auto p = ParseScrapeProtocol(name);
    ASSERT_TRUE(p) << name;
    EXPECT_EQ(ToString(*p), name);
  }
  EXPECT_FALSE(ParseScrapeProtocol("prometheusproto"));
  EXPECT_FALSE(ParseScrapeProtocol("OpenMetricsText2.0.0"));
  EXPECT_EQ(FormatOf(ScrapeProtocol::kPrometheusProto), Format::kProtobuf);
  EXPECT_EQ(FormatOf(ScrapeProtocol::kPrometheusText1_0_0), Format::kPrometheusText);
}

// A missing or unknown Content-Type is read with fallback_scrape_protocol
// when there is one (Prometheus 3), else as the text format (Prometheus 2).
TEST(FormatForContentType, FallbackProtocol) {
  EXPECT_EQ(FormatForContentType("", ScrapeProtocol::kPrometheusProto).format, Format::kProtobuf);
  EXPECT_TRUE(FormatForContentType("", ScrapeProtocol::kPrometheusProto).fallback);
  EXPECT_EQ(FormatForContentType("bogus", ScrapeProtocol::kOpenMetricsText1_0_0).format,
            Format::kOpenMetrics);
  EXPECT_EQ(FormatForContentType("text/plain", ScrapeProtocol::kPrometheusProto).format,
            Format::kPrometheusText);
}

}  // namespace
}  // namespace promsidecar::textparse
