#include "agent/wal/format.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "agent/wal/crc32c.h"

namespace promsidecar::wal {
namespace {

TEST(Crc32c, KnownVectors) {
  struct Case {
    std::string input;
    uint32_t crc;
  };
  // Vectors from RFC 3720 (iSCSI) appendix B.4 and the common check value.
  const Case cases[] = {
      {"", 0x00000000u},
      {"a", 0xC1D04330u},
      {"123456789", 0xE3069283u},
      {std::string(32, '\0'), 0x8A9136AAu},
      {std::string(32, '\xff'), 0x62A8AB43u},
  };
  for (const auto& c : cases) EXPECT_EQ(Crc32c(c.input), c.crc) << "input size " << c.input.size();
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  std::string descending(32, '\0');
  for (int i = 0; i < 32; ++i) descending[i] = static_cast<char>(31 - i);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5Cu);
}

TEST(Crc32c, ExtendEqualsWholeAtEverySplitAndAlignment) {
  std::string data;
  for (int i = 0; i < 100; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  const uint32_t whole = Crc32c(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    uint32_t crc = Crc32cExtend(0, data.data(), split);
    crc = Crc32cExtend(crc, data.data() + split, data.size() - split);
    EXPECT_EQ(crc, whole) << "split at " << split;
  }
  // Slicing-by-8 against the bytewise tail loop: unaligned starts must agree.
  for (size_t start = 1; start < 9; ++start) {
    uint32_t bytewise = 0;
    for (size_t i = start; i < data.size(); ++i) bytewise = Crc32cExtend(bytewise, data.data() + i, 1);
    EXPECT_EQ(Crc32cExtend(0, data.data() + start, data.size() - start), bytewise);
  }
}

TEST(Varint, RoundTripAndRejectsOverflow) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, 1ull << 35, ~0ull}) {
    std::string out;
    PutUvarint(out, v);
    size_t pos = 0;
    uint64_t got = 0;
    ASSERT_TRUE(GetUvarint(out, &pos, &got));
    EXPECT_EQ(got, v);
    EXPECT_EQ(pos, out.size());
    // Every strict prefix is truncated.
    for (size_t cut = 0; cut < out.size(); ++cut) {
      size_t p = 0;
      EXPECT_FALSE(GetUvarint(std::string_view(out).substr(0, cut), &p, &got));
    }
  }
  std::string eleven(10, '\xff');
  eleven.push_back('\x01');
  size_t pos = 0;
  uint64_t got;
  EXPECT_FALSE(GetUvarint(eleven, &pos, &got));
  std::string too_big(9, '\xff');
  too_big.push_back('\x02');  // bit 64 set
  pos = 0;
  EXPECT_FALSE(GetUvarint(too_big, &pos, &got));
}

TEST(SegmentHeader, RoundTripAndDamage) {
  std::string h = EncodeSegmentHeader(42);
  ASSERT_EQ(h.size(), kSegmentHeaderSize);
  auto d = DecodeSegmentHeader(h);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(d->version, kFormatVersion);
  EXPECT_EQ(d->index, 42u);
  for (size_t i = 0; i < h.size(); ++i) {
    std::string bad = h;
    bad[i] ^= 0x01;
    EXPECT_FALSE(DecodeSegmentHeader(bad).ok()) << "flipped byte " << i;
  }
  EXPECT_FALSE(DecodeSegmentHeader(h.substr(0, 15)).ok());
}

std::string Frame(const Record& r) {
  std::string payload, out;
  if (auto* s = std::get_if<SeriesRecord>(&r)) {
    std::vector<SeriesView> views;
    for (const auto& x : s->series) views.push_back({x.ref, &x.labels});
    EncodeSeriesPayload(payload, views);
    AppendFrame(out, RecordType::kSeries, payload);
  } else if (auto* h = std::get_if<HistogramsRecord>(&r)) {
    EncodeHistogramsPayload(payload, h->histograms);
    AppendFrame(out, RecordType::kHistograms, payload);
  } else if (auto* e = std::get_if<ExemplarsRecord>(&r)) {
    EncodeExemplarsPayload(payload, e->exemplars);
    AppendFrame(out, RecordType::kExemplars, payload);
  } else if (auto* m = std::get_if<MetadataRecord>(&r)) {
    EncodeMetadataPayload(payload, m->metadata);
    AppendFrame(out, RecordType::kMetadata, payload);
  } else {
    EncodeSamplesPayload(payload, std::get<SamplesRecord>(r).samples);
    AppendFrame(out, RecordType::kSamples, payload);
  }
  return out;
}

// Integer, float (gauge) and custom-bucket histograms with awkward values.
HistogramsRecord SomeHistograms() {
  HistogramsRecord rec;
  model::Histogram i;
  i.schema = 3;
  i.zero_threshold = 1e-128;
  i.count_int = 12;
  i.zero_count_int = 1;
  i.sum = -0.0;
  i.positive_spans = {{-2, 2}, {3, 1}};
  i.positive_deltas = {1, 2, -1};
  i.negative_spans = {{std::numeric_limits<int32_t>::min(), 1}};
  i.negative_deltas = {std::numeric_limits<int64_t>::max()};
  i.reset_hint = model::ResetHint::kNo;
  rec.histograms.push_back({7, 1700000000000, i});
  model::Histogram f;
  f.is_float = true;
  f.reset_hint = model::ResetHint::kGauge;
  f.schema = -4;
  f.count_float = 2.5;
  f.zero_count_float = model::StaleNaN();
  f.sum = std::numeric_limits<double>::infinity();
  f.positive_spans = {{0, 3}};
  f.positive_counts = {0.5, model::NormalNaN(), 1};
  rec.histograms.push_back({3, 1699999999999, f});
  model::Histogram c;
  c.schema = model::kCustomBucketsSchema;
  c.count_int = 5;
  c.positive_spans = {{0, 2}};
  c.positive_deltas = {2, 1};
  c.custom_values = {0.1, 1};
  rec.histograms.push_back({~0ull, std::numeric_limits<int64_t>::min(), c});
  rec.histograms.push_back({1, 0, model::Histogram{}});  // empty, all defaults
  return rec;
}

bool SameBits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

bool SameBits(const model::Histogram& a, const model::Histogram& b) {
  auto bits = [](double d) { return std::bit_cast<uint64_t>(d); };
  auto same = [&](const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (bits(x[i]) != bits(y[i])) return false;
    }
    return true;
  };
  return a.is_float == b.is_float && a.reset_hint == b.reset_hint && a.schema == b.schema &&
         bits(a.zero_threshold) == bits(b.zero_threshold) && a.count_int == b.count_int &&
         bits(a.count_float) == bits(b.count_float) && a.zero_count_int == b.zero_count_int &&
         bits(a.zero_count_float) == bits(b.zero_count_float) && bits(a.sum) == bits(b.sum) &&
         a.positive_spans == b.positive_spans && a.negative_spans == b.negative_spans &&
         a.positive_deltas == b.positive_deltas && a.negative_deltas == b.negative_deltas &&
         same(a.positive_counts, b.positive_counts) && same(a.negative_counts, b.negative_counts) &&
         same(a.custom_values, b.custom_values);
}

TEST(Record, HistogramsRoundTripIsBitExact) {
  const HistogramsRecord in = SomeHistograms();
  auto out = DecodeRecord(Frame(in));
  ASSERT_TRUE(out.ok()) << out.message();
  const auto& got = std::get<HistogramsRecord>(*out).histograms;
  ASSERT_EQ(got.size(), in.histograms.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].ref, in.histograms[i].ref) << i;
    EXPECT_EQ(got[i].timestamp_ms, in.histograms[i].timestamp_ms) << i;
    EXPECT_TRUE(SameBits(got[i].histogram, in.histograms[i].histogram)) << i;
  }
}

TEST(Record, ExemplarsAndMetadataRoundTrip) {
  ExemplarsRecord ex;
  ex.exemplars.push_back({5, model::Exemplar{{{"trace_id", "abc"}}, 0.25, 1700000000123, true}});
  ex.exemplars.push_back({1ull << 50, model::Exemplar{{}, model::NormalNaN(), -5, false}});
  auto out = DecodeRecord(Frame(ex));
  ASSERT_TRUE(out.ok()) << out.message();
  const auto& got = std::get<ExemplarsRecord>(*out).exemplars;
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], ex.exemplars[0]);
  EXPECT_EQ(got[1].ref, ex.exemplars[1].ref);
  EXPECT_EQ(got[1].exemplar.timestamp_ms, -5);
  EXPECT_FALSE(got[1].exemplar.has_timestamp);
  EXPECT_TRUE(SameBits(got[1].exemplar.value, model::NormalNaN()));

  MetadataRecord md;
  md.metadata.push_back({9, model::Metadata{model::MetricType::kHistogram, "Request \"latency\".\n",
                                            "seconds", "request_seconds"}});
  md.metadata.push_back({10, model::Metadata{model::MetricType::kStateset, "", ""}});
  out = DecodeRecord(Frame(md));
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(std::get<MetadataRecord>(*out).metadata, md.metadata);
}

TEST(Record, NewRecordsTruncatedAtEveryByteNeverDecode) {
  ExemplarsRecord ex;
  ex.exemplars.push_back({5, model::Exemplar{{{"trace_id", "abc"}}, 0.25, 1700000000123, true}});
  MetadataRecord md;
  md.metadata.push_back({9, model::Metadata{model::MetricType::kCounter, "help", "bytes"}});
  for (const Record& r : {Record(SomeHistograms()), Record(ex), Record(md)}) {
    const std::string f = Frame(r);
    const auto frame = ParseFrame(f);
    ASSERT_EQ(frame.status, FrameStatus::kOk);
    // A payload cut short (a bug, not a torn write: the CRC covers that) fails cleanly.
    for (size_t cut = 0; cut < frame.payload.size(); ++cut) {
      EXPECT_FALSE(DecodePayload(frame.type, frame.payload.substr(0, cut)).ok()) << cut;
    }
  }
  std::string bad;
  PutUvarint(bad, 1);
  PutUvarint(bad, 1);
  bad += '\x63';  // metadata type 99
  PutUvarint(bad, 0);
  PutUvarint(bad, 0);
  EXPECT_FALSE(DecodePayload(static_cast<uint8_t>(RecordType::kMetadata), bad).ok());
}

TEST(Record, SeriesRoundTrip) {
  SeriesRecord in;
  in.series.push_back({1, {{"__name__", "up"}, {"job", "a"}}});
  in.series.push_back({1ull << 40, {{"__name__", "x"}, {"v", std::string("bin\0ary\xff", 8)}}});
  in.series.push_back({7, {}});
  auto out = DecodeRecord(Frame(in));
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(std::get<SeriesRecord>(*out).series, in.series);
}

TEST(Record, SamplesRoundTripIsBitExact) {
  const double values[] = {0.0,
                           -0.0,
                           1.5,
                           -1e300,
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(),
                           model::StaleNaN(),
                           model::NormalNaN(),
                           std::numeric_limits<double>::denorm_min()};
  SamplesRecord in;
  uint64_t ref = 1000;
  int64_t ts = 1700000000000;
  for (double v : values) {
    in.samples.push_back({ref, ts, v});
    ref = ref * 3 % 977;  // refs go up and down
    ts += (ref % 2) ? 15000 : -7;
  }
  in.samples.push_back({~0ull, std::numeric_limits<int64_t>::min(), 1});
  in.samples.push_back({0, std::numeric_limits<int64_t>::max(), 2});
  auto out = DecodeRecord(Frame(in));
  ASSERT_TRUE(out.ok()) << out.message();
  const auto& got = std::get<SamplesRecord>(*out).samples;
  ASSERT_EQ(got.size(), in.samples.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].ref, in.samples[i].ref) << i;
    EXPECT_EQ(got[i].timestamp_ms, in.samples[i].timestamp_ms) << i;
    EXPECT_EQ(std::bit_cast<uint64_t>(got[i].value), std::bit_cast<uint64_t>(in.samples[i].value)) << i;
  }
  EXPECT_TRUE(model::IsStaleNaN(got[6].value));
  EXPECT_FALSE(model::IsStaleNaN(got[7].value));
}

TEST(Record, CompactSamplesEncoding) {
  SamplesRecord in;
  for (uint64_t r = 1; r <= 100; ++r) in.samples.push_back({r, 1700000000000, 1.0});
  // 100 samples of consecutive refs at one timestamp: 1 + 1 + 8 bytes each plus a small header.
  EXPECT_LT(Frame(in).size(), 100u * 10 + 20);
}

TEST(Frame, TruncatedAtEveryByteIsIncompleteAndFlippedIsCorrupt) {
  SamplesRecord in;
  in.samples.push_back({5, 10, 1.0});
  in.samples.push_back({6, 20, 2.0});
  const std::string f = Frame(in);
  for (size_t cut = 0; cut < f.size(); ++cut) {
    EXPECT_EQ(ParseFrame(std::string_view(f).substr(0, cut)).status, FrameStatus::kIncomplete) << cut;
    EXPECT_FALSE(DecodeRecord(f.substr(0, cut)).ok());
  }
  for (size_t i = 0; i < f.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = f;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      // A flipped length may also read as "incomplete"; it must never decode.
      EXPECT_NE(ParseFrame(bad).status, FrameStatus::kOk) << "byte " << i << " bit " << bit;
    }
  }
  // Zeros where a record should be (a torn tail after power loss) are never a record.
  EXPECT_NE(ParseFrame(std::string(64, '\0')).status, FrameStatus::kOk);
}

TEST(Record, RejectsMalformedPayloads) {
  std::string out;
  AppendFrame(out, static_cast<RecordType>(9), "x");
  EXPECT_FALSE(DecodeRecord(out).ok());
  out.clear();
  std::string huge;
  PutUvarint(huge, 1ull << 60);  // claims 2^60 samples in a few bytes
  PutUvarint(huge, 0);
  AppendFrame(out, RecordType::kSamples, huge);
  EXPECT_FALSE(DecodeRecord(out).ok());
  out.clear();
  std::string labels;
  PutUvarint(labels, 1);    // one series
  PutUvarint(labels, 3);    // ref
  PutUvarint(labels, 1);    // one label
  PutUvarint(labels, 200);  // name longer than the payload
  AppendFrame(out, RecordType::kSeries, labels + "ab");
  EXPECT_FALSE(DecodeRecord(out).ok());
  out.clear();
  AppendFrame(out, RecordType::kSamples, "");
  EXPECT_FALSE(DecodeRecord(out).ok());
}

}  // namespace
}  // namespace promsidecar::wal
