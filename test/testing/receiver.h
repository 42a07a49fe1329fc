// Test doubles that speak the real protocols over loopback:
//  - CountingReceiver: a remote-write 1.0 endpoint that decodes every request
//    (snappy + protobuf) and keeps every sample, so tests can check that none
//    is missing or arrives twice (Prometheus silently drops exact duplicates);
//    its answer (200, 400, 500, 429 or "down") is switchable at run time.
//  - MetricsTarget: a scrape target whose page the test controls; by default
//    it serves `test_scrapes_total N`, N counting the scrapes, so every scrape
//    yields a distinct value and gaps are visible. It can serve several paths,
//    each with its own page, so a test can move a scrape to another path.
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
  // Decides each request's answer from its headers (keys lower-case), before
  // SetStatus's: anything but 2xx refuses it (e.g. 401 for a bad credential).
  // Called on the server thread.
  void SetAuthorizer(std::function<int(const std::map<std::string, std::string>& headers)> authorize);
  void Down();  // stop listening (connection refused)
  void Up();    // listen again on the same port

  // Samples per series, keyed by the canonical label string `{a="b", ...}`.
  std::map<std::string, std::vector<ReceivedSample>> Series() const;
  std::vector<ReceivedSample> SamplesOf(const std::string& metric_name) const;
  // The values of SamplesOf without NaNs (staleness markers), in arrival order.
  std::vector<double> ValuesOf(const std::string& metric_name) const;
  size_t requests() const { return requests_; }
  // Everything wrong with the requests so far (missing headers, unsorted labels...).
  std::vector<std::string> ProtocolErrors() const;
  std::map<std::string, std::string> LastHeaders() const;

 private:
  void Listen();
  int port_ = 0;
  std::atomic<int> status_{200};
  std::function<int(const std::map<std::string, std::string>&)> authorize_;  // guarded by mu_
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
  explicit MetricsTarget(std::vector<std::string> paths = {"/metrics"});
  ~MetricsTarget();
  int port() const { return port_; }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Replaces the page; `scrape` is the 1-based number of this scrape.
  void SetPage(std::function<std::string(uint64_t scrape)> page);
  // The page of one of the constructor's paths (others keep the common page).
  void SetPage(const std::string& path, std::function<std::string(uint64_t scrape)> page);
  uint64_t scrapes() const { return scrapes_; }  // of all paths

  // The default page for scrape `n` (`test_scrapes_total n`), plus
  // `extra_series` series `<extra_name>{i="0".."k"} n` to make each scrape
  // bigger.
  static std::string CounterPage(uint64_t n, int extra_series = 0, const std::string& extra_name = "padding");

 private:
  int port_ = 0;
  std::atomic<uint64_t> scrapes_{0};
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::function<std::string(uint64_t)> page_;
  std::map<std::string, std::function<std::string(uint64_t)>> path_pages_;
};

}  // namespace promsidecar::testing
