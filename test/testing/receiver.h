// Test doubles that speak the real protocols over loopback:
//  - CountingReceiver: a remote-write 1.0 endpoint that decodes every request
//    (snappy + protobuf) and keeps every sample, so tests can check that none
//    is missing or arrives twice (Prometheus silently drops exact duplicates);
//    its answer (200, 400, 500, 429 or "down") is switchable at run time.
//  - MetricsTarget: a scrape target whose page the test controls; by default
//    it serves `test_scrapes_total N`, N counting the scrapes, so every scrape
//    yields a distinct value and gaps are visible.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace promsidecar::testing {

struct ReceivedSample {
  int64_t timestamp_ms;
  double value;
};

class CountingReceiver {
 public:
  CountingReceiver();  // listens on a free loopback port
  ~CountingReceiver();

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/write"; }
  int port() const { return port_; }

  void SetStatus(int status) { status_ = status; }  // answer for every request (after decoding)
  void Down();                                      // stop listening (connection refused)
  void Up();                                        // listen again on the same port

  // Samples per series, keyed by the canonical label string `{a="b", ...}`.
  std::map<std::string, std::vector<ReceivedSample>> Series() const;
  std::vector<ReceivedSample> SamplesOf(const std::string& metric_name) const;
  size_t requests() const { return requests_; }
  // Everything wrong with the requests so far (missing headers, unsorted labels...).
  std::vector<std::string> ProtocolErrors() const;
  std::map<std::string, std::string> LastHeaders() const;

 private:
  void Listen();
  int port_ = 0;
  std::atomic<int> status_{200};
  std::atomic<size_t> requests_{0};
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<ReceivedSample>> series_;
  std::vector<std::string> errors_;
  std::map<std::string, std::string> last_headers_;
};

class MetricsTarget {
 public:
  MetricsTarget();
  ~MetricsTarget();
  int port() const { return port_; }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Replaces the page; `scrape` is the 1-based number of this scrape.
  void SetPage(std::function<std::string(uint64_t scrape)> page);
  uint64_t scrapes() const { return scrapes_; }

 private:
  int port_ = 0;
  std::atomic<uint64_t> scrapes_{0};
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::function<std::string(uint64_t)> page_;
};

}  // namespace promsidecar::testing
