// The upstream-engine mode of promsidecar-agent: no scraping and no WAL, but
// the config renderer and reloader of an upstream Prometheus in agent mode in
// the same pod. It reads the same inputs as the native sidecar (SidecarInputs:
// the shared config, the pod's annotations and labels), renders a complete
// prometheus.yml for the selected Prometheus version, replaces the output file
// atomically when the content changed, and asks Prometheus to reload it with
// an HTTP POST (containers of a pod do not share a PID namespace, so no
// signal). Inputs are watched with the same inotify watcher the native agent
// uses; /metrics, /-/healthy and /-/ready stay served.
//
// The decisions (what to render, what a reload answer means) are pure
// functions below; the file and the HTTP POST are the only I/O, the POST
// behind ReloadClient.
//
// Thread-safety: Start, Trigger, RequestShutdown and Shutdown may be called
// from any thread. All rendering, writing and reloading happens on one worker
// thread, so passes never overlap.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/reload/file_watcher.h"
#include "agent/remote_write/retry_policy.h"
#include "agent/render/prometheus_config.h"
#include "agent/runtime/shutdown_latch.h"
#include "agent/runtime/sidecar_inputs.h"
#include "agent/runtime/web.h"
#include "common/http/client.h"
#include "common/metrics/metrics.h"
#include "common/util/result.h"

namespace promsidecar::agent {

// The prometheus.yml for one reading of the inputs: the shared config plus the
// pod's job, exactly as the native agent merges them (SidecarInputs::Merge). A
// missing shared config (view.shared holds defaults) gives only the pod's job
// and no remote_write. Pure.
std::string RenderSidecarConfig(const SidecarView& view, render::PrometheusVersion version);

// What an answer to POST /-/reload means.
enum class ReloadOutcome {
  kDone,    // 2xx: Prometheus runs the file
  kRetry,   // not up yet (connection refused, timeout), starting (503), or a 5xx
  kGiveUp,  // another answer (403: --web.enable-lifecycle missing, 404: wrong URL):
            // retrying cannot help until the next rendering
};
struct ReloadDecision {
  ReloadOutcome outcome = ReloadOutcome::kDone;
  std::string detail;  // for the log: the status and the start of the body, or the error
};
// Pure.
ReloadDecision ClassifyReload(const Result<http::Response>& response);

// Replaces `path` by `content` unless it already holds exactly that: a
// temporary file in the same directory (mode 0600: the file may hold inline
// credentials), fsynced, renamed over `path`, so a reader never sees half a
// file. Creates missing parent directories. Returns whether it wrote.
Result<bool> WriteFileIfChanged(const std::string& path, const std::string& content);

// The POST that makes Prometheus re-read its config file. One real
// implementation (http::Client); tests substitute their own.
class ReloadClient {
 public:
  virtual ~ReloadClient() = default;
  // `should_abort` is polled while the request runs (shutdown).
  virtual Result<http::Response> Reload(const std::function<bool()>& should_abort) = 0;
};

// POST `url` with http::Client. The timeout is generous: Prometheus holds a
// reload until its initial start-up load is done.
std::unique_ptr<ReloadClient> MakeHttpReloadClient(
    std::string url, std::chrono::milliseconds timeout = std::chrono::seconds(30));

struct RendererOptions {
  std::string output_file;  // --render-prometheus-config
  std::string reload_url;   // --reload-url; empty: only write the file
  render::PrometheusVersion prometheus_version;
  std::string config_file;  // the shared config (may not exist yet)
  SidecarOptions sidecar;
  std::string listen_address = "0.0.0.0:9099";
  std::string version = "dev";
  // Between reload attempts while Prometheus is not up: doubling, with jitter.
  std::chrono::milliseconds reload_min_backoff{500};
  std::chrono::milliseconds reload_max_backoff{std::chrono::seconds(30)};
  std::chrono::milliseconds bind_retry{std::chrono::seconds(5)};
  reload::FileWatcherOptions watch;
};

class Renderer {
 public:
  // `reload_client` null: built from options.reload_url (none if that is empty).
  explicit Renderer(RendererOptions options, std::unique_ptr<ReloadClient> reload_client = nullptr);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Starts the input watcher, the worker (which renders at once) and the web
  // server. Fails only when called twice: a bad input is logged and counted,
  // the renderer stays up, not ready, and renders once the input is fixed.
  Status Start();
  // Render again now (SIGHUP), even when no input changed; reloads Prometheus
  // only if the file changed.
  void Trigger();
  // Stops the watcher, an in-flight reload request, the worker and the web
  // server. Idempotent.
  void Shutdown();

  void RequestShutdown();
  void WaitForShutdownRequest();

  int web_port() const { return web_ ? web_->port() : 0; }
  metrics::Registry& registry() { return registry_; }
  // True once the output file holds a good rendering (the last one, when
  // later inputs were rejected).
  bool ready() const { return ready_.load(); }

 private:
  struct Metrics;
  void Run();
  // One pass: read the inputs, render, write if changed. True when Prometheus
  // must be told (the file changed).
  bool RenderOnce();
  void ReloadOnce(remote_write::Backoff& backoff, std::chrono::steady_clock::time_point* next);

  RendererOptions options_;
  std::unique_ptr<ReloadClient> reload_client_;
  SidecarInputs inputs_;
  std::unique_ptr<reload::FileWatcher> watcher_;
  metrics::Registry registry_;
  std::unique_ptr<Metrics> m_;
  std::unique_ptr<Web> web_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;  // the inputs must be read again
  bool stop_ = false;
  bool started_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> ready_{false};
  std::thread worker_;

  ShutdownLatch shutdown_;
};

}  // namespace promsidecar::agent
