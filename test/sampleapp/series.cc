#include "sampleapp/series.h"

#include <charconv>

namespace promsidecar::sampleapp {

Result<int64_t> ParseSeriesCount(std::string_view text, std::string_view what) {
  while (!text.empty() &&
         (text.front() == ' ' || text.front() == '\t' || text.front() == '\n' || text.front() == '\r')) {
    text.remove_prefix(1);
  }
  while (!text.empty() &&
         (text.back() == ' ' || text.back() == '\t' || text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < 0 || n > kMaxSeries) {
    return Error{std::string(what) + ": series count '" + std::string(text) +
                 "' is not a whole number between 0 and " + std::to_string(kMaxSeries)};
  }
  return n;
}

SeriesSet::SeriesSet(int64_t count) : values_(static_cast<size_t>(count), 0) {}

void SeriesSet::SetCount(int64_t count) {
  std::lock_guard lock(mu_);
  values_.resize(static_cast<size_t>(count), 0);
}

int64_t SeriesSet::count() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(values_.size());
}

void SeriesSet::Tick() {
  std::lock_guard lock(mu_);
  for (auto& v : values_) ++v;
}

std::string SeriesSet::Render() {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(256 + values_.size() * 48);
  out +=
      "# HELP sampleapp_events_total Events per series; every series grows by one per tick.\n"
      "# TYPE sampleapp_events_total counter\n";
  for (size_t i = 0; i < values_.size(); ++i) {
    out += "sampleapp_events_total{series=\"";
    out += std::to_string(i);
    out += "\"} ";
    out += std::to_string(values_[i]);
    out += '\n';
  }
  out +=
      "# HELP sampleapp_series Number of sampleapp_events_total series exposed.\n"
      "# TYPE sampleapp_series gauge\n"
      "sampleapp_series ";
  out += std::to_string(values_.size());
  out +=
      "\n# HELP sampleapp_scrapes_total Scrapes of this page, this one included.\n"
      "# TYPE sampleapp_scrapes_total counter\n"
      "sampleapp_scrapes_total ";
  out += std::to_string(++scrapes_);
  out += '\n';
  return out;
}

}  // namespace promsidecar::sampleapp
