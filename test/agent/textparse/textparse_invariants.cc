#include "textparse_invariants.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <vector>

#include "agent/model/labels.h"
#include "agent/textparse/check.h"
#include "common/util/utf8.h"

namespace promsidecar::textparse::testing {
namespace {

bool Within(std::string_view inner, std::string_view outer) {
  return inner.empty() ||
         (inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size());
}

// Writes a series back in the text format, the way an exporter would.
std::string SerializeText(std::string_view name, std::span<const LabelView> labels, double value,
                          std::optional<int64_t> ts) {
  std::string out(name);
  out += '{';
  for (const auto& l : labels) {
    out += l.name;
    out += "=\"";
    for (char c : l.value) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += "\",";
  }
  out += "} ";
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, r.ptr);
  }
  if (ts && *ts >= 0) out += " " + std::to_string(*ts);
  out += '\n';
  return out;
}

std::string CheckRoundTrip(const Parser& p) {
  std::string text = SerializeText(p.metric_name(), p.labels(), p.value(), p.timestamp_ms());
  Parser again(text, Format::kPrometheusText);
  if (again.Next() != Entry::kSeries)
    return "round trip does not parse: " + again.error().message + " in " + text;
  if (again.metric_name() != p.metric_name()) return "round trip changed the name: " + text;
  if (!std::equal(again.labels().begin(), again.labels().end(), p.labels().begin(), p.labels().end())) {
    return "round trip changed the labels: " + text;
  }
  if (std::bit_cast<uint64_t>(again.value()) != std::bit_cast<uint64_t>(p.value())) {
    return "round trip changed the value: " + text;
  }
  if (p.timestamp_ms() && *p.timestamp_ms() >= 0 && again.timestamp_ms() != p.timestamp_ms()) {
    return "round trip changed the timestamp: " + text;
  }
  if (again.Next() != Entry::kEof) return "round trip has extra entries: " + text;
  return "";
}

}  // namespace

Format FuzzFormat(std::string_view data) {
  return !data.empty() && (static_cast<unsigned char>(data[0]) & 1) ? Format::kOpenMetrics
                                                                    : Format::kPrometheusText;
}

std::string_view FuzzBody(std::string_view data) {
  return data.empty() ? data : data.substr(1);
}

std::string CheckParserInvariants(std::string_view body, Format format) {
  const size_t lines = static_cast<size_t>(std::count(body.begin(), body.end(), '\n')) + 1;
  Parser p(body, format);
  size_t entries = 0;
  size_t last_line = 0;
  Entry e;
  while (true) {
    e = p.Next();
    if (++entries > lines + 1) return "more entries than lines: the parser does not advance";
    if (e == Entry::kEof || e == Entry::kInvalid) break;
    if (p.line() < 1 || p.line() > lines) return "line number out of range: " + std::to_string(p.line());
    if (p.line() <= last_line) return "line numbers do not increase: " + std::to_string(p.line());
    last_line = p.line();
    if (e == Entry::kSeries || e == Entry::kHelp || e == Entry::kType || e == Entry::kUnit) {
      if (!model::IsValidMetricName(p.metric_name())) return "invalid metric name accepted";
      if (!Within(p.metric_name(), body)) return "metric name outside the body";
    }
    if (e == Entry::kHelp && !IsValidUtf8(p.help())) return "HELP text not UTF-8";
    if (e != Entry::kSeries) continue;
    if (!Within(p.series(), body) || !p.series().starts_with(p.metric_name())) return "bad series() view";
    if (model::IsStaleNaN(p.value())) return "stale marker produced from input";
    if (std::isnan(p.value()) && std::bit_cast<uint64_t>(p.value()) != model::kNormalNaNBits) {
      return "NaN not normalized";
    }
    auto labels = p.labels();
    for (size_t i = 0; i < labels.size(); ++i) {
      if (!model::IsValidLabelName(labels[i].name)) return "invalid label name accepted";
      if (labels[i].name == model::kMetricName) return "__name__ accepted inside braces";
      if (!IsValidUtf8(labels[i].value)) return "label value not UTF-8";
      for (size_t j = 0; j < i; ++j) {
        if (labels[j].name == labels[i].name) return "duplicate label accepted";
      }
    }
    if (const Exemplar* ex = p.exemplar()) {
      if (format != Format::kOpenMetrics) return "exemplar in the text format";
      if (model::IsStaleNaN(ex->value)) return "stale marker in exemplar";
      for (const auto& l : ex->labels) {
        if (!model::IsValidLabelName(l.name) || !IsValidUtf8(l.value)) return "bad exemplar label";
      }
    }
    if (std::string err = CheckRoundTrip(p); !err.empty()) return err;
  }
  if (p.Next() != e) return "final entry is not sticky";
  if (e == Entry::kInvalid) {
    const ParseError& err = p.error();
    if (err.line < 1 || err.line > lines) return "error line out of range: " + err.message;
    if (!err.message.starts_with("line " + std::to_string(err.line) + ": "))
      return "error message without line";
  } else if (format == Format::kOpenMetrics && !body.ends_with("# EOF") && !body.ends_with("# EOF\n")) {
    return "OpenMetrics body without # EOF accepted";
  }
  const bool check_failed = HasErrors(CheckMetrics(body, format));
  if (check_failed != (e == Entry::kInvalid)) return "CheckMetrics disagrees with the parser";
  return "";
}

}  // namespace promsidecar::textparse::testing
