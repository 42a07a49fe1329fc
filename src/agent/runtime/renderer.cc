#include "agent/runtime/renderer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "common/log/log.h"
#include "common/util/units.h"

namespace promsidecar::agent {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The first line of a body, short: Prometheus answers a rejected reload with
// one line naming the problem (its own log has the rest).
std::string BodyExcerpt(const std::string& body) {
  std::string line = body.substr(0, body.find('\n'));
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

// A named object, not a designated-initializer temporary: GCC 12 at -O3
// reports the temporary's untouched TLS fields as maybe-uninitialized.
http::ClientOptions ReloadClientOptions() {
  http::ClientOptions options;
  options.user_agent = "promsidecar-agent";
  return options;
}

class HttpReloadClient : public ReloadClient {
 public:
  HttpReloadClient(std::string url, std::chrono::milliseconds timeout)
      : url_(std::move(url)), timeout_(timeout), client_(ReloadClientOptions()) {}

  Result<http::Response> Reload(const std::function<bool()>& should_abort) override {
    http::Request req;
    req.method = "POST";
    req.url = url_;
    req.timeout = timeout_;
    req.max_body_bytes = 64 * 1024;
    req.should_abort = should_abort;
    return client_.Do(req);
  }

 private:
  std::string url_;
  std::chrono::milliseconds timeout_;
  http::Client client_;
};

}  // namespace

std::string RenderSidecarConfig(const SidecarView& view, render::PrometheusVersion version) {
  return render::RenderPrometheusConfig(SidecarInputs::Merge(view), std::nullopt, version);
}

ReloadDecision ClassifyReload(const Result<http::Response>& response) {
  if (!response.ok()) return {ReloadOutcome::kRetry, response.message()};
  const long status = response->status;
  if (status >= 200 && status < 300) return {ReloadOutcome::kDone, "HTTP " + std::to_string(status)};
  std::string detail = "HTTP " + std::to_string(status);
  if (std::string excerpt = BodyExcerpt(response->body); !excerpt.empty()) detail += ": " + excerpt;
  // 503 while Prometheus starts; 500 when it could not load the file (it
  // keeps its previous configuration): a credential file the Secret volume
  // has not delivered yet can make that transient.
  if (status >= 500) return {ReloadOutcome::kRetry, detail};
  return {ReloadOutcome::kGiveUp, detail};
}

Result<bool> WriteFileIfChanged(const std::string& path, const std::string& content) {
  {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::ostringstream current;
      current << in.rdbuf();
      if (current.str() == content) return false;
    }
  }
  const fs::path target(path);
  const fs::path dir = target.parent_path();
  std::error_code ec;
  if (!dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec)
      return MakeError("cannot create the directory " + dir.string() + " of " + path + ": " + ec.message());
  }
  const std::string tmp = (dir / ("." + target.filename().string() + ".tmp")).string();
  auto fail = [&](const std::string& what) -> Result<bool> {
    std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    return MakeError(what + " " + tmp + " (for " + path + "): " + reason +
                     "; the directory must be writable by the agent");
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail("cannot create");
  // A leftover temporary file from a crash keeps its old mode through O_CREAT.
  if (::fchmod(fd, 0600) != 0) {
    ::close(fd);
    return fail("cannot chmod");
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return fail("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail("cannot fsync");
  }
  if (::close(fd) != 0) return fail("cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename");
  return true;
}

std::unique_ptr<ReloadClient> MakeHttpReloadClient(std::string url, std::chrono::milliseconds timeout) {
  return std::make_unique<HttpReloadClient>(std::move(url), timeout);
}

struct Renderer::Metrics {
  explicit Metrics(metrics::Registry& r)
      : build_info(r.AddGaugeFamily("promsidecar_renderer_build_info",
                                    "Version of the running agent (renderer mode).", {"version"})),
        renders(r.AddCounter("promsidecar_renderer_renders_total",
                             "Renderings that left the output file up to date with the inputs (written, or "
                             "already holding that content).")),
        render_failures(
            r.AddCounter("promsidecar_renderer_render_failures_total",
                         "Renderings that failed (invalid shared config, unwritable output file); "
                         "the file keeps the last good rendering.")),
        reloads(r.AddCounter("promsidecar_renderer_reloads_total",
                             "Reloads Prometheus confirmed (POST --reload-url answered 2xx).")),
        reload_failures(r.AddCounter("promsidecar_renderer_reload_failures_total",
                                     "Reload requests that failed (every retry counts).")),
        reload_pending(r.AddGauge("promsidecar_renderer_reload_pending",
                                  "1 while a rendered file waits for Prometheus to confirm a reload.")),
        last_success(r.AddGauge("promsidecar_renderer_last_success_timestamp_seconds",
                                "When the current rendering was last known to be in effect: the last "
                                "confirmed reload (without --reload-url: the last successful rendering).")),
        bind_failures(r.AddCounter("promsidecar_renderer_web_bind_failures_total",
                                   "Failed attempts to bind --web.listen-address (retried).")) {}

  metrics::Family<metrics::Gauge>& build_info;
  metrics::Counter& renders;
  metrics::Counter& render_failures;
  metrics::Counter& reloads;
  metrics::Counter& reload_failures;
  metrics::Gauge& reload_pending;
  metrics::Gauge& last_success;
  metrics::Counter& bind_failures;
};

Renderer::Renderer(RendererOptions options, std::unique_ptr<ReloadClient> reload_client)
    : options_(std::move(options)),
      reload_client_(std::move(reload_client)),
      inputs_(options_.config_file, options_.sidecar) {
  if (!reload_client_ && !options_.reload_url.empty())
    reload_client_ = MakeHttpReloadClient(options_.reload_url);
  m_ = std::make_unique<Metrics>(registry_);
  m_->build_info.With({options_.version}).Set(1);
}

Renderer::~Renderer() {
  Shutdown();
}

Status Renderer::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return MakeError("renderer already started");
    started_ = true;
  }
  std::vector<std::string> files{options_.config_file};
  if (!options_.sidecar.annotations_file.empty()) files.push_back(options_.sidecar.annotations_file);
  if (!options_.sidecar.labels_file.empty()) files.push_back(options_.sidecar.labels_file);
  // Started before the first reading (the worker's), so a change in between is not missed.
  watcher_ = std::make_unique<reload::FileWatcher>(
      files,
      [this](const reload::ChangeSet& changes) {
        for (const auto& f : changes.changed) log::Info("input file changed; rendering", {{"file", f}});
        for (const auto& f : changes.missing)
          log::Warn("input file missing; keeping what was read before", {{"file", f}});
        Trigger();
      },
      options_.watch);
  if (Status s = watcher_->Start(); !s.ok()) {
    // Still useful: SIGHUP renders again.
    log::Error("cannot watch the input files; render again with SIGHUP", {{"err", s.message()}});
  }
  web_ = std::make_unique<Web>(
      WebOptions{.listen_address = options_.listen_address,
                 .program = "promsidecar-agent",
                 .bind_retry = options_.bind_retry},
      registry_, [this] { return ready_.load(); }, m_->bind_failures);
  web_->Start();
  log::Info("renderer started",
            {{"version", options_.version},
             {"output", options_.output_file},
             {"prometheus_version", std::to_string(options_.prometheus_version.major) + "." +
                                        std::to_string(options_.prometheus_version.minor)},
             {"reload_url",
              options_.reload_url.empty() ? std::string("(none)") : http::RedactUrl(options_.reload_url)}});
  worker_ = std::thread([this] { Run(); });
  return {};
}

void Renderer::Trigger() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

bool Renderer::RenderOnce() {
  auto view = inputs_.Load();
  if (!view.ok()) {
    m_->render_failures.Inc();
    log::Error("inputs rejected; the rendered file keeps the last good configuration",
               {{"file", options_.config_file}, {"err", view.message()}});
    return false;
  }
  const std::string text = RenderSidecarConfig(*view, options_.prometheus_version);
  auto wrote = WriteFileIfChanged(options_.output_file, text);
  if (!wrote.ok()) {
    m_->render_failures.Inc();
    log::Error("cannot write the rendered configuration (--render-prometheus-config)",
               {{"file", options_.output_file}, {"err", wrote.message()}});
    return false;
  }
  m_->renders.Inc();
  ready_ = true;
  if (!reload_client_) m_->last_success.Set(NowSeconds());
  if (*wrote) {
    log::Info("rendered the Prometheus configuration",
              {{"file", options_.output_file},
               {"pod_job", view->derived.scrape ? view->derived.job.job_name : std::string("(none)")},
               {"shared_config", view->shared_present},
               {"remote_writes", static_cast<uint64_t>(view->shared.remote_write.size())},
               {"bytes", static_cast<uint64_t>(text.size())}});
  } else {
    log::Debug("rendered configuration unchanged", {{"file", options_.output_file}});
  }
  return *wrote;
}

void Renderer::ReloadOnce(remote_write::Backoff& backoff, Clock::time_point* next) {
  const std::string url = http::RedactUrl(options_.reload_url);
  auto response = reload_client_->Reload([this] { return stopping_.load(); });
  if (stopping_) return;
  ReloadDecision d = ClassifyReload(response);
  switch (d.outcome) {
    case ReloadOutcome::kDone:
      m_->reloads.Inc();
      m_->reload_pending.Set(0);
      m_->last_success.Set(NowSeconds());
      backoff.Reset();
      *next = Clock::time_point::max();
      log::Info("Prometheus reloaded the configuration", {{"url", url}, {"file", options_.output_file}});
      return;
    case ReloadOutcome::kRetry: {
      m_->reload_failures.Inc();
      auto wait = backoff.Next();
      *next = Clock::now() + wait;
      log::Warn("Prometheus did not reload (not up yet?); retrying",
                {{"url", url}, {"err", d.detail}, {"retry_in", units::FormatDuration(wait)}});
      return;
    }
    case ReloadOutcome::kGiveUp:
      m_->reload_failures.Inc();
      m_->reload_pending.Set(0);
      *next = Clock::time_point::max();
      log::Error(
          "Prometheus refused the reload; not retried until the inputs change (start Prometheus with "
          "--web.enable-lifecycle and check --reload-url)",
          {{"url", url}, {"err", d.detail}});
      return;
  }
}

void Renderer::Run() {
  std::mt19937_64 rng(std::random_device{}());
  remote_write::Backoff backoff(options_.reload_min_backoff, options_.reload_max_backoff,
                                [&rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); });
  // time_point::max(): no reload to do.
  Clock::time_point next_reload = Clock::time_point::max();
  // After a (re)start Prometheus may run an older file than the one found
  // unchanged on disk (we died between writing and reloading): reload once.
  bool reload_after_start = true;
  while (true) {
    bool render = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto wake = [this] { return stop_ || dirty_; };
      // No wait_until(time_point::max()): some implementations overflow on it.
      if (next_reload == Clock::time_point::max()) {
        cv_.wait(lock, wake);
      } else {
        cv_.wait_until(lock, next_reload, wake);
      }
      if (stop_) return;
      render = dirty_;
      dirty_ = false;
    }
    if (render) {
      bool changed = RenderOnce();
      if (reload_client_ && (changed || (reload_after_start && ready_))) {
        reload_after_start = false;
        backoff.Reset();
        next_reload = Clock::now();
        m_->reload_pending.Set(1);
      }
    }
    if (reload_client_ && Clock::now() >= next_reload) ReloadOnce(backoff, &next_reload);
  }
}

void Renderer::RequestShutdown() {
  shutdown_.Request();
}

void Renderer::WaitForShutdownRequest() {
  shutdown_.Wait();
}

void Renderer::Shutdown() {
  RequestShutdown();
  // The watcher's callback takes mu_: stop it first.
  if (watcher_) watcher_->Stop();
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) {
    worker_.join();
    log::Info("renderer stopped");
  }
  if (web_) web_->Stop();
  ready_ = false;
}

}  // namespace promsidecar::agent
