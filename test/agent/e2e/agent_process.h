// Runs the real promsidecar-agent binary for end-to-end tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "testing/subprocess.h"

namespace promsidecar::testing {

inline std::string AgentBinary() {
  return std::string(PROMSIDECAR_BINARY_DIR) + "/src/agent/promsidecar-agent";
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
  std::string Log() const { return ReadFile(dir_ + "/agent.log"); }
  void Rewrite(const std::string& config_yaml) { WriteFile(dir_ + "/config.yml", config_yaml); }

 private:
  std::string dir_;
  std::vector<std::string> extra_args_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace promsidecar::testing
