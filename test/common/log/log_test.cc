#include "common/log/log.h"

#include <gtest/gtest.h>

namespace promsidecar::log {
namespace {

const auto kTs = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));

TEST(FormatLine, Logfmt) {
  EXPECT_EQ(FormatLine(kTs, Level::kInfo, "scrape failed", {{"target", "127.0.0.1:8080"}, {"samples", 3}},
                       Format::kLogfmt),
            "ts=2023-11-14T22:13:20.123Z level=info msg=\"scrape failed\" target=127.0.0.1:8080 samples=3");
}

TEST(FormatLine, LogfmtEscapesSoOneEventIsOneLine) {
  std::string line =
      FormatLine(kTs, Level::kWarn, "x", {{"err", "a \"b\"\nc=d"}, {"empty", ""}}, Format::kLogfmt);
  EXPECT_EQ(line, "ts=2023-11-14T22:13:20.123Z level=warn msg=x err=\"a \\\"b\\\"\\nc=d\" empty=\"\"");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(FormatLine, Json) {
  EXPECT_EQ(FormatLine(kTs, Level::kError, "boom", {{"code", 500}, {"ok", false}, {"path", "/a\"b"}},
                       Format::kJson),
            "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"error\",\"msg\":\"boom\",\"code\":500,"
            "\"ok\":false,\"path\":\"/a\\\"b\"}");
}

TEST(ParseLevel, Table) {
  EXPECT_EQ(ParseLevel("debug").value(), Level::kDebug);
  EXPECT_EQ(ParseLevel("error").value(), Level::kError);
  auto bad = ParseLevel("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("verbose"), std::string::npos);
  EXPECT_FALSE(ParseFormat("xml").ok());
  EXPECT_EQ(ParseFormat("json").value(), Format::kJson);
}

}  // namespace
}  // namespace promsidecar::log
