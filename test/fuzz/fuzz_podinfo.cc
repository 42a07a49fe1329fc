// Fuzzes the downward-API file parser (podinfo::ParseDownwardApiFile) and the
// scrape-job derivation (podinfo::DeriveScrapeJob) on whatever parses. The
// input is the annotations file, then a NUL byte, then the labels file.
// Invariants beyond "no crash": a parse error names its line (a line that
// exists); a derived job that scrapes has at least one target, every target
// is host:port with a port in 1..65535 and no duplicate, the interval is not
// below the minimum, the timeout is positive and not above the interval; a
// job that does not scrape says why; every problem names an annotation.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "agent/podinfo/downward.h"
#include "agent/podinfo/scrape_job.h"

namespace {

[[noreturn]] void Broken(const std::string& what) {
  std::fprintf(stderr, "podinfo invariant broken: %s\n", what.c_str());
  std::abort();
}

void CheckParseError(std::string_view file, const std::string& error) {
  constexpr std::string_view kLine = "line ";
  if (error.rfind(kLine, 0) != 0) Broken("parse error does not start with the line: " + error);
  size_t pos = kLine.size();
  unsigned long line = 0;
  size_t digits = 0;
  while (pos < error.size() && error[pos] >= '0' && error[pos] <= '9' && digits < 12) {
    line = line * 10 + static_cast<unsigned long>(error[pos] - '0');
    ++pos;
    ++digits;
  }
  size_t lines = 1;
  for (char c : file) lines += c == '\n';
  if (digits == 0 || line < 1 || line > lines) {
    Broken("parse error names no line of the file (" + std::to_string(lines) + " lines): " + error);
  }
}

void CheckTarget(const std::string& target) {
  size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0) Broken("target without host:port: " + target);
  std::string_view port = std::string_view(target).substr(colon + 1);
  if (port.empty() || port.size() > 5 || port[0] == '0') Broken("target port malformed: " + target);
  unsigned long p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') Broken("target port not a number: " + target);
    p = p * 10 + static_cast<unsigned long>(c - '0');
  }
  if (p < 1 || p > 65535) Broken("target port out of range: " + target);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace promsidecar::podinfo;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nul = input.find('\0');
  std::string_view annotations_file = input.substr(0, nul);
  std::string_view labels_file = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

  auto annotations = ParseDownwardApiFile(annotations_file);
  if (!annotations.ok()) {
    CheckParseError(annotations_file, annotations.message());
    return 0;
  }
  auto labels = ParseDownwardApiFile(labels_file);
  if (!labels.ok()) {
    CheckParseError(labels_file, labels.message());
    return 0;
  }

  PodEnv pod{.name = "web-7d4b9c8f6-x2x9k", .namespace_ = "shop", .uid = "u-1", .ip = "10.1.2.3"};
  for (bool legacy : {false, true}) {
    SidecarSettings settings;
    settings.legacy_annotations = legacy;
    settings.limits.sample_limit = 1000;
    DerivedJob job = DeriveScrapeJob(*annotations, *labels, pod, settings);
    for (const auto& p : job.problems) {
      if (p.annotation.empty() || p.problem.empty()) Broken("a problem without annotation or text");
    }
    if (!job.scrape) {
      if (job.reason.empty()) Broken("no scraping and no reason");
      continue;
    }
    std::set<std::string> seen;
    size_t targets = 0;
    for (const auto& sc : job.job.static_configs) {
      for (const auto& t : sc.targets) {
        CheckTarget(t);
        if (!seen.insert(t).second) Broken("duplicate target " + t);
        ++targets;
      }
    }
    if (targets == 0) Broken("scrape=true without a target");
    if (job.job.scrape_interval < settings.min_scrape_interval) Broken("interval below the minimum");
    if (job.job.scrape_timeout.count() <= 0 || job.job.scrape_timeout > job.job.scrape_interval) {
      Broken("timeout not in (0, interval]");
    }
    if (job.job.scheme != "http" && job.job.scheme != "https") Broken("scheme " + job.job.scheme);
    if (job.job.metrics_path.empty() || job.job.metrics_path[0] != '/') {
      Broken("metrics path does not start with /: " + job.job.metrics_path);
    }
    if (job.job.limits.sample_limit == 0 || job.job.limits.sample_limit > settings.limits.sample_limit) {
      Broken("sample_limit raised above the agent's");
    }
  }
  return 0;
}
