// A child process appends scrapes in a loop and acknowledges each committed
// one through a pipe; the parent SIGKILLs it at a random moment, reopens the
// WAL and checks that every acknowledged scrape is present and intact.
// PROMSIDECAR_KILL_ITERATIONS=N runs N rounds (default 4) for a long mode.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>

#include "agent/wal/wal.h"
#include "agent/wal/wal_test_util.h"
#include "testing/subprocess.h"

namespace promsidecar::wal {
namespace {

using testing::Collected;
using testing::ReadAll;
using testing::SameBits;
using testing::SeriesLabels;

constexpr int kInitialSeries = 5;
constexpr int kMaxSeries = 60;

int SeriesInScrape(uint64_t seq) {
  return std::min<int>(kMaxSeries, kInitialSeries + static_cast<int>(seq / 7));
}

double ValueOf(uint64_t seq, int i) {
  if ((seq + static_cast<uint64_t>(i)) % 11 == 0) return model::StaleNaN();
  return static_cast<double>(seq) * 1000.0 + i + 0.25;
}

Options KillOpts(const std::string& dir, FsyncPolicy policy) {
  Options o;
  o.dir = dir;
  o.fsync = policy;
  o.fsync_interval = std::chrono::milliseconds(5);
  o.segment_size = 4096;
  o.max_size = 0;
  return o;
}

// The child: never returns.
[[noreturn]] void AppendUntilKilled(const std::string& dir, FsyncPolicy policy, int ack_fd) {
  auto wal = Wal::Open(KillOpts(dir, policy));
  if (!wal) _exit(2);
  std::vector<uint64_t> refs;
  for (uint64_t seq = 1; seq < 10'000'000; ++seq) {
    while (static_cast<int>(refs.size()) < SeriesInScrape(seq)) {
      refs.push_back((*wal)->AppendSeries(SeriesLabels(static_cast<int>(refs.size()))));
    }
    for (int i = 0; i < static_cast<int>(refs.size()); ++i) {
      if (!(*wal)->AppendSample(refs[i], static_cast<int64_t>(seq), ValueOf(seq, i))) _exit(3);
    }
    if (!(*wal)->Commit()) _exit(4);
    if (::write(ack_fd, &seq, sizeof seq) != sizeof seq) _exit(5);
  }
  _exit(6);
}

int Iterations() {
  const char* env = std::getenv("PROMSIDECAR_KILL_ITERATIONS");
  if (env == nullptr || *env == '\0') return 4;
  return std::max(1, std::atoi(env));
}

TEST(WalKill, EveryAcknowledgedScrapeSurvivesSigkill) {
  const int iterations = Iterations();
  std::random_device rd;
  const unsigned seed = rd();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const FsyncPolicy policies[] = {FsyncPolicy::kNever, FsyncPolicy::kBatch, FsyncPolicy::kAlways};

  for (int it = 0; it < iterations; ++it) {
    const FsyncPolicy policy = policies[it % 3];
    SCOPED_TRACE("iteration " + std::to_string(it) + " policy " + std::string(FsyncPolicyName(policy)));
    promsidecar::testing::TempDir dir;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      AppendUntilKilled(dir.path(), policy, fds[1]);
    }
    ::close(fds[1]);

    // Kill after a random number of acknowledged scrapes (so at a random point of a commit).
    const uint64_t kill_after = std::uniform_int_distribution<uint64_t>(1, 200)(rng);
    uint64_t last_ack = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool child_died = false;
    while (last_ack < kill_after && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      uint64_t seq;
      ssize_t n = ::read(fds[0], &seq, sizeof seq);
      if (n == 0) {
        child_died = true;
        break;
      }
      ASSERT_EQ(n, static_cast<ssize_t>(sizeof seq));
      ASSERT_EQ(seq, last_ack + 1);
      last_ack = seq;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_FALSE(child_died) << "child exited early with status " << WEXITSTATUS(status);
    ASSERT_TRUE(WIFSIGNALED(status));
    // Acks written before the kill are acknowledged too.
    uint64_t seq;
    while (::read(fds[0], &seq, sizeof seq) == static_cast<ssize_t>(sizeof seq)) last_ack = seq;
    ::close(fds[0]);
    ASSERT_GE(last_ack, kill_after);

    auto wal = Wal::Open(KillOpts(dir.path(), policy));
    ASSERT_TRUE(wal.ok()) << wal.message();
    EXPECT_EQ((*wal)->replay_stats().corrupt_records, 0u);
    auto reader = (*wal)->OpenReader("check");
    ASSERT_TRUE(reader.ok()) << reader.message();
    Collected c = ReadAll(**reader);
    ASSERT_EQ(c.error, "");
    EXPECT_EQ(c.unresolved, 0u);

    // Group by scrape (timestamp = sequence number) and check each one whole.
    std::map<uint64_t, std::vector<size_t>> scrapes;
    for (size_t i = 0; i < c.samples.size(); ++i) {
      scrapes[static_cast<uint64_t>(c.samples[i].timestamp_ms)].push_back(i);
    }
    ASSERT_FALSE(scrapes.empty());
    // Present scrapes are 1..last, in order, with no gap; at most one beyond the last ack
    // (committed, killed before its ack was written).
    const uint64_t present = scrapes.rbegin()->first;
    EXPECT_EQ(scrapes.size(), present);
    EXPECT_GE(present, last_ack);
    EXPECT_LE(present, last_ack + 1);
    for (const auto& [s, idx] : scrapes) {
      ASSERT_EQ(static_cast<int>(idx.size()), SeriesInScrape(s)) << "scrape " << s;
      for (int i = 0; i < static_cast<int>(idx.size()); ++i) {
        size_t k = idx[i];
        EXPECT_EQ(c.sample_labels[k], SeriesLabels(i)) << "scrape " << s << " sample " << i;
        EXPECT_TRUE(SameBits(c.samples[k].value, ValueOf(s, i))) << "scrape " << s << " sample " << i;
      }
    }
    // The appender continues after the last good record.
    uint64_t ref = (*wal)->AppendSeries(SeriesLabels(1000));
    ASSERT_TRUE((*wal)->AppendSample(ref, 1 << 30, 1.0).ok());
    ASSERT_TRUE((*wal)->Commit().ok());
    Collected more = ReadAll(**reader);
    ASSERT_EQ(more.samples.size(), 1u);
    EXPECT_EQ(more.samples[0].timestamp_ms, 1 << 30);
  }
}

}  // namespace
}  // namespace promsidecar::wal
