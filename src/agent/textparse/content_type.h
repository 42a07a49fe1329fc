// Which exposition format a scrape response is in, and what to ask for:
// Prometheus 3's scrape protocols (`scrape_protocols`,
// `fallback_scrape_protocol`).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/textparse/parser.h"

namespace promsidecar::textparse {

// The protocols a scrape may negotiate, named as in Prometheus's config.
enum class ScrapeProtocol {
  kPrometheusProto,       // delimited protobuf MetricFamily
  kOpenMetricsText1_0_0,  // application/openmetrics-text;version=1.0.0
  kOpenMetricsText0_0_1,  // application/openmetrics-text;version=0.0.1
  kPrometheusText1_0_0,   // text/plain;version=1.0.0
  kPrometheusText0_0_4,   // text/plain;version=0.0.4
};
// "PrometheusProto", "OpenMetricsText1.0.0", ... (case-sensitive, as Prometheus).
std::optional<ScrapeProtocol> ParseScrapeProtocol(std::string_view name);
std::string_view ToString(ScrapeProtocol protocol);
// The parser for a protocol's pages.
Format FormatOf(ScrapeProtocol protocol);

// Prometheus's defaults: text formats only, or (scrape_native_histograms)
// the protobuf format first, since only it carries native histograms.
std::span<const ScrapeProtocol> DefaultScrapeProtocols();
std::span<const ScrapeProtocol> ProtoFirstScrapeProtocols();

// The Accept header for `protocols` in order of preference, built as
// Prometheus builds it (q=0.7, 0.6, ... then */*). The 1.0.0 text formats ask
// the target to escape UTF-8 names to underscores (`escaping=underscores`):
// the agent stores classic names only, so a target that supports escaping
// sends names it can take.
std::string AcceptHeader(std::span<const ScrapeProtocol> protocols);

struct NegotiatedFormat {
  Format format = Format::kPrometheusText;
  // True when the Content-Type was empty, malformed or not one we know and
  // the fallback (fallback_scrape_protocol, else the text format, as
  // Prometheus 2 did) was used; worth a counter.
  bool fallback = false;
};

// Picks the parser for a response's Content-Type header value:
// `application/openmetrics-text` (any version or parameters) is OpenMetrics,
// `text/plain` the text format, `application/vnd.google.protobuf` the
// protobuf format; anything else the fallback.
NegotiatedFormat FormatForContentType(std::string_view content_type,
                                      std::optional<ScrapeProtocol> fallback = std::nullopt);

}  // namespace promsidecar::textparse
