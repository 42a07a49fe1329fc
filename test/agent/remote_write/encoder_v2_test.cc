// Remote write 1.0 with Prometheus's additions and 2.0, decoded by the
// protoc-generated code of our own .proto files (written from the specs), an
// oracle independent of the hand-written encoders.
#include <gtest/gtest.h>
#include <snappy.h>

#include <bit>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/remote_write/encoder.h"
#include "agent/remote_write/roundtrip.h"
#include "remote.pb.h"
#include "write_v2.pb.h"

namespace promsidecar::remote_write {
namespace {

using model::Labels;
namespace v2 = ::io::prometheus::write::v2;

std::string Raw(std::string_view compressed) {
  std::string raw;
  EXPECT_TRUE(snappy::Uncompress(compressed.data(), compressed.size(), &raw));
  return raw;
}

model::HistogramSample IntHistogram(int64_t ts, uint64_t count) {
  model::HistogramSample hs;
  hs.timestamp_ms = ts;
  auto& h = hs.histogram;
  h.schema = -2;
  h.zero_threshold = 1e-128;
  h.count_int = count;
  h.zero_count_int = 0;
  h.sum = 12.5;
  h.positive_spans = {{-3, 2}, {4, 1}};
  h.positive_deltas = {2, -1, std::numeric_limits<int64_t>::min()};
  h.negative_spans = {{1, 1}};
  h.negative_deltas = {1};
  h.reset_hint = model::ResetHint::kNo;
  return hs;
}

model::HistogramSample FloatHistogram(int64_t ts) {
  model::HistogramSample hs;
  hs.timestamp_ms = ts;
  auto& h = hs.histogram;
  h.is_float = true;
  h.schema = model::kCustomBucketsSchema;
  h.count_float = 0;  // zero, yet it must still read back as a float histogram
  h.zero_count_float = 0;
  h.positive_spans = {{0, 2}};
  h.positive_counts = {0.5, model::NormalNaN()};
  h.custom_values = {0.1, 1};
  h.reset_hint = model::ResetHint::kGauge;
  return hs;
}

// Compares a decoded histogram (either schema's generated type) with ours.
template <typename H>
::testing::AssertionResult SameHistogram(const H& got, const model::HistogramSample& want) {
  const std::string diff = HistogramDiff(got, want);
  if (diff.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << diff << " differs";
}

TEST(EncoderV1, HistogramsExemplarsAndMetadataDecode) {
  const Labels labels{{"__name__", "rpc_seconds"}, {"job", "x"}};
  const std::vector<model::Sample> samples{{1700000001000, model::StaleNaN()}};
  const std::vector<model::HistogramSample> histograms{IntHistogram(1700000000000, 0),
                                                       FloatHistogram(1700000000500)};
  const std::vector<model::Exemplar> exemplars{{{{"trace_id", "abc"}}, 0.25, 1700000000001, true}};
  Encoder enc;
  enc.Begin();
  enc.AddSeries(labels, samples, histograms, exemplars);
  const auto md = std::make_shared<const model::Metadata>(
      model::Metadata{model::MetricType::kHistogram, "RPC latency.", "seconds", "rpc_seconds"});
  const std::vector<std::shared_ptr<const model::Metadata>> metadata{md};
  enc.AddMetadata(metadata);
  prompb::WriteRequest req;
  ASSERT_TRUE(req.ParseFromString(Raw(enc.Compress())));
  ASSERT_EQ(req.timeseries_size(), 1);
  const auto& ts = req.timeseries(0);
  ASSERT_EQ(ts.labels_size(), 2);
  EXPECT_EQ(ts.labels(0).name(), "__name__");
  ASSERT_EQ(ts.samples_size(), 1);
  EXPECT_TRUE(model::IsStaleNaN(ts.samples(0).value()));
  ASSERT_EQ(ts.histograms_size(), 2);
  EXPECT_TRUE(SameHistogram(ts.histograms(0), histograms[0]));
  EXPECT_TRUE(SameHistogram(ts.histograms(1), histograms[1]));
  ASSERT_EQ(ts.exemplars_size(), 1);
  EXPECT_EQ(ts.exemplars(0).labels(0).value(), "abc");
  EXPECT_EQ(ts.exemplars(0).value(), 0.25);
  EXPECT_EQ(ts.exemplars(0).timestamp(), 1700000000001);
  ASSERT_EQ(req.metadata_size(), 1);
  EXPECT_EQ(req.metadata(0).type(), prompb::MetricMetadata::HISTOGRAM);
  EXPECT_EQ(req.metadata(0).metric_family_name(), "rpc_seconds");
  EXPECT_EQ(req.metadata(0).help(), "RPC latency.");
  EXPECT_EQ(req.metadata(0).unit(), "seconds");
}

std::vector<std::string> LabelsOf(const v2::Request& req,
                                  const google::protobuf::RepeatedField<uint32_t>& refs) {
  std::vector<std::string> out;
  for (uint32_t r : refs) out.push_back(req.symbols(static_cast<int>(r)));
  return out;
}

TEST(EncoderV2, SymbolsAreInternedOnceAndFirstIsEmpty) {
  EncoderV2 enc;
  enc.Begin();
  const model::Metadata gauge{model::MetricType::kGauge, "Temperature.", "celsius", "temp_celsius"};
  for (int i = 0; i < 3; ++i) {
    const Labels l{{"__name__", "temp_celsius"}, {"job", "x"}, {"room", std::to_string(i)}};
    const std::vector<model::Sample> s{{1700000000000 + i, 20.5 + i}};
    enc.AddSeries(l, &gauge, s, {}, {});
  }
  v2::Request req;
  ASSERT_TRUE(req.ParseFromString(Raw(enc.Compress())));
  ASSERT_GT(req.symbols_size(), 0);
  EXPECT_EQ(req.symbols(0), "");
  std::set<std::string> unique(req.symbols().begin(), req.symbols().end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(req.symbols_size())) << "a symbol is written twice";
  // "", __name__, temp_celsius, job, x, room, 0, 1, 2, Temperature., celsius
  EXPECT_EQ(req.symbols_size(), 11);
  ASSERT_EQ(req.timeseries_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const auto& ts = req.timeseries(i);
    EXPECT_EQ(LabelsOf(req, ts.labels_refs()),
              (std::vector<std::string>{"__name__", "temp_celsius", "job", "x", "room", std::to_string(i)}));
    ASSERT_EQ(ts.samples_size(), 1);
    EXPECT_EQ(ts.samples(0).value(), 20.5 + i);
    EXPECT_EQ(ts.samples(0).timestamp(), 1700000000000 + i);
    EXPECT_EQ(ts.metadata().type(), v2::Metadata::METRIC_TYPE_GAUGE);
    EXPECT_EQ(req.symbols(static_cast<int>(ts.metadata().help_ref())), "Temperature.");
    EXPECT_EQ(req.symbols(static_cast<int>(ts.metadata().unit_ref())), "celsius");
  }
}

// The spec: a TimeSeries carries samples or histograms, never both; a native
// histogram series' float staleness marker therefore goes out separately.
TEST(EncoderV2, SamplesAndHistogramsOfOneSeriesAreSeparateTimeSeries) {
  EncoderV2 enc;
  enc.Begin();
  const Labels labels{{"__name__", "rpc_seconds"}, {"job", "x"}};
  const std::vector<model::Sample> stale{{1700000002000, model::StaleNaN()}};
  const std::vector<model::HistogramSample> histograms{IntHistogram(1700000000000, 7),
                                                       FloatHistogram(1700000001000)};
  const std::vector<model::Exemplar> exemplars{{{{"trace_id", "t1"}}, 0.5, 1700000000001, true}};
  enc.AddSeries(labels, nullptr, stale, histograms, exemplars);
  v2::Request req;
  ASSERT_TRUE(req.ParseFromString(Raw(enc.Compress())));
  ASSERT_EQ(req.timeseries_size(), 2);
  const auto& floats = req.timeseries(0);
  const auto& hists = req.timeseries(1);
  EXPECT_EQ(floats.histograms_size(), 0);
  ASSERT_EQ(floats.samples_size(), 1);
  EXPECT_TRUE(model::IsStaleNaN(floats.samples(0).value()));
  EXPECT_EQ(hists.samples_size(), 0);
  ASSERT_EQ(hists.histograms_size(), 2);
  EXPECT_TRUE(SameHistogram(hists.histograms(0), histograms[0]));
  EXPECT_TRUE(SameHistogram(hists.histograms(1), histograms[1]));
  ASSERT_EQ(hists.exemplars_size(), 1);
  EXPECT_EQ(LabelsOf(req, hists.exemplars(0).labels_refs()), (std::vector<std::string>{"trace_id", "t1"}));
  EXPECT_EQ(hists.exemplars(0).timestamp(), 1700000000001);
  EXPECT_EQ(LabelsOf(req, floats.labels_refs()), LabelsOf(req, hists.labels_refs()));
  EXPECT_FALSE(floats.has_metadata());
}

TEST(EncoderV2, ReusedEncoderForgetsThePreviousRequest) {
  EncoderV2 enc;
  const std::vector<model::Sample> s{{1, 1}};
  enc.Begin();
  enc.AddSeries({{"__name__", "a"}}, nullptr, s, {}, {});
  enc.Compress();
  enc.Begin();
  enc.AddSeries({{"__name__", "b"}}, nullptr, s, {}, {});
  v2::Request req;
  ASSERT_TRUE(req.ParseFromString(Raw(enc.Compress())));
  EXPECT_EQ(req.symbols_size(), 3);  // "", __name__, b
  ASSERT_EQ(req.timeseries_size(), 1);
  EXPECT_EQ(LabelsOf(req, req.timeseries(0).labels_refs()), (std::vector<std::string>{"__name__", "b"}));
}

TEST(EncoderV2, RoundTripOfSamplesAndHistogramsIsBitExact) {
  std::vector<SeriesInput> in{
      {{{"__name__", "a"}, {"job", "x"}}, {{0, 0.0}, {-1, -0.0}, {5, model::StaleNaN()}}, {}},
      {{{"__name__", "h"}, {"job", "x"}}, {}, {IntHistogram(7, 0), FloatHistogram(8)}},
      {{{"__name__", "h"}, {"job", "y"}}, {{9, model::StaleNaN()}}, {IntHistogram(8, 3)}},
      {{}, {{std::numeric_limits<int64_t>::min(), 1}}, {}},
  };
  auto st = RoundTripV2(in);
  EXPECT_TRUE(st.ok()) << st.message();
}

}  // namespace
}  // namespace promsidecar::remote_write
