#include "agent/textparse/content_type.h"

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

}  // namespace

NegotiatedFormat FormatForContentType(std::string_view content_type) {
  std::string_view media_type = Trim(content_type.substr(0, content_type.find(';')));
  if (EqualsIgnoreCase(media_type, "application/openmetrics-text")) return {Format::kOpenMetrics, false};
  if (EqualsIgnoreCase(media_type, "text/plain")) return {Format::kPrometheusText, false};
  return {Format::kPrometheusText, true};
}

}  // namespace promsidecar::textparse
