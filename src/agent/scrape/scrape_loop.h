// One target's scrape loop on its own thread: wait for the target's slot in
// the interval, fetch, hand the body to TargetState, report. Fetching sits
// behind Fetcher so the loop runs in tests without sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/scrape/appender.h"
#include "agent/scrape/scrape_processor.h"
#include "agent/textparse/content_type.h"
#include "common/http/client.h"

namespace promsidecar::scrape {

struct ScrapeTarget {
  std::string job;
  std::string url;  // scheme://host:port/path?params
  std::chrono::milliseconds interval{60'000};
  std::chrono::milliseconds timeout{10'000};
  TargetSettings settings;
  http::TlsOptions tls;
  // Returns the Authorization header value (or empty) at scrape time, so
  // credentials files are re-read when they change.
  std::function<std::string()> authorization;
  uint64_t identity_hash = 0;  // see offset.h
  // The Accept header (textparse::AcceptHeader of the job's scrape_protocols)
  // and the protocol a response with an unknown Content-Type is read as
  // (none: the text format).
  std::string accept = textparse::AcceptHeader(textparse::DefaultScrapeProtocols());
  std::optional<textparse::ScrapeProtocol> fallback_protocol;
};

// The body cap when a job sets no body_size_limit (0). Prometheus reads
// unlimited bodies; a sidecar cannot: its container's default memory limit is
// 64Mi, and without a cap a 1 GiB page or a gzip bomb (decoded bodies count)
// takes gigabytes (test/agent/reliability/hostile_targets_test.cc).
inline constexpr uint64_t kDefaultBodySizeLimit = uint64_t{16} << 20;

struct FetchResult {
  std::string body;
  std::string content_type;
};

class Fetcher {
 public:
  virtual ~Fetcher() = default;
  // The body of a 2xx answer, or why there is none (a non-2xx status, a
  // timeout, a body over `max_body_bytes`): the reason becomes the scrape's
  // error, so it must not contain credentials.
  virtual Result<FetchResult> Fetch(const ScrapeTarget& target, uint64_t max_body_bytes) = 0;
};

// The real fetcher: HTTP(S) GET with Accept negotiation, gzip, timeout, body
// limit. Not thread-safe (one per loop).
class HttpFetcher : public Fetcher {
 public:
  explicit HttpFetcher(const http::TlsOptions& tls);
  Result<FetchResult> Fetch(const ScrapeTarget& target, uint64_t max_body_bytes) override;

 private:
  http::Client client_;
};

// Whether a target's server still answers at all: at shutdown, the agent
// asks the pod's targets (runtime/shutdown_staleness.h).
class Prober {
 public:
  virtual ~Prober() = default;
  // True when an HTTP answer (any status) arrived within `timeout`.
  virtual bool Answers(const ScrapeTarget& target, std::chrono::milliseconds timeout) = 0;
};

// GET of the scrape URL with the target's TLS and credentials; the body is
// not read. Not thread-safe.
class HttpProber : public Prober {
 public:
  explicit HttpProber(const http::TlsOptions& tls);
  bool Answers(const ScrapeTarget& target, std::chrono::milliseconds timeout) override;

 private:
  http::Client client_;
};

struct LoopObserver {
  // Called after every scrape from the loop's thread.
  std::function<void(const ScrapeTarget&, const ScrapeReport&)> on_scrape;
};

class ScrapeLoop {
 public:
  using Clock = std::function<int64_t()>;  // Unix ms

  ScrapeLoop(ScrapeTarget target, std::unique_ptr<Fetcher> fetcher, std::unique_ptr<Appender> appender,
             LoopObserver observer, Clock now_ms = {});
  ~ScrapeLoop();
  ScrapeLoop(const ScrapeLoop&) = delete;
  ScrapeLoop& operator=(const ScrapeLoop&) = delete;

  void Start();
  // Stops the loop. With `mark_stale` the target's series get stale markers
  // (the target went away).
  void Stop(bool mark_stale);
  // After Stop(false): the target's series get stale markers now (the agent
  // decided at shutdown that the target went away with its pod).
  void MarkStale();
  // Runs one scrape now on the caller's thread (tests, and the first scrape).
  ScrapeReport ScrapeOnce();

  const ScrapeTarget& target() const { return target_; }

 private:
  void Run();

  ScrapeTarget target_;
  std::unique_ptr<Fetcher> fetcher_;
  std::unique_ptr<Appender> appender_;
  LoopObserver observer_;
  Clock now_ms_;
  TargetState state_;
  std::mutex mu_;  // serializes scrapes with Stop's stale markers
  std::mutex wait_mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace promsidecar::scrape
