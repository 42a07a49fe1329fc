// The fixture pages in test/testdata/textparse parse completely, yield one
// sample per sample line, and pass CheckMetrics without a single problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/textparse/check.h"
#include "agent/textparse/parser.h"
#include "textparse_invariants.h"

namespace promsidecar::textparse {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Independent count: lines that are neither blank nor '#' lines (the
// fixtures have no multi-line label values).
size_t CountSampleLines(const std::string& body) {
  std::istringstream in(body);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    size_t i = line.find_first_not_of(" \t");
    if (i != std::string::npos && line[i] != '#') ++n;
  }
  return n;
}

struct Fixture {
  const char* file;
  Format format;
};

class Fixtures : public ::testing::TestWithParam<Fixture> {};

TEST_P(Fixtures, ParseCompletely) {
  const std::string body =
      ReadFile(std::filesystem::path(PROMSIDECAR_TESTDATA) / "textparse" / GetParam().file);
  ASSERT_FALSE(body.empty()) << GetParam().file;
  Parser p(body, GetParam().format);
  size_t samples = 0, exemplars = 0, timestamps = 0;
  Entry e;
  while ((e = p.Next()) != Entry::kEof) {
    ASSERT_NE(e, Entry::kInvalid) << p.error().message;
    if (e != Entry::kSeries) continue;
    ++samples;
    exemplars += p.exemplar() != nullptr;
    timestamps += p.timestamp_ms().has_value();
  }
  EXPECT_EQ(samples, CountSampleLines(body));
  if (GetParam().format == Format::kOpenMetrics) {
    EXPECT_GT(exemplars, 0u);
    EXPECT_GT(timestamps, 0u);
  }
  auto problems = CheckMetrics(body, GetParam().format);
  for (const auto& problem : problems) ADD_FAILURE() << ToString(problem);
  EXPECT_EQ(testing::CheckParserInvariants(body, GetParam().format), "");
}

INSTANTIATE_TEST_SUITE_P(Textparse, Fixtures,
                         ::testing::Values(Fixture{"node_exporter.prom", Format::kPrometheusText},
                                           Fixture{"histograms.prom", Format::kPrometheusText},
                                           Fixture{"openmetrics.txt", Format::kOpenMetrics}),
                         [](const auto& info) {
                           std::string s = info.param.file;
                           for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

TEST(Fixtures, HistogramPageKeepsBucketValuesNormalized) {
  const std::string body =
      ReadFile(std::filesystem::path(PROMSIDECAR_TESTDATA) / "textparse" / "histograms.prom");
  Parser p(body, Format::kPrometheusText);
  size_t le_one = 0;
  for (Entry e = p.Next(); e != Entry::kEof; e = p.Next()) {
    ASSERT_NE(e, Entry::kInvalid) << p.error().message;
    if (e != Entry::kSeries) continue;
    for (const auto& l : p.labels()) {
      EXPECT_NE(l.value, "1") << "le=\"1\" must read as \"1.0\"";
      le_one += l.name == "le" && l.value == "1.0";
    }
  }
  EXPECT_GT(le_one, 0u);
}

}  // namespace
}  // namespace promsidecar::textparse
