// The agent process minus main(): owns the WAL, one scrape loop per target,
// one remote-write sender per remote_write section, the web endpoints, and
// reloads. main.cc only parses flags and signals and calls this.
//
// Thread-safety: Start, Reload and Shutdown may be called from any thread;
// they serialize on one mutex. Reload keeps what did not change: the WAL,
// the senders (and their WAL positions) of unchanged remote_write sections,
// the loops (and staleness state) of unchanged targets.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/config/config.h"
#include "agent/podinfo/scrape_job.h"
#include "agent/reload/file_watcher.h"
#include "agent/remote_write/sender.h"
#include "agent/remote_write/wal_source.h"
#include "agent/runtime/shutdown_latch.h"
#include "agent/runtime/shutdown_staleness.h"
#include "agent/runtime/sidecar_inputs.h"
#include "agent/runtime/web.h"
#include "agent/scrape/scrape_loop.h"
#include "agent/storage/wal_appender.h"
#include "agent/wal/wal.h"
#include "common/http/server.h"
#include "common/metrics/metrics.h"
#include "common/util/result.h"

namespace promsidecar::agent {

struct AgentOptions {
  std::string config_file;
  SidecarOptions sidecar;
  std::string listen_address = "0.0.0.0:9099";
  bool enable_lifecycle = false;
  wal::Options wal;
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(10)};
  // Staleness markers at shutdown (shutdown_staleness.h).
  StaleMarkersMode stale_markers = StaleMarkersMode::kAuto;
  std::chrono::milliseconds probe_window{0};
  std::chrono::milliseconds probe_timeout{1000};  // per target and round
  bool created_timestamp_zero_ingestion = false;  // --enable-feature=created-timestamp-zero-ingestion
  std::string pod_uid;                            // spreads scrape offsets of identical targets across pods
  std::string version = "dev";
  std::chrono::milliseconds bind_retry{std::chrono::seconds(5)};
};

class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Opens (replays) the WAL, loads the config, starts senders, scrape loops
  // and the web server (retrying the bind in the background). An invalid
  // config or an unusable WAL directory is an error: the agent must not run.
  Status Start();
  // Re-reads the config file. An invalid file keeps the running config and
  // returns why (also logged and counted).
  Status Reload();
  // Stops scraping, decides whether the targets went away with the pod
  // (stale markers then, see shutdown_staleness.h), lets the senders flush
  // until the shutdown grace ends, closes the WAL. Idempotent.
  void Shutdown();

  // Blocks until Shutdown() has been requested by RequestShutdown().
  void WaitForShutdownRequest();
  void RequestShutdown();

  int web_port() const;  // 0 until bound
  metrics::Registry& registry() { return registry_; }
  bool ready() const { return ready_.load(); }

 private:
  struct SenderSlot;
  struct LoopSlot;

  bool sidecar_mode() const { return !options_.sidecar.annotations_file.empty(); }
  // The configuration to run: the file, and in sidecar mode the shared file
  // (or defaults while it does not exist yet) plus the pod's scrape job.
  Result<config::AgentConfig> LoadEffectiveConfig();         // requires mu_
  void ApplySelfMonitoring(const config::AgentConfig& cfg);  // requires mu_
  Status ApplyConfig(const config::AgentConfig& cfg);        // requires mu_
  Status ApplySenders(const config::AgentConfig& cfg);       // requires mu_
  void ApplyScrapeLoops(const config::AgentConfig& cfg);     // requires mu_
  // Whether this shutdown ends the targets' series (requires mu_).
  ShutdownStalenessDecision DecideStalenessAtShutdown();
  void StartWeb();
  void RegisterMetrics();
  void Collect();

  AgentOptions options_;
  std::mutex mu_;
  bool started_ = false;
  bool shut_down_ = false;
  std::optional<config::AgentConfig> config_;
  // Sidecar mode: the shared config file and the pod's files.
  std::unique_ptr<SidecarInputs> inputs_;
  std::unique_ptr<scrape::ScrapeLoop> self_loop_;
  // Sidecar mode: reloads when the kubelet swaps the mounted files.
  std::unique_ptr<reload::FileWatcher> watcher_;

  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<storage::SharedWal> shared_wal_;
  remote_write::RealClock clock_;
  std::map<std::string, std::unique_ptr<SenderSlot>> senders_;  // by remote_write name
  std::map<std::string, std::unique_ptr<LoopSlot>> loops_;      // by job + URL

  metrics::Registry registry_;
  struct Metrics;
  std::unique_ptr<Metrics> m_;

  std::unique_ptr<Web> web_;
  std::atomic<bool> ready_{false};

  ShutdownLatch shutdown_;
};

}  // namespace promsidecar::agent
