#include "agent/textparse/check.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "agent/textparse/float.h"

namespace promsidecar::textparse {
namespace {

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// Name and sorted labels, optionally without one label: a key that is the
// same for the same series however its labels are ordered.
std::string SeriesKey(std::string_view name, std::span<const LabelView> labels, std::string_view skip = {}) {
  std::vector<LabelView> sorted;
  for (const auto& l : labels) {
    if (l.name != skip) sorted.push_back(l);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const LabelView& a, const LabelView& b) { return a.name < b.name; });
  std::string key(name);
  for (const auto& l : sorted) {
    key += '\xff';
    key += l.name;
    key += '\xfe';
    key += l.value;
  }
  return key;
}

std::string_view LabelValue(std::span<const LabelView> labels, std::string_view name) {
  for (const auto& l : labels) {
    if (l.name == name) return l.value;
  }
  return {};
}

bool HasLabel(std::span<const LabelView> labels, std::string_view name) {
  return std::any_of(labels.begin(), labels.end(), [&](const LabelView& l) { return l.name == name; });
}

struct Family {
  size_t first_sample_line = 0;
  bool has_help = false;
  bool has_type = false;
  bool has_samples = false;
  bool finished = false;  // another family's samples came after ours
  bool reported_interleaving = false;
};

// One histogram series (labels without `le`): its buckets and count.
struct HistogramGroup {
  std::string family;
  size_t line = 0;
  std::vector<std::pair<double, double>> buckets;  // le, cumulative count
  std::optional<double> count;
};

class Checker {
 public:
  Checker(std::string_view input, Format format) : parser_(input, format), format_(format) {}

  std::vector<Problem> Run() {
    for (;;) {
      Entry e = parser_.Next();
      if (e == Entry::kEof) break;
      if (e == Entry::kInvalid) {
        const std::string& m = parser_.error().message;
        size_t colon = m.find(": ");
        problems_.push_back(
            {parser_.error().line, Severity::kError, colon == std::string::npos ? m : m.substr(colon + 2)});
        break;
      }
      switch (e) {
        case Entry::kHelp: OnHelp(); break;
        case Entry::kType: OnType(); break;
        case Entry::kUnit: current_family_ = std::string(parser_.metric_name()); break;
        case Entry::kSeries: OnSeries(); break;
        default: break;
      }
    }
    Finish();
    std::stable_sort(problems_.begin(), problems_.end(),
                     [](const Problem& a, const Problem& b) { return a.line < b.line; });
    return std::move(problems_);
  }

 private:
  void Lint(size_t line, std::string message) {
    problems_.push_back({line, Severity::kLint, std::move(message)});
  }

  void OnHelp() {
    std::string name(parser_.metric_name());
    Family& f = families_[name];
    if (f.has_help) Lint(parser_.line(), "second HELP line for metric family " + Quoted(name));
    f.has_help = true;
    current_family_ = name;
  }

  void OnType() {
    std::string name(parser_.metric_name());
    Family& f = families_[name];
    size_t line = parser_.line();
    if (f.has_type) Lint(line, "second TYPE line for metric family " + Quoted(name));
    if (f.has_samples) Lint(line, "TYPE line for " + Quoted(name) + " comes after its samples");
    f.has_type = true;
    current_family_ = name;
    current_type_ = parser_.declared_type();
    MetricType t = current_type_;
    if (format_ == Format::kPrometheusText) {
      if (t == MetricType::kCounter && !name.ends_with("_total")) {
        Lint(line, "counter " + Quoted(name) + " should have the \"_total\" suffix");
      }
    } else {
      if (t == MetricType::kCounter && name.ends_with("_total")) {
        Lint(line, "OpenMetrics counter family " + Quoted(name) +
                       " should be named without \"_total\" (its samples carry the suffix)");
      }
      if (t == MetricType::kInfo && name.ends_with("_info")) {
        Lint(line, "OpenMetrics info family " + Quoted(name) + " should be named without \"_info\"");
      }
    }
  }

  // The family a sample belongs to, for grouping: the current metadata
  // family when the name fits it, else the name itself.
  std::string FamilyOf(std::string_view name) const {
    if (!current_family_.empty() && IsSeriesOfFamily(name, current_family_, current_type_))
      return current_family_;
    return std::string(name);
  }

  void OnSeries() {
    const size_t line = parser_.line();
    const std::string_view name = parser_.metric_name();
    const auto labels = parser_.labels();
    const double value = parser_.value();
    const MetricType type = parser_.type();

    std::string family_name = FamilyOf(name);
    if (!current_family_.empty() && family_name != current_family_ &&
        name.starts_with(current_family_ + "_") && current_type_ != MetricType::kUnknown &&
        current_type_ != MetricType::kGauge && current_type_ != MetricType::kStateset) {
      Lint(line, "sample " + Quoted(name) + " has a suffix that a " + std::string(ToString(current_type_)) +
                     " family (" + Quoted(current_family_) + ") does not allow");
    }
    Family& f = families_[family_name];
    if (!f.has_samples) f.first_sample_line = line;
    f.has_samples = true;
    if (f.finished && !f.reported_interleaving) {
      Lint(line, "samples of metric family " + Quoted(family_name) + " are not grouped together");
      f.reported_interleaving = true;
    }
    if (!last_sample_family_.empty() && last_sample_family_ != family_name) {
      families_[last_sample_family_].finished = true;
    }
    last_sample_family_ = family_name;

    std::string key = SeriesKey(name, labels);
    auto [it, inserted] = seen_series_.emplace(std::move(key), line);
    if (!inserted) {
      Lint(line, "duplicate series " + Quoted(parser_.series()) + " (first on line " +
                     std::to_string(it->second) + ")");
    }

    if (format_ == Format::kOpenMetrics && type == MetricType::kCounter && name == family_name) {
      Lint(line, "OpenMetrics counter sample " + Quoted(name) + " must end with \"_total\" or \"_created\"");
    }
    if (type == MetricType::kCounter && !name.ends_with("_created") && (value < 0 || std::isnan(value))) {
      Lint(line, "counter " + Quoted(name) + " has a negative or NaN value");
    }
    if (type == MetricType::kInfo && value != 1)
      Lint(line, "info metric " + Quoted(name) + " must have value 1");
    if (type == MetricType::kStateset && value != 0 && value != 1) {
      Lint(line, "stateset " + Quoted(name) + " must have value 0 or 1");
    }
    if (type == MetricType::kSummary && name == family_name && !HasLabel(labels, "quantile")) {
      Lint(line, "summary sample " + Quoted(name) + " has no \"quantile\" label");
    }
    if ((type == MetricType::kHistogram || type == MetricType::kGaugeHistogram))
      OnHistogramSample(family_name);

    if (const Exemplar* ex = parser_.exemplar()) {
      if (!ex->WithinLengthLimit()) {
        Lint(line, "exemplar labels of " + Quoted(name) + " have " + std::to_string(ex->label_set_chars) +
                       " characters, more than " + std::to_string(kExemplarMaxLabelSetChars) +
                       " (Prometheus drops the exemplar)");
      }
      bool allowed = (type == MetricType::kCounter && name.ends_with("_total")) ||
                     ((type == MetricType::kHistogram || type == MetricType::kGaugeHistogram) &&
                      name.ends_with("_bucket"));
      if (!allowed)
        Lint(line,
             "exemplar on " + Quoted(name) + ": only counter and histogram bucket samples take exemplars");
    }
  }

  void OnHistogramSample(const std::string& family) {
    const std::string_view name = parser_.metric_name();
    const auto labels = parser_.labels();
    const size_t line = parser_.line();
    std::string_view suffix = name.substr(family.size());
    const bool gauge = parser_.type() == MetricType::kGaugeHistogram;
    if (suffix == "_bucket") {
      if (!HasLabel(labels, "le")) {
        Lint(line, "histogram bucket " + Quoted(name) + " has no \"le\" label");
        return;
      }
      double le = 0;
      if (!ParseFloatValue(LabelValue(labels, "le"), &le) || std::isnan(le)) {
        Lint(line, "histogram bucket " + Quoted(name) + " has an invalid \"le\" value " +
                       Quoted(LabelValue(labels, "le")));
        return;
      }
      HistogramGroup& g = Group(family, labels, line);
      g.buckets.emplace_back(le, parser_.value());
    } else if (suffix == (gauge ? "_gcount" : "_count")) {
      Group(family, labels, line).count = parser_.value();
    }
  }

  HistogramGroup& Group(const std::string& family, std::span<const LabelView> labels, size_t line) {
    std::string key = SeriesKey(family, labels, "le");
    auto [it, inserted] = histograms_.try_emplace(std::move(key));
    if (inserted) {
      it->second.family = family;
      it->second.line = line;
      histogram_order_.push_back(&it->second);
    }
    return it->second;
  }

  void Finish() {
    for (const auto& [name, f] : families_) {
      if (f.has_samples && !f.has_help) {
        Lint(f.first_sample_line, "metric family " + Quoted(name) + " has no HELP text");
      }
    }
    for (const HistogramGroup* g : histogram_order_) {
      if (g->buckets.empty()) continue;  // only _count/_sum: no bucket rules to apply
      std::string what =
          "histogram " + Quoted(g->family) + " (series starting line " + std::to_string(g->line) + ")";
      bool ordered = true, cumulative = true;
      for (size_t i = 1; i < g->buckets.size(); ++i) {
        if (!(g->buckets[i - 1].first < g->buckets[i].first)) ordered = false;
        if (g->buckets[i].second < g->buckets[i - 1].second) cumulative = false;
      }
      if (!ordered) Lint(g->line, what + ": buckets are not in increasing \"le\" order");
      if (!cumulative) Lint(g->line, what + ": bucket counts decrease; buckets must be cumulative");
      const auto& last = g->buckets.back();
      if (!std::isinf(last.first) || last.first < 0) {
        Lint(g->line, what + ": no le=\"+Inf\" bucket");
      } else if (g->count && *g->count != last.second) {
        Lint(g->line, what + ": the +Inf bucket does not equal the count");
      }
    }
  }

  Parser parser_;
  Format format_;
  std::vector<Problem> problems_;
  std::string current_family_;
  MetricType current_type_ = MetricType::kUnknown;
  std::string last_sample_family_;
  std::map<std::string, Family> families_;
  std::unordered_map<std::string, size_t> seen_series_;
  std::unordered_map<std::string, HistogramGroup> histograms_;
  std::vector<const HistogramGroup*> histogram_order_;
};

}  // namespace

std::vector<Problem> CheckMetrics(std::string_view input, Format format) {
  return Checker(input, format).Run();
}

bool HasErrors(std::span<const Problem> problems) {
  return std::any_of(problems.begin(), problems.end(),
                     [](const Problem& p) { return p.severity == Severity::kError; });
}

std::string ToString(const Problem& problem) {
  return "line " + std::to_string(problem.line) +
         (problem.severity == Severity::kError ? ": error: " : ": lint: ") + problem.message;
}

}  // namespace promsidecar::textparse
