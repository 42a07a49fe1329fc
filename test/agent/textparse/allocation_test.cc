// The hot-path promise: once a parser's buffers have grown to a page, parsing
// that page again allocates nothing. Counts global operator new calls, so it
// lives in its own test binary.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>

#include "agent/textparse/parser.h"

namespace {
std::atomic<size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace promsidecar::textparse {
namespace {

std::string ReadFixture(const char* name) {
  std::ifstream in(std::filesystem::path(PROMSIDECAR_TESTDATA) / "textparse" / name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t ParseAll(Parser& p, std::string_view body, Format format) {
  p.Reset(body, format);
  size_t samples = 0;
  for (Entry e = p.Next(); e != Entry::kEof; e = p.Next()) {
    if (e == Entry::kInvalid) return 0;
    samples += e == Entry::kSeries;
  }
  return samples;
}

TEST(Allocation, SteadyStateParsingAllocatesNothing) {
  for (auto [file, format] : {std::pair{"node_exporter.prom", Format::kPrometheusText},
                              std::pair{"histograms.prom", Format::kPrometheusText},
                              std::pair{"openmetrics.txt", Format::kOpenMetrics}}) {
    const std::string body = ReadFixture(file);
    Parser p("", format);
    size_t first_allocations = g_allocations.load();
    size_t warm = ParseAll(p, body, format);
    first_allocations = g_allocations.load() - first_allocations;
    ASSERT_GT(warm, 0u) << file;
    EXPECT_GT(first_allocations, 0u) << "the counting hook does not see the parser's first growth";
    size_t before = g_allocations.load();
    size_t samples = ParseAll(p, body, format);
    size_t allocations = g_allocations.load() - before;
    EXPECT_EQ(samples, warm);
    EXPECT_EQ(allocations, 0u) << file << ": " << allocations << " allocations for " << samples << " samples";
  }
}

}  // namespace
}  // namespace promsidecar::textparse
