#include "agent/scrape/scrape_loop.h"

#include <gtest/gtest.h>

#include <httplib.h>
#include <atomic>

#include <cmath>
#include <thread>

#include "memory_appender.h"
#include "testing/serve.h"

namespace promsidecar::scrape {
namespace {

using std::chrono::milliseconds;

class PageFetcher : public Fetcher {
 public:
  Result<FetchResult> Fetch(const ScrapeTarget&, uint64_t) override {
    return FetchResult{"a 1\nb 2\n", "text/plain; version=0.0.4"};
  }
};

ScrapeTarget Target(const std::string& url) {
  ScrapeTarget t;
  t.job = "app";
  t.url = url;
  t.interval = std::chrono::hours(1);  // only explicit ScrapeOnce calls scrape
  t.settings.target_labels = {{"instance", "x:1"}, {"job", "app"}};
  return t;
}

size_t StaleRows(const MemoryAppender& app) {
  size_t n = 0;
  for (const auto& r : app.rows_) n += model::IsStaleNaN(r.value);
  return n;
}

// Stopping without markers leaves the series as they were (a restart resumes
// them); MarkStale afterwards ends every series, the synthetic ones too.
TEST(ScrapeLoop, StopWithoutMarkersThenMarkStale) {
  auto appender = std::make_unique<MemoryAppender>();
  MemoryAppender* app = appender.get();
  ScrapeLoop loop(Target("http://127.0.0.1:1/metrics"), std::make_unique<PageFetcher>(), std::move(appender),
                  LoopObserver{}, [] { return int64_t{5000}; });
  ASSERT_TRUE(loop.ScrapeOnce().ok);
  loop.Stop(/*mark_stale=*/false);
  EXPECT_EQ(StaleRows(*app), 0u);
  loop.MarkStale();
  // a, b and the five synthetic series.
  EXPECT_EQ(StaleRows(*app), 7u);
}

TEST(HttpProber, AnswersWhenTheTargetAcceptsConnectionsWithoutScrapingIt) {
  httplib::Server server;
  server.set_keep_alive_max_count(1);  // stop() need not wait out idle connections
  std::atomic<int> requests{0};
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    ++requests;
    res.set_content("up 1\n", "text/plain");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread = testing::ServeInBackground(server);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  HttpProber prober(http::TlsOptions{});
  EXPECT_TRUE(prober.Answers(Target(base + "/metrics"), milliseconds(5000)));
  EXPECT_TRUE(prober.Answers(Target(base + "/missing"), milliseconds(5000)));
  // The probe is a connection only: the app served no page (a per-scrape
  // counter would otherwise show a scrape that was never stored).
  EXPECT_EQ(requests.load(), 0);
  server.stop();
  thread.join();
  // Nothing listens any more: no answer.
  EXPECT_FALSE(prober.Answers(Target(base + "/metrics"), milliseconds(5000)));
}

}  // namespace
}  // namespace promsidecar::scrape
