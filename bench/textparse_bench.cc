// Parser throughput on the fixture pages: MB/s and samples/s (reported as
// items/s). Every benchmark touches each label so a lazy parser could not
// look faster than it is.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/textparse/float.h"
#include "agent/textparse/parser.h"

namespace promsidecar::textparse {
namespace {

std::string ReadFixture(const char* name) {
  std::ifstream in(std::filesystem::path(PROMSIDECAR_TESTDATA) / "textparse" / name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void BM_Parse(benchmark::State& state, const char* file, Format format) {
  const std::string body = ReadFixture(file);
  if (body.empty()) {
    state.SkipWithError("fixture not found");
    return;
  }
  size_t samples_per_page = 0;
  Parser p("", format);  // reused like the scrape loop does: no allocation after the first page
  for (auto _ : state) {
    p.Reset(body, format);
    size_t samples = 0, label_bytes = 0;
    double sum = 0;
    for (Entry e = p.Next(); e != Entry::kEof; e = p.Next()) {
      if (e == Entry::kInvalid) {
        state.SkipWithError("fixture does not parse");
        return;
      }
      if (e != Entry::kSeries) continue;
      ++samples;
      sum += p.value();
      for (const auto& l : p.labels()) label_bytes += l.name.size() + l.value.size();
      label_bytes += p.series().size();
    }
    benchmark::DoNotOptimize(sum);
    benchmark::DoNotOptimize(label_bytes);
    samples_per_page = samples;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * samples_per_page));
  state.counters["samples_per_page"] = static_cast<double>(samples_per_page);
}

BENCHMARK_CAPTURE(BM_Parse, node_exporter_text, "node_exporter.prom", Format::kPrometheusText);
BENCHMARK_CAPTURE(BM_Parse, histograms_text, "histograms.prom", Format::kPrometheusText);
BENCHMARK_CAPTURE(BM_Parse, openmetrics, "openmetrics.txt", Format::kOpenMetrics);

void BM_ParseFloatValue(benchmark::State& state) {
  const char* inputs[] = {"1",   "12345", "0.005", "3.456712e+06", "1.7000001234567e+09",
                          "NaN", "+Inf",  "-0.25"};
  size_t i = 0;
  for (auto _ : state) {
    double v = 0;
    benchmark::DoNotOptimize(ParseFloatValue(inputs[i++ & 7], &v));
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseFloatValue);

}  // namespace
}  // namespace promsidecar::textparse

BENCHMARK_MAIN();
