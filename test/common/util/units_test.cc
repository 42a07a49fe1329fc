#include "common/util/units.h"

#include <gtest/gtest.h>

namespace promsidecar::units {
namespace {

struct DurationCase {
  std::string in;
  int64_t want_ms;  // -1: must be rejected
};

TEST(ParseDuration, Table) {
  const DurationCase cases[] = {
      {"0", 0},
      {"0s", 0},
      {"1s", 1000},
      {"500ms", 500},
      {"1m30s", 90000},
      {"2h", 7200000},
      {"1d", 86400000},
      {"1w", 604800000},
      {"1y", 31536000000},
      {"1h1m1s1ms", 3661001},
      {"", -1},
      {"s", -1},
      {"10", -1},
      {"1.5s", -1},
      {"1s1m", -1},
      {"1s1s", -1},
      {"banana", -1},
      {"-1s", -1},
      {"1x", -1},
      {"99999999999999999999y", -1},
  };
  for (const auto& c : cases) {
    auto got = ParseDuration(c.in);
    if (c.want_ms < 0) {
      EXPECT_FALSE(got.ok()) << c.in;
      if (!got.ok()) {
        EXPECT_NE(got.message().find(c.in), std::string::npos) << got.message();
      }
    } else {
      ASSERT_TRUE(got.ok()) << c.in << ": " << got.message();
      EXPECT_EQ(got->count(), c.want_ms) << c.in;
    }
  }
}

TEST(FormatDuration, RoundTrips) {
  for (int64_t ms : {0LL, 1LL, 999LL, 1000LL, 90000LL, 3661001LL, 86400000LL, 604800000LL, 691200000LL}) {
    std::string s = FormatDuration(Millis(ms));
    auto back = ParseDuration(s);
    ASSERT_TRUE(back.ok()) << s;
    EXPECT_EQ(back->count(), ms) << s;
  }
  EXPECT_EQ(FormatDuration(Millis(90000)), "1m30s");
  EXPECT_EQ(FormatDuration(Millis(691200000)), "8d");
}

TEST(ParseBytes, Table) {
  EXPECT_EQ(ParseBytes("0").value(), 0u);
  EXPECT_EQ(ParseBytes("10B").value(), 10u);
  EXPECT_EQ(ParseBytes("1KB").value(), 1024u);
  EXPECT_EQ(ParseBytes("1KiB").value(), 1024u);
  EXPECT_EQ(ParseBytes("10MB").value(), 10u << 20);
  EXPECT_EQ(ParseBytes("2GiB").value(), 2ULL << 30);
  for (const char* bad : {"", "MB", "10", "10mb", "1.5MB", "10XB", "99999999999EB"}) {
    EXPECT_FALSE(ParseBytes(bad).ok()) << bad;
  }
  EXPECT_EQ(FormatBytes(1u << 20), "1MiB");
  EXPECT_EQ(FormatBytes(1500), "1500B");
}

}  // namespace
}  // namespace promsidecar::units
