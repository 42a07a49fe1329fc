#include "common/metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

namespace promsidecar::metrics {
namespace {

TEST(Registry, RendersTextFormat) {
  Registry r;
  Counter& c = r.AddCounter("x_total", "Things.\nSecond line");
  auto& fam = r.AddGaugeFamily("temp", "Temperature", {"room", "floor"});
  c.Inc();
  c.Add(2);
  c.Add(-5);  // ignored: counters never decrease
  fam.With({"kitchen", "1"}).Set(21.5);
  fam.With({"a\"b\\c\nd", "2"}).Set(-1);
  r.AddCallbackGauge("wal_bytes", "WAL size", [] { return 42.0; });
  EXPECT_EQ(r.Render(),
            "# HELP x_total Things.\\nSecond line\n# TYPE x_total counter\nx_total 3\n"
            "# HELP temp Temperature\n# TYPE temp gauge\n"
            "temp{room=\"a\\\"b\\\\c\\nd\",floor=\"2\"} -1\ntemp{room=\"kitchen\",floor=\"1\"} 21.5\n"
            "# HELP wal_bytes WAL size\n# TYPE wal_bytes gauge\nwal_bytes 42\n");
}

TEST(Registry, Histogram) {
  Registry r;
  Histogram& h = r.AddHistogram("lat_seconds", "Latency", {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  EXPECT_EQ(
      r.Render(),
      "# HELP lat_seconds Latency\n# TYPE lat_seconds histogram\n"
      "lat_seconds_bucket{le=\"0.1\"} 1\nlat_seconds_bucket{le=\"1\"} 2\nlat_seconds_bucket{le=\"+Inf\"} 3\n"
      "lat_seconds_sum 5.55\nlat_seconds_count 3\n");
}

TEST(Registry, DuplicateNameIsAProgrammingError) {
  Registry r;
  r.AddCounter("a", "");
  EXPECT_THROW(r.AddGauge("a", ""), std::logic_error);
}

TEST(Registry, ConcurrentIncrementsAreNotLost) {
  Registry r;
  auto& fam = r.AddCounterFamily("n_total", "", {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) fam.With({"x"}).Inc();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fam.With({"x"}).Value(), 40000);
}

TEST(FormatValue, Specials) {
  EXPECT_EQ(FormatValue(NAN), "NaN");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
}

}  // namespace
}  // namespace promsidecar::metrics
