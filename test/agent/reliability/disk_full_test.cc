// Disk full on the WAL volume, with the real agent: its WAL lives on a 4 MiB
// tmpfs mounted by the test (the test runs as root; see below when it cannot
// mount). With the receiver down, the test fills the volume; the agent must
// keep scraping (failed commits stay in its bounded pending buffer, reported
// as promsidecar_agent_wal_pending_bytes and _write_errors_total), and when
// the filler is deleted and the receiver returns, every value of
// test_scrapes_total that was not counted as dropped must arrive, in order.
// A restart afterwards must replay the WAL with corrupt_records=0.
//
// When mount(2) is refused this test FAILS with that reason rather than
// skipping: the WAL's filesystem seam covers the same fault in-process
// (agent_wal_test, Wal.EnospcKeepsTheWalConsistentAndRecovers). Set
// PROMSIDECAR_RELIABILITY_NO_MOUNT=seam to run only that one and say so.
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "../e2e/agent_process.h"
#include "testing/receiver.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

using std::chrono::seconds;

// The value of an unlabelled metric line `name value` in a /metrics page, or -1.
double MetricValue(const std::string& page, const std::string& name) {
  std::regex re("(^|\\n)" + name + "(\\{[^}]*\\})? ([0-9.e+-]+)");
  std::smatch m;
  if (!std::regex_search(page, m, re)) return -1;
  return std::stod(m[3].str());
}

class TmpfsMount {
 public:
  TmpfsMount(const std::string& dir, const std::string& size) : dir_(dir) {
    std::filesystem::create_directories(dir);
    std::string opts = "size=" + size;
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

// Writes zeros to `path` until the filesystem is full; returns the bytes written.
uint64_t FillUp(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::string chunk(4096, '\0');
  uint64_t n = 0;
  while (std::fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size() && std::fflush(f) == 0)
    n += chunk.size();
  std::fclose(f);
  return n;
}

TEST(DiskFull, AgentKeepsScrapingIntoMemoryRecoversAndNeverCorruptsTheWal) {
  const char* no_mount = std::getenv("PROMSIDECAR_RELIABILITY_NO_MOUNT");
  TempDir dir;
  TmpfsMount volume(dir.Join("wal"), "4m");
  if (!volume.mounted()) {
    if (no_mount && std::string(no_mount) == "seam") {
      GTEST_SKIP()
          << "mount tmpfs refused (" << volume.error()
          << "): covered only by the WAL filesystem seam (agent_wal_test "
             "Wal.EnospcKeepsTheWalConsistentAndRecovers), as PROMSIDECAR_RELIABILITY_NO_MOUNT=seam asks";
    }
    FAIL() << "mount -t tmpfs refused (" << volume.error()
           << "); run as root, or set PROMSIDECAR_RELIABILITY_NO_MOUNT=seam to rely on the WAL seam test";
  }
  std::printf("disk full: WAL on a real 4 MiB tmpfs at %s\n", dir.Join("wal").c_str());

  CountingReceiver receiver;
  // "Down" as a 503, which the agent retries like a refused connection.
  receiver.SetStatus(503);
  MetricsTarget target;
  // 200 padding series make each scrape a few KB of WAL.
  target.SetPage([](uint64_t n) { return MetricsTarget::CounterPage(n, 200, "padding"); });
  AgentProcess agent(dir.path(), OneJobConfig(target.Address(), receiver.Url()),
                     {"--wal.segment-size=64KiB", "--wal.max-size=0"});
  const std::string metrics_url = agent.MetricsUrl();
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return target.scrapes() >= 3; })) << agent.Log();

  // Fill the volume while the agent runs.
  const std::string filler = dir.Join("wal/filler");
  uint64_t filled = FillUp(filler);
  ASSERT_GT(filled, 0u);
  std::string page;
  ASSERT_TRUE(PollUntil(seconds(60),
                        [&] {
                          page = HttpGetBody(metrics_url);
                          return MetricValue(page, "promsidecar_agent_wal_write_errors_total") > 0 &&
                                 MetricValue(page, "promsidecar_agent_wal_pending_bytes") > 0;
                        }))
      << page << agent.Log();
  // Still scraping while the disk is full.
  uint64_t during = target.scrapes();
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return target.scrapes() >= during + 5; })) << agent.Log();
  page = HttpGetBody(metrics_url);
  double pending = MetricValue(page, "promsidecar_agent_wal_pending_bytes");
  std::printf("disk full: filler %llu KiB; pending %.0f bytes, write errors %.0f\n",
              static_cast<unsigned long long>(filled >> 10), pending,
              MetricValue(page, "promsidecar_agent_wal_write_errors_total"));
  EXPECT_LE(pending, 16.0 * (1 << 20)) << "pending above max_pending_bytes";

  // Space returns, then the receiver.
  std::filesystem::remove(filler);
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return MetricValue(HttpGetBody(metrics_url), "promsidecar_agent_wal_pending_bytes") == 0;
  })) << agent.Log();
  receiver.SetStatus(200);
  uint64_t last = target.scrapes();
  ASSERT_TRUE(PollUntil(seconds(120), [&] {
    auto s = receiver.SamplesOf("test_scrapes_total");
    return !s.empty() && s.back().value >= static_cast<double>(last);
  })) << agent.Log();

  page = HttpGetBody(metrics_url);
  std::regex dropped_re("promsidecar_agent_wal_samples_dropped_total\\{[^}]*\\} ([0-9.e+]+)");
  double dropped = 0;
  for (std::sregex_iterator it(page.begin(), page.end(), dropped_re), end; it != end; ++it) {
    dropped += std::stod((*it)[1].str());
  }
  // Nothing was dropped in this short outage (the pending bound is 16 MiB),
  // so the values are exactly 1..last, once each, in order.
  EXPECT_EQ(dropped, 0) << page;
  const std::vector<double> v = receiver.ValuesOf("test_scrapes_total");
  ASSERT_FALSE(v.empty());
  for (size_t i = 1; i < v.size(); ++i) ASSERT_EQ(v[i], v[i - 1] + 1) << "index " << i;
  EXPECT_EQ(v.front(), 1);

  // A restart replays the WAL written across the fault without corruption.
  ASSERT_EQ(agent.process().Stop(seconds(20)), 0) << agent.Log();
  agent.Start();
  std::vector<std::string> counts;
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    counts = agent.WalReplays();
    return counts.size() == 2;
  })) << agent.Log();
  EXPECT_EQ(counts[0], "0");
  EXPECT_EQ(counts[1], "0") << agent.Log();
  EXPECT_EQ(agent.process().Stop(seconds(20)), 0);
}

}  // namespace
}  // namespace promsidecar::testing
