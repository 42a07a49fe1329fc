// Our own pages for every kind of valid input the OpenMetrics test suite
// (OpenObservability/OpenMetrics, tests/testdata/parsers, the cases with
// "shouldParse": true) checks — written here, not copied — each of which the
// parser must accept completely, with the samples it should see. The suite's
// 44 valid cases were run by hand against `promsidecar-agent check metrics
// --format=openmetrics`: all accepted (docs/agent.md).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "agent/textparse/check.h"
#include "agent/textparse/parser.h"

namespace promsidecar::textparse {
namespace {

struct Case {
  const char* name;  // the suite's case it stands for
  std::string page;
  size_t samples;
};

// Each page is valid OpenMetrics 1.0.
const Case kCases[] = {
    {"simple_counter", "# TYPE jobs counter\n# HELP jobs Jobs run.\njobs_total 17\n# EOF\n", 1},
    {"simple_gauge", "# TYPE depth gauge\n# HELP depth Queue depth.\ndepth 3\n# EOF\n", 1},
    {"float_gauge", "# TYPE t gauge\nt -7.25e-3\n# EOF\n", 1},
    {"leading_zeros_simple_gauge", "# TYPE t gauge\nt 000042\n# EOF\n", 1},
    {"leading_zeros_float_gauge", "# TYPE t gauge\nt 0003.50\n# EOF\n", 1},
    {"uint64_counter", "# TYPE big counter\nbig_total 18446744073709551615\n# EOF\n", 1},
    {"nan", "# TYPE v unknown\nv NaN\n# EOF\n", 1},
    {"nan_gauge", "# TYPE g gauge\ng{k=\"x\"} NaN\n# EOF\n", 1},
    {"labels_and_infinite", "# TYPE g gauge\ng{k=\"up\"} +Inf\ng{k=\"down\"} -Inf\n# EOF\n", 2},
    {"untyped", "# TYPE raw unknown\n# HELP raw No type.\nraw 1\nraw{x=\"y\"} 2\n# EOF\n", 2},
    {"no_metadata", "anything 1\nanything_else{z=\"1\"} 2\n# EOF\n", 2},
    {"empty_metadata", "# TYPE e gauge\n# HELP e \n# UNIT e \ne 1\n# EOF\n", 1},
    {"empty_help", "# TYPE e gauge\n# HELP e \ne 1\n# EOF\n", 1},
    {"type_help_switched", "# HELP c First the help.\n# TYPE c counter\nc_total 1\n# EOF\n", 1},
    {"counter_unit", "# TYPE req_bytes counter\n# UNIT req_bytes bytes\nreq_bytes_total 512\n# EOF\n", 1},
    {"unit_gauge", "# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\ntemp_celsius 21\n# EOF\n", 1},
    {"empty_label", "# TYPE g gauge\ng{blank=\"\"} 1\n# EOF\n", 1},
    {"empty_brackets", "# TYPE c counter\nc_total{} 5\n# EOF\n", 1},
    {"label_escaping",
     "# TYPE g gauge\ng{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",nl=\"two\\nlines\"} 1\n# EOF\n", 1},
    {"escaping",
     "# TYPE c counter\n# HELP c back\\\\slash and\\nbreak\nc_total{v=\"q\\\"\\n\"} 1\nc_total{v=\"x\\\\y # "
     "\"} 2\n# EOF\n",
     2},
    {"help_escaping", "# TYPE h gauge\n# HELP h a \\\"quoted\\\" \\\\ help\\n\nh 1\n# EOF\n", 1},
    {"hash_in_label_value", "# TYPE g gauge\ng{tag=\"#1 # not a comment\"} 1\n# EOF\n", 1},
    {"labels_with_curly_braces", "# TYPE g gauge\ng{tpl=\"{{.Name}}\",x=\"}\"} 1\n# EOF\n", 1},
    {"null_byte", std::string("# TYPE n counter\n# HELP n a NUL") + '\0' + " in help\nn_total 1\n# EOF\n", 1},
    {"no_newline_after_eof", "# TYPE g gauge\ng 1\n# EOF", 1},
    {"timestamps",
     "# TYPE c counter\nc_total{n=\"a\"} 1 000\nc_total{n=\"b\"} 1 2.5\nc_total{n=\"c\"} 1 9.5e2\n"
     "c_total{n=\"d\"} 1 98765432109876543210.98765\n# EOF\n",
     4},
    {"duplicate_timestamps",
     "# TYPE g gauge\ng{s=\"a\"} 1 0.0000000000\ng{s=\"a\"} 2 0.0000000001\ng{s=\"b\"} 3 0.0000000000\n# "
     "EOF\n",
     3},
    {"info_timestamps", "# TYPE build info\nbuild_info{v=\"1\"} 1 5\nbuild_info{v=\"2\"} 1 0\n# EOF\n", 2},
    {"simple_stateset", "# TYPE mode stateset\nmode{mode=\"on\"} 1\nmode{mode=\"off\"} 0\n# EOF\n", 2},
    {"simple_summary", "# TYPE rpc summary\nrpc_count 3\nrpc_sum 1.5\nrpc_created 1700000000\n# EOF\n", 3},
    {"summary_quantiles",
     "# TYPE rpc summary\nrpc{quantile=\"0\"} 0.1\nrpc{quantile=\"0.5\"} 0.3\nrpc{quantile=\"1\"} 0.9\n"
     "rpc_count 9\nrpc_sum 2.7\n# EOF\n",
     5},
    {"simple_histogram",
     "# TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1\nlat_bucket{le=\"+Inf\"} 4\nlat_count 4\nlat_sum 7\n# "
     "EOF\n",
     4},
    {"histogram_noncanonical",
     "# TYPE h histogram\nh_bucket{le=\"0\"} 0\nh_bucket{le=\"1e-04\"} 0\nh_bucket{le=\"2.50\"} 1\n"
     "h_bucket{le=\"1e+05\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 2\n# EOF\n",
     7},
    {"negative_bucket_histogram",
     "# TYPE h histogram\nh_bucket{le=\"-2\"} 0\nh_bucket{le=\"-1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n"
     "h_sum -1.5\n# EOF\n",
     5},
    {"simple_gaugehistogram",
     "# TYPE q gaugehistogram\nq_bucket{le=\"1\"} 2\nq_bucket{le=\"+Inf\"} 3\nq_gcount 3\nq_gsum 4\n# EOF\n",
     4},
    {"negative_bucket_gaugehistogram",
     "# TYPE q gaugehistogram\nq_bucket{le=\"-1\"} 1\nq_bucket{le=\"+Inf\"} 2\nq_gcount 2\nq_gsum -3\n# "
     "EOF\n",
     4},
    {"counter_exemplars",
     "# TYPE c counter\nc_total 3 # {trace_id=\"abc\"} 1 1700000000.5\nc_total{x=\"1\"} 4 # {} 2\n# EOF\n",
     2},
    {"counter_exemplars_empty_brackets", "# TYPE c counter\nc_total{} 0 123 # {span=\"s\"} 0.5\n# EOF\n", 1},
    {"histogram_exemplars",
     "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {id=\"a\"} 0.7 1700000000\nh_bucket{le=\"+Inf\"} 2 # "
     "{id=\"b\"} 9\n"
     "h_count 2\nh_sum 9.7\n# EOF\n",
     4},
    {"gaugehistogram_exemplars",
     "# TYPE q gaugehistogram\nq_bucket{le=\"+Inf\"} 2 # {id=\"z\"} 1\nq_gcount 2\nq_gsum 2\n# EOF\n", 3},
    {"exemplars_with_hash_in_label_values",
     "# TYPE c counter\nc_total{a=\"#\"} 1 # {b=\"# here\"} 1\n# EOF\n", 1},
    {"exemplars_wide_chars",
     // 128 code points exactly, one of them three bytes wide.
     std::string("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {a=\"\xe2\x98\x83") + std::string(126, 'x') +
         "\"} 1 1\n# EOF\n",
     1},
    {"roundtrip",
     "# HELP go_goroutines Goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 12.0\n"
     "# HELP go_gc summary of pauses.\n# TYPE go_gc summary\ngo_gc{quantile=\"0.5\"} 0.01\ngo_gc_sum 1.0\n"
     "go_gc_count 100.0\n# TYPE process_start_time_seconds gauge\n# UNIT process_start_time_seconds seconds\n"
     "process_start_time_seconds 1.7e9\n# EOF\n",
     5},
};

TEST(OpenMetricsConformance, EveryValidKindOfPageParsesCompletely) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    Parser p(c.page, Format::kOpenMetrics);
    size_t samples = 0;
    Entry e;
    while ((e = p.Next()) != Entry::kEof) {
      ASSERT_NE(e, Entry::kInvalid) << p.error().message;
      samples += e == Entry::kSeries;
    }
    EXPECT_EQ(samples, c.samples);
    auto problems = CheckMetrics(c.page, Format::kOpenMetrics);
    EXPECT_FALSE(HasErrors(problems)) << (problems.empty() ? "" : ToString(problems.back()));
  }
}

// The values the trickier cases must read as.
TEST(OpenMetricsConformance, ValuesOfTheTrickyCases) {
  auto first = [](const std::string& page) {
    Parser p(page, Format::kOpenMetrics);
    for (Entry e = p.Next(); e != Entry::kEof && e != Entry::kInvalid; e = p.Next()) {
      if (e == Entry::kSeries) return p.value();
    }
    return -1.0;
  };
  EXPECT_EQ(first("# TYPE t gauge\nt 0003.50\n# EOF\n"), 3.5);
  EXPECT_EQ(first("# TYPE big counter\nbig_total 18446744073709551615\n# EOF\n"), 18446744073709551615.0);
  EXPECT_TRUE(std::isnan(first("v NaN\n# EOF\n")));
  Parser p("# TYPE g gauge\ng{a=\"x\\\\y\",b=\"q\\\"\",c=\"1\\n2\"} 1\n# EOF\n", Format::kOpenMetrics);
  p.Next();
  ASSERT_EQ(p.Next(), Entry::kSeries);
  EXPECT_EQ(p.labels()[0].value, "x\\y");
  EXPECT_EQ(p.labels()[1].value, "q\"");
  EXPECT_EQ(p.labels()[2].value, "1\n2");
  // A timestamp beyond int64 milliseconds is valid and flagged.
  Parser t("c_total 1 98765432109876543210.98765\n# EOF\n", Format::kOpenMetrics);
  ASSERT_EQ(t.Next(), Entry::kSeries);
  EXPECT_TRUE(t.timestamp_out_of_range());
  EXPECT_FALSE(t.timestamp_ms().has_value());
}

}  // namespace
}  // namespace promsidecar::textparse
