// Format compatibility: test/testdata/wal/v1/ is a WAL directory written by
// the v1 code (segments, a series snapshot, two reader positions), v2/ one
// written by the v2 code (the same plus native histograms, exemplars and
// metadata). Every later agent must read both. Never regenerate them after a
// format change; add a v3 fixture beside them instead. v1 was written by the
// v1 code with DISABLED_Write; v2 with (v2 code only):
//   PROMSIDECAR_WAL_WRITE_FIXTURE=$PWD/test/testdata/wal/v2 agent_wal_test --gtest_also_run_disabled_tests
//   --gtest_filter=WalFixture.DISABLED_WriteV2
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>

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

// A fresh WAL in `out` with small segments, as both fixtures were written.
Result<std::unique_ptr<Wal>> OpenFixtureWal(const std::string& out) {
  fs::remove_all(out);
  Options o;
  o.dir = out;
  o.segment_size = 1024;
  o.max_size = 0;
  o.fsync = FsyncPolicy::kNever;
  return Wal::Open(o);
}

TEST(WalFixture, DISABLED_Write) {
  const char* out = std::getenv("PROMSIDECAR_WAL_WRITE_FIXTURE");
  ASSERT_TRUE(out != nullptr && *out != '\0') << "set PROMSIDECAR_WAL_WRITE_FIXTURE to the output directory";
  auto wal = OpenFixtureWal(out);
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

// --- v2: every scrape also has one native histogram (integer on even,
// float on odd scrapes), an exemplar of series 1, and metadata that changes
// once (scrape 10).

model::Histogram FixtureHistogram(int scrape) {
  model::Histogram h;
  h.schema = scrape % 4 - 1;
  h.zero_threshold = 1e-128;
  h.sum = scrape * 0.25;
  h.positive_spans = {{-1, 2}, {2, 1}};
  h.negative_spans = {{0, 1}};
  if (scrape % 2 == 0) {
    h.count_int = static_cast<uint64_t>(scrape) * 4;
    h.zero_count_int = 1;
    h.positive_deltas = {scrape, 1, -1};
    h.negative_deltas = {2};
    h.reset_hint = model::ResetHint::kNo;
  } else {
    h.is_float = true;
    h.count_float = scrape * 4.5;
    h.zero_count_float = 0.5;
    h.positive_counts = {1.5, scrape + 0.5, 2};
    h.negative_counts = {model::NormalNaN()};
    h.reset_hint = model::ResetHint::kGauge;
  }
  return h;
}

model::Exemplar FixtureExemplar(int scrape) {
  return model::Exemplar{
      {{"trace_id", "t" + std::to_string(scrape)}}, scrape * 0.5, FixtureTs(scrape, 1) - 3, true};
}

model::Metadata FixtureMetadata(int series, bool later) {
  switch (series) {
    case 1:
      return {model::MetricType::kCounter, later ? "HTTP requests, by code." : "HTTP requests.", "",
              "http_requests"};
    case 2: return {model::MetricType::kGauge, "Temperature.", "celsius", "temperature_celsius"};
    default: return {model::MetricType::kHistogram, "RPC latency.", "seconds", "rpc_duration_seconds"};
  }
}

const model::Labels kHistogramLabels{{"__name__", "rpc_duration_seconds"}, {"job", "app"}};

TEST(WalFixture, DISABLED_WriteV2) {
  const char* out = std::getenv("PROMSIDECAR_WAL_WRITE_FIXTURE");
  ASSERT_TRUE(out != nullptr && *out != '\0') << "set PROMSIDECAR_WAL_WRITE_FIXTURE to the output directory";
  auto wal = OpenFixtureWal(out);
  ASSERT_TRUE(wal.ok()) << wal.message();
  auto a = (*wal)->OpenReader("sender-a");
  ASSERT_TRUE(a.ok());
  Collected ca;
  std::vector<uint64_t> refs;
  const uint64_t href = (*wal)->AppendSeries(kHistogramLabels);
  ASSERT_TRUE((*wal)->SetMetadata(href, FixtureMetadata(3, false)).ok());
  for (int s = 1; s <= kScrapes; ++s) {
    while (static_cast<int>(refs.size()) < SeriesAt(s)) {
      const int i = static_cast<int>(refs.size());
      refs.push_back((*wal)->AppendSeries(FixtureLabels(i)));
      if (i == 1 || i == 2) {
        ASSERT_TRUE((*wal)->SetMetadata(refs.back(), FixtureMetadata(i, false)).ok());
      }
    }
    if (s == 10) {
      ASSERT_TRUE((*wal)->SetMetadata(refs[1], FixtureMetadata(1, true)).ok());
    }
    for (int i = 0; i < static_cast<int>(refs.size()); ++i) {
      ASSERT_TRUE((*wal)->AppendSample(refs[i], FixtureTs(s, i), FixtureValue(s, i)).ok());
    }
    ASSERT_TRUE((*wal)->AppendHistogram(href, FixtureTs(s, 0), FixtureHistogram(s)).ok());
    ASSERT_TRUE((*wal)->AppendExemplar(refs[1], FixtureExemplar(s)).ok());
    ASSERT_TRUE((*wal)->Commit().ok());
    if (s == 25) {
      ReadInto(**a, ca);
      ASSERT_TRUE((*a)->SaveCheckpoint(ca.ends.back()).ok());
    }
  }
  a->reset();
  wal->reset();
  EXPECT_TRUE(fs::exists(fs::path(out) / "series.snap"));
}

TEST(WalFixture, ReadsTheV2Directory) {
  const fs::path fixture = fs::path(PROMSIDECAR_TESTDATA) / "wal" / "v2";
  ASSERT_TRUE(fs::exists(fixture / "series.snap")) << fixture;
  promsidecar::testing::TempDir dir;
  fs::copy(fixture, dir.path(), fs::copy_options::recursive);
  Options o;
  o.dir = dir.path();
  o.fsync = FsyncPolicy::kNever;
  auto wal = Wal::Open(o);
  ASSERT_TRUE(wal.ok()) << wal.message();
  const ReplayStats& rs = (*wal)->replay_stats();
  EXPECT_EQ(rs.corrupt_records, 0u);
  EXPECT_EQ(rs.unknown_refs, 0u);
  EXPECT_EQ(rs.series, 5u);

  for (const char* name : {"fresh", "sender-a"}) {
    SCOPED_TRACE(name);
    auto r = (*wal)->OpenReader(name);
    ASSERT_TRUE(r.ok());
    Collected c = ReadAll(**r);
    ASSERT_EQ(c.error, "");
    EXPECT_EQ(c.unresolved, 0u);
    ASSERT_FALSE(c.histograms.empty());
    ASSERT_EQ(c.histograms.size(), c.exemplars.size());
    const int first = static_cast<int>((c.histograms.front().timestamp_ms - kT0) / 15000);
    EXPECT_GT(first, 1);  // truncated when the fixture was written
    for (size_t k = 0; k < c.histograms.size(); ++k) {
      const int scrape = first + static_cast<int>(k);
      EXPECT_EQ(c.series.at(c.histograms[k].ref), kHistogramLabels);
      EXPECT_EQ(c.histograms[k].timestamp_ms, FixtureTs(scrape, 0));
      const model::Histogram want = FixtureHistogram(scrape);
      const model::Histogram& got = c.histograms[k].histogram;
      // Bit for bit, the NaN bucket included.
      EXPECT_EQ(got.schema, want.schema);
      EXPECT_EQ(got.is_float, want.is_float);
      EXPECT_EQ(got.reset_hint, want.reset_hint);
      EXPECT_EQ(got.positive_spans, want.positive_spans);
      EXPECT_EQ(got.positive_deltas, want.positive_deltas);
      EXPECT_EQ(got.positive_counts, want.positive_counts);
      EXPECT_EQ(got.count_int, want.count_int);
      EXPECT_EQ(got.count_float, want.count_float);
      ASSERT_EQ(got.negative_counts.size(), want.negative_counts.size());
      if (want.is_float) {
        EXPECT_TRUE(SameBits(got.negative_counts[0], model::NormalNaN()));
      }
      EXPECT_EQ(c.exemplars[k].exemplar, FixtureExemplar(scrape));
      EXPECT_EQ(c.series.at(c.exemplars[k].ref), FixtureLabels(1));
    }
    // Metadata: the latest of each series, from the snapshot/announcement or the log.
    std::map<std::string, model::Metadata> by_name;
    for (const auto& [ref, m] : c.metadata)
      by_name[std::string(model::Get(c.series.at(ref), "__name__"))] = m;
    EXPECT_EQ(by_name["http_requests_total"], FixtureMetadata(1, true));
    EXPECT_EQ(by_name["temperature_celsius"], FixtureMetadata(2, false));
    EXPECT_EQ(by_name["rpc_duration_seconds"], FixtureMetadata(3, false));
    EXPECT_EQ(by_name.count("up"), 0u);
  }
}

}  // namespace
}  // namespace promsidecar::wal
