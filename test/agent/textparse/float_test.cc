#include "agent/textparse/float.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <string>

namespace promsidecar::textparse {
namespace {

struct FloatCase {
  const char* input;
  std::optional<double> want;  // nullopt: rejected
};

TEST(ParseFloatValue, GoParseFloatSyntaxWithoutHexOrUnderscores) {
  const double inf = std::numeric_limits<double>::infinity();
  const FloatCase cases[] = {
      {"0", 0},
      {"42", 42},
      {"-42", -42},
      {"+42", 42},
      {"1.5", 1.5},
      {".5", 0.5},
      {"5.", 5},
      {"1e3", 1000},
      {"1E3", 1000},
      {"1e+3", 1000},
      {"1e-3", 0.001},
      {"1.e2", 100},
      {"-1.5e-3", -0.0015},
      {"123456789012345678901234567890", 1.2345678901234568e29},
      {"1e-400", 0},
      {"4.9e-324", 4.9406564584124654e-324},
      {"1.7976931348623157e308", 1.7976931348623157e308},
      {"Inf", inf},
      {"+Inf", inf},
      {"-Inf", -inf},
      {"inf", inf},
      {"INFINITY", inf},
      {"-infinity", -inf},
      {"", std::nullopt},
      {"+", std::nullopt},
      {"-", std::nullopt},
      {".", std::nullopt},
      {"e5", std::nullopt},
      {"1e", std::nullopt},
      {"1e+", std::nullopt},
      {"1.2.3", std::nullopt},
      {"1e400", std::nullopt},
      {"-1e400", std::nullopt},
      {"0x10", std::nullopt},
      {"0x1p3", std::nullopt},
      {"1_000", std::nullopt},
      {"1p3", std::nullopt},
      {"+-1", std::nullopt},
      {"--1", std::nullopt},
      {"nan(1)", std::nullopt},
      {"+NaN", std::nullopt},
      {"-nan", std::nullopt},
      {"infinit", std::nullopt},
      {" 1", std::nullopt},
      {"1 ", std::nullopt},
      {"1\r", std::nullopt},
      {"١", std::nullopt},
  };
  for (const auto& c : cases) {
    double v = -12345;
    bool ok = ParseFloatValue(c.input, &v);
    if (!c.want) {
      EXPECT_FALSE(ok) << '"' << c.input << "\" accepted as " << v;
      continue;
    }
    ASSERT_TRUE(ok) << '"' << c.input << "\" rejected";
    EXPECT_EQ(v, *c.want) << c.input;
  }
  double v = 0;
  ASSERT_TRUE(ParseFloatValue("NaN", &v));
  EXPECT_TRUE(std::isnan(v));
  ASSERT_TRUE(ParseFloatValue("nAn", &v));
  EXPECT_TRUE(std::isnan(v));
  ASSERT_TRUE(ParseFloatValue("-0", &v));
  EXPECT_TRUE(std::signbit(v));
}

TEST(ParseSecondsToMillis, ExactForDecimalsAndBounded) {
  using P = TimestampParse;
  struct Case {
    const char* input;
    P want;
    int64_t ms = 0;
  };
  const Case cases[] = {
      {"0", P::kOk, 0},
      {"000", P::kOk, 0},
      {"0.0", P::kOk, 0},
      {"1", P::kOk, 1000},
      {"1.1", P::kOk, 1100},
      {"1.5", P::kOk, 1500},
      {"1.001", P::kOk, 1001},
      {"1.0019", P::kOk, 1001},
      {"-1.5", P::kOk, -1500},
      {"+2", P::kOk, 2000},
      {"1700000000.123", P::kOk, 1700000000123},
      {"1e3", P::kOk, 1000000},
      {"1.5e3", P::kOk, 1500000},
      {".5", P::kOk, 500},
      // Valid OpenMetrics timestamps whose milliseconds do not fit in int64
      // (the OpenMetrics test suite's `timestamps` case has the first).
      {"12345678901234567890.1234567890", P::kOutOfRange},
      {"9223372036854775.807", P::kOutOfRange},  // 16 integer digits: float path, beyond 2^63 ms
      {"9223372036854775808", P::kOutOfRange},
      {"-9223372036854775808", P::kOutOfRange},
      {"1e300", P::kOutOfRange},
      {"1e308", P::kOutOfRange},  // * 1000 overflows to +Inf
      {"NaN", P::kInvalid},
      {"Inf", P::kInvalid},
      {"-Inf", P::kInvalid},
      {"", P::kInvalid},
      {"1.2.3", P::kInvalid},
      {"ct@1", P::kInvalid},
      {"1e400", P::kInvalid},  // not a finite float at all
  };
  for (const auto& c : cases) {
    int64_t ms = -1;
    P got = ParseSecondsToMillis(c.input, &ms);
    EXPECT_EQ(got, c.want) << c.input;
    if (got == P::kOk) {
      EXPECT_EQ(ms, c.ms) << c.input;
    } else {
      EXPECT_EQ(ms, -1) << c.input << ": output written on failure";
    }
  }
}

TEST(ParseInt64, Bounds) {
  int64_t v = 0;
  EXPECT_TRUE(ParseInt64("9223372036854775807", &v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_FALSE(ParseInt64("9223372036854775808", &v));
  EXPECT_FALSE(ParseInt64("", &v));
  EXPECT_FALSE(ParseInt64("12a", &v));
}

TEST(FormatOpenMetricsFloat, MatchesGoFormatting) {
  // Outputs of Prometheus's labels.FormatOpenMetricsFloat (Go's 'g', -1).
  const std::pair<double, const char*> cases[] = {
      {1, "1.0"},
      {0, "0.0"},
      {-0.0, "-0.0"},
      {0.005, "0.005"},
      {2.5, "2.5"},
      {100000, "100000.0"},
      {1e6, "1e+06"},
      {123456789, "1.23456789e+08"},
      {1e21, "1e+21"},
      {0.0001, "0.0001"},
      {1e-5, "1e-05"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
  };
  for (const auto& [v, want] : cases) {
    char buf[kMaxFormattedFloat];
    size_t n = FormatOpenMetricsFloat(v, buf);
    EXPECT_EQ(std::string_view(buf, n), want) << v;
  }
}

}  // namespace
}  // namespace promsidecar::textparse

namespace promsidecar::textparse {
namespace {

TEST(ParseFloatValue, AgreesWithStrtodOnRandomDecimals) {
  // The fast path must round exactly like a correct parser; strtod is one.
  std::mt19937_64 rng(42);
  auto digits = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>('0' + rng() % 10);
    return s;
  };
  for (int i = 0; i < 200000; ++i) {
    std::string s;
    if (rng() % 4 == 0) s += '-';
    s += digits(static_cast<int>(rng() % 21));
    if (rng() % 2) s += "." + digits(static_cast<int>(rng() % 21));
    if (s.find_first_of("0123456789") == std::string::npos) s += "7";
    if (rng() % 3 == 0) s += "e" + std::to_string(static_cast<int>(rng() % 700) - 350);
    double got = 0;
    double want = std::strtod(s.c_str(), nullptr);
    if (std::isinf(want)) {  // overflow is an error, as in Go
      ASSERT_FALSE(ParseFloatValue(s, &got)) << s;
      continue;
    }
    ASSERT_TRUE(ParseFloatValue(s, &got)) << s;
    ASSERT_EQ(std::bit_cast<uint64_t>(got), std::bit_cast<uint64_t>(want)) << s;
  }
}

}  // namespace
}  // namespace promsidecar::textparse
