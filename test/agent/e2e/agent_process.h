// Runs the real promsidecar-agent binary for end-to-end and reliability
// tests, plus what those tests share around it: a one-job config, reading
// its /metrics, and its WAL replay log lines.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "common/http/client.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {

inline std::string AgentBinary() {
  return std::string(PROMSIDECAR_BINARY_DIR) + "/src/agent/promsidecar-agent";
}

// GET `url` with a 5 s timeout: the body, or "error: ..." (for polling
// pages such as /metrics, where a failed read is just another poll).
inline std::string HttpGetBody(const std::string& url) {
  http::Client client;
  http::Request request;
  request.url = url;
  request.timeout = std::chrono::seconds(5);
  auto response = client.Do(request);
  return response.ok() ? response->body : "error: " + response.message();
}

struct OneJobOptions {
  std::string scrape_interval = "1s";
  std::string scrape_timeout = "900ms";
  std::string job_name = "app";
  std::string job_extra;  // more lines of the job, each indented by 4 spaces
  std::string queue_config = "{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 1s}";
};

// An agent config scraping `target` (host:port) in one job and sending to
// `receiver_url`.
inline std::string OneJobConfig(const std::string& target, const std::string& receiver_url,
                                const OneJobOptions& o = {}) {
  return "global:\n  scrape_interval: " + o.scrape_interval + "\n  scrape_timeout: " + o.scrape_timeout +
         "\nscrape_configs:\n  - job_name: " + o.job_name + "\n" + o.job_extra +
         "    static_configs:\n      - targets: [\"" + target +
         "\"]\nremote_write:\n  - url: " + receiver_url + "\n    queue_config: " + o.queue_config + "\n";
}

class AgentProcess {
 public:
  // `dir` holds config.yml, the WAL (dir/wal) and the log (dir/agent.log).
  AgentProcess(const std::string& dir, const std::string& config_yaml,
               std::vector<std::string> extra_args = {})
      : dir_(dir), extra_args_(std::move(extra_args)) {
    WriteFile(dir_ + "/config.yml", config_yaml);
    Start();
  }
  void Start() {
    port_ = FreePort();
    ProcessOptions p;
    p.argv = {AgentBinary(), "--config.file=" + dir_ + "/config.yml", "--wal.dir=" + dir_ + "/wal",
              "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=debug"};
    for (const auto& a : extra_args_) p.argv.push_back(a);
    p.log_file = dir_ + "/agent.log";
    process_ = std::make_unique<Subprocess>(p);
  }
  Subprocess& process() { return *process_; }
  int port() const { return port_; }
  std::string MetricsUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/metrics"; }
  std::string Log() const { return ReadFile(dir_ + "/agent.log"); }
  void Rewrite(const std::string& config_yaml) { WriteFile(dir_ + "/config.yml", config_yaml); }

  // corrupt_records of every "WAL replayed" line logged so far (one per start
  // of every lifetime on this directory), oldest first.
  std::vector<std::string> WalReplays() const {
    static const std::regex kReplay("WAL replayed[^\\n]*corrupt_records=(\\d+)");
    const std::string log = Log();
    std::vector<std::string> out;
    for (std::sregex_iterator it(log.begin(), log.end(), kReplay), end; it != end; ++it)
      out.push_back((*it)[1]);
    return out;
  }

 private:
  std::string dir_;
  std::vector<std::string> extra_args_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace promsidecar::testing
