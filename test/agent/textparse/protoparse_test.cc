#include "agent/textparse/protoparse.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "proto_page.h"
#include "protoparse_invariants.h"

namespace promsidecar::textparse {
namespace {

using promsidecar::testing::AddLabels;
using promsidecar::testing::DelimitedPage;
using promsidecar::testing::SetTimestamp;
namespace client = promsidecar::testing::client;

std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string Labels(std::span<const LabelView> labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += std::string(labels[i].name) + "=\"" + std::string(labels[i].value) + "\"";
  }
  return out + "}";
}

std::string Ex(const Exemplar& e) {
  std::string s = " # " + Labels(e.labels) + " " + Num(e.value);
  if (e.timestamp_ms) s += " @" + std::to_string(*e.timestamp_ms);
  return s;
}

template <typename T>
std::string List(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + Num(static_cast<double>(v[i]));
  return s + "]";
}

std::string Spans(const std::vector<model::BucketSpan>& spans) {
  std::string s = "[";
  for (size_t i = 0; i < spans.size(); ++i) {
    s += (i ? "," : "") + std::to_string(spans[i].offset) + ":" + std::to_string(spans[i].length);
  }
  return s + "]";
}

// One line per entry, as the text parser tests print them, plus `N` lines
// for native histograms.
std::vector<std::string> Dump(const std::string& page, ProtoParser::Options options = {}) {
  std::vector<std::string> out;
  ProtoParser p;
  p.Reset(page, options);
  for (int guard = 0; guard < 10000; ++guard) {
    switch (p.Next()) {
      case Entry::kSeries: {
        std::string s = "S " + std::string(p.metric_name()) + Labels(p.labels()) + " " + Num(p.value());
        if (p.timestamp_ms()) s += " @" + std::to_string(*p.timestamp_ms());
        if (p.created_timestamp_ms()) s += " ct" + std::to_string(*p.created_timestamp_ms());
        if (const Exemplar* e = p.exemplar()) s += Ex(*e);
        s += " " + std::string(ToString(p.type()));
        out.push_back(s);
        break;
      }
      case Entry::kHistogram: {
        const model::Histogram& h = p.histogram();
        std::string s =
            "N " + std::string(p.metric_name()) + Labels(p.labels()) + (h.is_float ? " float" : " int") +
            " schema=" + std::to_string(h.schema) + " count=" + Num(h.count()) + " sum=" + Num(h.sum) +
            " zt=" + Num(h.zero_threshold) +
            " zc=" + Num(h.is_float ? h.zero_count_float : static_cast<double>(h.zero_count_int)) +
            " pos=" + Spans(h.positive_spans) +
            (h.is_float ? List(h.positive_counts) : List(h.positive_deltas)) +
            " neg=" + Spans(h.negative_spans) +
            (h.is_float ? List(h.negative_counts) : List(h.negative_deltas)) +
            " hint=" + std::to_string(static_cast<int>(h.reset_hint));
        if (p.timestamp_ms()) s += " @" + std::to_string(*p.timestamp_ms());
        if (p.created_timestamp_ms()) s += " ct" + std::to_string(*p.created_timestamp_ms());
        for (const auto& e : p.histogram_exemplars()) s += Ex(e);
        out.push_back(s);
        break;
      }
      case Entry::kHelp:
        out.push_back("H " + std::string(p.metric_name()) + " " + std::string(p.help()));
        break;
      case Entry::kType:
        out.push_back("T " + std::string(p.metric_name()) + " " + std::string(ToString(p.declared_type())));
        break;
      case Entry::kUnit:
        out.push_back("U " + std::string(p.metric_name()) + " " + std::string(p.unit()));
        break;
      case Entry::kComment: out.push_back("C"); break;
      case Entry::kEof: out.push_back("EOF"); return out;
      case Entry::kInvalid: out.push_back("ERR " + p.error().message); return out;
    }
  }
  ADD_FAILURE() << "parser does not terminate";
  return out;
}

client::MetricFamily Family(const char* name, client::MetricType type, const char* help = "") {
  client::MetricFamily f;
  f.set_name(name);
  f.set_type(type);
  f.set_help(help);
  return f;
}

client::Exemplar MakeExemplar(const char* trace, double value, int64_t ts_ms = -1) {
  client::Exemplar e;
  auto* l = e.add_label();
  l->set_name("trace_id");
  l->set_value(trace);
  e.set_value(value);
  if (ts_ms >= 0) SetTimestamp(e.mutable_timestamp(), ts_ms);
  return e;
}

TEST(ProtoParser, CountersGaugesUntypedWithUnitExemplarCreatedAndTimestamp) {
  auto c = Family("requests", client::COUNTER, "Requests served.");
  auto* m = c.add_metric();
  AddLabels(m, {{"path", "/a"}, {"code", "200"}});
  m->mutable_counter()->set_value(42);
  *m->mutable_counter()->mutable_exemplar() = MakeExemplar("abc", 0.5, 1700000000123);
  SetTimestamp(m->mutable_counter()->mutable_start_timestamp(), 1690000000000);
  auto g = Family("temperature_celsius", client::GAUGE);
  g.set_unit("celsius");
  auto* gm = g.add_metric();
  gm->mutable_gauge()->set_value(-3.5);
  gm->set_timestamp_ms(1700000000999);
  auto u = Family("raw", client::UNTYPED);
  u.add_metric()->mutable_untyped()->set_value(std::nan(""));
  auto empty = Family("nothing", client::GAUGE);
  EXPECT_EQ(Dump(DelimitedPage({c, g, empty, u})),
            (std::vector<std::string>{
                "H requests Requests served.",
                "T requests counter",
                "S requests{path=\"/a\",code=\"200\"} 42 ct1690000000000 # {trace_id=\"abc\"} 0.5 "
                "@1700000000123 counter",
                "H temperature_celsius ",
                "U temperature_celsius celsius",
                "T temperature_celsius gauge",
                "S temperature_celsius{} -3.5 @1700000000999 gauge",
                "H raw ",
                "T raw unknown",
                "S raw{} NaN unknown",
                "EOF",
            }));
}

TEST(ProtoParser, SummaryBecomesCountSumAndQuantiles) {
  auto s = Family("rpc_seconds", client::SUMMARY);
  auto* m = s.add_metric();
  AddLabels(m, {{"svc", "x"}});
  m->mutable_summary()->set_sample_count(10);
  m->mutable_summary()->set_sample_sum(2.5);
  for (auto [q, v] : {std::pair{0.5, 0.1}, std::pair{0.99, 0.9}, std::pair{1.0, 2.0}}) {
    auto* qq = m->mutable_summary()->add_quantile();
    qq->set_quantile(q);
    qq->set_value(v);
  }
  auto* bare = s.add_metric();
  bare->mutable_summary()->set_sample_count(1);
  EXPECT_EQ(Dump(DelimitedPage({s})), (std::vector<std::string>{
                                          "H rpc_seconds ",
                                          "T rpc_seconds summary",
                                          "S rpc_seconds_count{svc=\"x\"} 10 summary",
                                          "S rpc_seconds_sum{svc=\"x\"} 2.5 summary",
                                          "S rpc_seconds{svc=\"x\",quantile=\"0.5\"} 0.1 summary",
                                          "S rpc_seconds{svc=\"x\",quantile=\"0.99\"} 0.9 summary",
                                          "S rpc_seconds{svc=\"x\",quantile=\"1.0\"} 2 summary",
                                          "S rpc_seconds_count{} 1 summary",
                                          "S rpc_seconds_sum{} 0 summary",
                                          "EOF",
                                      }));
}

client::MetricFamily ClassicHistogram(bool with_inf) {
  auto h = Family("latency_seconds", client::HISTOGRAM);
  auto* m = h.add_metric();
  auto* hh = m->mutable_histogram();
  hh->set_sample_count(7);
  hh->set_sample_sum(3.25);
  auto* b1 = hh->add_bucket();
  b1->set_upper_bound(0.1);
  b1->set_cumulative_count(2);
  *b1->mutable_exemplar() = MakeExemplar("t1", 0.05);
  auto* b2 = hh->add_bucket();
  b2->set_upper_bound(1);
  b2->set_cumulative_count(5);
  if (with_inf) {
    auto* b3 = hh->add_bucket();
    b3->set_upper_bound(INFINITY);
    b3->set_cumulative_count(7);
  }
  return h;
}

TEST(ProtoParser, ClassicHistogramAddsInfBucketWhenMissing) {
  const std::vector<std::string> want = {
      "H latency_seconds ",
      "T latency_seconds histogram",
      "S latency_seconds_count{} 7 histogram",
      "S latency_seconds_sum{} 3.25 histogram",
      "S latency_seconds_bucket{le=\"0.1\"} 2 # {trace_id=\"t1\"} 0.05 histogram",
      "S latency_seconds_bucket{le=\"1.0\"} 5 histogram",
      "S latency_seconds_bucket{le=\"+Inf\"} 7 histogram",
      "EOF",
  };
  EXPECT_EQ(Dump(DelimitedPage({ClassicHistogram(false)})), want);
  EXPECT_EQ(Dump(DelimitedPage({ClassicHistogram(true)})), want);
}

// A native histogram with classic buckets beside it (what client_golang
// exposes when both are configured).
client::MetricFamily NativeHistogram(bool float_counts, client::MetricType type = client::HISTOGRAM) {
  auto f = Family("rpc_duration_seconds", type, "RPC latency.");
  auto* m = f.add_metric();
  AddLabels(m, {{"method", "get"}});
  auto* h = m->mutable_histogram();
  h->set_sample_sum(12.5);
  h->set_schema(3);
  h->set_zero_threshold(1e-128);
  if (float_counts) {
    h->set_sample_count_float(9.5);
    h->set_zero_count_float(0.5);
  } else {
    h->set_sample_count(9);
    h->set_zero_count(1);
  }
  auto* s1 = h->add_positive_span();
  s1->set_offset(-2);
  s1->set_length(2);
  auto* s2 = h->add_positive_span();
  s2->set_offset(3);
  s2->set_length(1);
  if (float_counts) {
    for (double c : {1.0, 3.0, 4.0}) h->add_positive_count(c);
  } else {
    for (int64_t d : {1, 2, 1}) h->add_positive_delta(d);  // counts 1, 3, 4
  }
  auto* n1 = h->add_negative_span();
  n1->set_offset(0);
  n1->set_length(1);
  if (float_counts) {
    h->add_negative_count(1);
  } else {
    h->add_negative_delta(1);
  }
  auto* b = h->add_bucket();
  b->set_upper_bound(1);
  b->set_cumulative_count(5);
  *b->mutable_exemplar() = MakeExemplar("no-ts", 0.7);  // dropped for the native histogram: no timestamp
  *h->add_exemplars() = MakeExemplar("with-ts", 0.3, 1700000000500);
  SetTimestamp(h->mutable_start_timestamp(), 1690000000000);
  return f;
}

TEST(ProtoParser, NativeIntegerHistogram) {
  EXPECT_EQ(Dump(DelimitedPage({NativeHistogram(false)})),
            (std::vector<std::string>{
                "H rpc_duration_seconds RPC latency.",
                "T rpc_duration_seconds histogram",
                "N rpc_duration_seconds{method=\"get\"} int schema=3 count=9 sum=12.5 zt=1e-128 zc=1 "
                "pos=[-2:2,3:1][1,2,1] neg=[0:1][1] hint=0 ct1690000000000 # {trace_id=\"with-ts\"} 0.3 "
                "@1700000000500",
                "EOF",
            }));
}

TEST(ProtoParser, NativeFloatGaugeHistogramWithClassicKept) {
  ProtoParser::Options o;
  o.keep_classic_histograms = true;
  EXPECT_EQ(
      Dump(DelimitedPage({NativeHistogram(true, client::GAUGE_HISTOGRAM)}), o),
      (std::vector<std::string>{
          "H rpc_duration_seconds RPC latency.",
          "T rpc_duration_seconds gaugehistogram",
          "N rpc_duration_seconds{method=\"get\"} float schema=3 count=9.5 sum=12.5 zt=1e-128 zc=0.5 "
          "pos=[-2:2,3:1][1,3,4] neg=[0:1][1] hint=3 ct1690000000000 # {trace_id=\"with-ts\"} 0.3 "
          "@1700000000500",
          "S rpc_duration_seconds_count{method=\"get\"} 9.5 ct1690000000000 gaugehistogram",
          "S rpc_duration_seconds_sum{method=\"get\"} 12.5 ct1690000000000 gaugehistogram",
          "S rpc_duration_seconds_bucket{method=\"get\",le=\"1.0\"} 5 ct1690000000000 # "
          "{trace_id=\"no-ts\"} 0.7 gaugehistogram",
          "S rpc_duration_seconds_bucket{method=\"get\",le=\"+Inf\"} 9.5 ct1690000000000 gaugehistogram",
          "EOF",
      }));
}

TEST(ProtoParser, NativeHistogramsOffParsesTheClassicPart) {
  ProtoParser::Options o;
  o.native_histograms = false;
  auto lines = Dump(DelimitedPage({NativeHistogram(false)}), o);
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[2], "S rpc_duration_seconds_count{method=\"get\"} 9 ct1690000000000 histogram");
  EXPECT_EQ(lines[5],
            "S rpc_duration_seconds_bucket{method=\"get\",le=\"+Inf\"} 9 ct1690000000000 histogram");
}

TEST(ProtoParser, ParserIsReusableAndKeysAreStable) {
  const std::string page = DelimitedPage({NativeHistogram(false), ClassicHistogram(true)});
  ProtoParser p;
  std::vector<std::string> first, second;
  for (auto* keys : {&first, &second}) {
    p.Reset(page, {});
    for (Entry e = p.Next(); e != Entry::kEof; e = p.Next()) {
      ASSERT_NE(e, Entry::kInvalid) << p.error().message;
      if (e == Entry::kSeries || e == Entry::kHistogram) keys->emplace_back(p.series());
    }
  }
  EXPECT_EQ(first, second);
  std::set<std::string> unique(first.begin(), first.end());
  EXPECT_EQ(unique.size(), first.size()) << "a key is not unique";
}

struct InvalidCase {
  const char* name;
  std::string page;
  const char* want;
};

TEST(ProtoParser, InvalidPagesNameTheFamilyAndTheProblem) {
  auto bad_name = Family("my.metric", client::GAUGE);
  bad_name.add_metric()->mutable_gauge()->set_value(1);
  auto bad_label = Family("m", client::GAUGE);
  AddLabels(bad_label.add_metric(), {{"a-b", "x"}});
  auto dup = Family("m", client::GAUGE);
  AddLabels(dup.add_metric(), {{"a", "1"}, {"a", "2"}});
  auto name_label = Family("m", client::GAUGE);
  AddLabels(name_label.add_metric(), {{"__name__", "x"}});
  auto bad_utf8 = Family("m", client::GAUGE);
  AddLabels(bad_utf8.add_metric(), {{"a", "\xff"}});
  auto spans = NativeHistogram(false);
  spans.mutable_metric(0)->mutable_histogram()->add_positive_delta(5);
  auto type = Family("m", static_cast<client::MetricType>(9));
  type.add_metric();
  std::string truncated = DelimitedPage({ClassicHistogram(true)});
  truncated.pop_back();
  const InvalidCase cases[] = {
      {"utf8-name", DelimitedPage({bad_name}), "invalid metric name \"my.metric\""},
      {"label-name", DelimitedPage({bad_label}), "invalid label name \"a-b\""},
      {"duplicate", DelimitedPage({dup}), "duplicate label \"a\""},
      {"name-label", DelimitedPage({name_label}), "label \"__name__\""},
      {"utf8-value", DelimitedPage({bad_utf8}), "invalid UTF-8"},
      {"spans", DelimitedPage({spans}), "positive spans need 3 buckets, have 4"},
      {"type", DelimitedPage({type}), "unknown metric type 9"},
      {"truncated", truncated, "truncated length-delimited message"},
      {"text", "# TYPE a counter\na 1\n", "metric family 1"},
  };
  for (const auto& c : cases) {
    auto lines = Dump(c.page);
    ASSERT_FALSE(lines.empty()) << c.name;
    EXPECT_NE(lines.back().find(c.want), std::string::npos) << c.name << ": " << lines.back();
    EXPECT_EQ(lines.back().rfind("ERR metric family ", 0), 0u) << c.name << ": " << lines.back();
  }
}

// The pages of the tests above, and ways to break them, as fuzz seeds
// (test/fuzz/corpus/fuzz_protoparse, byte 0 = options). Run by hand after
// changing the pages: --gtest_also_run_disabled_tests --gtest_filter=*WriteSeeds*
std::vector<std::pair<std::string, std::string>> SeedPages() {
  auto c = Family("requests", client::COUNTER, "Requests served.");
  auto* m = c.add_metric();
  AddLabels(m, {{"path", "/a"}});
  m->mutable_counter()->set_value(42);
  *m->mutable_counter()->mutable_exemplar() = MakeExemplar("abc", 0.5, 1700000000123);
  auto s = Family("rpc_seconds", client::SUMMARY);
  auto* q = s.add_metric()->mutable_summary();
  q->set_sample_count(3);
  q->add_quantile()->set_quantile(0.5);
  return {
      {"counter", std::string(1, '\0') + DelimitedPage({c})},
      {"summary", std::string(1, '\0') + DelimitedPage({s})},
      {"classic_histogram", std::string(1, '\0') + DelimitedPage({ClassicHistogram(false)})},
      {"native_int_histogram", std::string(1, '\2') + DelimitedPage({NativeHistogram(false)})},
      {"native_float_gauge_histogram",
       std::string(1, '\0') + DelimitedPage({NativeHistogram(true, client::GAUGE_HISTOGRAM)})},
      {"native_off", std::string(1, '\1') + DelimitedPage({NativeHistogram(false), c})},
  };
}

TEST(ProtoParserSeeds, DISABLED_WriteSeeds) {
  const auto dir = std::filesystem::path(PROMSIDECAR_TESTDATA) / ".." / "fuzz" / "corpus" / "fuzz_protoparse";
  for (const auto& [name, data] : SeedPages()) {
    std::ofstream(dir / name, std::ios::binary) << data;
  }
}

TEST(ProtoParserSeeds, EverySeedPageKeepsTheInvariants) {
  for (const auto& [name, data] : SeedPages()) {
    EXPECT_EQ(
        testing::CheckProtoParserInvariants(testing::ProtoFuzzBody(data), testing::ProtoFuzzOptions(data)),
        "")
        << name;
  }
}

// Inputs that once broke (or nearly broke) the parser, named after what they
// exercise, replayed through the fuzz target's invariants.
TEST(ProtoParserRegressions, EveryRecordedInputKeepsTheInvariants) {
  const auto dir = std::filesystem::path(PROMSIDECAR_TESTDATA) / "protoparse" / "regressions";
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".md") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string data = ss.str();
    ++files;
    EXPECT_EQ(
        testing::CheckProtoParserInvariants(testing::ProtoFuzzBody(data), testing::ProtoFuzzOptions(data)),
        "")
        << entry.path();
  }
  EXPECT_GT(files, 0u) << "no regression inputs in " << dir;
}

}  // namespace
}  // namespace promsidecar::textparse
