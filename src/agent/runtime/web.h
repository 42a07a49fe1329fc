// The agent process's own small web server: /metrics, /-/healthy, /-/ready
// plus whatever the caller adds, with a bind that never stops the process. A
// port clash (the app already uses the port) is logged, counted and retried
// in the background: scraping, sending or rendering is the process's job,
// its web endpoint comes second.
//
// Thread-safety: Handle() before Start(); Start() and Stop() from one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/http/server.h"
#include "common/metrics/metrics.h"

namespace promsidecar::agent {

struct WebOptions {
  std::string listen_address;
  std::string program = "promsidecar-agent";  // in the /-/healthy and /-/ready texts
  std::chrono::milliseconds bind_retry{std::chrono::seconds(5)};
};

class Web {
 public:
  // `registry` is served on /metrics; `ready` decides /-/ready (200 or 503);
  // every failed bind increments `bind_failures`. All must outlive the Web.
  Web(WebOptions options, metrics::Registry& registry, std::function<bool()> ready,
      metrics::Counter& bind_failures);
  ~Web();  // Stop()s
  Web(const Web&) = delete;
  Web& operator=(const Web&) = delete;

  void Handle(std::string method, std::string path, http::Handler handler);
  // Binds now or keeps retrying every bind_retry until Stop().
  void Start();
  void Stop();
  int port() const;  // 0 until bound

 private:
  WebOptions options_;
  metrics::Counter& bind_failures_;
  std::unique_ptr<http::Server> server_;
  std::thread retry_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace promsidecar::agent
