#include "protoparse_invariants.h"

#include <cmath>
#include <set>

#include "agent/model/labels.h"
#include "common/util/utf8.h"

namespace promsidecar::textparse::testing {
namespace {

bool IsStale(double v) {
  return model::IsStaleNaN(v);
}

std::string CheckLabels(std::span<const LabelView> labels, std::string_view what) {
  std::set<std::string_view> names;
  for (const auto& l : labels) {
    if (!model::IsValidLabelName(l.name)) return std::string(what) + ": invalid label name passed";
    if (!IsValidUtf8(l.value)) return std::string(what) + ": label value is not UTF-8";
    if (!names.insert(l.name).second) return std::string(what) + ": duplicate label name passed";
  }
  return {};
}

// Absolute bucket counts of one side, whatever the representation.
std::vector<double> Counts(const model::Histogram& h, bool positive) {
  std::vector<double> out;
  if (h.is_float) {
    const auto& c = positive ? h.positive_counts : h.negative_counts;
    out.assign(c.begin(), c.end());
  } else {
    int64_t running = 0;
    for (int64_t d : positive ? h.positive_deltas : h.negative_deltas) {
      running += d;
      out.push_back(static_cast<double>(running));
    }
  }
  return out;
}

double Total(const std::vector<double>& v) {
  double t = 0;
  for (double x : v) t += x;
  return t;
}

std::string CheckHistogram(const model::Histogram& h) {
  if (auto why = model::ValidateHistogram(h)) return "native histogram is invalid: " + *why;
  if (h.is_float &&
      (!h.positive_deltas.empty() || !h.negative_deltas.empty() || h.count_int || h.zero_count_int)) {
    return "float histogram carries integer fields";
  }
  if (!h.is_float && (!h.positive_counts.empty() || !h.negative_counts.empty() || h.count_float != 0 ||
                      h.zero_count_float != 0)) {
    return "integer histogram carries float fields";
  }
  // Lowering the resolution moves counts between buckets, never loses them
  // (integer histograms: exactly, with wrapping arithmetic on hostile input).
  if (!h.is_float && model::IsExponentialSchema(h.schema)) {
    model::Histogram low = h;
    const double pos = Total(Counts(h, true)), neg = Total(Counts(h, false));
    if (model::ApplyBucketLimit(low, 1)) {
      if (low.bucket_count() > 1) return "ApplyBucketLimit(1) left more than one bucket";
    } else if (low.schema != model::kExponentialSchemaMin) {
      return "ApplyBucketLimit gave up above the lowest schema";
    }
    if (auto why = model::ValidateHistogram(low)) return "reduced histogram is invalid: " + *why;
    const double lpos = Total(Counts(low, true)), lneg = Total(Counts(low, false));
    auto same = [](double a, double b) {
      return a == b || std::fabs(a - b) <= 1e-9 * std::fabs(a) || std::isnan(a);
    };
    if (!same(pos, lpos) || !same(neg, lneg)) return "reducing the resolution changed the bucket totals";
  }
  return {};
}

std::string OnePass(ProtoParser& p, std::string_view body, ProtoParser::Options options,
                    std::vector<std::string>* keys) {
  p.Reset(body, options);
  for (size_t steps = 0;; ++steps) {
    if (steps > body.size() * 4 + 16) return "the parse does not end";
    Entry e = p.Next();
    if (e == Entry::kEof || e == Entry::kInvalid) {
      if (p.Next() != e) return "a final entry is not final";
      if (e == Entry::kInvalid && p.error().message.rfind("metric family ", 0) != 0) {
        return "error does not name the metric family: " + p.error().message;
      }
      return {};
    }
    if (e == Entry::kSeries || e == Entry::kHistogram) {
      if (!model::IsValidMetricName(p.metric_name())) return "invalid metric name passed";
      if (auto why = CheckLabels(p.labels(), "series"); !why.empty()) return why;
      for (const auto& l : p.labels()) {
        if (l.name == model::kMetricName) return "__name__ among the labels";
      }
      keys->emplace_back(p.series());
    }
    if (e == Entry::kSeries) {
      if (IsStale(p.value())) return "a value carries the stale-marker bits";
      if (const Exemplar* ex = p.exemplar()) {
        if (IsStale(ex->value)) return "an exemplar carries the stale-marker bits";
        if (auto why = CheckLabels(ex->labels, "exemplar"); !why.empty()) return why;
      }
    }
    if (e == Entry::kHistogram) {
      if (auto why = CheckHistogram(p.histogram()); !why.empty()) return why;
      for (const auto& ex : p.histogram_exemplars()) {
        if (!ex.timestamp_ms) return "a native histogram exemplar without timestamp passed";
        if (auto why = CheckLabels(ex.labels, "exemplar"); !why.empty()) return why;
      }
    }
    if (e == Entry::kHelp && !IsValidUtf8(p.help())) return "HELP is not UTF-8";
  }
}

}  // namespace

ProtoParser::Options ProtoFuzzOptions(std::string_view data) {
  ProtoParser::Options o;
  uint8_t b = data.empty() ? 0 : static_cast<uint8_t>(data[0]);
  o.native_histograms = (b & 1) == 0;
  o.keep_classic_histograms = (b & 2) != 0;
  return o;
}

std::string_view ProtoFuzzBody(std::string_view data) {
  return data.empty() ? data : data.substr(1);
}

std::string CheckProtoParserInvariants(std::string_view body, ProtoParser::Options options) {
  ProtoParser p;
  std::vector<std::string> first, second;
  if (auto why = OnePass(p, body, options, &first); !why.empty()) return why;
  // The same parser again: a reused parser must not carry state over.
  if (auto why = OnePass(p, body, options, &second); !why.empty()) return "second pass: " + why;
  if (first != second) return "a second parse of the same body gave other series";
  return {};
}

}  // namespace promsidecar::textparse::testing
