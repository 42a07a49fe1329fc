// A zero-copy pull parser for the Prometheus text format (0.0.4) and
// OpenMetrics 1.0 text, the agent's scrape hot path.
//
// Compatibility target: accept and reject exactly what Prometheus's
// model/textparse parsers accept and reject, so a page that scrapes in
// Prometheus scrapes here. Known deviations (all on inputs no client library
// produces) are listed in parser.cc's header comment.
//
// Ownership: every string_view returned points either into the body given to
// the constructor or into a scratch buffer owned by the parser; both are valid
// until the next call to Next(). The parser never allocates per sample once
// its label vectors and scratch buffer have grown to the page's widest line.
// Not thread-safe; one parser per scrape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/model/histogram.h"

namespace promsidecar::textparse {

enum class Format {
  kPrometheusText,  // text/plain; version=0.0.4 (and 1.0.0)
  kOpenMetrics,     // application/openmetrics-text; version=1.0.0
  kProtobuf,        // delimited protobuf: ProtoParser (protoparse.h), never this Parser
};
std::string_view ToString(Format format);

// kHistogram: a native histogram (protobuf format only).
enum class Entry { kSeries, kHistogram, kHelp, kType, kUnit, kComment, kEof, kInvalid };
std::string_view ToString(Entry entry);

using MetricType = model::MetricType;
using model::ToString;

struct LabelView {
  std::string_view name;
  std::string_view value;  // unescaped
  friend bool operator==(const LabelView&, const LabelView&) = default;
};

// OpenMetrics: "The combined length of the label names and values of an
// Exemplar's LabelSet MUST NOT exceed 128 UTF-8 character code points."
// Prometheus drops such an exemplar (keeping its sample); so should callers.
inline constexpr size_t kExemplarMaxLabelSetChars = 128;

struct Exemplar {
  std::span<const LabelView> labels;
  double value = 0;  // a NaN is always model::NormalNaN()
  std::optional<int64_t> timestamp_ms;
  bool timestamp_out_of_range = false;  // see Parser::timestamp_out_of_range()
  size_t label_set_chars = 0;           // code points of all names and values
  bool WithinLengthLimit() const { return label_set_chars <= kExemplarMaxLabelSetChars; }
};

struct ParseError {
  size_t line = 0;
  // A full sentence that starts with "line N: ", e.g.
  // `line 12: expected '=' after label name "foo", got "}"`.
  std::string message;
};

class Parser {
 public:
  Parser(std::string_view body, Format format);

  // Starts over on a new body, keeping the buffers grown so far: a scrape
  // loop that keeps one parser per target parses without allocating once
  // its pages stop growing.
  void Reset(std::string_view body, Format format);

  // Advances to the next entry. kEof and kInvalid are final: every later
  // call returns the same. Blank lines (text format) are skipped.
  Entry Next();

  Format format() const { return format_; }
  // 1-based line of the current entry (its first line).
  size_t line() const { return line_; }
  // Valid after kInvalid.
  const ParseError& error() const { return error_; }

  // kSeries, kHelp, kType, kUnit: the metric (family) name.
  std::string_view metric_name() const { return name_; }

  // --- kSeries ---
  // Labels in input order, without __name__; names are validated, values
  // unescaped and valid UTF-8, no name appears twice. For histogram `le`
  // and summary `quantile` labels the value is normalized like Prometheus 3
  // does ("1" -> "1.0").
  std::span<const LabelView> labels() const { return labels_; }
  // The raw bytes `name{labels}` as they appear in the body: a cheap cache
  // key, stable across scrapes while the exposition does not change.
  std::string_view series() const { return series_; }
  // Never the stale-marker NaN: every NaN is model::NormalNaN().
  double value() const { return value_; }
  std::optional<int64_t> timestamp_ms() const { return timestamp_ms_; }
  // OpenMetrics: the sample has a valid timestamp whose milliseconds do not
  // fit in int64 (timestamp_ms() is empty then). Prometheus accepts such a
  // page and cannot store the sample when it honours timestamps.
  bool timestamp_out_of_range() const { return timestamp_out_of_range_; }
  // nullptr when the sample has none (always in the text format).
  const Exemplar* exemplar() const { return has_exemplar_ ? &exemplar_ : nullptr; }
  // Type of the family this sample belongs to: the last TYPE line's type if
  // the sample's name is that family's name or one of the suffixes its type
  // allows (_total, _bucket, _count, ...), else kUnknown.
  MetricType type() const;
  // The family the current sample belongs to: the last TYPE line's name if
  // the sample is of that family (see type()), else the sample's own name.
  std::string_view family_name() const;
  // Created timestamps come from the protobuf format only (see ProtoParser).
  std::optional<int64_t> created_timestamp_ms() const { return std::nullopt; }

  // --- kHelp: the text, unescaped (text format: `\\` and `\n`; OpenMetrics
  // also `\"`). kType: declared_type(), which also stays the type of the
  // family for later samples. kUnit: the unit. kComment: the bytes after '#'.
  std::string_view help() const { return text_; }
  MetricType declared_type() const { return family_type_; }
  std::string_view unit() const { return text_; }
  std::string_view comment() const { return text_; }

 private:
  // Records the error (its line counted up to `at`) and ends the parse.
  Entry Fail(const char* at, std::string message);
  // The token at `p` quoted for an error message ("end of line" etc.).
  std::string Describe(const char* p) const;
  Entry ParseTextLine();
  Entry ParseOpenMetricsLine();
  Entry ParseTextComment(const char* p);
  Entry ParseOpenMetricsMeta(const char* p);
  Entry ParseTextSeries(const char* p);
  Entry ParseOpenMetricsSeries(const char* p);
  // Parses `{...}` starting at '{'; returns the position after '}' or
  // nullptr after Fail().
  // Label values land in `out` still escaped; `escaped` counts those that
  // need FinishLabels() to unescape them.
  const char* ParseLabelSet(const char* p, std::vector<LabelView>* out, size_t* escaped, bool exemplar);
  const char* ParseLabelValue(const char* p, std::string_view label_name, std::string_view* raw,
                              size_t* escaped);
  std::string_view NormalizeFloatLabel(std::string_view value);
  const char* ParseExemplar(const char* p);
  // Unescapes and normalizes label values, checks duplicates.
  bool FinishLabels();
  bool ParseValueToken(std::string_view token, double* out);
  // Moves past the newline ending the current line at `p` (or the end of
  // the body), counting it.
  void EndLine(const char* p);

  std::string_view body_;
  const char* cur_;
  const char* end_;
  Format format_;
  size_t line_ = 0;
  size_t next_line_ = 1;
  const char* line_start_;
  size_t extra_newlines_ = 0;  // raw line breaks inside text-format label values
  bool done_ = false;
  Entry final_entry_ = Entry::kEof;
  ParseError error_;

  std::string_view name_;
  std::string_view series_;
  std::string_view text_;
  double value_ = 0;
  std::optional<int64_t> timestamp_ms_;
  bool timestamp_out_of_range_ = false;
  bool has_exemplar_ = false;
  Exemplar exemplar_;

  std::string_view family_name_;
  MetricType family_type_ = MetricType::kUnknown;

  std::vector<LabelView> labels_;
  std::vector<LabelView> exemplar_labels_;
  size_t escaped_labels_ = 0;
  size_t escaped_exemplar_labels_ = 0;
  // `le`/`quantile` values repeat across a page's series: remember their
  // normalized form (direct-mapped by a hash of the raw bytes).
  struct NormalizedFloat {
    std::string raw;
    std::string normalized;
  };
  std::vector<NormalizedFloat> normalized_cache_;
  std::vector<std::string_view> dedup_scratch_;
  std::string scratch_;  // unescaped values and normalized floats
};

// True when `name` belongs to a family called `family` of type `type`.
bool IsSeriesOfFamily(std::string_view name, std::string_view family, MetricType type);

}  // namespace promsidecar::textparse
