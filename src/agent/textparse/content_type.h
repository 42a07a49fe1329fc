// Which exposition format a scrape response is in, and what to ask for.
#pragma once

#include <string_view>

#include "agent/textparse/parser.h"

namespace promsidecar::textparse {

// The Accept header Prometheus sends by default (without the text 1.0.0
// entry, whose UTF-8 escaping we do not parse): OpenMetrics first, the text
// format as the fallback.
inline constexpr std::string_view kScrapeAcceptHeader =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

struct NegotiatedFormat {
  Format format = Format::kPrometheusText;
  // True when the Content-Type was empty, malformed or not one we know and
  // the text format was assumed (Prometheus 2's behaviour); worth a counter.
  bool fallback = false;
};

// Picks the parser for a response's Content-Type header value:
// `application/openmetrics-text` (any version or parameters) is OpenMetrics,
// `text/plain` is the text format, anything else falls back to text.
NegotiatedFormat FormatForContentType(std::string_view content_type);

}  // namespace promsidecar::textparse
