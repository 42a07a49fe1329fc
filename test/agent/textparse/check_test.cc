#include "agent/textparse/check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace promsidecar::textparse {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

auto Lint(size_t line, const char* text) {
  return ::testing::AllOf(Field(&Problem::line, line), Field(&Problem::severity, Severity::kLint),
                          Field(&Problem::message, HasSubstr(text)));
}

TEST(CheckMetrics, CleanPagesHaveNoProblems) {
  EXPECT_THAT(CheckMetrics("# HELP up Up.\n# TYPE up gauge\nup 1\n", Format::kPrometheusText), IsEmpty());
  EXPECT_THAT(
      CheckMetrics("# HELP r Requests.\n# TYPE r counter\nr_total 1 # {t=\"1\"} 1\nr_created 1\n# EOF\n",
                   Format::kOpenMetrics),
      IsEmpty());
}

TEST(CheckMetrics, MissingHelp) {
  EXPECT_THAT(CheckMetrics("# HELP a A.\na 1\nb 2\n", Format::kPrometheusText),
              ElementsAre(Lint(3, "metric family \"b\" has no HELP")));
}

TEST(CheckMetrics, DuplicateSeriesWhateverTheLabelOrder) {
  EXPECT_THAT(
      CheckMetrics("# HELP a A.\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", Format::kPrometheusText),
      ElementsAre(Lint(3, "duplicate series \"a{y=\\\"2\\\",x=\\\"1\\\"}\" (first on line 2)")));
}

TEST(CheckMetrics, CounterNaming) {
  EXPECT_THAT(CheckMetrics("# HELP c C.\n# TYPE c counter\nc 1\n", Format::kPrometheusText),
              ElementsAre(Lint(2, "should have the \"_total\" suffix")));
  EXPECT_THAT(CheckMetrics("# HELP c C.\n# TYPE c counter\nc 1\n# EOF\n", Format::kOpenMetrics),
              ElementsAre(Lint(3, "must end with \"_total\" or \"_created\"")));
  EXPECT_THAT(CheckMetrics("# HELP c_total C.\n# TYPE c_total counter\nc_total_total 1\n# EOF\n",
                           Format::kOpenMetrics),
              ElementsAre(Lint(2, "should be named without \"_total\"")));
  EXPECT_THAT(CheckMetrics("# HELP c C.\n# TYPE c counter\nc_total -1\n# EOF\n", Format::kOpenMetrics),
              ElementsAre(Lint(3, "negative or NaN")));
  EXPECT_THAT(CheckMetrics("# HELP c C.\n# TYPE c counter\nc_bucket 1\n# EOF\n", Format::kOpenMetrics),
              ::testing::Contains(Lint(3, "has a suffix that a counter family (\"c\") does not allow")));
}

TEST(CheckMetrics, HistogramStructure) {
  const char* head = "# HELP h H.\n# TYPE h histogram\n";
  EXPECT_THAT(CheckMetrics(std::string(head) + "h_bucket{le=\"1\"} 1\nh_count 1\n", Format::kPrometheusText),
              ElementsAre(Lint(3, "no le=\"+Inf\" bucket")));
  EXPECT_THAT(CheckMetrics(std::string(head) + "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n",
                           Format::kPrometheusText),
              ElementsAre(Lint(3, "bucket counts decrease")));
  EXPECT_THAT(CheckMetrics(std::string(head) + "h_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"1\"} 1\n",
                           Format::kPrometheusText),
              ElementsAre(Lint(3, "not in increasing \"le\" order"), Lint(3, "no le=\"+Inf\" bucket")));
  EXPECT_THAT(
      CheckMetrics(std::string(head) + "h_bucket{le=\"+Inf\"} 2\nh_count 3\n", Format::kPrometheusText),
      ElementsAre(Lint(3, "+Inf bucket does not equal the count")));
  EXPECT_THAT(CheckMetrics(std::string(head) + "h_bucket 2\n", Format::kPrometheusText),
              ElementsAre(Lint(3, "has no \"le\" label")));
  // Series with other labels are separate histograms.
  EXPECT_THAT(CheckMetrics(
                  std::string(head) +
                      "h_bucket{a=\"1\",le=\"+Inf\"} 2\nh_count{a=\"1\"} 2\nh_bucket{a=\"2\",le=\"+Inf\"} 5\n"
                      "h_count{a=\"2\"} 5\n",
                  Format::kPrometheusText),
              IsEmpty());
}

TEST(CheckMetrics, SummaryInfoStateset) {
  EXPECT_THAT(CheckMetrics("# HELP s S.\n# TYPE s summary\ns 1\n", Format::kPrometheusText),
              ElementsAre(Lint(3, "no \"quantile\" label")));
  EXPECT_THAT(CheckMetrics("# HELP i I.\n# TYPE i info\ni_info 2\n# EOF\n", Format::kOpenMetrics),
              ElementsAre(Lint(3, "must have value 1")));
  EXPECT_THAT(CheckMetrics("# HELP s S.\n# TYPE s stateset\ns{s=\"a\"} 2\n# EOF\n", Format::kOpenMetrics),
              ElementsAre(Lint(3, "must have value 0 or 1")));
}

TEST(CheckMetrics, ExemplarRules) {
  std::string long_value(130, 'x');
  EXPECT_THAT(CheckMetrics("# HELP c C.\n# TYPE c counter\nc_total 1 # {t=\"" + long_value + "\"} 1\n# EOF\n",
                           Format::kOpenMetrics),
              ElementsAre(Lint(3, "more than 128")));
  EXPECT_THAT(CheckMetrics("# HELP g G.\n# TYPE g gauge\ng 1 # {t=\"1\"} 1\n# EOF\n", Format::kOpenMetrics),
              ElementsAre(Lint(3, "only counter and histogram bucket samples take exemplars")));
}

TEST(CheckMetrics, MetadataOrderAndGrouping) {
  EXPECT_THAT(CheckMetrics("# HELP a A.\n# HELP a Again.\na 1\n", Format::kPrometheusText),
              ElementsAre(Lint(2, "second HELP line")));
  EXPECT_THAT(CheckMetrics("# HELP a A.\na 1\n# TYPE a gauge\n", Format::kPrometheusText),
              ElementsAre(Lint(3, "comes after its samples")));
  EXPECT_THAT(
      CheckMetrics("# HELP a A.\n# HELP b B.\na{x=\"1\"} 1\nb 1\na{x=\"2\"} 1\n", Format::kPrometheusText),
      ElementsAre(Lint(5, "not grouped together")));
}

TEST(CheckMetrics, ParseErrorIsAnErrorAndEndsTheCheck) {
  auto problems = CheckMetrics("a 1\nb{ 2\nc 3\n", Format::kPrometheusText);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_THAT(problems[0], Lint(1, "no HELP"));
  EXPECT_EQ(problems[1].line, 2u);
  EXPECT_EQ(problems[1].severity, Severity::kError);
  EXPECT_THAT(problems[1].message, ::testing::StartsWith("expected a label name"));
  EXPECT_TRUE(HasErrors(problems));
  EXPECT_EQ(ToString(problems[1]), "line 2: error: " + problems[1].message);
  EXPECT_EQ(ToString(problems[0]), "line 1: lint: " + problems[0].message);

  auto lint_only = CheckMetrics("a 1\n", Format::kPrometheusText);
  EXPECT_FALSE(lint_only.empty());
  EXPECT_FALSE(HasErrors(lint_only));
  EXPECT_TRUE(HasErrors(CheckMetrics("# HELP a A.\na 1\n", Format::kOpenMetrics)));  // no # EOF
}

}  // namespace
}  // namespace promsidecar::textparse
