// The remote endpoint down for longer than the WAL's disk bound, with the
// real agent (--wal.segment-size=64KiB, --wal.max-size=256KiB) and a target
// with 2000 series: the oldest segments are dropped, the dropped samples are
// counted (promsidecar_agent_wal_samples_dropped_total{reason="size_bound"})
// and logged, the WAL directory stays under its bound, and when the endpoint
// returns delivery resumes: the newest values arrive in order.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "../e2e/agent_process.h"
#include "testing/receiver.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

using std::chrono::seconds;

uint64_t DirBytes(const std::string& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  }
  return n;
}

double SizeBoundDropped(const std::string& page) {
  std::regex re(
      "promsidecar_agent_wal_samples_dropped_total\\{[^}]*reason=\"size_bound\"[^}]*\\} ([0-9.e+]+)");
  std::smatch m;
  return std::regex_search(page, m, re) ? std::stod(m[1].str()) : 0;
}

TEST(WalBound, OutageLongerThanTheBoundDropsTheOldestCountsItAndDeliveryResumes) {
  TempDir dir;
  CountingReceiver receiver;
  // "Down" as a 503, which the agent retries like a refused connection.
  receiver.SetStatus(503);
  MetricsTarget target;
  target.SetPage([](uint64_t n) { return MetricsTarget::CounterPage(n, 2000, "many"); });
  const uint64_t kMaxSize = 256 << 10;
  AgentProcess agent(dir.path(), OneJobConfig(target.Address(), receiver.Url()),
                     {"--wal.segment-size=64KiB", "--wal.max-size=256KiB"});
  const std::string metrics_url = agent.MetricsUrl();

  // Wait until the bound has dropped something, watching the directory size.
  uint64_t max_dir = 0;
  std::string page;
  ASSERT_TRUE(PollUntil(seconds(120),
                        [&] {
                          max_dir = std::max(max_dir, DirBytes(dir.Join("wal")));
                          page = HttpGetBody(metrics_url);
                          return SizeBoundDropped(page) > 0;
                        }))
      << page << agent.Log();
  // Keep going a few more scrapes past the bound.
  uint64_t at = target.scrapes();
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    max_dir = std::max(max_dir, DirBytes(dir.Join("wal")));
    return target.scrapes() >= at + 5;
  }));
  double dropped = SizeBoundDropped(HttpGetBody(metrics_url));
  // The bound covers segments + snapshot; position files and the directory
  // itself are small. One segment of slack for the head being written.
  EXPECT_LE(max_dir, kMaxSize + (64 << 10) + (16 << 10)) << "WAL dir grew to " << max_dir;
  std::regex warn("level=warn[^\\n]*(size bound|size_bound|max.size)[^\\n]*");
  std::smatch wm;
  std::string log = agent.Log();
  EXPECT_TRUE(std::regex_search(log, wm, warn)) << "no warning about the size bound\n" << log;

  receiver.SetStatus(200);
  uint64_t last = target.scrapes();
  ASSERT_TRUE(PollUntil(seconds(120), [&] {
    auto s = receiver.SamplesOf("test_scrapes_total");
    return !s.empty() && s.back().value >= static_cast<double>(last);
  })) << agent.Log();
  const std::vector<double> v = receiver.ValuesOf("test_scrapes_total");
  // The oldest were dropped: there is a gap (the batch the sender was
  // already retrying from memory may still arrive before it); values arrive
  // in increasing order, once each, up to the newest.
  ASSERT_FALSE(v.empty());
  size_t gaps = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    EXPECT_LT(v[i - 1], v[i]) << "index " << i;
    gaps += v[i] != v[i - 1] + 1;
  }
  EXPECT_GT(gaps + (v.front() > 1 ? 1 : 0), 0u) << "nothing was dropped?";
  std::printf(
      "WAL bound 256KiB: max dir %llu KiB, dropped %.0f samples (size_bound), first value delivered %.0f, "
      "gaps %zu, "
      "last %llu\n  log: %s\n",
      static_cast<unsigned long long>(max_dir >> 10), dropped, v.front(), gaps,
      static_cast<unsigned long long>(last), wm.size() ? wm[0].str().c_str() : "");
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0);
}

}  // namespace
}  // namespace promsidecar::testing
