#include "agent/textparse/content_type.h"

#include <array>

namespace promsidecar::textparse {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct ProtocolInfo {
  ScrapeProtocol protocol;
  std::string_view name;
  std::string_view media;  // the Accept entry without weight
  Format format;
};

constexpr std::array<ProtocolInfo, 5> kProtocols{{
    {ScrapeProtocol::kPrometheusProto, "PrometheusProto",
     "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
     Format::kProtobuf},
    {ScrapeProtocol::kOpenMetricsText1_0_0, "OpenMetricsText1.0.0",
     "application/openmetrics-text;version=1.0.0;escaping=underscores", Format::kOpenMetrics},
    {ScrapeProtocol::kOpenMetricsText0_0_1, "OpenMetricsText0.0.1",
     "application/openmetrics-text;version=0.0.1", Format::kOpenMetrics},
    {ScrapeProtocol::kPrometheusText1_0_0, "PrometheusText1.0.0",
     "text/plain;version=1.0.0;escaping=underscores", Format::kPrometheusText},
    {ScrapeProtocol::kPrometheusText0_0_4, "PrometheusText0.0.4", "text/plain;version=0.0.4",
     Format::kPrometheusText},
}};

const ProtocolInfo& Info(ScrapeProtocol p) {
  for (const auto& i : kProtocols) {
    if (i.protocol == p) return i;
  }
  return kProtocols.back();
}

constexpr std::array<ScrapeProtocol, 4> kDefault{
    ScrapeProtocol::kOpenMetricsText1_0_0, ScrapeProtocol::kOpenMetricsText0_0_1,
    ScrapeProtocol::kPrometheusText1_0_0, ScrapeProtocol::kPrometheusText0_0_4};
constexpr std::array<ScrapeProtocol, 5> kProtoFirst{
    ScrapeProtocol::kPrometheusProto, ScrapeProtocol::kOpenMetricsText1_0_0,
    ScrapeProtocol::kOpenMetricsText0_0_1, ScrapeProtocol::kPrometheusText1_0_0,
    ScrapeProtocol::kPrometheusText0_0_4};

}  // namespace

std::optional<ScrapeProtocol> ParseScrapeProtocol(std::string_view name) {
  for (const auto& i : kProtocols) {
    if (i.name == name) return i.protocol;
  }
  return std::nullopt;
}

std::string_view ToString(ScrapeProtocol protocol) {
  return Info(protocol).name;
}

Format FormatOf(ScrapeProtocol protocol) {
  return Info(protocol).format;
}

std::span<const ScrapeProtocol> DefaultScrapeProtocols() {
  return kDefault;
}

std::span<const ScrapeProtocol> ProtoFirstScrapeProtocols() {
  return kProtoFirst;
}

std::string AcceptHeader(std::span<const ScrapeProtocol> protocols) {
  // Prometheus starts at one more than the number of protocols it knows (6
  // with OpenMetrics 2.0, so q=0.7) and counts down.
  int weight = 7;
  std::string out;
  for (ScrapeProtocol p : protocols) {
    out += Info(p).media;
    out += ";q=0.";
    out += std::to_string(weight--);
    out += ',';
  }
  out += "*/*;q=0.";
  out += std::to_string(weight);
  return out;
}

NegotiatedFormat FormatForContentType(std::string_view content_type, std::optional<ScrapeProtocol> fallback) {
  std::string_view media_type = Trim(content_type.substr(0, content_type.find(';')));
  if (EqualsIgnoreCase(media_type, "application/openmetrics-text")) return {Format::kOpenMetrics, false};
  if (EqualsIgnoreCase(media_type, "text/plain")) return {Format::kPrometheusText, false};
  if (EqualsIgnoreCase(media_type, "application/vnd.google.protobuf")) return {Format::kProtobuf, false};
  return {fallback ? FormatOf(*fallback) : Format::kPrometheusText, true};
}

}  // namespace promsidecar::textparse
