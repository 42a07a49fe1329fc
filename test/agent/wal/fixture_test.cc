// Format compatibility: test/testdata/wal/v1/ is a WAL directory written by
// the v1 code (segments, a series snapshot, two reader positions). Every
// later agent must read it. Never regenerate it after a format change; add a
// v2 fixture beside it instead. To write it (v1 code only):
//   PROMSIDECAR_WAL_WRITE_FIXTURE=$PWD/test/testdata/wal/v1 agent_wal_test --gtest_also_run_disabled_tests
//   --gtest_filter=WalFixture.DISABLED_Write
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <limits>

#include "agent/wal/wal.h"
#include "agent/wal/wal_test_util.h"
#include "testing/subprocess.h"

namespace promsidecar::wal {
namespace {

using testing::Collected;
using testing::ReadAll;
using testing::ReadInto;
using testing::SameBits;
namespace fs = std::filesystem;

constexpr int kScrapes = 40;
constexpr int64_t kT0 = 1700000000000;

model::Labels FixtureLabels(int i) {
  switch (i) {
    case 0: return {{"__name__", "up"}, {"instance", "localhost:8080"}, {"job", "app"}};
    case 1: return {{"__name__", "http_requests_total"}, {"code", "200"}, {"path", "/api/v1/\"quoted\"\n"}};
    case 2:
      return {{"__name__", "temperature_celsius"},
              {"room",
               "k\xc3\xbc"
               "che"}};
    default: return {{"__name__", "late_series"}, {"le", "+Inf"}};
  }
}

int SeriesAt(int scrape) {
  return scrape >= 20 ? 4 : 3;
}

double FixtureValue(int scrape, int i) {
  switch ((scrape + i) % 6) {
    case 0: return model::StaleNaN();
    case 1: return std::numeric_limits<double>::infinity();
    case 2: return -std::numeric_limits<double>::infinity();
    case 3: return model::NormalNaN();
    default: return scrape * 10.5 + i;
  }
}

int64_t FixtureTs(int scrape, int i) {
  return kT0 + 15000LL * scrape - i;
}

TEST(WalFixture, DISABLED_Write) {
  const char* out = std::getenv("PROMSIDECAR_WAL_WRITE_FIXTURE");
  ASSERT_TRUE(out != nullptr && *out != '\0') << "set PROMSIDECAR_WAL_WRITE_FIXTURE to the output directory";
  fs::remove_all(out);
  Options o;
  o.dir = out;
  o.segment_size = 1024;
  o.max_size = 0;
  o.fsync = FsyncPolicy::kNever;
  auto wal = Wal::Open(o);
  ASSERT_TRUE(wal.ok()) << wal.message();
  auto a = (*wal)->OpenReader("sender-a");
  ASSERT_TRUE(a.ok());
  Collected ca, cb;
  std::unique_ptr<Reader> b;
  std::vector<uint64_t> refs;
  for (int s = 1; s <= kScrapes; ++s) {
    while (static_cast<int>(refs.size()) < SeriesAt(s)) {
      refs.push_back((*wal)->AppendSeries(FixtureLabels(static_cast<int>(refs.size()))));
    }
    for (int i = 0; i < static_cast<int>(refs.size()); ++i) {
      ASSERT_TRUE((*wal)->AppendSample(refs[i], FixtureTs(s, i), FixtureValue(s, i)).ok());
    }
    ASSERT_TRUE((*wal)->Commit().ok());
    if (s == 25) {  // sender-a catches up: the segments before it go, series go to the snapshot
      ReadInto(**a, ca);
      ASSERT_TRUE((*a)->SaveCheckpoint(ca.ends.back()).ok());
    }
    if (s == 30) {  // sender-b joins late and reads a little
      auto r = (*wal)->OpenReader("sender-b");
      ASSERT_TRUE(r.ok());
      b = std::move(*r);
      ReadInto(*b, cb, 3);
      ASSERT_TRUE(b->SaveCheckpoint(cb.ends.back()).ok());
    }
  }
  b.reset();
  a->reset();
  wal->reset();
  EXPECT_TRUE(fs::exists(fs::path(out) / "series.snap"));
}

TEST(WalFixture, ReadsTheV1Directory) {
  const fs::path fixture = fs::path(PROMSIDECAR_TESTDATA) / "wal" / "v1";
  ASSERT_TRUE(fs::exists(fixture / "series.snap")) << fixture;
  ASSERT_TRUE(fs::exists(fixture / "positions" / "sender-a"));
  promsidecar::testing::TempDir dir;
  fs::copy(fixture, dir.path(), fs::copy_options::recursive);

  Options o;  // today's defaults, not the ones that wrote it
  o.dir = dir.path();
  o.fsync = FsyncPolicy::kNever;
  auto wal = Wal::Open(o);
  ASSERT_TRUE(wal.ok()) << wal.message();
  const ReplayStats& rs = (*wal)->replay_stats();
  EXPECT_EQ(rs.corrupt_records, 0u);
  EXPECT_EQ(rs.torn_tails_truncated, 0u);
  EXPECT_EQ(rs.unknown_refs, 0u);
  EXPECT_EQ(rs.series, 4u);
  EXPECT_EQ((*wal)->RegisteredReaders(), (std::vector<std::string>{"sender-a", "sender-b"}));

  auto check_scrapes = [](const Collected& c, int first_scrape) {
    EXPECT_EQ(c.unresolved, 0u);
    size_t k = 0;
    for (int s = first_scrape; s <= kScrapes; ++s) {
      for (int i = 0; i < SeriesAt(s); ++i, ++k) {
        ASSERT_LT(k, c.samples.size());
        EXPECT_EQ(c.sample_labels[k], FixtureLabels(i)) << "scrape " << s << " series " << i;
        EXPECT_EQ(c.samples[k].timestamp_ms, FixtureTs(s, i));
        EXPECT_TRUE(SameBits(c.samples[k].value, FixtureValue(s, i))) << "scrape " << s << " series " << i;
      }
    }
    EXPECT_EQ(k, c.samples.size());
  };

  // A new reader gets everything retained: whole scrapes from the first kept
  // segment on, with series of deleted segments from the snapshot.
  auto fresh = (*wal)->OpenReader("fresh");
  ASSERT_TRUE(fresh.ok());
  Collected all = ReadAll(**fresh);
  ASSERT_EQ(all.error, "");
  ASSERT_FALSE(all.samples.empty());
  const int first = static_cast<int>((all.samples.front().timestamp_ms - kT0) / 15000);
  EXPECT_GT(first, 1);  // truncation happened when the fixture was written
  EXPECT_LE(first, 25);
  check_scrapes(all, first);

  // Saved readers resume where they were.
  for (const char* name : {"sender-a", "sender-b"}) {
    SCOPED_TRACE(name);
    auto r = (*wal)->OpenReader(name);
    ASSERT_TRUE(r.ok());
    Collected c = ReadAll(**r);
    ASSERT_EQ(c.error, "");
    ASSERT_FALSE(c.samples.empty());
    const int resume = static_cast<int>((c.samples.front().timestamp_ms - kT0 + 14999) / 15000);
    EXPECT_GT(resume, first);
    // Each position is at a scrape boundary (one record per scrape).
    check_scrapes(c, resume);
  }

  // And the WAL goes on: new refs do not collide with the fixture's.
  uint64_t ref = (*wal)->AppendSeries({{"__name__", "after_upgrade"}});
  ASSERT_TRUE((*wal)->AppendSample(ref, kT0, 1).ok());
  ASSERT_TRUE((*wal)->Commit().ok());
  Collected more;
  more.series = all.series;
  ReadInto(**fresh, more);
  ASSERT_EQ(more.samples.size(), 1u);
  EXPECT_EQ(more.sample_labels[0], (model::Labels{{"__name__", "after_upgrade"}}));
  EXPECT_EQ(all.series.count(ref), 0u);
}

}  // namespace
}  // namespace promsidecar::wal
