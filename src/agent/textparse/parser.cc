// Grammar notes (what Prometheus's lexers promlex.l / openmetricslex.l
// accept, restated as rules for this hand-written scanner):
//
// Text 0.0.4: spaces and tabs may surround every token, including inside
// `{}` and before the metric name; blank lines are skipped; `# HELP`/`# TYPE`
// lines take a name and the rest of the line (one separator byte dropped);
// other `#` lines are comments; label pairs may omit the comma between them
// (Prometheus accepts that) and a trailing comma is allowed; a label value
// may contain a raw line break; the value is every byte up to a space, tab,
// newline or '{'; the timestamp is digits only (milliseconds); the last line
// needs no '\n'.
//
// OpenMetrics 1.0: no optional whitespace anywhere: exactly one space
// between metric, value, timestamp and exemplar; only `# HELP`, `# TYPE`,
// `# UNIT` and `# EOF` comments; no blank lines; every line ends with '\n';
// the body ends with `# EOF` and an optional '\n'; timestamps are seconds
// (float syntax); exemplars ` # {labels} value [timestamp]`.
//
// Deviations from Prometheus, all on inputs no client library emits:
//  - quoted (UTF-8) metric and label names `{"my.metric", "a.b"="c"}` are
//    rejected with a clear error (Prometheus 3 accepts them);
//  - a NUL byte at the start of a text-format line is an error (Prometheus
//    silently ends the page there);
//  - OpenMetrics timestamps in plain decimal are converted exactly ("1.001"
//    is 1001 ms, Prometheus computes 1000); finite ones outside int64
//    milliseconds are accepted and flagged (timestamp_out_of_range()) where
//    Prometheus's conversion yields math.MinInt64 on amd64;
//  - exemplar label values are unescaped like series label values
//    (Prometheus keeps their escapes);
//  - `ct@` created timestamps (OpenMetrics 2.0 drafts) are invalid here, as
//    they effectively are in Prometheus's 1.0 parser.
#include "agent/textparse/parser.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "agent/model/labels.h"
#include "agent/textparse/float.h"
#include "common/util/hash.h"
#include "common/util/utf8.h"

namespace promsidecar::textparse {
namespace {

enum : uint8_t {
  kMetricStart = 1,
  kMetricChar = 2,
  kLabelStart = 4,
  kLabelChar = 8,
  kDigit = 16,
  kValueSpecial = 32,  // bytes a label value scan must look at
};

constexpr std::array<uint8_t, 256> MakeClassTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    uint8_t v = 0;
    if (alpha || c == ':') v |= kMetricStart | kMetricChar;
    if (digit) v |= kMetricChar | kLabelChar | kDigit;
    if (alpha) v |= kLabelStart | kLabelChar;
    if (c == '"' || c == '\\' || c == '\n' || c >= 0x80) v |= kValueSpecial;
    t[static_cast<size_t>(c)] = v;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClass = MakeClassTable();

inline bool Is(char c, uint8_t mask) {
  return (kClass[static_cast<unsigned char>(c)] & mask) != 0;
}

inline bool IsBlank(char c) {
  return c == ' ' || c == '\t';
}

inline bool StartsWith(const char* p, const char* end, std::string_view prefix) {
  return static_cast<size_t>(end - p) >= prefix.size() && std::memcmp(p, prefix.data(), prefix.size()) == 0;
}

// `"text"` with control and non-ASCII bytes escaped, cut at `max` bytes, for
// error messages.
std::string Quote(std::string_view s, size_t max = 40) {
  std::string out = "\"";
  bool cut = s.size() > max;
  if (cut) s = s.substr(0, max);
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += cut ? "\"..." : "\"";
  return out;
}

std::optional<MetricType> TextFormatType(std::string_view s) {
  if (s == "counter") return MetricType::kCounter;
  if (s == "gauge") return MetricType::kGauge;
  if (s == "histogram") return MetricType::kHistogram;
  if (s == "summary") return MetricType::kSummary;
  if (s == "untyped") return MetricType::kUnknown;
  return std::nullopt;
}

std::optional<MetricType> OpenMetricsType(std::string_view s) {
  if (s == "counter") return MetricType::kCounter;
  if (s == "gauge") return MetricType::kGauge;
  if (s == "histogram") return MetricType::kHistogram;
  if (s == "gaugehistogram") return MetricType::kGaugeHistogram;
  if (s == "summary") return MetricType::kSummary;
  if (s == "info") return MetricType::kInfo;
  if (s == "stateset") return MetricType::kStateset;
  if (s == "unknown") return MetricType::kUnknown;
  return std::nullopt;
}

// Appends `raw` to `out` with `\\`, `\n` and (if `quotes`) `\"` resolved;
// any other backslash pair is kept as written, as Prometheus does.
void Unescape(std::string_view raw, bool quotes, std::string* out) {
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\' && i + 1 < raw.size()) {
      char n = raw[i + 1];
      if (n == '\\' || n == 'n' || (quotes && n == '"')) {
        out->push_back(n == 'n' ? '\n' : n);
        ++i;
        continue;
      }
    }
    out->push_back(c);
  }
}

size_t CountCodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

// Skips label-value bytes that need no attention (anything but '"', '\\',
// '\n' and non-ASCII), eight at a time where the buffer allows.
inline const char* SkipPlainValueBytes(const char* p, const char* end) {
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHigh = 0x8080808080808080ULL;
    auto zero_bytes = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      uint64_t special = zero_bytes(w ^ (kOnes * '"')) | zero_bytes(w ^ (kOnes * '\\')) |
                         zero_bytes(w ^ (kOnes * '\n')) | (w & kHigh);
      if (special != 0) return p + (std::countr_zero(special) >> 3);
      p += 8;
    }
  }
  while (p < end && !Is(*p, kValueSpecial)) ++p;
  return p;
}

}  // namespace

std::string_view ToString(Format format) {
  switch (format) {
    case Format::kOpenMetrics: return "OpenMetrics";
    case Format::kProtobuf: return "Prometheus protobuf";
    case Format::kPrometheusText: break;
  }
  return "Prometheus text";
}

std::string_view ToString(Entry entry) {
  switch (entry) {
    case Entry::kSeries: return "series";
    case Entry::kHistogram: return "histogram";
    case Entry::kHelp: return "help";
    case Entry::kType: return "type";
    case Entry::kUnit: return "unit";
    case Entry::kComment: return "comment";
    case Entry::kEof: return "eof";
    case Entry::kInvalid: return "invalid";
  }
  return "invalid";
}

bool IsSeriesOfFamily(std::string_view name, std::string_view family, MetricType type) {
  if (family.empty() || !name.starts_with(family)) return false;
  std::string_view suffix = name.substr(family.size());
  if (suffix.empty()) return true;
  switch (type) {
    case MetricType::kCounter: return suffix == "_total" || suffix == "_created";
    case MetricType::kHistogram:
      return suffix == "_bucket" || suffix == "_count" || suffix == "_sum" || suffix == "_created";
    case MetricType::kGaugeHistogram: return suffix == "_bucket" || suffix == "_gcount" || suffix == "_gsum";
    case MetricType::kSummary: return suffix == "_count" || suffix == "_sum" || suffix == "_created";
    case MetricType::kInfo: return suffix == "_info";
    default: return false;
  }
}

Parser::Parser(std::string_view body, Format format)
    : body_(body),
      cur_(body.data()),
      end_(body.data() + body.size()),
      format_(format),
      line_start_(body.data()) {}

void Parser::Reset(std::string_view body, Format format) {
  body_ = body;
  cur_ = body.data();
  end_ = body.data() + body.size();
  format_ = format;
  line_ = 0;
  next_line_ = 1;
  line_start_ = body.data();
  extra_newlines_ = 0;
  done_ = false;
  final_entry_ = Entry::kEof;
  error_ = ParseError{};
  name_ = series_ = text_ = {};
  value_ = 0;
  timestamp_ms_.reset();
  timestamp_out_of_range_ = false;
  has_exemplar_ = false;
  exemplar_ = Exemplar{};
  family_name_ = {};
  family_type_ = MetricType::kUnknown;
  labels_.clear();
  exemplar_labels_.clear();
  escaped_labels_ = escaped_exemplar_labels_ = 0;
}

MetricType Parser::type() const {
  return IsSeriesOfFamily(name_, family_name_, family_type_) ? family_type_ : MetricType::kUnknown;
}

std::string_view Parser::family_name() const {
  return IsSeriesOfFamily(name_, family_name_, family_type_) ? family_name_ : name_;
}

Entry Parser::Next() {
  if (done_) return final_entry_;
  has_exemplar_ = false;
  timestamp_ms_.reset();
  timestamp_out_of_range_ = false;
  extra_newlines_ = 0;
  return format_ == Format::kOpenMetrics ? ParseOpenMetricsLine() : ParseTextLine();
}

std::string Parser::Describe(const char* p) const {
  if (p >= end_) return "end of input";
  if (*p == '\n') return "end of line";
  const char* q = p;
  while (q < end_ && !IsBlank(*q) && *q != '\n' && q - p < 40) ++q;
  if (q == p) ++q;  // a lone space or tab
  return Quote(std::string_view(p, static_cast<size_t>(q - p)));
}

Entry Parser::Fail(const char* at, std::string message) {
  size_t line = line_;
  for (const char* p = line_start_; p < at && p < end_; ++p) line += *p == '\n';
  error_.line = line;
  error_.message = "line " + std::to_string(line) + ": " + message;
  done_ = true;
  final_entry_ = Entry::kInvalid;
  cur_ = end_;
  return Entry::kInvalid;
}

void Parser::EndLine(const char* p) {
  if (p < end_ && *p == '\n') ++p;
  cur_ = p;
  next_line_ = line_ + 1 + extra_newlines_;
}

// ---------------------------------------------------------------- text 0.0.4

Entry Parser::ParseTextLine() {
  for (;;) {
    const char* p = cur_;
    line_ = next_line_;
    line_start_ = p;
    while (p < end_ && IsBlank(*p)) ++p;
    if (p == end_) {
      cur_ = p;
      done_ = true;
      final_entry_ = Entry::kEof;
      return Entry::kEof;
    }
    char c = *p;
    if (c == '\n') {
      cur_ = p + 1;
      ++next_line_;
      continue;
    }
    if (c == '#') return ParseTextComment(p);
    if (Is(c, kMetricStart)) return ParseTextSeries(p);
    if (c == '"' || c == '{') {
      return Fail(p, "a series must start with a metric name; quoted (UTF-8) metric names are not supported");
    }
    return Fail(p, "expected a metric name, a '#' line or a blank line, got " + Describe(p));
  }
}

Entry Parser::ParseTextComment(const char* p) {
  const char* q = p + 1;
  if (q < end_ && IsBlank(*q)) {
    while (q < end_ && IsBlank(*q)) ++q;
    bool help = StartsWith(q, end_, "HELP");
    bool type = !help && StartsWith(q, end_, "TYPE");
    if ((help || type) && q + 4 < end_ && IsBlank(q[4])) {
      const char* keyword = help ? "HELP" : "TYPE";
      q += 4;
      while (q < end_ && IsBlank(*q)) ++q;
      if (q == end_ || !Is(*q, kMetricStart)) {
        if (q < end_ && *q == '"') {
          return Fail(q, std::string("quoted (UTF-8) metric names are not supported in # ") + keyword);
        }
        return Fail(q, std::string("expected a metric name after # ") + keyword + ", got " + Describe(q));
      }
      const char* name_start = q;
      while (q < end_ && Is(*q, kMetricChar)) ++q;
      name_ = std::string_view(name_start, static_cast<size_t>(q - name_start));
      const char* eol = static_cast<const char*>(std::memchr(q, '\n', static_cast<size_t>(end_ - q)));
      if (eol == nullptr) eol = end_;
      // Prometheus drops exactly one byte between name and text, and reads
      // a rest of only blanks as no text.
      std::string_view rest(q, static_cast<size_t>(eol - q));
      bool all_blank = std::all_of(rest.begin(), rest.end(), IsBlank);
      text_ = all_blank ? std::string_view() : rest.substr(1);
      if (help) {
        if (!IsValidUtf8(text_)) return Fail(q, "HELP text of " + Quote(name_) + " is not valid UTF-8");
        if (text_.find('\\') != std::string_view::npos) {
          scratch_.clear();
          Unescape(text_, /*quotes=*/false, &scratch_);
          text_ = scratch_;
        }
      } else {
        auto t = TextFormatType(text_);
        if (!t) {
          return Fail(q, "invalid metric type " + Quote(text_) + " for " + Quote(name_) +
                             " (want counter, gauge, histogram, summary or untyped)");
        }
        family_name_ = name_;
        family_type_ = *t;
      }
      EndLine(eol);
      return help ? Entry::kHelp : Entry::kType;
    }
  }
  const char* eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end_ - p)));
  if (eol == nullptr) eol = end_;
  text_ = std::string_view(p + 1, static_cast<size_t>(eol - p - 1));
  EndLine(eol);
  return Entry::kComment;
}

Entry Parser::ParseTextSeries(const char* p) {
  const char* name_start = p;
  ++p;
  while (p < end_ && Is(*p, kMetricChar)) ++p;
  name_ = std::string_view(name_start, static_cast<size_t>(p - name_start));
  const char* series_end = p;
  while (p < end_ && IsBlank(*p)) ++p;
  labels_.clear();
  escaped_labels_ = 0;
  if (p < end_ && *p == '{') {
    p = ParseLabelSet(p, &labels_, &escaped_labels_, /*exemplar=*/false);
    if (p == nullptr) return Entry::kInvalid;
    series_end = p;
    while (p < end_ && IsBlank(*p)) ++p;
  }
  series_ = std::string_view(name_start, static_cast<size_t>(series_end - name_start));

  const char* value_start = p;
  while (p < end_ && !IsBlank(*p) && *p != '\n' && *p != '{') ++p;
  if (p == value_start) return Fail(p, "expected a value after " + Quote(series_) + ", got " + Describe(p));
  if (!ParseValueToken(std::string_view(value_start, static_cast<size_t>(p - value_start)), &value_)) {
    return Entry::kInvalid;
  }
  while (p < end_ && IsBlank(*p)) ++p;
  if (p < end_ && *p != '\n') {
    const char* ts_start = p;
    while (p < end_ && Is(*p, kDigit)) ++p;
    if (p == ts_start) {
      return Fail(p,
                  "expected a timestamp (integer milliseconds) or the end of the line after the value of " +
                      Quote(series_) + ", got " + Describe(p));
    }
    int64_t ts = 0;
    std::string_view token(ts_start, static_cast<size_t>(p - ts_start));
    if (!ParseInt64(token, &ts)) return Fail(ts_start, "timestamp " + Quote(token) + " is out of range");
    timestamp_ms_ = ts;
    while (p < end_ && IsBlank(*p)) ++p;
    if (p < end_ && *p != '\n') {
      return Fail(p, "expected the end of the line after the timestamp of " + Quote(series_) + ", got " +
                         Describe(p));
    }
  }
  if (!FinishLabels()) return Entry::kInvalid;
  EndLine(p);
  return Entry::kSeries;
}

// --------------------------------------------------------------- shared bits

const char* Parser::ParseLabelSet(const char* p, std::vector<LabelView>* out, size_t* escaped,
                                  bool exemplar) {
  const bool text = format_ == Format::kPrometheusText;
  const char* open = p;
  ++p;
  auto skip_blanks = [&] {
    if (text) {
      while (p < end_ && IsBlank(*p)) ++p;
    }
  };
  skip_blanks();
  for (;;) {
    if (p == end_) {
      Fail(open,
           std::string("unexpected end of input in the ") + (exemplar ? "exemplar " : "") + "label set");
      return nullptr;
    }
    if (*p == '}') return p + 1;
    if (!Is(*p, kLabelStart)) {
      if (*p == '"') {
        Fail(p, "quoted (UTF-8) label names are not supported");
      } else {
        Fail(p, std::string("expected a label name or '}' in the ") + (exemplar ? "exemplar " : "") +
                    "label set of " + Quote(name_) + ", got " + Describe(p));
      }
      return nullptr;
    }
    const char* label_start = p;
    ++p;
    while (p < end_ && Is(*p, kLabelChar)) ++p;
    std::string_view label(label_start, static_cast<size_t>(p - label_start));
    skip_blanks();
    if (p == end_ || *p != '=') {
      Fail(p, "expected '=' after label name " + Quote(label) + ", got " + Describe(p));
      return nullptr;
    }
    ++p;
    skip_blanks();
    std::string_view raw;
    p = ParseLabelValue(p, label, &raw, escaped);
    if (p == nullptr) return nullptr;
    out->push_back(LabelView{label, raw});
    skip_blanks();
    if (p < end_ && *p == ',') {
      ++p;
      skip_blanks();
    } else if (!text && (p == end_ || *p != '}')) {
      Fail(p, "expected ',' or '}' after the value of label " + Quote(label) + ", got " + Describe(p));
      return nullptr;
    }
    // The text format also takes pairs without a comma between them, as
    // Prometheus does.
  }
}

const char* Parser::ParseLabelValue(const char* p, std::string_view label, std::string_view* raw,
                                    size_t* escaped_count) {
  if (p == end_ || *p != '"') {
    Fail(p, "expected '\"' to start the value of label " + Quote(label) + ", got " + Describe(p));
    return nullptr;
  }
  const bool text = format_ == Format::kPrometheusText;
  const char* start = ++p;
  bool escaped = false;
  bool high = false;
  for (;;) {
    p = SkipPlainValueBytes(p, end_);
    if (p == end_) {
      Fail(start - 1, "unterminated value of label " + Quote(label));
      return nullptr;
    }
    char c = *p;
    if (c == '"') break;
    if (c == '\\') {
      escaped = true;
      ++p;
      if (p == end_) continue;  // reported as unterminated above
      if (*p == '\n') {
        Fail(p, "backslash before a line break in the value of label " + Quote(label));
        return nullptr;
      }
      high |= static_cast<unsigned char>(*p) >= 0x80;
      ++p;
      continue;
    }
    if (c == '\n') {
      if (!text) {
        Fail(p, "line break inside the value of label " + Quote(label));
        return nullptr;
      }
      ++extra_newlines_;
    } else {
      high = true;
    }
    ++p;
  }
  *raw = std::string_view(start, static_cast<size_t>(p - start));
  *escaped_count += escaped;
  if (high && !IsValidUtf8(*raw)) {
    Fail(start, "invalid UTF-8 in the value of label " + Quote(label));
    return nullptr;
  }
  return p + 1;
}

bool Parser::ParseValueToken(std::string_view token, double* out) {
  if (!ParseFloatValue(token, out)) {
    Fail(token.data(), "invalid value " + Quote(token) + " of " + Quote(series_) +
                           " (want a float such as 1, -2.5e3, NaN, +Inf)");
    return false;
  }
  if (*out != *out) *out = model::NormalNaN();
  return true;
}

std::string_view Parser::NormalizeFloatLabel(std::string_view value) {
  if (value == "+Inf") return value;
  constexpr size_t kSlots = 64;
  if (normalized_cache_.empty()) normalized_cache_.resize(kSlots);
  NormalizedFloat& slot = normalized_cache_[HashFnv1a64(value) % kSlots];
  if (slot.raw != value) {
    double v = 0;
    char buf[kMaxFormattedFloat];
    slot.raw.assign(value);
    if (ParseFloatValue(value, &v)) {
      slot.normalized.assign(buf, FormatOpenMetricsFloat(v, buf));
    } else {
      slot.normalized.assign(value);  // not a number: Prometheus keeps it as written
    }
  }
  // Views into the cache stay valid until the next line: a series has at
  // most one label to normalize.
  return slot.normalized;
}

bool Parser::FinishLabels() {
  // Only histogram `le` and summary `quantile` values get normalized; skip
  // the family check for every other sample.
  const bool typed = family_type_ == MetricType::kHistogram || family_type_ == MetricType::kSummary;
  const MetricType type = typed && !labels_.empty() ? this->type() : MetricType::kUnknown;
  const bool normalize = type != MetricType::kUnknown;
  const std::string_view float_label = type == MetricType::kHistogram ? "le" : "quantile";

  if (escaped_labels_ + escaped_exemplar_labels_ > 0) {
    // Reserve once so views into scratch_ stay valid while it fills up.
    size_t need = 0;
    for (const auto& l : labels_) need += l.value.size();
    if (has_exemplar_) {
      for (const auto& l : exemplar_labels_) need += l.value.size();
    }
    scratch_.clear();
    if (scratch_.capacity() < need) scratch_.reserve(need);
    auto unescape_all = [this](std::vector<LabelView>& labels) {
      for (auto& l : labels) {
        if (l.value.find('\\') == std::string_view::npos) continue;
        size_t offset = scratch_.size();
        Unescape(l.value, /*quotes=*/true, &scratch_);
        l.value = std::string_view(scratch_.data() + offset, scratch_.size() - offset);
      }
    };
    if (escaped_labels_ > 0) unescape_all(labels_);
    if (has_exemplar_ && escaped_exemplar_labels_ > 0) unescape_all(exemplar_labels_);
  }
  if (normalize) {
    for (auto& l : labels_) {
      if (l.name == float_label) l.value = NormalizeFloatLabel(l.value);
    }
  }

  // Duplicate names (including __name__, which the metric name already
  // sets) make an invalid series.
  const size_t n = labels_.size();
  auto duplicate = [this](std::string_view name) {
    Fail(name.data(), "duplicate label " + Quote(name) + " in " + Quote(series_));
    return false;
  };
  if (n <= 16) {
    for (size_t i = 0; i < n; ++i) {
      const std::string_view name = labels_[i].name;
      if (name.size() == model::kMetricName.size() && name == model::kMetricName) return duplicate(name);
      for (size_t j = i + 1; j < n; ++j) {
        if (labels_[j].name.size() == name.size() && labels_[j].name == name)
          return duplicate(labels_[j].name);
      }
    }
  } else {
    dedup_scratch_.clear();
    for (const auto& l : labels_) dedup_scratch_.push_back(l.name);
    dedup_scratch_.push_back(model::kMetricName);
    std::sort(dedup_scratch_.begin(), dedup_scratch_.end());
    auto it = std::adjacent_find(dedup_scratch_.begin(), dedup_scratch_.end());
    if (it != dedup_scratch_.end()) {
      // Point at the second occurrence in input order for the message.
      std::string_view name = *it;
      const LabelView* second = nullptr;
      bool seen = name == model::kMetricName;
      for (const auto& l : labels_) {
        if (l.name != name) continue;
        if (seen) {
          second = &l;
          break;
        }
        seen = true;
      }
      return duplicate(second ? second->name : name);
    }
  }

  if (has_exemplar_) {
    size_t chars = 0;
    for (const auto& l : exemplar_labels_) chars += l.name.size() + CountCodePoints(l.value);
    exemplar_.labels = exemplar_labels_;
    exemplar_.label_set_chars = chars;
  }
  return true;
}

// ------------------------------------------------------------ OpenMetrics 1.0

Entry Parser::ParseOpenMetricsLine() {
  const char* p = cur_;
  line_ = next_line_;
  line_start_ = p;
  if (p == end_) return Fail(p, "the exposition does not end with \"# EOF\"");
  char c = *p;
  if (c == '#') return ParseOpenMetricsMeta(p);
  if (Is(c, kMetricStart)) return ParseOpenMetricsSeries(p);
  if (c == '\n') return Fail(p, "blank lines are not allowed in OpenMetrics");
  if (c == '"' || c == '{') {
    return Fail(p, "a series must start with a metric name; quoted (UTF-8) metric names are not supported");
  }
  return Fail(p, "expected a metric name or a '#' line, got " + Describe(p));
}

Entry Parser::ParseOpenMetricsMeta(const char* p) {
  static constexpr const char* kOnlyComments =
      "OpenMetrics allows only \"# HELP\", \"# TYPE\", \"# UNIT\" and \"# EOF\" lines starting with '#'";
  const char* q = p + 1;
  if (q == end_ || *q != ' ') return Fail(q, kOnlyComments);
  ++q;
  if (StartsWith(q, end_, "EOF")) {
    q += 3;
    if (q < end_ && *q == '\n') ++q;
    if (q != end_) return Fail(q, "unexpected data after \"# EOF\"");
    cur_ = end_;
    done_ = true;
    final_entry_ = Entry::kEof;
    return Entry::kEof;
  }
  Entry entry;
  const char* keyword;
  if (StartsWith(q, end_, "HELP ")) {
    entry = Entry::kHelp, keyword = "HELP";
  } else if (StartsWith(q, end_, "TYPE ")) {
    entry = Entry::kType, keyword = "TYPE";
  } else if (StartsWith(q, end_, "UNIT ")) {
    entry = Entry::kUnit, keyword = "UNIT";
  } else {
    return Fail(q, kOnlyComments);
  }
  q += 5;
  if (q == end_ || !Is(*q, kMetricStart)) {
    if (q < end_ && *q == '"') {
      return Fail(q, std::string("quoted (UTF-8) metric names are not supported in # ") + keyword);
    }
    return Fail(q, std::string("expected a metric name after # ") + keyword + ", got " + Describe(q));
  }
  const char* name_start = q;
  while (q < end_ && Is(*q, kMetricChar)) ++q;
  name_ = std::string_view(name_start, static_cast<size_t>(q - name_start));
  if (q == end_ || *q != ' ') {
    return Fail(q, std::string("expected ' ' and text after the metric name in # ") + keyword + ", got " +
                       Describe(q));
  }
  ++q;
  const char* eol = static_cast<const char*>(std::memchr(q, '\n', static_cast<size_t>(end_ - q)));
  if (eol == nullptr) return Fail(end_, "the exposition does not end with \"# EOF\"");
  text_ = std::string_view(q, static_cast<size_t>(eol - q));
  if (entry == Entry::kHelp) {
    if (!IsValidUtf8(text_)) return Fail(q, "HELP text of " + Quote(name_) + " is not valid UTF-8");
    if (text_.find('\\') != std::string_view::npos) {
      scratch_.clear();
      Unescape(text_, /*quotes=*/true, &scratch_);
      text_ = scratch_;
    }
  } else if (entry == Entry::kType) {
    auto t = OpenMetricsType(text_);
    if (!t) {
      return Fail(
          q, "invalid metric type " + Quote(text_) + " for " + Quote(name_) +
                 " (want counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown)");
    }
    family_name_ = name_;
    family_type_ = *t;
  } else if (!text_.empty()) {
    if (!(name_.size() > text_.size() && name_.ends_with(text_) &&
          name_[name_.size() - text_.size() - 1] == '_')) {
      return Fail(q, "unit " + Quote(text_) + " is not a suffix of metric " + Quote(name_) +
                         " (the name must end with \"_" + std::string(text_) + "\")");
    }
  }
  EndLine(eol);
  return entry;
}

Entry Parser::ParseOpenMetricsSeries(const char* p) {
  static constexpr const char* kNoEof = "the exposition does not end with \"# EOF\"";
  const char* name_start = p;
  ++p;
  while (p < end_ && Is(*p, kMetricChar)) ++p;
  name_ = std::string_view(name_start, static_cast<size_t>(p - name_start));
  labels_.clear();
  escaped_labels_ = 0;
  if (p < end_ && *p == '{') {
    p = ParseLabelSet(p, &labels_, &escaped_labels_, /*exemplar=*/false);
    if (p == nullptr) return Entry::kInvalid;
  }
  series_ = std::string_view(name_start, static_cast<size_t>(p - name_start));
  if (p == end_ || *p != ' ') {
    return Fail(p, "expected ' ' and a value after " + Quote(series_) + ", got " + Describe(p));
  }
  ++p;
  const char* value_start = p;
  while (p < end_ && *p != ' ' && *p != '\n') ++p;
  if (p == value_start) {
    return Fail(p, "expected a value after " + Quote(series_) + " (exactly one space), got " + Describe(p));
  }
  if (!ParseValueToken(std::string_view(value_start, static_cast<size_t>(p - value_start)), &value_)) {
    return Entry::kInvalid;
  }
  if (p < end_ && *p == ' ' && !StartsWith(p, end_, " # {")) {
    ++p;
    const char* ts_start = p;
    while (p < end_ && *p != ' ' && *p != '\n') ++p;
    std::string_view token(ts_start, static_cast<size_t>(p - ts_start));
    int64_t ts = 0;
    if (token.empty()) {
      return Fail(p, "expected a timestamp after the value of " + Quote(series_) +
                         " (exactly one space), got " + Describe(p));
    }
    switch (ParseSecondsToMillis(token, &ts)) {
      case TimestampParse::kOk: timestamp_ms_ = ts; break;
      case TimestampParse::kOutOfRange: timestamp_out_of_range_ = true; break;
      case TimestampParse::kInvalid:
        return Fail(ts_start, "invalid timestamp " + Quote(token) + " of " + Quote(series_) +
                                  " (want seconds since the epoch, such as 1700000000.123)");
    }
  }
  if (p < end_ && *p == ' ') {
    if (!StartsWith(p, end_, " # {")) {
      return Fail(p, "expected the end of the line or an exemplar \" # {...}\" after " + Quote(series_) +
                         ", got " + Describe(p + 1));
    }
    p = ParseExemplar(p + 3);
    if (p == nullptr) return Entry::kInvalid;
  }
  if (p == end_) return Fail(p, kNoEof);
  if (!FinishLabels()) return Entry::kInvalid;
  EndLine(p);
  return Entry::kSeries;
}

const char* Parser::ParseExemplar(const char* p) {
  exemplar_labels_.clear();
  escaped_exemplar_labels_ = 0;
  p = ParseLabelSet(p, &exemplar_labels_, &escaped_exemplar_labels_, /*exemplar=*/true);
  if (p == nullptr) return nullptr;
  if (p == end_ || *p != ' ') {
    Fail(p,
         "expected ' ' and a value after the exemplar labels of " + Quote(series_) + ", got " + Describe(p));
    return nullptr;
  }
  ++p;
  const char* value_start = p;
  while (p < end_ && *p != ' ' && *p != '\n') ++p;
  std::string_view token(value_start, static_cast<size_t>(p - value_start));
  double value = 0;
  if (!ParseFloatValue(token, &value)) {
    Fail(value_start, "invalid exemplar value " + Quote(token) + " of " + Quote(series_));
    return nullptr;
  }
  exemplar_.value = value != value ? model::NormalNaN() : value;
  exemplar_.timestamp_ms.reset();
  exemplar_.timestamp_out_of_range = false;
  if (p < end_ && *p == ' ') {
    ++p;
    const char* ts_start = p;
    while (p < end_ && *p != ' ' && *p != '\n') ++p;
    std::string_view ts_token(ts_start, static_cast<size_t>(p - ts_start));
    int64_t ts = 0;
    TimestampParse parsed = ParseSecondsToMillis(ts_token, &ts);
    if (parsed == TimestampParse::kInvalid) {
      Fail(ts_start, "invalid exemplar timestamp " + Quote(ts_token) + " of " + Quote(series_));
      return nullptr;
    }
    if (parsed == TimestampParse::kOk) exemplar_.timestamp_ms = ts;
    exemplar_.timestamp_out_of_range = parsed == TimestampParse::kOutOfRange;
  }
  if (p < end_ && *p != '\n') {
    Fail(p, "expected the end of the line after the exemplar of " + Quote(series_) + ", got " + Describe(p));
    return nullptr;
  }
  has_exemplar_ = true;
  return p;
}

}  // namespace promsidecar::textparse
