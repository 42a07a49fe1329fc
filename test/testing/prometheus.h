// A real Prometheus (Debian's /usr/bin/prometheus) for integration tests: as
// remote-write receiver (--web.enable-remote-write-receiver) whose query API
// tells what arrived, or in agent mode as the upstream engine.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/subprocess.h"

namespace promsidecar::testing {

struct PrometheusOptions {
  // Debian's on the PATH; or e.g. a Prometheus 3 from scripts/build-prometheus3.
  std::string binary = "prometheus";
  bool remote_write_receiver = true;
  std::string config_yaml = "global:\n  scrape_interval: 1m\n";  // no scrape jobs
  std::vector<std::string> extra_args;
  int port = 0;  // 0: a free port
};

class PrometheusServer {
 public:
  // Starts and waits until /-/ready answers; throws with the log on failure.
  explicit PrometheusServer(PrometheusOptions options = {});
  ~PrometheusServer();

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string RemoteWriteUrl() const { return Url() + "/api/v1/write"; }
  int port() const { return port_; }

  // GET /api/v1/query; returns data.result (an array), throws on API errors.
  nlohmann::json Query(const std::string& promql, double time_s = 0) const;
  // GET /api/v1/query_range; returns data.result.
  nlohmann::json QueryRange(const std::string& promql, double start_s, double end_s, double step_s) const;
  // Raw sample values of a range selector `sel[window]` evaluated at `time_s`
  // (every sample stored, no lookback interpolation): pairs of (ts_ms, value) per series.
  nlohmann::json RawSamples(const std::string& selector, double window_s, double time_s) const;
  // GET `path_and_query` (e.g. "/api/v1/query_exemplars?query=..."; the
  // caller URL-encodes) and return its `data`, throwing on API errors.
  nlohmann::json Api(const std::string& path_and_query) const;
  // `s` percent-encoded for a query parameter.
  static std::string Encode(const std::string& s);

  void Stop();     // SIGTERM and wait (data stays for a restart)
  void Restart();  // Start again on the same port and data dir
  std::string Log() const;

 private:
  void Start();
  PrometheusOptions options_;
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

// The version Debian's prometheus reports, e.g. "2.42.0".
std::string PrometheusVersion();

}  // namespace promsidecar::testing
