#include "agent/remote_write/encoder.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "agent/remote_write/roundtrip.h"
#include "remote.pb.h"

namespace promsidecar::remote_write {
namespace {

using model::Labels;
using model::Sample;

double FromBits(uint64_t bits) {
  return std::bit_cast<double>(bits);
}

TEST(Encoder, EmptyRequestDecodesToNoSeries) {
  Encoder enc;
  enc.Begin();
  EXPECT_TRUE(enc.proto().empty());
  std::string_view body = enc.Compress();
  EXPECT_FALSE(body.empty());  // a snappy block always has its length preamble
  auto st = CheckDecodesTo(body, {});
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST(Encoder, SpecialValuesAndTimestampsSurviveBitForBit) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<SeriesInput> in{{{{"__name__", "m"}, {"job", "j"}},
                               {{0, 0.0},
                                {-1, -0.0},
                                {1700000000123, model::StaleNaN()},
                                {1700000000124, model::NormalNaN()},
                                {std::numeric_limits<int64_t>::min(), kInf},
                                {std::numeric_limits<int64_t>::max(), -kInf},
                                {-86400000, std::numeric_limits<double>::denorm_min()},
                                {127, std::numeric_limits<double>::max()},
                                {128, -1.5},
                                {5, FromBits(0x7ff8000000000000ULL)}}}};
  auto st = RoundTrip(in);
  ASSERT_TRUE(st.ok()) << st.message();

  // And explicitly: the stale marker keeps its bits, distinct from a normal NaN.
  Encoder enc;
  enc.Begin();
  enc.AddSeries(in[0].labels, in[0].samples);
  std::string raw;
  auto body = enc.Compress();
  ASSERT_TRUE(snappy::Uncompress(body.data(), body.size(), &raw));
  prompb::WriteRequest req;
  ASSERT_TRUE(req.ParseFromString(raw));
  EXPECT_EQ(std::bit_cast<uint64_t>(req.timeseries(0).samples(2).value()), model::kStaleNaNBits);
  EXPECT_EQ(std::bit_cast<uint64_t>(req.timeseries(0).samples(3).value()), model::kNormalNaNBits);
  EXPECT_EQ(req.timeseries(0).samples(4).timestamp(), std::numeric_limits<int64_t>::min());
}

TEST(Encoder, MatchesProtocSerializationByteForByte) {
  std::vector<SeriesInput> in{
      {{{"__name__", "up"}, {"instance", "localhost:9090"}, {"job", "node"}},
       {{1000, 1}, {2000, 0}, {3000, -0.0}}},
      {{{"__name__", "x"}}, {}},
      {{{"a", std::string(300, 'v')}}, {{-5, model::StaleNaN()}}},
  };
  prompb::WriteRequest want;
  for (const auto& s : in) {
    auto* ts = want.add_timeseries();
    for (const auto& l : s.labels) {
      auto* pl = ts->add_labels();
      pl->set_name(l.name);
      pl->set_value(l.value);
    }
    for (const auto& smp : s.samples) {
      auto* ps = ts->add_samples();
      ps->set_value(smp.value);
      ps->set_timestamp(smp.timestamp_ms);
    }
  }
  Encoder enc;
  enc.Begin();
  for (const auto& s : in) enc.AddSeries(s.labels, s.samples);
  EXPECT_EQ(enc.proto(), want.SerializeAsString());
  EXPECT_EQ(enc.series(), 3u);
}

TEST(Encoder, LongLabelValuesNeedMultiByteLengths) {
  // Lengths around each varint boundary: 1, 2 and 3 length bytes, in both the
  // label and the enclosing TimeSeries/Label messages.
  std::vector<SeriesInput> in;
  for (size_t len : {126u, 127u, 128u, 129u, 16383u, 16384u, 16385u, 2u * 1024 * 1024 + 7}) {
    std::string v(len, 'x');
    v[0] = 'a';
    v[len - 1] = 'z';
    in.push_back({{{"__name__", "big"}, {"v", v}}, {{static_cast<int64_t>(len), 1.0}}});
  }
  in.push_back({{{"__name__", "utf8"}, {"v", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"}}, {{1, 2}}});
  auto st = RoundTrip(in);
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST(Encoder, EmptyLabelValueIsOmittedAndDecodesAsEmpty) {
  // Validation keeps empty values out of real requests; the encoder still
  // writes them as proto3 would (omitted), which the decoder reads as "".
  auto st = RoundTrip(std::vector<SeriesInput>{{{{"__name__", "m"}, {"e", ""}}, {{1, 1}}}});
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST(Encoder, ManySeriesAndReuseAcrossRequests) {
  std::mt19937_64 rng(42);
  Encoder enc;
  for (int round = 0; round < 3; ++round) {
    std::vector<SeriesInput> in;
    size_t n = 5000 + round * 1000;
    for (size_t i = 0; i < n; ++i) {
      SeriesInput s;
      s.labels = {{"__name__", "metric_" + std::to_string(i % 97)},
                  {"instance", "10.0.0." + std::to_string(i % 251) + ":8080"},
                  {"series", std::to_string(i) + "_" + std::to_string(round)}};
      size_t samples = rng() % 4;
      for (size_t k = 0; k < samples; ++k) {
        s.samples.push_back({static_cast<int64_t>(rng()), std::bit_cast<double>(rng())});
      }
      in.push_back(std::move(s));
    }
    enc.Begin();
    for (const auto& s : in) enc.AddSeries(s.labels, s.samples);
    EXPECT_EQ(enc.series(), n);
    auto st = CheckDecodesTo(enc.Compress(), in);
    ASSERT_TRUE(st.ok()) << "round " << round << ": " << st.message();
  }
}

TEST(Encoder, CheckDecodesToReportsDifferences) {
  // The oracle itself must be able to fail.
  std::vector<SeriesInput> in{{{{"__name__", "m"}}, {{1, model::StaleNaN()}}}};
  Encoder enc;
  enc.Begin();
  enc.AddSeries(in[0].labels, in[0].samples);
  std::string body(enc.Compress());
  std::vector<SeriesInput> other = in;
  other[0].samples[0].value = model::NormalNaN();
  EXPECT_FALSE(CheckDecodesTo(body, other).ok());
  other = in;
  other[0].labels[0].value = "n";
  EXPECT_FALSE(CheckDecodesTo(body, other).ok());
  EXPECT_FALSE(CheckDecodesTo("not snappy at all", in).ok());
  EXPECT_FALSE(CheckDecodesTo(body, {}).ok());
}

}  // namespace
}  // namespace promsidecar::remote_write
