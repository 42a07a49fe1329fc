#include "agent/wal/wal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <limits>
#include <thread>

#include "agent/wal/crc32c.h"
#include "agent/wal/fault_fs.h"
#include "agent/wal/wal_test_util.h"
#include "testing/subprocess.h"

namespace promsidecar::wal {
namespace {

using promsidecar::testing::TempDir;
using testing::Collected;
using testing::ReadAll;
using testing::ReadInto;
using testing::SameBits;
using testing::SeriesLabels;
namespace fs = std::filesystem;

Options Opts(const std::string& dir) {
  Options o;
  o.dir = dir;
  o.fsync = FsyncPolicy::kNever;
  o.max_size = 0;
  return o;
}

std::unique_ptr<Wal> MustOpen(Options o) {
  auto w = Wal::Open(std::move(o));
  EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.message());
  if (!w.ok()) return nullptr;
  return std::move(*w);
}

std::unique_ptr<Reader> MustReader(Wal& wal, std::string_view name) {
  auto r = wal.OpenReader(name);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
  if (!r.ok()) return nullptr;
  return std::move(*r);
}

// One scrape: `n` samples for `refs` at time `ts`, value = ts/1000 + index.
void AppendScrape(Wal& wal, const std::vector<uint64_t>& refs, int64_t ts) {
  for (size_t i = 0; i < refs.size(); ++i) {
    ASSERT_TRUE(wal.AppendSample(refs[i], ts, static_cast<double>(ts / 1000) + static_cast<double>(i)).ok());
  }
}

std::vector<uint64_t> AddSeries(Wal& wal, int first, int n) {
  std::vector<uint64_t> refs;
  for (int i = first; i < first + n; ++i) refs.push_back(wal.AppendSeries(SeriesLabels(i)));
  return refs;
}

size_t CountSegmentFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".seg";
  return n;
}

std::vector<fs::path> SegmentFiles(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Wal, RoundTripSeriesAndSamplesBitExact) {
  TempDir dir;
  auto wal = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(wal);
  auto reader = MustReader(*wal, "rw-0");
  ASSERT_TRUE(reader);
  uint64_t a = wal->AppendSeries({{"__name__", "up"}, {"job", "x"}});
  uint64_t b = wal->AppendSeries({{"__name__", "temp"}, {"job", "x"}, {"le", "+Inf"}});
  EXPECT_NE(a, b);
  const double values[] = {1.0,
                           model::StaleNaN(),
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(),
                           model::NormalNaN(),
                           -0.0};
  int64_t ts = 1700000000000;
  for (double v : values) {
    ASSERT_TRUE(wal->AppendSample(a, ts, v).ok());
    ASSERT_TRUE(wal->AppendSample(b, ts - 1, -v).ok());
    ts += 15000;
  }
  // Nothing is visible before Commit.
  auto none = reader->Next();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(wal->Commit().ok());

  Collected c = ReadAll(*reader);
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.unresolved, 0u);
  ASSERT_EQ(c.series.size(), 2u);
  EXPECT_EQ(c.series[a], (model::Labels{{"__name__", "up"}, {"job", "x"}}));
  ASSERT_EQ(c.samples.size(), 12u);
  ts = 1700000000000;
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(c.samples[2 * i].ref, a);
    EXPECT_EQ(c.samples[2 * i].timestamp_ms, ts);
    EXPECT_TRUE(SameBits(c.samples[2 * i].value, values[i])) << i;
    EXPECT_EQ(c.samples[2 * i + 1].timestamp_ms, ts - 1);
    EXPECT_TRUE(SameBits(c.samples[2 * i + 1].value, -values[i])) << i;
    ts += 15000;
  }
  EXPECT_TRUE(model::IsStaleNaN(c.samples[2].value));
  Metrics m = wal->GetMetrics();
  EXPECT_EQ(m.samples_written, 12u);
  EXPECT_EQ(m.series_written, 2u);
  EXPECT_EQ(m.records_written, 2u);
  EXPECT_EQ(m.commits, 1u);
  EXPECT_EQ(m.fsyncs, 0u);  // kNever

  // Everything survives a reopen, and refs continue after the last one.
  reader.reset();
  wal.reset();
  wal = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(wal);
  EXPECT_EQ(wal->replay_stats().samples, 12u);
  EXPECT_EQ(wal->replay_stats().series, 2u);
  EXPECT_EQ(wal->replay_stats().torn_tails_truncated, 0u);
  EXPECT_GT(wal->AppendSeries({{"__name__", "new"}}), std::max(a, b));
  auto fresh = MustReader(*wal, "rw-1");
  Collected again = ReadAll(*fresh);
  EXPECT_EQ(again.samples.size(), 12u);
  EXPECT_EQ(again.unresolved, 0u);
}

model::Histogram IntHistogram(uint64_t count) {
  model::Histogram h;
  h.schema = 2;
  h.count_int = count;
  h.sum = static_cast<double>(count) * 1.5;
  h.positive_spans = {{0, 2}};
  h.positive_deltas = {static_cast<int64_t>(count / 2), 0};
  return h;
}

TEST(Wal, HistogramsExemplarsAndMetadataRoundTripAndSurviveReopen) {
  TempDir dir;
  auto wal = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(wal);
  auto reader = MustReader(*wal, "rw-0");
  const uint64_t h = wal->AppendSeries({{"__name__", "rpc_seconds"}, {"job", "x"}});
  const uint64_t c = wal->AppendSeries({{"__name__", "requests_total"}, {"job", "x"}});
  const model::Metadata hm{model::MetricType::kHistogram, "RPC latency.", "seconds"};
  const model::Metadata cm{model::MetricType::kCounter, "Requests.", ""};
  ASSERT_TRUE(wal->SetMetadata(h, hm).ok());
  ASSERT_TRUE(wal->SetMetadata(c, cm).ok());
  const model::Exemplar ex{{{"trace_id", "t1"}}, 0.5, 1700000000001, true};
  for (int i = 0; i < 3; ++i) {
    const int64_t ts = 1700000000000 + 15000 * i;
    ASSERT_TRUE(wal->AppendHistogram(h, ts, IntHistogram(10 + i)).ok());
    ASSERT_TRUE(wal->AppendSample(c, ts, i).ok());
    ASSERT_TRUE(wal->AppendExemplar(c, ex).ok());
    ASSERT_TRUE(wal->Commit().ok());
  }
  // A ref the WAL does not know is refused by every new kind of append.
  EXPECT_FALSE(wal->AppendHistogram(999, 1, IntHistogram(1)).ok());
  EXPECT_FALSE(wal->AppendExemplar(999, ex).ok());
  EXPECT_FALSE(wal->SetMetadata(999, hm).ok());

  auto check = [&](const Collected& got) {
    ASSERT_EQ(got.error, "");
    EXPECT_EQ(got.unresolved, 0u);
    ASSERT_EQ(got.histograms.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(got.histograms[i].ref, h);
      EXPECT_EQ(got.histograms[i].histogram, IntHistogram(10 + i));
    }
    EXPECT_EQ(got.samples.size(), 3u);
    ASSERT_EQ(got.exemplars.size(), 3u);
    EXPECT_EQ(got.exemplars[0].exemplar, ex);
    EXPECT_EQ(got.metadata.at(h), hm);
    EXPECT_EQ(got.metadata.at(c), cm);
  };
  check(ReadAll(*reader));
  Metrics m = wal->GetMetrics();
  EXPECT_EQ(m.samples_written, 6u);  // three samples and three histograms

  reader.reset();
  wal.reset();
  wal = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(wal);
  EXPECT_EQ(wal->replay_stats().samples, 6u);
  EXPECT_EQ(wal->replay_stats().unknown_refs, 0u);
  auto fresh = MustReader(*wal, "rw-1");
  check(ReadAll(*fresh));
}

// Metadata lives in the series table: a reader that opens after truncation
// (the metadata record is gone with its segment) still gets it, from the
// snapshot and the announcement, and a newer metadata record wins.
TEST(Wal, MetadataSurvivesTruncationAndIsAnnouncedWithTheSeries) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 1024;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto reader = MustReader(*wal, "rw-0");
  const uint64_t ref = wal->AppendSeries({{"__name__", "temp_celsius"}});
  ASSERT_TRUE(wal->SetMetadata(ref, {model::MetricType::kGauge, "old help", "celsius"}).ok());
  ASSERT_TRUE(wal->Commit().ok());
  const std::vector<uint64_t> filler = AddSeries(*wal, 0, 20);
  for (int i = 0; i < 60; ++i) {
    AppendScrape(*wal, filler, 1700000000000 + i);
    ASSERT_TRUE(wal->AppendSample(ref, 1700000000000 + i, i).ok());
    if (i == 50) {
      ASSERT_TRUE(wal->SetMetadata(ref, {model::MetricType::kGauge, "new help", "celsius"}).ok());
    }
    ASSERT_TRUE(wal->Commit().ok());
  }
  Collected first = ReadAll(*reader);
  ASSERT_EQ(first.error, "");
  EXPECT_EQ(first.metadata.at(ref).help, "new help");
  ASSERT_TRUE(reader->SaveCheckpoint(first.ends[first.ends.size() / 2]).ok());
  ASSERT_TRUE(wal->Commit().ok());  // truncates behind the checkpoint
  EXPECT_GT(wal->GetMetrics().segments_truncated, 0u);
  reader.reset();
  wal.reset();

  wal = MustOpen(o);
  ASSERT_TRUE(wal);
  for (const char* name : {"rw-0", "late"}) {
    auto r = MustReader(*wal, name);
    Collected c = ReadAll(*r);
    ASSERT_EQ(c.error, "") << name;
    ASSERT_TRUE(c.metadata.contains(ref)) << name << ": the metadata was lost with its segment";
    EXPECT_EQ(c.metadata.at(ref).help, "new help") << name;
    EXPECT_EQ(c.metadata.at(ref).unit, "celsius") << name;
  }
}

TEST(Wal, RolledBackMetadataIsNotKept) {
  TempDir dir;
  auto wal = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(wal);
  const uint64_t ref = wal->AppendSeries({{"__name__", "x"}});
  ASSERT_TRUE(wal->SetMetadata(ref, {model::MetricType::kGauge, "kept", ""}).ok());
  ASSERT_TRUE(wal->Commit().ok());
  ASSERT_TRUE(wal->SetMetadata(ref, {model::MetricType::kCounter, "rolled back", ""}).ok());
  ASSERT_TRUE(wal->AppendHistogram(ref, 5, IntHistogram(2)).ok());
  wal->Rollback();
  auto r = MustReader(*wal, "rw-0");
  Collected c = ReadAll(*r);
  EXPECT_EQ(c.metadata.at(ref).help, "kept");
  EXPECT_TRUE(c.histograms.empty());
}

TEST(Wal, RejectsUnknownRefsAndRollbackDiscards) {
  TempDir dir;
  auto wal = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(wal);
  Status st = wal->AppendSample(12345, 1, 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("12345"), std::string::npos);
  uint64_t ref = wal->AppendSeries({{"__name__", "a"}});
  ASSERT_TRUE(wal->AppendSample(ref, 1, 1).ok());
  wal->Rollback();
  EXPECT_FALSE(wal->AppendSample(ref, 2, 2).ok());  // its series was rolled back too
  ASSERT_TRUE(wal->Commit().ok());
  auto reader = MustReader(*wal, "r");
  Collected c = ReadAll(*reader);
  EXPECT_TRUE(c.samples.empty());
  EXPECT_TRUE(c.series.empty());
}

TEST(Wal, RejectsBadOptionsAndNames) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 10;
  EXPECT_FALSE(Wal::Open(o).ok());
  o = Opts(dir.path());
  o.max_size = o.segment_size;
  EXPECT_FALSE(Wal::Open(o).ok());
  auto wal = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(wal);
  EXPECT_FALSE(wal->OpenReader("../escape").ok());
  EXPECT_FALSE(wal->OpenReader("").ok());
  EXPECT_FALSE(wal->SaveCheckpoint("not-registered", Position{1, 16}).ok());
  auto r = MustReader(*wal, "dup");
  EXPECT_FALSE(wal->OpenReader("dup").ok());
  EXPECT_FALSE(wal->UnregisterReader("dup").ok());
  EXPECT_TRUE(ParseFsyncPolicy("batch").ok());
  EXPECT_FALSE(ParseFsyncPolicy("sometimes").ok());
}

TEST(Wal, SegmentsRollOverAtTheConfiguredSize) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 2048;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto reader = MustReader(*wal, "r");
  auto refs = AddSeries(*wal, 0, 10);
  const int kScrapes = 60;
  for (int s = 0; s < kScrapes; ++s) {
    AppendScrape(*wal, refs, 1000 * (s + 1));
    ASSERT_TRUE(wal->Commit().ok());
  }
  auto files = SegmentFiles(dir.path());
  const uint64_t per_segment = o.segment_size - kSegmentHeaderSize;
  EXPECT_GE(files.size(), 3u);
  EXPECT_GE(files.size(), (wal->GetMetrics().bytes_written + per_segment - 1) / per_segment);
  for (const auto& f : files) EXPECT_LE(fs::file_size(f), o.segment_size) << f;
  EXPECT_EQ(wal->GetMetrics().segments, files.size());

  Collected c = ReadAll(*reader);
  ASSERT_EQ(c.samples.size(), static_cast<size_t>(kScrapes) * refs.size());
  EXPECT_EQ(c.unresolved, 0u);
  for (size_t i = 0; i < c.samples.size(); ++i) {
    EXPECT_EQ(c.samples[i].timestamp_ms, static_cast<int64_t>(1000 * (i / refs.size() + 1)));
    EXPECT_EQ(c.samples[i].ref, refs[i % refs.size()]);
  }
  // Positions cross segments.
  EXPECT_GT(c.ends.back().segment, c.ends.front().segment);
}

// Builds a WAL with several commits, then cuts the last segment at every byte
// offset of the last commit: replay must keep every complete record, drop the
// torn one, and let the appender go on.
TEST(Wal, TornTailAtEveryByteOffset) {
  TempDir golden;
  std::vector<Position> ends;
  size_t last_seg_size = 0;
  fs::path last_seg;
  {
    auto wal = MustOpen(Opts(golden.path()));
    ASSERT_TRUE(wal);
    auto refs = AddSeries(*wal, 0, 3);
    AppendScrape(*wal, refs, 1000);
    ASSERT_TRUE(wal->Commit().ok());
    AppendScrape(*wal, refs, 2000);
    ASSERT_TRUE(wal->Commit().ok());
    // The last commit holds a series record and a samples record.
    auto more = AddSeries(*wal, 3, 2);
    refs.insert(refs.end(), more.begin(), more.end());
    AppendScrape(*wal, refs, 3000);
    ASSERT_TRUE(wal->Commit().ok());
    auto reader = MustReader(*wal, "r");
    ends = ReadAll(*reader).ends;
    ASSERT_EQ(ends.size(), 5u);  // series, samples, samples, series, samples
    last_seg = SegmentFiles(golden.path()).back();
    last_seg_size = fs::file_size(last_seg);
    ASSERT_EQ(last_seg_size, ends.back().offset);
  }
  // Reader positions are irrelevant here.
  fs::remove_all(fs::path(golden.path()) / "positions");
  const uint64_t last_commit_start = ends[2].offset;

  for (uint64_t cut = last_commit_start; cut <= last_seg_size; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    TempDir dir;
    fs::copy(golden.path(), dir.path(), fs::copy_options::recursive);
    fs::resize_file(fs::path(dir.path()) / last_seg.filename(), cut);
    auto wal = MustOpen(Opts(dir.path()));
    ASSERT_TRUE(wal);
    const bool torn = cut != ends[3].offset && cut != ends[4].offset && cut != last_commit_start;
    EXPECT_EQ(wal->replay_stats().torn_tails_truncated, torn ? 1u : 0u);
    EXPECT_EQ(wal->replay_stats().corrupt_records, 0u);
    auto reader = MustReader(*wal, "r");
    Collected c = ReadAll(*reader);
    ASSERT_EQ(c.error, "");
    EXPECT_EQ(c.unresolved, 0u);
    const size_t complete_before = c.samples.size();
    size_t complete = 0;
    for (const auto& e : ends) complete += e.offset <= cut;
    EXPECT_EQ(c.ends.size(), complete);
    const size_t want_samples = cut >= ends[4].offset ? 11 : 6;
    ASSERT_EQ(c.samples.size(), want_samples);
    EXPECT_EQ(c.series.size(), cut >= ends[3].offset ? 5u : 3u);
    for (size_t i = 0; i < 6; ++i) EXPECT_EQ(c.samples[i].timestamp_ms, i < 3 ? 1000 : 2000);
    // The appender continues after the last good record.
    auto ref = wal->AppendSeries(SeriesLabels(99));
    ASSERT_TRUE(wal->AppendSample(ref, 4000, 4).ok());
    ASSERT_TRUE(wal->Commit().ok());
    ReadInto(*reader, c);
    ASSERT_EQ(c.samples.size(), complete_before + 1);
    EXPECT_EQ(c.samples.back().timestamp_ms, 4000);
    EXPECT_EQ(c.unresolved, 0u);
  }
}

TEST(Wal, CorruptRecordInSealedSegmentSkipsToNextSegment) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 1024;
  std::vector<uint64_t> refs;
  Collected before;
  {
    auto wal = MustOpen(o);
    ASSERT_TRUE(wal);
    refs = AddSeries(*wal, 0, 4);
    for (int s = 0; s < 80; ++s) {
      AppendScrape(*wal, refs, 1000 * (s + 1));
      ASSERT_TRUE(wal->Commit().ok());
    }
    auto reader = MustReader(*wal, "r");
    before = ReadAll(*reader);
  }
  fs::remove_all(fs::path(dir.path()) / "positions");
  auto files = SegmentFiles(dir.path());
  ASSERT_GE(files.size(), 4u);
  // Flip one payload byte of the second record of the second segment.
  const fs::path victim = files[1];
  uint32_t victim_index = static_cast<uint32_t>(std::stoul(victim.filename().string()));
  std::vector<Position> in_victim;
  for (const auto& e : before.ends) {
    if (e.segment == victim_index) in_victim.push_back(e);
  }
  ASSERT_GE(in_victim.size(), 3u);
  {
    std::string data = promsidecar::testing::ReadFile(victim.string());
    data[in_victim[0].offset + 12] ^= 0x40;
    promsidecar::testing::WriteFile(victim.string(), data);
  }
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  EXPECT_EQ(wal->replay_stats().corrupt_records, 1u);
  EXPECT_EQ(wal->replay_stats().torn_tails_truncated, 0u);
  auto reader = MustReader(*wal, "r");
  Collected c = ReadAll(*reader);
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.unresolved, 0u);
  // Exactly the records from the corrupt one to the end of its segment are missing.
  const size_t lost_records = in_victim.size() - 1;
  EXPECT_EQ(c.samples.size(), before.samples.size() - lost_records * refs.size());
  EXPECT_EQ(c.samples.back().timestamp_ms, before.samples.back().timestamp_ms);
  // The file itself is left alone for inspection.
  EXPECT_TRUE(fs::exists(victim));
}

TEST(Wal, CorruptRecordInLastSegmentIsTruncatedLikeATornTail) {
  TempDir dir;
  Collected before;
  {
    auto wal = MustOpen(Opts(dir.path()));
    ASSERT_TRUE(wal);
    auto refs = AddSeries(*wal, 0, 2);
    for (int s = 0; s < 5; ++s) {
      AppendScrape(*wal, refs, 1000 * (s + 1));
      ASSERT_TRUE(wal->Commit().ok());
    }
    auto reader = MustReader(*wal, "r");
    before = ReadAll(*reader);
  }
  fs::remove_all(fs::path(dir.path()) / "positions");
  auto seg = SegmentFiles(dir.path()).back();
  std::string data = promsidecar::testing::ReadFile(seg.string());
  data[before.ends[2].offset + 20] ^= 0x01;  // inside the third samples record
  promsidecar::testing::WriteFile(seg.string(), data);
  auto wal = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(wal);
  EXPECT_EQ(wal->replay_stats().torn_tails_truncated, 1u);
  EXPECT_EQ(wal->replay_stats().corrupt_records, 1u);
  EXPECT_EQ(fs::file_size(seg), before.ends[2].offset);
  auto reader = MustReader(*wal, "r");
  EXPECT_EQ(ReadAll(*reader).samples.size(), 4u);
}

TEST(Wal, ReaderPositionsArePersistedAndResumed) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 1024;
  std::vector<RefSample> all;
  Position saved;
  size_t consumed = 0;
  {
    auto wal = MustOpen(o);
    ASSERT_TRUE(wal);
    auto refs = AddSeries(*wal, 0, 5);
    for (int s = 0; s < 30; ++s) {
      AppendScrape(*wal, refs, 1000 * (s + 1));
      ASSERT_TRUE(wal->Commit().ok());
    }
    auto reader = MustReader(*wal, "sender-a");
    // Consume a bit more than half, then save.
    while (consumed < 80) {
      auto e = reader->Next();
      ASSERT_TRUE(e.ok() && e->has_value());
      if (auto* s = std::get_if<SamplesRecord>(&(*e)->record)) consumed += s->samples.size();
      saved = (*e)->end;
    }
    ASSERT_TRUE(reader->SaveCheckpoint(saved).ok());
    EXPECT_GT(saved.segment, 1u);
    auto all_reader = MustReader(*wal, "everything");
    all = ReadAll(*all_reader).samples;
  }
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "positions" / "sender-a"));
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto names = wal->RegisteredReaders();
  EXPECT_EQ(names, (std::vector<std::string>{"everything", "sender-a"}));
  EXPECT_EQ(wal->GetMetrics().readers["sender-a"].saved, saved);
  auto reader = MustReader(*wal, "sender-a");
  EXPECT_EQ(reader->position(), saved);
  Collected rest = ReadAll(*reader);
  EXPECT_EQ(rest.unresolved, 0u);  // series defined before the position are announced first
  ASSERT_EQ(rest.samples.size(), all.size() - consumed);
  for (size_t i = 0; i < rest.samples.size(); ++i) {
    EXPECT_EQ(rest.samples[i].timestamp_ms, all[consumed + i].timestamp_ms);
    EXPECT_EQ(rest.samples[i].ref, all[consumed + i].ref);
  }
  EXPECT_EQ(rest.series.size(), 5u);
}

TEST(Wal, TruncatesOnlyAfterEveryReaderPassed) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 1024;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto fast = MustReader(*wal, "fast");
  auto slow = MustReader(*wal, "slow");
  Collected f, sl;
  auto refs = AddSeries(*wal, 0, 5);
  auto scrape = [&](int s) {
    AppendScrape(*wal, refs, 1000 * s);
    ASSERT_TRUE(wal->Commit().ok());
  };
  for (int s = 1; s <= 60; ++s) scrape(s);
  const size_t segments = CountSegmentFiles(dir.path());
  ASSERT_GE(segments, 4u);
  ReadInto(*fast, f);
  ASSERT_TRUE(fast->SaveCheckpoint(f.ends.back()).ok());
  scrape(61);
  EXPECT_GE(CountSegmentFiles(dir.path()), segments);  // "slow" holds everything
  EXPECT_EQ(wal->GetMetrics().segments_truncated, 0u);

  // "slow" reads half-way: segments before its position go.
  ReadInto(*slow, sl, 30);
  const Position p = sl.ends.back();
  ASSERT_GT(p.segment, 1u);
  ASSERT_TRUE(slow->SaveCheckpoint(p).ok());
  scrape(62);
  Metrics m = wal->GetMetrics();
  EXPECT_EQ(m.segments_truncated, p.segment - 1);
  for (const auto& file : SegmentFiles(dir.path())) {
    EXPECT_GE(std::stoul(file.filename().string()), p.segment) << file;
  }
  // The rest of "slow" is intact and resolvable.
  ReadInto(*slow, sl);
  EXPECT_EQ(sl.unresolved, 0u);
  EXPECT_EQ(sl.samples.size(), 62u * refs.size());
  EXPECT_EQ(sl.samples.back().timestamp_ms, 62000);

  // Unregistering "slow" releases what it held.
  ReadInto(*fast, f);
  ASSERT_TRUE(fast->SaveCheckpoint(f.ends.back()).ok());
  scrape(63);
  const size_t held = CountSegmentFiles(dir.path());
  ASSERT_GE(held, 3u);
  slow.reset();
  ASSERT_TRUE(wal->UnregisterReader("slow").ok());
  EXPECT_FALSE(fs::exists(fs::path(dir.path()) / "positions" / "slow"));
  scrape(64);
  EXPECT_LT(CountSegmentFiles(dir.path()), held);
  EXPECT_EQ(wal->RegisteredReaders(), std::vector<std::string>{"fast"});
}

TEST(Wal, NothingIsTruncatedWithoutReaders) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 1024;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto refs = AddSeries(*wal, 0, 5);
  for (int s = 1; s <= 20; ++s) {
    AppendScrape(*wal, refs, 1000 * s);
    ASSERT_TRUE(wal->Commit().ok());
  }
  EXPECT_EQ(wal->GetMetrics().segments_truncated, 0u);
  auto late = MustReader(*wal, "late");
  EXPECT_EQ(ReadAll(*late).samples.size(), 100u);
}

// The size bound drops the oldest segments even when a reader has not read
// them, counts per reader what it lost, and the lagging reader still resolves
// every series, including those defined only in dropped segments.
TEST(Wal, SizeBoundDropsOldestAndCountsPerReader) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 1024;
  o.max_size = 4096;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto lag = MustReader(*wal, "lag");
  auto fast = MustReader(*wal, "fast");
  // Series defined once, in the first commit, and used forever after.
  auto refs = AddSeries(*wal, 0, 6);
  uint64_t written = 0;
  Collected f;
  for (int s = 1; s <= 120; ++s) {
    AppendScrape(*wal, refs, 1000 * s);
    ASSERT_TRUE(wal->Commit().ok());
    written += refs.size();
    ReadInto(*fast, f);
    EXPECT_EQ(f.unresolved, 0u);
    if (!f.ends.empty()) {
      ASSERT_TRUE(fast->SaveCheckpoint(f.ends.back()).ok());
    }
    EXPECT_LE(wal->GetMetrics().bytes_on_disk, o.max_size);
  }
  Metrics m = wal->GetMetrics();
  EXPECT_GT(m.segments_dropped_size_bound, 0u);
  EXPECT_GT(m.samples_dropped_size_bound, 0u);
  EXPECT_EQ(m.readers["fast"].samples_dropped_size_bound, 0u);
  const uint64_t lost = m.readers["lag"].samples_dropped_size_bound;
  EXPECT_GT(lost, 0u);
  EXPECT_EQ(lost, m.samples_dropped_size_bound);  // "lag" never read anything

  Collected l = ReadAll(*lag);
  ASSERT_EQ(l.error, "");
  EXPECT_EQ(l.unresolved, 0u);
  EXPECT_EQ(l.samples.size() + lost, written);
  EXPECT_EQ(l.samples.back().timestamp_ms, 120000);
  for (size_t i = 0; i < l.samples.size(); ++i) {
    size_t k = std::find(refs.begin(), refs.end(), l.samples[i].ref) - refs.begin();
    ASSERT_LT(k, refs.size());
    EXPECT_EQ(l.sample_labels[i], SeriesLabels(static_cast<int>(k)));
  }

  // After a restart the series of the dropped segments come from the snapshot.
  lag.reset();
  fast.reset();
  wal.reset();
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "series.snap"));
  wal = MustOpen(o);
  ASSERT_TRUE(wal);
  EXPECT_EQ(wal->replay_stats().unknown_refs, 0u);
  auto fresh = MustReader(*wal, "fresh");
  Collected r = ReadAll(*fresh);
  EXPECT_EQ(r.unresolved, 0u);
  EXPECT_GT(r.samples.size(), 0u);
  EXPECT_EQ(r.series.size(), refs.size());
}

TEST(Wal, SizeBoundMovesAPartlyReadReaderAndCountsOnlyUnread) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 1024;
  o.max_size = 4096;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto lag = MustReader(*wal, "lag");
  auto refs = AddSeries(*wal, 0, 4);
  uint64_t written = 0;
  Collected c;
  for (int s = 1; s <= 100; ++s) {
    AppendScrape(*wal, refs, 1000 * s);
    ASSERT_TRUE(wal->Commit().ok());
    written += refs.size();
    if (s % 10 == 0) ReadInto(*lag, c, 1);  // read a little, now and then
  }
  ReadInto(*lag, c);
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.unresolved, 0u);
  const uint64_t lost = wal->GetMetrics().readers["lag"].samples_dropped_size_bound;
  EXPECT_GT(lost, 0u);
  EXPECT_GT(c.samples.size(), 10u * refs.size());
  EXPECT_EQ(c.samples.size() + lost, written);
}

TEST(Wal, ForgottenSeriesAreReportedAndRejected) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 1024;
  std::vector<uint64_t> forgotten;
  o.on_series_forgotten = [&](std::span<const uint64_t> refs) {
    forgotten.insert(forgotten.end(), refs.begin(), refs.end());
  };
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto reader = MustReader(*wal, "r");
  uint64_t gone = wal->AppendSeries(SeriesLabels(100));
  ASSERT_TRUE(wal->AppendSample(gone, 1, 1).ok());
  auto refs = AddSeries(*wal, 0, 5);
  Collected c;
  for (int s = 1; s <= 60; ++s) {
    AppendScrape(*wal, refs, 1000 * s);
    ASSERT_TRUE(wal->Commit().ok());
    ReadInto(*reader, c);
    EXPECT_EQ(c.unresolved, 0u);
    if (!c.ends.empty()) {
      ASSERT_TRUE(reader->SaveCheckpoint(c.ends.back()).ok());
    }
  }
  EXPECT_EQ(forgotten, std::vector<uint64_t>{gone});
  EXPECT_FALSE(wal->AppendSample(gone, 2, 2).ok());
  EXPECT_TRUE(wal->AppendSample(refs[0], 50000, 2).ok());
  EXPECT_EQ(wal->GetMetrics().series_live, refs.size());
}

TEST(Wal, EnospcKeepsTheWalConsistentAndRecovers) {
  TempDir dir;
  testing::FaultFileSystem ffs;
  Options o = Opts(dir.path());
  o.fs = &ffs;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto reader = MustReader(*wal, "r");
  auto refs = AddSeries(*wal, 0, 3);
  AppendScrape(*wal, refs, 1000);
  ASSERT_TRUE(wal->Commit().ok());

  ffs.fail_writes = true;
  ffs.partial_write_bytes = 7;  // a short write: part of a frame reaches the file
  auto more = AddSeries(*wal, 3, 1);
  std::vector<uint64_t> all = refs;
  all.push_back(more[0]);
  AppendScrape(*wal, all, 2000);
  Status st = wal->Commit();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("No space left"), std::string::npos) << st.message();
  AppendScrape(*wal, all, 3000);
  EXPECT_FALSE(wal->Commit().ok());
  Metrics m = wal->GetMetrics();
  EXPECT_EQ(m.write_errors, 2u);
  EXPECT_GT(m.pending_bytes, 0u);
  // Readers see exactly the acknowledged data; the file holds no torn bytes.
  Collected c = ReadAll(*reader);
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.samples.size(), 3u);
  auto seg = SegmentFiles(dir.path()).back();
  EXPECT_EQ(fs::file_size(seg), c.ends.back().offset);

  // Space returns: the pending scrapes are written ahead of the next one, in order.
  ffs.fail_writes = false;
  AppendScrape(*wal, all, 4000);
  ASSERT_TRUE(wal->Commit().ok());
  ReadInto(*reader, c);
  EXPECT_EQ(c.unresolved, 0u);
  ASSERT_EQ(c.samples.size(), 15u);
  EXPECT_EQ(c.samples[3].timestamp_ms, 2000);
  EXPECT_EQ(c.samples.back().timestamp_ms, 4000);
  EXPECT_EQ(wal->GetMetrics().pending_bytes, 0u);

  reader.reset();
  wal.reset();
  auto reopened = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->replay_stats().torn_tails_truncated, 0u);
  EXPECT_EQ(reopened->replay_stats().corrupt_records, 0u);
  EXPECT_EQ(reopened->replay_stats().samples, 15u);
}

TEST(Wal, FailedTruncateSealsTheSegmentAtItsLastGoodRecord) {
  TempDir dir;
  testing::FaultFileSystem ffs;
  Options o = Opts(dir.path());
  o.fs = &ffs;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto reader = MustReader(*wal, "r");
  auto refs = AddSeries(*wal, 0, 3);
  AppendScrape(*wal, refs, 1000);
  ASSERT_TRUE(wal->Commit().ok());
  ffs.fail_writes = true;
  ffs.partial_write_bytes = 20;
  ffs.fail_truncate = true;
  AppendScrape(*wal, refs, 2000);
  ASSERT_FALSE(wal->Commit().ok());
  ffs.fail_writes = false;
  ffs.fail_truncate = false;
  AppendScrape(*wal, refs, 3000);
  ASSERT_TRUE(wal->Commit().ok());
  EXPECT_EQ(CountSegmentFiles(dir.path()), 2u);
  Collected c = ReadAll(*reader);
  ASSERT_EQ(c.samples.size(), 9u);
  EXPECT_EQ(c.samples[3].timestamp_ms, 2000);

  reader.reset();
  wal.reset();
  // The garbage after the last good record of the sealed segment is reported, nothing acknowledged is lost.
  auto reopened = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->replay_stats().corrupt_records, 1u);
  auto r2 = MustReader(*reopened, "r");
  EXPECT_EQ(ReadAll(*r2).samples.size(), 9u);
}

TEST(Wal, PendingMemoryIsBounded) {
  TempDir dir;
  testing::FaultFileSystem ffs;
  Options o = Opts(dir.path());
  o.fs = &ffs;
  o.max_pending_bytes = 4096;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  auto refs = AddSeries(*wal, 0, 20);
  ffs.fail_writes = true;
  for (int s = 1; s <= 50; ++s) {
    AppendScrape(*wal, refs, 1000 * s);
    ASSERT_FALSE(wal->Commit().ok());
    EXPECT_LE(wal->GetMetrics().pending_bytes, o.max_pending_bytes);
  }
  Metrics m = wal->GetMetrics();
  EXPECT_GT(m.samples_dropped_pending, 0u);
  ffs.fail_writes = false;
  ASSERT_TRUE(wal->Commit().ok());
  auto reader = MustReader(*wal, "r");
  Collected c = ReadAll(*reader);
  EXPECT_EQ(c.unresolved, 0u);  // the series records were kept
  EXPECT_EQ(c.series.size(), refs.size());
  EXPECT_EQ(c.samples.size() + m.samples_dropped_pending, 50u * refs.size());
  EXPECT_EQ(c.samples.back().timestamp_ms, 50000);  // the newest survive
}

TEST(Wal, FsyncPolicies) {
  for (FsyncPolicy policy : {FsyncPolicy::kAlways, FsyncPolicy::kBatch, FsyncPolicy::kNever}) {
    SCOPED_TRACE(std::string(FsyncPolicyName(policy)));
    TempDir dir;
    Options o = Opts(dir.path());
    o.fsync = policy;
    o.fsync_interval = std::chrono::milliseconds(1000);
    auto now = std::chrono::steady_clock::time_point{};
    o.clock = [&now] { return now; };
    auto wal = MustOpen(o);
    ASSERT_TRUE(wal);
    auto refs = AddSeries(*wal, 0, 2);
    for (int s = 1; s <= 10; ++s) {
      AppendScrape(*wal, refs, 1000 * s);
      ASSERT_TRUE(wal->Commit().ok());
      now += std::chrono::milliseconds(300);
    }
    uint64_t fsyncs = wal->GetMetrics().fsyncs;
    switch (policy) {
      case FsyncPolicy::kAlways: EXPECT_EQ(fsyncs, 10u); break;
      case FsyncPolicy::kBatch: EXPECT_EQ(fsyncs, 2u); break;  // at 1.2 s and 2.4 s
      case FsyncPolicy::kNever: EXPECT_EQ(fsyncs, 0u); break;
    }
  }
}

TEST(Wal, WaitingReaderIsWokenByCommit) {
  TempDir dir;
  auto wal = MustOpen(Opts(dir.path()));
  ASSERT_TRUE(wal);
  auto reader = MustReader(*wal, "r");
  // Nothing to read: a short wait times out.
  EXPECT_FALSE(reader->WaitForData(std::chrono::milliseconds(20)));

  std::atomic<bool> waiting{false};
  bool woke = false;
  size_t got = 0;
  auto start = std::chrono::steady_clock::now();
  std::thread t([&] {
    waiting = true;
    woke = reader->WaitForData(std::chrono::minutes(5));
    Collected c = ReadAll(*reader);
    got = c.samples.size();
  });
  ASSERT_TRUE(promsidecar::testing::PollUntil(
      std::chrono::seconds(30), [&] { return waiting.load(); }, std::chrono::milliseconds(1)));
  auto ref = wal->AppendSeries(SeriesLabels(1));
  ASSERT_TRUE(wal->AppendSample(ref, 1, 1).ok());
  ASSERT_TRUE(wal->Commit().ok());
  t.join();
  EXPECT_TRUE(woke);
  EXPECT_EQ(got, 1u);
  // Woken, not timed out (the timeout is 5 minutes).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::minutes(2));

  // NotifyReaders wakes a waiter with nothing to read.
  std::atomic<bool> returned{false};
  std::thread t2([&] {
    EXPECT_FALSE(reader->WaitForData(std::chrono::minutes(5)));
    returned = true;
  });
  ASSERT_TRUE(promsidecar::testing::PollUntil(
      std::chrono::seconds(60),
      [&] {
        wal->NotifyReaders();
        return returned.load();
      },
      std::chrono::milliseconds(5)));
  t2.join();
}

TEST(Wal, ConcurrentAppenderAndReaders) {
  TempDir dir;
  Options o = Opts(dir.path());
  o.segment_size = 4096;
  o.max_size = 0;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal);
  constexpr int kScrapes = 300;
  constexpr int kSeries = 8;
  std::vector<std::thread> readers;
  std::vector<Collected> results(3);
  std::vector<std::unique_ptr<Reader>> rs;
  for (int i = 0; i < 3; ++i) rs.push_back(MustReader(*wal, "r" + std::to_string(i)));
  const size_t want = static_cast<size_t>(kScrapes) * kSeries;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&, i] {
      Collected& c = results[i];
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (c.samples.size() < want && c.error.empty() && std::chrono::steady_clock::now() < deadline) {
        size_t before = c.ends.size();
        ReadInto(*rs[i], c);
        if (c.ends.size() > before) {
          EXPECT_TRUE(rs[i]->SaveCheckpoint(c.ends.back()).ok());
        } else {
          rs[i]->WaitForData(std::chrono::milliseconds(50));
        }
      }
    });
  }
  std::vector<uint64_t> refs;
  for (int s = 1; s <= kScrapes; ++s) {
    if (s <= kSeries) refs.push_back(wal->AppendSeries(SeriesLabels(s)));
    for (size_t k = 0; k < kSeries; ++k) {
      ASSERT_TRUE(wal->AppendSample(refs[k % refs.size()], s, static_cast<double>(k)).ok());
    }
    ASSERT_TRUE(wal->Commit().ok());
  }
  for (auto& t : readers) t.join();
  for (const auto& c : results) {
    EXPECT_EQ(c.error, "");
    EXPECT_EQ(c.unresolved, 0u);
    ASSERT_EQ(c.samples.size(), want);
    for (size_t i = 0; i < c.samples.size(); ++i) {
      EXPECT_EQ(c.samples[i].timestamp_ms, static_cast<int64_t>(i / kSeries + 1));
    }
  }
  ASSERT_TRUE(wal->Commit().ok());  // a tick: truncation after every reader saved
  EXPECT_GT(wal->GetMetrics().segments_truncated, 0u);
  EXPECT_LE(wal->GetMetrics().segments, 2u);
}

TEST(Wal, RefusesANewerFormatVersion) {
  TempDir dir;
  {
    auto wal = MustOpen(Opts(dir.path()));
    ASSERT_TRUE(wal);
  }
  auto seg = SegmentFiles(dir.path()).front();
  std::string data = promsidecar::testing::ReadFile(seg.string());
  data[4] = static_cast<char>(kFormatVersion + 1);  // a newer version, with a header CRC that matches
  std::string header = data.substr(0, 12);
  uint32_t crc = Crc32c(header);
  for (int i = 0; i < 4; ++i) data[12 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  promsidecar::testing::WriteFile(seg.string(), data);
  // A second segment, so the first is not the head (a torn head would be removed).
  fs::copy_file(seg, fs::path(dir.path()) / "0000000099.seg");
  auto wal = Wal::Open(Opts(dir.path()));
  ASSERT_FALSE(wal.ok());
  EXPECT_NE(wal.message().find("newer"), std::string::npos) << wal.message();
}

}  // namespace
}  // namespace promsidecar::wal
