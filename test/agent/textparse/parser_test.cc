#include "agent/textparse/parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "agent/model/labels.h"

namespace promsidecar::textparse {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr Format kText = Format::kPrometheusText;
constexpr Format kOM = Format::kOpenMetrics;

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string Labels(std::span<const LabelView> labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += std::string(labels[i].name) + "=\"" + Escape(labels[i].value) + "\"";
  }
  return out + "}";
}

// One line per entry, e.g. `S foo{a="b"} 1 @1000 counter` or `ERR line 3: ...`.
std::vector<std::string> Dump(std::string_view input, Format format) {
  std::vector<std::string> out;
  Parser p(input, format);
  for (int guard = 0; guard < 10000; ++guard) {
    Entry e = p.Next();
    switch (e) {
      case Entry::kSeries: {
        std::string s = "S " + std::string(p.metric_name()) + Labels(p.labels()) + " " + Num(p.value());
        if (p.timestamp_ms()) s += " @" + std::to_string(*p.timestamp_ms());
        if (p.timestamp_out_of_range()) s += " @out-of-range";
        if (const Exemplar* ex = p.exemplar()) {
          s += " # " + Labels(ex->labels) + " " + Num(ex->value);
          if (ex->timestamp_ms) s += " @" + std::to_string(*ex->timestamp_ms);
          if (ex->timestamp_out_of_range) s += " @out-of-range";
        }
        s += " " + std::string(ToString(p.type()));
        out.push_back(s);
        break;
      }
      case Entry::kHelp: out.push_back("H " + std::string(p.metric_name()) + " " + Escape(p.help())); break;
      case Entry::kType:
        out.push_back("T " + std::string(p.metric_name()) + " " + std::string(ToString(p.declared_type())));
        break;
      case Entry::kUnit:
        out.push_back("U " + std::string(p.metric_name()) + " " + std::string(p.unit()));
        break;
      case Entry::kComment: out.push_back("C " + std::string(p.comment())); break;
      case Entry::kHistogram: ADD_FAILURE() << "a text parser returned a native histogram"; return out;
      case Entry::kEof: out.push_back("EOF"); return out;
      case Entry::kInvalid: out.push_back("ERR " + p.error().message); return out;
    }
  }
  ADD_FAILURE() << "parser does not terminate";
  return out;
}

struct ValidCase {
  const char* name;
  Format format;
  std::string input;
  std::vector<std::string> want;
};

std::string CaseName(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

class Valid : public ::testing::TestWithParam<ValidCase> {};

TEST_P(Valid, Parses) {
  const auto& c = GetParam();
  EXPECT_THAT(Dump(c.input, c.format), ElementsAreArray(c.want)) << "input:\n" << c.input;
}

const ValidCase kValidCases[] = {
    // ---- Prometheus text 0.0.4 ----
    {"text_simple", kText, "foo 1\n", {"S foo{} 1 unknown", "EOF"}},
    {"text_labels", kText, "foo{a=\"b\",c=\"d\"} 2\n", {"S foo{a=\"b\",c=\"d\"} 2 unknown", "EOF"}},
    {"text_empty_label_set", kText, "foo{} 3\n", {"S foo{} 3 unknown", "EOF"}},
    {"text_trailing_comma", kText, "foo{a=\"b\",} 1\n", {"S foo{a=\"b\"} 1 unknown", "EOF"}},
    {"text_whitespace_everywhere",
     kText,
     "  foo \t{ a = \"b\" , c=\"d\" }\t 1   123  \n",
     {"S foo{a=\"b\",c=\"d\"} 1 @123 unknown", "EOF"}},
    {"text_pairs_without_comma",
     kText,
     "foo{a=\"1\" b=\"2\"} 1\n",
     {"S foo{a=\"1\",b=\"2\"} 1 unknown", "EOF"}},
    {"text_value_right_after_brace", kText, "foo{a=\"b\"}1\n", {"S foo{a=\"b\"} 1 unknown", "EOF"}},
    {"text_escapes",
     kText,
     "foo{a=\"x\\\\y\\\"z\\nw\"} 1\n",
     {"S foo{a=\"x\\\\y\\\"z\\nw\"} 1 unknown", "EOF"}},
    {"text_unknown_escape_kept",
     kText,
     "foo{a=\"\\t\\q\"} 1\n",
     {"S foo{a=\"\\\\t\\\\q\"} 1 unknown", "EOF"}},
    {"text_special_chars_in_value", kText, "foo{a=\"{},=# \"} 1\n", {"S foo{a=\"{},=# \"} 1 unknown", "EOF"}},
    {"text_empty_label_value", kText, "foo{a=\"\"} 1\n", {"S foo{a=\"\"} 1 unknown", "EOF"}},
    {"text_utf8_label_value",
     kText,
     "foo{a=\"h\xc3\xa9llo \xe2\x9c\x93\"} 1\n",
     {"S foo{a=\"h\xc3\xa9llo \xe2\x9c\x93\"} 1 unknown", "EOF"}},
    {"text_special_values",
     kText,
     "a NaN\nb +Inf\nc -Inf\nd Inf\ne -infinity\nf nan\n",
     {"S a{} NaN unknown", "S b{} +Inf unknown", "S c{} -Inf unknown", "S d{} +Inf unknown",
      "S e{} -Inf unknown", "S f{} NaN unknown", "EOF"}},
    {"text_float_forms",
     kText,
     "a 1e3\nb .5\nc 5.\nd -0\ne 1.5E-3\nf +7\ng 1e-400\nh 0001.50\n",
     {"S a{} 1000 unknown", "S b{} 0.5 unknown", "S c{} 5 unknown", "S d{} -0 unknown",
      "S e{} 0.0015 unknown", "S f{} 7 unknown", "S g{} 0 unknown", "S h{} 1.5 unknown", "EOF"}},
    {"text_timestamp_ms", kText, "foo 1 1700000000123\n", {"S foo{} 1 @1700000000123 unknown", "EOF"}},
    {"text_no_trailing_newline", kText, "foo 1\nbar 2", {"S foo{} 1 unknown", "S bar{} 2 unknown", "EOF"}},
    {"text_blank_lines", kText, "\n  \n\t\nfoo 1\n\n", {"S foo{} 1 unknown", "EOF"}},
    {"text_empty_body", kText, "", {"EOF"}},
    {"text_help_escapes",
     kText,
     "# HELP foo a\\\\b\\nc \\\"q\\\"\n",
     {"H foo a\\\\b\\nc \\\\\\\"q\\\\\\\"", "EOF"}},
    {"text_help_empty", kText, "# HELP foo\n# HELP bar   \n", {"H foo ", "H bar ", "EOF"}},
    {"text_types",
     kText,
     "# TYPE a counter\n# TYPE b gauge\n# TYPE c histogram\n# TYPE d summary\n# TYPE e untyped\n",
     {"T a counter", "T b gauge", "T c histogram", "T d summary", "T e unknown", "EOF"}},
    {"text_comments",
     kText,
     "# just a comment\n#nospace\n#\n# HELPER x\n#\tTYPEfoo\n",
     {"C  just a comment", "C nospace", "C ", "C  HELPER x", "C \tTYPEfoo", "EOF"}},
    {"text_raw_newline_in_label_value",
     kText,
     "foo{a=\"x\ny\"} 1\nbar 2\n",
     {"S foo{a=\"x\\ny\"} 1 unknown", "S bar{} 2 unknown", "EOF"}},
    {"text_counter_family",
     kText,
     "# TYPE foo_total counter\nfoo_total 3\nfoo_totalx 1\n",
     {"T foo_total counter", "S foo_total{} 3 counter", "S foo_totalx{} 1 unknown", "EOF"}},
    {"text_histogram_le_normalized",
     kText,
     "# TYPE h histogram\nh_bucket{le=\"0.005\"} 1\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"1e6\"} 2\n"
     "h_bucket{le=\"+Inf\"} 3\nh_sum 4.5\nh_count 3\n",
     {"T h histogram", "S h_bucket{le=\"0.005\"} 1 histogram", "S h_bucket{le=\"1.0\"} 2 histogram",
      "S h_bucket{le=\"1e+06\"} 2 histogram", "S h_bucket{le=\"+Inf\"} 3 histogram",
      "S h_sum{} 4.5 histogram", "S h_count{} 3 histogram", "EOF"}},
    {"text_le_not_normalized_outside_histograms",
     kText,
     "# TYPE g gauge\ng{le=\"1\"} 1\nh_bucket{le=\"1\"} 1\n",
     {"T g gauge", "S g{le=\"1\"} 1 gauge", "S h_bucket{le=\"1\"} 1 unknown", "EOF"}},
    {"text_summary_quantile_normalized",
     kText,
     "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"1\"} 2\ns_sum 3\ns_count 2\n",
     {"T s summary", "S s{quantile=\"0.5\"} 1 summary", "S s{quantile=\"1.0\"} 2 summary",
      "S s_sum{} 3 summary", "S s_count{} 2 summary", "EOF"}},
    {"text_escaped_le_normalized",
     kText,
     "# TYPE h histogram\nh_bucket{x=\"\\\"\",le=\"2\"} 1\n",
     {"T h histogram", "S h_bucket{x=\"\\\"\",le=\"2.0\"} 1 histogram", "EOF"}},
    {"text_type_of_other_family",
     kText,
     "# TYPE foo gauge\nfoo 1\nbar 2\n",
     {"T foo gauge", "S foo{} 1 gauge", "S bar{} 2 unknown", "EOF"}},
    {"text_many_labels",
     kText,
     "m{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\",g=\"7\",h=\"8\",i=\"9\",j=\"10\",k=\"11\",l=\"12\","
     "n=\"13\",o=\"14\",p=\"15\",q=\"16\",r=\"17\"} 1\n",
     {"S "
      "m{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\",g=\"7\",h=\"8\",i=\"9\",j=\"10\",k=\"11\",l=\"12\","
      "n=\"13\",o=\"14\",p=\"15\",q=\"16\",r=\"17\"} 1 unknown",
      "EOF"}},
    {"text_colon_names",
     kText,
     "job:rate5m:sum{_x1=\"y\"} 1\n",
     {"S job:rate5m:sum{_x1=\"y\"} 1 unknown", "EOF"}},
    {"text_eof_is_a_comment",
     kText,
     "foo 1\n# EOF\nbar 2\n",
     {"S foo{} 1 unknown", "C  EOF", "S bar{} 2 unknown", "EOF"}},

    // ---- OpenMetrics 1.0 ----
    {"om_only_eof", kOM, "# EOF\n", {"EOF"}},
    {"om_eof_without_newline", kOM, "foo 1\n# EOF", {"S foo{} 1 unknown", "EOF"}},
    {"om_counter_family",
     kOM,
     "# TYPE foo counter\n# HELP foo Requests.\n# UNIT foo_seconds seconds\nfoo_total 1\nfoo_created "
     "1.7e9\n# EOF\n",
     {"T foo counter", "H foo Requests.", "U foo_seconds seconds", "S foo_total{} 1 counter",
      "S foo_created{} 1.7e+09 counter", "EOF"}},
    {"om_timestamps_seconds",
     kOM,
     "a 1 1700000000\nb 1 1.5\nc 1 1.001\nd 1 -1.5\ne 1 1e3\nf 1 0.0009\ng 1 +2\n# EOF\n",
     {"S a{} 1 @1700000000000 unknown", "S b{} 1 @1500 unknown", "S c{} 1 @1001 unknown",
      "S d{} 1 @-1500 unknown", "S e{} 1 @1000000 unknown", "S f{} 1 @0 unknown", "S g{} 1 @2000 unknown",
      "EOF"}},
    // Every timestamp form Prometheus takes, including one whose
    // milliseconds overflow int64 (the OpenMetrics suite's `timestamps` case):
    // the page parses, that sample is flagged.
    {"om_timestamps_out_of_int64_range",
     kOM,
     "# TYPE c counter\nc_total{n=\"a\"} 1 000\nc_total{n=\"b\"} 1 12345678901234567890.1234567890\n"
     "c_total{n=\"c\"} 1 -98765432109876543210\nc_total{n=\"d\"} 1 1e300\n"
     "e_total 1 # {t=\"1\"} 2 12345678901234567890.5\n# EOF\n",
     {"T c counter", "S c_total{n=\"a\"} 1 @0 counter", "S c_total{n=\"b\"} 1 @out-of-range counter",
      "S c_total{n=\"c\"} 1 @out-of-range counter", "S c_total{n=\"d\"} 1 @out-of-range counter",
      "S e_total{} 1 # {t=\"1\"} 2 @out-of-range unknown", "EOF"}},
    {"om_labels",
     kOM,
     "foo{a=\"b\",c=\"d\",} 1\nbar{} 2\n# EOF\n",
     {"S foo{a=\"b\",c=\"d\"} 1 unknown", "S bar{} 2 unknown", "EOF"}},
    {"om_exemplar",
     kOM,
     "# TYPE foo counter\nfoo_total 1 # {trace_id=\"abc\"} 0.5\n# EOF\n",
     {"T foo counter", "S foo_total{} 1 # {trace_id=\"abc\"} 0.5 counter", "EOF"}},
    {"om_exemplar_with_timestamp",
     kOM,
     "foo_total 1 # {a=\"b\",c=\"\\\"\"} 1 1700000000.25\n# EOF\n",
     {"S foo_total{} 1 # {a=\"b\",c=\"\\\"\"} 1 @1700000000250 unknown", "EOF"}},
    {"om_exemplar_after_timestamp",
     kOM,
     "foo_total 1 2 # {} NaN\n# EOF\n",
     {"S foo_total{} 1 @2000 # {} NaN unknown", "EOF"}},
    {"om_histogram",
     kOM,
     "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1 # {id=\"x\"} 0.05\nh_bucket{le=\"1\"} "
     "2\nh_bucket{le=\"+Inf\"} 3\n"
     "h_count 3\nh_sum 2.5\nh_created 1.7e9\n# EOF\n",
     {"T h histogram", "S h_bucket{le=\"0.1\"} 1 # {id=\"x\"} 0.05 histogram",
      "S h_bucket{le=\"1.0\"} 2 histogram", "S h_bucket{le=\"+Inf\"} 3 histogram", "S h_count{} 3 histogram",
      "S h_sum{} 2.5 histogram", "S h_created{} 1.7e+09 histogram", "EOF"}},
    {"om_other_types",
     kOM,
     "# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1\ng_gcount 1\ng_gsum 2\n# TYPE s stateset\ns{s=\"a\"} "
     "1\n"
     "s{s=\"b\"} 0\n# TYPE i info\ni_info{v=\"1.0\"} 1\n# TYPE u unknown\nu 5\n# TYPE q summary\n"
     "q{quantile=\"0.99\"} 1\nq_count 1\n# EOF\n",
     {"T g gaugehistogram", "S g_bucket{le=\"+Inf\"} 1 gaugehistogram", "S g_gcount{} 1 gaugehistogram",
      "S g_gsum{} 2 gaugehistogram", "T s stateset", "S s{s=\"a\"} 1 stateset", "S s{s=\"b\"} 0 stateset",
      "T i info", "S i_info{v=\"1.0\"} 1 info", "T u unknown", "S u{} 5 unknown", "T q summary",
      "S q{quantile=\"0.99\"} 1 summary", "S q_count{} 1 summary", "EOF"}},
    {"om_help_escapes",
     kOM,
     "# HELP foo a\\\\b\\nc \\\"q\\\"\n# EOF\n",
     {"H foo a\\\\b\\nc \\\"q\\\"", "EOF"}},
    {"om_empty_help_and_unit", kOM, "# HELP foo \n# UNIT foo \n# EOF\n", {"H foo ", "U foo ", "EOF"}},
    {"om_special_values",
     kOM,
     "a NaN\nb +Inf\nc -Inf\n# EOF\n",
     {"S a{} NaN unknown", "S b{} +Inf unknown", "S c{} -Inf unknown", "EOF"}},
};

INSTANTIATE_TEST_SUITE_P(Textparse, Valid, ::testing::ValuesIn(kValidCases),
                         [](const auto& info) { return CaseName(info.param.name); });

struct InvalidCase {
  const char* name;
  Format format;
  std::string input;
  size_t line;
  const char* message;  // substring of the error
};

class Invalid : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(Invalid, IsRejectedWithLineAndReason) {
  const auto& c = GetParam();
  Parser p(c.input, c.format);
  Entry e;
  int guard = 0;
  while ((e = p.Next()) != Entry::kInvalid && e != Entry::kEof && ++guard < 1000) {
  }
  ASSERT_EQ(e, Entry::kInvalid) << "accepted:\n" << c.input;
  EXPECT_EQ(p.error().line, c.line) << p.error().message;
  EXPECT_THAT(p.error().message, HasSubstr(c.message));
  EXPECT_THAT(p.error().message, ::testing::StartsWith("line " + std::to_string(c.line) + ": "));
  EXPECT_EQ(p.Next(), Entry::kInvalid) << "invalid must be final";
}

const InvalidCase kInvalidCases[] = {
    // ---- Prometheus text 0.0.4 ----
    {"text_no_value", kText, "foo\n", 1, "expected a value after \"foo\""},
    {"text_labels_no_value", kText, "foo{a=\"b\"}\n", 1, "expected a value"},
    {"text_bad_value", kText, "foo bar\n", 1, "invalid value \"bar\""},
    {"text_extra_token", kText, "foo 1 2 3\n", 1, "end of the line after the timestamp"},
    {"text_negative_timestamp", kText, "foo 1 -5\n", 1, "expected a timestamp"},
    {"text_float_timestamp", kText, "foo 1 1.5\n", 1, "end of the line after the timestamp"},
    {"text_timestamp_overflow", kText, "foo 1 99999999999999999999\n", 1, "out of range"},
    {"text_unterminated_value", kText, "foo{a=\"b} 1\n", 1, "unterminated value of label \"a\""},
    {"text_unquoted_value", kText, "foo{a=b} 1\n", 1, "expected '\"' to start the value of label \"a\""},
    {"text_missing_equal", kText, "foo{a} 1\n", 1, "expected '=' after label name \"a\""},
    {"text_bad_label_name", kText, "foo{1a=\"b\"} 1\n", 1, "expected a label name"},
    {"text_lone_comma", kText, "foo{,} 1\n", 1, "expected a label name"},
    {"text_double_comma", kText, "foo{a=\"1\",,b=\"2\"} 1\n", 1, "expected a label name"},
    {"text_duplicate_label", kText, "foo{a=\"1\",a=\"2\"} 1\n", 1, "duplicate label \"a\""},
    {"text_duplicate_label_many", kText,
     "m{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\",g=\"7\",h=\"8\",i=\"9\",j=\"10\",k=\"11\",l=\"12\","
     "n=\"13\",o=\"14\",p=\"15\",q=\"16\",c=\"17\"} 1\n",
     1, "duplicate label \"c\""},
    {"text_name_label", kText, "foo{__name__=\"x\"} 1\n", 1, "duplicate label \"__name__\""},
    {"text_invalid_utf8_label", kText, "foo{a=\"\xff\"} 1\n", 1, "invalid UTF-8 in the value of label \"a\""},
    {"text_overlong_utf8_label", kText, "foo{a=\"\xc0\xaf\"} 1\n", 1, "invalid UTF-8"},
    {"text_invalid_utf8_help", kText, "# HELP foo \xfe\n", 1, "not valid UTF-8"},
    {"text_bad_type", kText, "# TYPE foo bogus\n", 1, "invalid metric type \"bogus\""},
    {"text_empty_type", kText, "# TYPE foo\n", 1, "invalid metric type \"\""},
    {"text_om_type_in_text", kText, "# TYPE foo info\n", 1, "invalid metric type \"info\""},
    {"text_help_bad_name", kText, "# HELP 1foo x\n", 1, "expected a metric name after # HELP"},
    {"text_brace_first", kText, "{a=\"b\"} 1\n", 1, "must start with a metric name"},
    {"text_digit_first", kText, "1foo 1\n", 1, "expected a metric name"},
    {"text_underscore_value", kText, "foo 1_000\n", 1, "invalid value \"1_000\""},
    {"text_hex_value", kText, "foo 0x1p3\n", 1, "invalid value"},
    {"text_overflow_value", kText, "foo 1e400\n", 1, "invalid value \"1e400\""},
    {"text_nan_payload", kText, "foo nan(1)\n", 1, "invalid value"},
    {"text_signed_nan", kText, "foo +NaN\n", 1, "invalid value"},
    {"text_crlf", kText, "foo 1\r\n", 1, "invalid value \"1\\x0d\""},
    {"text_backslash_newline", kText, "foo{a=\"x\\\ny\"} 1\n", 1, "backslash before a line break"},
    {"text_error_line_counts_blank_lines", kText, "a 1\n\n# c\nb{", 4,
     "unexpected end of input in the label set"},
    {"text_error_line_after_multiline_value", kText, "a{x=\"1\n2\"} 1\nb{ 1\n", 3, "expected a label name"},
    {"text_error_inside_multiline_value", kText, "a{x=\"1\n2\" 1\n", 2, "expected a label name"},
    {"text_nul_line", kText, std::string("foo 1\n\0bar 1\n", 13), 2, "expected a metric name"},
    {"text_two_label_sets", kText, "foo{a=\"b\"}{c=\"d\"} 1\n", 1, "expected a value"},

    // ---- OpenMetrics 1.0 ----
    {"om_missing_eof", kOM, "foo 1\n", 2, "does not end with \"# EOF\""},
    {"om_empty_body", kOM, "", 1, "does not end with \"# EOF\""},
    {"om_line_without_newline", kOM, "foo 1", 1, "does not end with \"# EOF\""},
    {"om_data_after_eof", kOM, "# EOF\nfoo 1\n", 2, "unexpected data after \"# EOF\""},
    {"om_blank_after_eof", kOM, "# EOF\n\n", 2, "unexpected data after \"# EOF\""},
    {"om_blank_line", kOM, "foo 1\n\n# EOF\n", 2, "blank lines are not allowed"},
    {"om_comment", kOM, "# hello\n# EOF\n", 1, "OpenMetrics allows only"},
    {"om_hash_without_space", kOM, "#EOF\n", 1, "OpenMetrics allows only"},
    {"om_space_in_labels", kOM, "foo{a=\"b\", c=\"d\"} 1\n# EOF\n", 1, "expected a label name"},
    {"om_space_before_brace", kOM, "foo {a=\"b\"} 1\n# EOF\n", 1, "invalid value"},
    {"om_two_spaces", kOM, "foo  1\n# EOF\n", 1, "exactly one space"},
    {"om_missing_comma", kOM, "foo{a=\"1\"b=\"2\"} 1\n# EOF\n", 1,
     "expected ',' or '}' after the value of label"},
    {"om_leading_space", kOM, " foo 1\n# EOF\n", 1, "expected a metric name"},
    {"om_nan_timestamp", kOM, "foo 1 NaN\n# EOF\n", 1, "invalid timestamp \"NaN\""},
    {"om_inf_timestamp", kOM, "foo 1 +Inf\n# EOF\n", 1, "invalid timestamp"},
    {"om_overflowing_timestamp", kOM, "foo 1 1e400\n# EOF\n", 1, "invalid timestamp"},
    {"om_created_timestamp", kOM, "foo_total 1 ct@1700000000\n# EOF\n", 1,
     "invalid timestamp \"ct@1700000000\""},
    {"om_extra_token", kOM, "foo 1 1 2\n# EOF\n", 1, "expected the end of the line or an exemplar"},
    {"om_trailing_space", kOM, "foo 1 \n# EOF\n", 1, "expected a timestamp"},
    {"om_exemplar_without_value", kOM, "foo_total 1 # {a=\"b\"}\n# EOF\n", 1, "after the exemplar labels"},
    {"om_exemplar_bad_value", kOM, "foo_total 1 # {a=\"b\"} x\n# EOF\n", 1, "invalid exemplar value \"x\""},
    {"om_exemplar_bad_timestamp", kOM, "foo_total 1 # {a=\"b\"} 1 NaN\n# EOF\n", 1,
     "invalid exemplar timestamp"},
    {"om_exemplar_trailing", kOM, "foo_total 1 # {a=\"b\"} 1 2 3\n# EOF\n", 1, "after the exemplar"},
    {"om_exemplar_space_in_labels", kOM, "foo_total 1 # {a=\"b\", c=\"d\"} 1\n# EOF\n", 1,
     "expected a label name"},
    {"om_unit_mismatch", kOM, "# UNIT foo_seconds bytes\n# EOF\n", 1, "unit \"bytes\" is not a suffix"},
    {"om_unit_whole_name", kOM, "# UNIT seconds seconds\n# EOF\n", 1, "is not a suffix"},
    {"om_untyped_type", kOM, "# TYPE foo untyped\n# EOF\n", 1, "invalid metric type \"untyped\""},
    {"om_help_without_text", kOM, "# HELP foo\n# EOF\n", 1, "expected ' ' and text"},
    {"om_newline_in_label_value", kOM, "foo{a=\"x\ny\"} 1\n# EOF\n", 1, "line break inside the value"},
    {"om_invalid_utf8_label", kOM, "foo{a=\"\xed\xa0\x80\"} 1\n# EOF\n", 1, "invalid UTF-8"},
    {"om_duplicate_label", kOM, "foo{a=\"1\",a=\"1\"} 1\n# EOF\n", 1, "duplicate label"},
    {"om_quoted_name", kOM, "{\"my.metric\"} 1\n# EOF\n", 1, "quoted (UTF-8) metric names are not supported"},
};

INSTANTIATE_TEST_SUITE_P(Textparse, Invalid, ::testing::ValuesIn(kInvalidCases),
                         [](const auto& info) { return CaseName(info.param.name); });

TEST(Parser, NaNNeverHasStaleMarkerBits) {
  // Whatever NaN spelling the input uses, the parsed value is the normal NaN.
  for (Format f : {kText, kOM}) {
    std::string body = "a NaN\nb nan\nc NAN\n";
    if (f == kOM) body = "a NaN\nb nan\nc NAN\nd_total 1 # {} nan\n# EOF\n";
    Parser p(body, f);
    int series = 0;
    while (p.Next() == Entry::kSeries) {
      ++series;
      double v = p.metric_name() == "d_total" ? p.exemplar()->value : p.value();
      EXPECT_TRUE(std::isnan(v));
      EXPECT_FALSE(model::IsStaleNaN(v));
      EXPECT_EQ(std::bit_cast<uint64_t>(v), model::kNormalNaNBits);
    }
    EXPECT_EQ(series, f == kOM ? 4 : 3);
  }
}

TEST(Parser, SeriesIsTheRawNameAndLabelBytes) {
  Parser p("  foo{b=\"2\", a=\"1\"}  7 100\nbar 1\n", kText);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_EQ(p.series(), "foo{b=\"2\", a=\"1\"}");
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_EQ(p.series(), "bar");
}

TEST(Parser, ZeroCopyViewsPointIntoTheBody) {
  std::string body = "foo{a=\"plain\",b=\"esc\\\"aped\"} 1\n";
  Parser p(body, kText);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  auto inside = [&](std::string_view v) {
    return v.data() >= body.data() && v.data() < body.data() + body.size();
  };
  EXPECT_TRUE(inside(p.metric_name()));
  EXPECT_TRUE(inside(p.labels()[0].value));   // no escape: a view into the body
  EXPECT_FALSE(inside(p.labels()[1].value));  // unescaped copy in the scratch buffer
  EXPECT_EQ(p.labels()[1].value, "esc\"aped");
}

TEST(Parser, LineNumbers) {
  Parser p("# HELP a x\n\na 1\n\n\n# c\nb{x=\"1\n2\"} 1\nc 1\n", kText);
  std::vector<size_t> lines;
  while (p.Next() != Entry::kEof) lines.push_back(p.line());
  EXPECT_EQ(lines, (std::vector<size_t>{1, 3, 6, 7, 9}));
}

TEST(Parser, ExemplarLengthLimitIsReportedNotEnforced) {
  // 128 code points is the limit: "a" + 127 x "é" (two bytes each) fits, one more does not.
  std::string fits = "a=\"";
  for (int i = 0; i < 127; ++i) fits += "\xc3\xa9";
  std::string body = "x_total 1 # {" + fits + "\"} 1\ny_total 1 # {" + fits + "\xc3\xa9\"} 1\n# EOF\n";
  Parser p(body, kOM);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  ASSERT_NE(p.exemplar(), nullptr);
  EXPECT_EQ(p.exemplar()->label_set_chars, 128u);
  EXPECT_TRUE(p.exemplar()->WithinLengthLimit());
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_EQ(p.exemplar()->label_set_chars, 129u);
  EXPECT_FALSE(p.exemplar()->WithinLengthLimit());
  EXPECT_EQ(p.Next(), Entry::kEof);
}

TEST(Parser, ExemplarDoesNotLeakToTheNextSample) {
  Parser p("a_total 1 # {x=\"y\"} 1\nb_total 2\n# EOF\n", kOM);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_NE(p.exemplar(), nullptr);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_EQ(p.exemplar(), nullptr);
  EXPECT_FALSE(p.timestamp_ms().has_value());
}

TEST(Parser, VeryLongLines) {
  std::string value(1 << 20, 'v');
  std::string body = "foo{a=\"" + value + "\"} 1\n";
  Parser p(body, kText);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_EQ(p.labels()[0].value.size(), value.size());
  EXPECT_EQ(p.Next(), Entry::kEof);

  std::string name(100000, 'n');
  const std::string om_body = name + " 1\n# EOF\n";  // the parser keeps views: the body must outlive it
  Parser q(om_body, kOM);
  ASSERT_EQ(q.Next(), Entry::kSeries);
  EXPECT_EQ(q.metric_name().size(), name.size());
}

TEST(Parser, EveryTruncationOfAValidPageEndsCleanly) {
  // Cutting a page anywhere must give a clean end or an error, never a
  // crash or a read past the cut (ASan checks the latter).
  const std::string page =
      "# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"0.1\",path=\"/a\\\"b\"} 1 # {t=\"1\"} 0.05 1.5\n"
      "h_count 1\n# EOF\n";
  for (Format f : {kText, kOM}) {
    for (size_t n = 0; n <= page.size(); ++n) {
      std::string cut = page.substr(0, n);  // own allocation: ASan sees overreads
      Parser p(cut, f);
      Entry e;
      int guard = 0;
      while ((e = p.Next()) != Entry::kEof && e != Entry::kInvalid) ASSERT_LT(++guard, 100);
    }
  }
}

TEST(Parser, ResetStartsOverOnANewBody) {
  const std::string first = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nbad{\n";
  const std::string second = "h_bucket{le=\"1\"} 2\n# EOF\n";
  Parser p(first, kText);
  ASSERT_EQ(p.Next(), Entry::kType);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  ASSERT_EQ(p.Next(), Entry::kInvalid);
  p.Reset(second, kOM);
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_EQ(p.line(), 1u);
  EXPECT_EQ(p.type(), MetricType::kUnknown);  // the old page's TYPE is forgotten
  EXPECT_EQ(p.labels()[0].value, "1");        // so no histogram normalization
  EXPECT_EQ(p.value(), 2);
  EXPECT_EQ(p.Next(), Entry::kEof);
}

TEST(IsSeriesOfFamily, Suffixes) {
  EXPECT_TRUE(IsSeriesOfFamily("foo_total", "foo", MetricType::kCounter));
  EXPECT_TRUE(IsSeriesOfFamily("foo", "foo", MetricType::kGauge));
  EXPECT_FALSE(IsSeriesOfFamily("foo_total", "foo", MetricType::kGauge));
  EXPECT_TRUE(IsSeriesOfFamily("foo_bucket", "foo", MetricType::kHistogram));
  EXPECT_FALSE(IsSeriesOfFamily("foo_gsum", "foo", MetricType::kHistogram));
  EXPECT_TRUE(IsSeriesOfFamily("foo_gsum", "foo", MetricType::kGaugeHistogram));
  EXPECT_TRUE(IsSeriesOfFamily("foo_info", "foo", MetricType::kInfo));
  EXPECT_FALSE(IsSeriesOfFamily("foobar", "foo", MetricType::kCounter));
  EXPECT_FALSE(IsSeriesOfFamily("foo", "", MetricType::kCounter));
}

}  // namespace
}  // namespace promsidecar::textparse
