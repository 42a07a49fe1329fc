#include "agent/remote_write/retry_policy.h"

#include <gtest/gtest.h>

#include <chrono>

namespace promsidecar::remote_write {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

// 1994-11-06 08:49:37 UTC, the RFC's example date.
const system_clock::time_point kRfcDate = system_clock::time_point(seconds(784111777));

Result<HttpResult> Status(int code, std::string retry_after = "") {
  return HttpResult{code, std::move(retry_after), ""};
}

TEST(Classify, FollowsTheSpec) {
  RetryOptions no429;
  RetryOptions with429;
  with429.retry_on_http_429 = true;
  struct Case {
    int status;
    Outcome without_429_retry;
    Outcome with_429_retry;
  };
  for (const Case& c : std::vector<Case>{{200, Outcome::kOk, Outcome::kOk},
                                         {204, Outcome::kOk, Outcome::kOk},
                                         {299, Outcome::kOk, Outcome::kOk},
                                         {500, Outcome::kRetry, Outcome::kRetry},
                                         {502, Outcome::kRetry, Outcome::kRetry},
                                         {503, Outcome::kRetry, Outcome::kRetry},
                                         {599, Outcome::kRetry, Outcome::kRetry},
                                         {429, Outcome::kDrop, Outcome::kRetry},
                                         {400, Outcome::kDrop, Outcome::kDrop},
                                         {401, Outcome::kDrop, Outcome::kDrop},
                                         {404, Outcome::kDrop, Outcome::kDrop},
                                         {413, Outcome::kDrop, Outcome::kDrop},
                                         {301, Outcome::kDrop, Outcome::kDrop},
                                         {100, Outcome::kDrop, Outcome::kDrop}}) {
    EXPECT_EQ(Classify(Status(c.status), no429, kRfcDate).outcome, c.without_429_retry) << c.status;
    EXPECT_EQ(Classify(Status(c.status), with429, kRfcDate).outcome, c.with_429_retry) << c.status;
  }
  Result<HttpResult> network_error = MakeError("connection refused");
  EXPECT_EQ(Classify(network_error, no429, kRfcDate).outcome, Outcome::kRetry);
  EXPECT_FALSE(Classify(network_error, no429, kRfcDate).retry_after.has_value());
}

TEST(Classify, HonoursRetryAfterOnRetryableAnswersOnly) {
  RetryOptions o;
  o.retry_on_http_429 = true;
  EXPECT_EQ(Classify(Status(429, "7"), o, kRfcDate).retry_after, milliseconds(7000));
  EXPECT_EQ(Classify(Status(503, " 2 "), o, kRfcDate).retry_after, milliseconds(2000));
  EXPECT_FALSE(Classify(Status(503, "soon"), o, kRfcDate).retry_after.has_value());
  o.retry_on_http_429 = false;
  auto d = Classify(Status(429, "7"), o, kRfcDate);
  EXPECT_EQ(d.outcome, Outcome::kDrop);
  EXPECT_FALSE(d.retry_after.has_value());
}

TEST(Classify, CapsRetryAfter) {
  RetryOptions o;
  o.max_retry_after = std::chrono::minutes(5);
  EXPECT_EQ(Classify(Status(503, "3600"), o, kRfcDate).retry_after, milliseconds(300000));
  EXPECT_EQ(Classify(Status(503, "99999999999999999999999"), o, kRfcDate).retry_after.has_value(), false);
}

TEST(ParseRetryAfter, SecondsAndAllThreeDateForms) {
  EXPECT_EQ(ParseRetryAfter("0", kRfcDate), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("120", kRfcDate), milliseconds(120000));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:47 GMT", kRfcDate), milliseconds(10000));
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:50:37 GMT", kRfcDate), milliseconds(60000));
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:38 1994", kRfcDate), milliseconds(1000));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", kRfcDate), milliseconds(0));  // past
  EXPECT_EQ(
      ParseRetryAfter("Thu, 01 Jan 2026 00:00:00 GMT", kRfcDate),
      std::chrono::duration_cast<milliseconds>(system_clock::time_point(seconds(1767225600)) - kRfcDate));
  for (const char* bad :
       {"", "-1", "1.5", "abc", "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Xyz 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 PST"}) {
    EXPECT_FALSE(ParseRetryAfter(bad, kRfcDate).has_value()) << bad;
  }
}

TEST(Backoff, DoublesToMaxWithJitterAndResets) {
  double u = 1.0;
  Backoff b(milliseconds(100), milliseconds(1000), [&] { return u; });
  std::vector<int64_t> top;
  for (int i = 0; i < 6; ++i) top.push_back(b.Next().count());
  EXPECT_EQ(top, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000}));
  b.Reset();
  u = 0.0;  // the jitter takes off at most half
  std::vector<int64_t> bottom;
  for (int i = 0; i < 6; ++i) bottom.push_back(b.Next().count());
  EXPECT_EQ(bottom, (std::vector<int64_t>{50, 100, 200, 400, 500, 500}));
  b.Reset();
  u = 0.5;
  EXPECT_EQ(b.Next(), milliseconds(75));
}

// The jitter is drawn once per failure streak: one sender's waits never
// shrink (a receiver sees exponential backoff), while senders that failed
// together drew different factors and drift apart.
TEST(Backoff, JitterIsDrawnOncePerStreakSoWaitsNeverShrink) {
  std::vector<double> draws{0.0, 1.0, 0.3, 0.9};
  size_t next = 0;
  Backoff b(milliseconds(100), milliseconds(1000), [&] { return draws[next++ % draws.size()]; });
  std::vector<int64_t> waits;
  for (int i = 0; i < 7; ++i) waits.push_back(b.Next().count());
  EXPECT_EQ(waits, (std::vector<int64_t>{50, 100, 200, 400, 500, 500, 500}));
  EXPECT_EQ(next, 1u);
  b.Reset();  // a success ends the streak; the next one draws again (1.0)
  waits.clear();
  for (int i = 0; i < 3; ++i) waits.push_back(b.Next().count());
  EXPECT_EQ(waits, (std::vector<int64_t>{100, 200, 400}));
  EXPECT_EQ(next, 2u);
}

TEST(RetryDelay, RetryAfterOverridesBackoffButNeverSpins) {
  RetryOptions o;
  o.min_backoff = milliseconds(100);
  o.max_backoff = milliseconds(1000);
  Backoff b(o.min_backoff, o.max_backoff, [] { return 1.0; });
  Decision with{Outcome::kRetry, milliseconds(7000)};
  EXPECT_EQ(RetryDelay(with, o, b), milliseconds(7000));
  Decision zero{Outcome::kRetry, milliseconds(0)};
  EXPECT_EQ(RetryDelay(zero, o, b), milliseconds(100));
  Decision none{Outcome::kRetry, std::nullopt};
  EXPECT_EQ(RetryDelay(none, o, b), milliseconds(400));  // the backoff kept advancing
}

}  // namespace
}  // namespace promsidecar::remote_write
