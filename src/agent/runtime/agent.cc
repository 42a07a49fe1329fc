#include "agent/runtime/agent.h"

#include <algorithm>

#include "agent/remote_write/curl_transport.h"
#include "agent/scrape/offset.h"
#include "agent/scrape/targets.h"
#include "common/http/url.h"
#include "common/log/log.h"
#include "common/util/units.h"

namespace promsidecar::agent {
namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// WAL reader names allow [A-Za-z0-9._-]; remote_write names are free text.
std::string ReaderName(const std::string& remote_name) {
  std::string out = "rw-";
  for (char c : remote_name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    out += ok ? c : '_';
  }
  if (out.size() > 100) out.resize(100);
  return out;
}

remote_write::SecretRef ToSecretRef(const config::SecretSource& s) {
  return {s.value.Reveal(), s.file};
}

remote_write::TransportConfig ToTransportConfig(const config::RemoteWriteConfig& rw,
                                                const std::string& version) {
  remote_write::TransportConfig t;
  t.url = rw.url;
  t.remote_timeout = rw.remote_timeout;
  t.user_agent = "promsidecar-agent/" + version;
  for (const auto& [k, v] : rw.headers) t.headers.emplace_back(k, v);
  if (rw.basic_auth)
    t.basic_auth =
        remote_write::BasicAuthConfig{rw.basic_auth->username, ToSecretRef(rw.basic_auth->password)};
  if (rw.authorization) {
    t.authorization =
        remote_write::AuthorizationConfig{rw.authorization->type, ToSecretRef(rw.authorization->credentials)};
  }
  if (rw.oauth2) {
    remote_write::OAuth2Config o;
    o.client_id = rw.oauth2->client_id;
    o.client_secret = ToSecretRef(rw.oauth2->client_secret);
    o.token_url = rw.oauth2->token_url;
    o.scopes = rw.oauth2->scopes;
    for (const auto& [k, v] : rw.oauth2->endpoint_params) o.endpoint_params.emplace_back(k, v);
    t.oauth2 = std::move(o);
  }
  t.tls.ca_file = rw.tls_config.ca_file;
  t.tls.cert_file = rw.tls_config.cert_file;
  t.tls.key_file = rw.tls_config.key_file;
  t.tls.server_name = rw.tls_config.server_name;
  t.tls.insecure_skip_verify = rw.tls_config.insecure_skip_verify;
  t.proxy_url = rw.proxy_url;
  return t;
}

std::string LoopKey(const scrape::ScrapeTarget& t) {
  return t.job + "|" + t.url + "|" + model::ToString(t.settings.target_labels);
}

}  // namespace

struct Agent::SenderSlot {
  config::RemoteWriteConfig cfg;
  model::Labels external_labels;
  std::string reader_name;
  std::unique_ptr<remote_write::WalSampleSource> source;
  std::unique_ptr<remote_write::Transport> transport;
  std::unique_ptr<remote_write::Sender> sender;
  std::thread thread;

  void Stop(std::chrono::steady_clock::time_point deadline) {
    if (sender) sender->Stop(deadline);
    if (thread.joinable()) thread.join();
  }
};

struct Agent::LoopSlot {
  config::ScrapeConfig job;
  std::string instance;
  std::unique_ptr<scrape::ScrapeLoop> loop;
};

struct Agent::Metrics {
  explicit Metrics(metrics::Registry& r)
      : build_info(
            r.AddGaugeFamily("promsidecar_agent_build_info", "Version of the running agent.", {"version"})),
        reload_ok(r.AddGauge("promsidecar_agent_config_last_reload_successful",
                             "Whether the last configuration reload succeeded (1) or was rejected (0).")),
        reload_ts(r.AddGauge("promsidecar_agent_config_last_reload_success_timestamp_seconds",
                             "When the configuration was last loaded successfully.")),
        reloads(r.AddCounterFamily("promsidecar_agent_config_reloads_total",
                                   "Configuration reloads by result (success, failure).", {"result"})),
        scrapes(r.AddCounterFamily("promsidecar_agent_scrapes_total",
                                   "Scrapes by target and result (success, failure).",
                                   {"job", "instance", "result"})),
        target_up(r.AddGaugeFamily("promsidecar_agent_target_up", "1 if the target's last scrape succeeded.",
                                   {"job", "instance"})),
        samples_scraped(r.AddCounterFamily("promsidecar_agent_scrape_samples_scraped_total",
                                           "Samples exposed by the target.", {"job", "instance"})),
        samples_appended(r.AddCounterFamily(
            "promsidecar_agent_scrape_samples_appended_total",
            "Samples appended to the WAL (incl. stale markers and synthetic series).", {"job", "instance"})),
        samples_out_of_bounds(
            r.AddCounterFamily("promsidecar_agent_scrape_samples_out_of_bounds_total",
                               "Samples dropped because their timestamp does not fit in int64 milliseconds.",
                               {"job", "instance"})),
        scrape_duration(r.AddGaugeFamily("promsidecar_agent_scrape_duration_seconds",
                                         "Duration of the target's last scrape.", {"job", "instance"})),
        wal_rejected(r.AddCounter("promsidecar_agent_wal_rejected_samples_total",
                                  "Samples the WAL refused because their series was unknown.")),
        wal_failed_commits(
            r.AddCounter("promsidecar_agent_wal_failed_commits_total",
                         "Scrape commits the WAL could not write (kept in memory and retried).")),
        wal_bytes(r.AddGauge("promsidecar_agent_wal_bytes", "Bytes of WAL on disk.")),
        wal_segments(r.AddGauge("promsidecar_agent_wal_segments", "WAL segment files on disk.")),
        wal_series(r.AddGauge("promsidecar_agent_wal_series", "Series the WAL currently tracks.")),
        wal_pending_bytes(r.AddGauge("promsidecar_agent_wal_pending_bytes",
                                     "Bytes of failed commits held in memory until the disk accepts them.")),
        wal_samples_written(
            r.AddCounter("promsidecar_agent_wal_samples_written_total", "Samples written to the WAL.")),
        wal_fsyncs(r.AddCounter("promsidecar_agent_wal_fsyncs_total", "fsync calls on the WAL.")),
        wal_write_errors(
            r.AddCounter("promsidecar_agent_wal_write_errors_total", "Failed WAL writes (ENOSPC, EIO).")),
        wal_dropped(
            r.AddCounterFamily("promsidecar_agent_wal_samples_dropped_total",
                               "Samples the WAL dropped, by reason (size_bound: --wal.max-size reached, "
                               "pending_overflow: disk failing for too long).",
                               {"reason"})),
        rw_sent(r.AddCounterFamily("promsidecar_agent_remote_samples_sent_total",
                                   "Float samples acknowledged by the remote-write endpoint.",
                                   {"remote_name", "url"})),
        rw_histograms_sent(r.AddCounterFamily(
            "promsidecar_agent_remote_histograms_sent_total",
            "Native histogram samples acknowledged by the remote-write endpoint.", {"remote_name", "url"})),
        rw_exemplars_sent(r.AddCounterFamily("promsidecar_agent_remote_exemplars_sent_total",
                                             "Exemplars acknowledged by the remote-write endpoint.",
                                             {"remote_name", "url"})),
        rw_metadata_sent(r.AddCounterFamily(
            "promsidecar_agent_remote_metadata_sent_total",
            "Metadata entries acknowledged by the endpoint (remote write 1.0 metadata requests).",
            {"remote_name", "url"})),
        rw_metadata_failed(r.AddCounterFamily(
            "promsidecar_agent_remote_metadata_failed_total",
            "Remote write 1.0 metadata requests that failed (sent again later).", {"remote_name", "url"})),
        rw_unconfirmed(r.AddCounterFamily(
            "promsidecar_agent_remote_written_unconfirmed_total",
            "Items a 2xx answer to remote write 2.0 did not confirm in X-Prometheus-Remote-Write-*-Written.",
            {"remote_name", "url"})),
        rw_message(r.AddGaugeFamily("promsidecar_agent_remote_message_version",
                                    "Remote write version in use: 1 or 2 (2.0 falls back to 1 on a 415).",
                                    {"remote_name", "url"})),
        rw_failed(r.AddCounterFamily("promsidecar_agent_remote_samples_failed_total",
                                     "Samples dropped after a non-retryable answer (4xx).",
                                     {"remote_name", "url"})),
        rw_retried(r.AddCounterFamily("promsidecar_agent_remote_samples_retried_total",
                                      "Samples in requests that had to be retried (5xx, 429, network).",
                                      {"remote_name", "url"})),
        rw_dropped(r.AddCounterFamily("promsidecar_agent_remote_samples_dropped_total",
                                      "Samples not sent, by reason (relabel, invalid, unknown_series).",
                                      {"remote_name", "url", "reason"})),
        rw_bytes(r.AddCounterFamily("promsidecar_agent_remote_bytes_sent_total",
                                    "Compressed request bytes acknowledged by the endpoint.",
                                    {"remote_name", "url"})),
        rw_pending(r.AddGaugeFamily("promsidecar_agent_remote_pending_samples",
                                    "Samples read from the WAL and not yet acknowledged.",
                                    {"remote_name", "url"})),
        rw_last_send(r.AddGaugeFamily("promsidecar_agent_remote_last_send_timestamp_seconds",
                                      "When the endpoint last acknowledged a request.",
                                      {"remote_name", "url"})),
        rw_lost(r.AddCounterFamily("promsidecar_agent_remote_samples_lost_size_bound_total",
                                   "Samples this sender never read because --wal.max-size dropped them.",
                                   {"remote_name", "url"})),
        bind_failures(r.AddCounter("promsidecar_agent_web_bind_failures_total",
                                   "Failed attempts to bind --web.listen-address (retried).")),
        annotation_problems(r.AddGaugeFamily(
            "promsidecar_agent_annotation_problems",
            "Invalid pod annotations ignored at the last reading, by annotation.", {"annotation"})),
        scraping_enabled(
            r.AddGauge("promsidecar_agent_scraping_enabled",
                       "1 when the pod's annotations ask for scraping (sidecar mode), else 0.")) {}

  metrics::Family<metrics::Gauge>& build_info;
  metrics::Gauge& reload_ok;
  metrics::Gauge& reload_ts;
  metrics::Family<metrics::Counter>& reloads;
  metrics::Family<metrics::Counter>& scrapes;
  metrics::Family<metrics::Gauge>& target_up;
  metrics::Family<metrics::Counter>& samples_scraped;
  metrics::Family<metrics::Counter>& samples_appended;
  metrics::Family<metrics::Counter>& samples_out_of_bounds;
  metrics::Family<metrics::Gauge>& scrape_duration;
  metrics::Counter& wal_rejected;
  metrics::Counter& wal_failed_commits;
  metrics::Gauge& wal_bytes;
  metrics::Gauge& wal_segments;
  metrics::Gauge& wal_series;
  metrics::Gauge& wal_pending_bytes;
  metrics::Counter& wal_samples_written;
  metrics::Counter& wal_fsyncs;
  metrics::Counter& wal_write_errors;
  metrics::Family<metrics::Counter>& wal_dropped;
  metrics::Family<metrics::Counter>& rw_sent;
  metrics::Family<metrics::Counter>& rw_histograms_sent;
  metrics::Family<metrics::Counter>& rw_exemplars_sent;
  metrics::Family<metrics::Counter>& rw_metadata_sent;
  metrics::Family<metrics::Counter>& rw_metadata_failed;
  metrics::Family<metrics::Counter>& rw_unconfirmed;
  metrics::Family<metrics::Gauge>& rw_message;
  metrics::Family<metrics::Counter>& rw_failed;
  metrics::Family<metrics::Counter>& rw_retried;
  metrics::Family<metrics::Counter>& rw_dropped;
  metrics::Family<metrics::Counter>& rw_bytes;
  metrics::Family<metrics::Gauge>& rw_pending;
  metrics::Family<metrics::Gauge>& rw_last_send;
  metrics::Family<metrics::Counter>& rw_lost;
  metrics::Counter& bind_failures;
  metrics::Family<metrics::Gauge>& annotation_problems;
  metrics::Gauge& scraping_enabled;
};

Agent::Agent(AgentOptions options) : options_(std::move(options)) {
  if (sidecar_mode()) inputs_ = std::make_unique<SidecarInputs>(options_.config_file, options_.sidecar);
  RegisterMetrics();
}

Agent::~Agent() {
  Shutdown();
}

void Agent::RegisterMetrics() {
  m_ = std::make_unique<Metrics>(registry_);
  m_->build_info.With({options_.version}).Set(1);
  registry_.AddCollector([this] { Collect(); });
}

Status Agent::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return MakeError("agent already started");
  wal::Options wo = options_.wal;
  wo.on_series_forgotten = [this](std::span<const uint64_t>) {
    if (shared_wal_) shared_wal_->OnSeriesForgotten();
  };
  auto opened = wal::Wal::Open(wo);
  if (!opened.ok()) return MakeError("--wal.dir " + wo.dir + ": " + opened.message());
  wal_ = std::move(opened).value();
  // The WAL logs its own replay statistics.
  shared_wal_ = std::make_unique<storage::SharedWal>(wal_.get());

  if (sidecar_mode()) {
    // Started before the first read, so a change in between is not missed.
    std::vector<std::string> files{options_.config_file, options_.sidecar.annotations_file};
    if (!options_.sidecar.labels_file.empty()) files.push_back(options_.sidecar.labels_file);
    watcher_ = std::make_unique<reload::FileWatcher>(files, [this](const reload::ChangeSet& changes) {
      for (const auto& f : changes.changed) log::Info("input file changed; reloading", {{"file", f}});
      for (const auto& f : changes.missing)
        log::Warn("input file missing; keeping what was read before", {{"file", f}});
      (void)Reload();
    });
    if (Status s = watcher_->Start(); !s.ok()) {
      // Without inotify the agent still works; changes then need SIGHUP.
      log::Error("cannot watch the input files; reload with SIGHUP", {{"err", s.message()}});
    }
  }
  auto cfg = LoadEffectiveConfig();
  if (!cfg.ok()) {
    m_->reloads.With({"failure"}).Inc();
    m_->reload_ok.Set(0);
    return MakeError("--config.file " + options_.config_file + ": " + cfg.message());
  }
  if (Status s = ApplyConfig(*cfg); !s.ok()) return s;
  m_->reloads.With({"success"}).Inc();
  m_->reload_ok.Set(1);
  m_->reload_ts.Set(NowSeconds());
  started_ = true;
  StartWeb();
  ready_ = true;
  log::Info("agent started", {{"version", options_.version},
                              {"config", options_.config_file},
                              {"targets", static_cast<uint64_t>(loops_.size())},
                              {"remote_writes", static_cast<uint64_t>(senders_.size())}});
  return {};
}

Status Agent::Reload() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_ || shut_down_) return MakeError("agent is not running");
  auto cfg = LoadEffectiveConfig();
  if (!cfg.ok()) {
    m_->reloads.With({"failure"}).Inc();
    m_->reload_ok.Set(0);
    log::Error("config reload rejected; the running configuration stays",
               {{"file", options_.config_file}, {"err", cfg.message()}});
    return cfg.error();
  }
  if (config_ && *config_ == *cfg) {
    log::Info("config reload: nothing changed", {{"file", options_.config_file}});
  } else if (Status s = ApplyConfig(*cfg); !s.ok()) {
    m_->reloads.With({"failure"}).Inc();
    m_->reload_ok.Set(0);
    log::Error("config reload failed", {{"file", options_.config_file}, {"err", s.message()}});
    return s;
  }
  m_->reloads.With({"success"}).Inc();
  m_->reload_ok.Set(1);
  m_->reload_ts.Set(NowSeconds());
  return {};
}

namespace {

// The agent's own health as a scrape target: a few families of /metrics,
// sent with the pod's labels under job="promsidecar-agent", because nobody
// can scrape a million sidecars.
class SelfFetcher : public scrape::Fetcher {
 public:
  explicit SelfFetcher(metrics::Registry& registry) : registry_(registry) {}
  Result<scrape::FetchResult> Fetch(const scrape::ScrapeTarget&, uint64_t) override {
    return scrape::FetchResult{registry_.Render(), "text/plain; version=0.0.4"};
  }

 private:
  metrics::Registry& registry_;
};

constexpr std::string_view kSelfJob = "promsidecar-agent";
constexpr std::string_view kSelfMetrics =
    "promsidecar_agent_(target_up|scrape_samples_scraped_total|remote_samples_(sent|failed|dropped)_total|"
    "remote_pending_samples|wal_bytes|wal_samples_dropped_total|config_last_reload_successful|"
    "config_reloads_total|annotation_problems|scraping_enabled|build_info)";

}  // namespace

Result<config::AgentConfig> Agent::LoadEffectiveConfig() {
  if (!sidecar_mode()) return config::LoadConfigFile(options_.config_file);
  auto view = inputs_->Load();
  if (!view.ok()) return view.error();
  m_->annotation_problems.ForEach([](const auto&, metrics::Gauge& g) { g.Set(0); });
  for (const auto& p : view->derived.problems) m_->annotation_problems.With({p.annotation}).Add(1);
  m_->scraping_enabled.Set(view->derived.scrape ? 1 : 0);
  return SidecarInputs::Merge(*view);
}

void Agent::ApplySelfMonitoring(const config::AgentConfig& cfg) {
  bool want = sidecar_mode() && cfg.sidecar.self_monitoring;
  std::chrono::milliseconds interval = cfg.global.scrape_interval;
  for (const auto& job : cfg.scrape_configs) interval = job.scrape_interval;  // the pod's interval
  if (self_loop_ && (!want || self_loop_->target().interval != interval)) {
    self_loop_->Stop(/*mark_stale=*/!want);
    self_loop_.reset();
  }
  if (!want || self_loop_) return;
  scrape::ScrapeTarget t;
  t.job = std::string(kSelfJob);
  t.url = "internal://self/metrics";
  t.interval = interval;
  t.timeout = std::min(interval, std::chrono::milliseconds(5000));
  const auto& pod = options_.sidecar.pod;
  t.settings.target_labels = {{"instance", pod.name},
                              {"job", std::string(kSelfJob)},
                              {"namespace", pod.namespace_},
                              {"pod", pod.name}};
  model::Canonicalize(t.settings.target_labels);
  relabel::RelabelConfigSpec keep;
  keep.source_labels = std::vector<std::string>{"__name__"};
  keep.regex = std::string(kSelfMetrics);
  keep.action = relabel::Action::kKeep;
  t.settings.metric_relabel.push_back(relabel::Compile(keep).value());
  t.identity_hash = scrape::TargetIdentityHash(options_.pod_uid, t.job, t.url);
  self_loop_ = std::make_unique<scrape::ScrapeLoop>(std::move(t), std::make_unique<SelfFetcher>(registry_),
                                                    std::make_unique<storage::WalAppender>(*shared_wal_),
                                                    scrape::LoopObserver{});
  self_loop_->Start();
}

Status Agent::ApplyConfig(const config::AgentConfig& cfg) {
  if (Status s = ApplySenders(cfg); !s.ok()) return s;
  ApplyScrapeLoops(cfg);
  ApplySelfMonitoring(cfg);
  config_ = cfg;
  log::Info("configuration applied", {{"file", options_.config_file},
                                      {"targets", static_cast<uint64_t>(loops_.size())},
                                      {"remote_writes", static_cast<uint64_t>(senders_.size())}});
  return {};
}

Status Agent::ApplySenders(const config::AgentConfig& cfg) {
  // Build every new sender first, so a failure leaves the running ones alone.
  std::map<std::string, std::unique_ptr<SenderSlot>> next;
  for (const auto& rw : cfg.remote_write) {
    auto it = senders_.find(rw.name);
    if (it != senders_.end() && it->second->cfg == rw &&
        it->second->external_labels == cfg.global.external_labels) {
      continue;  // unchanged: keeps running, at its position
    }
    auto transport = remote_write::CurlTransport::Create(ToTransportConfig(rw, options_.version));
    if (!transport.ok()) return MakeError("remote_write " + rw.name + ": " + transport.message());
    auto slot = std::make_unique<SenderSlot>();
    slot->cfg = rw;
    slot->external_labels = cfg.global.external_labels;
    slot->reader_name = ReaderName(rw.name);
    slot->transport = std::move(transport).value();
    next[rw.name] = std::move(slot);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  // Stop senders that changed or went away; unregister the readers of those
  // that went away so they no longer hold WAL segments.
  for (auto it = senders_.begin(); it != senders_.end();) {
    bool keep = cfg.FindRemoteWrite(it->first) != nullptr && !next.contains(it->first);
    if (keep) {
      ++it;
      continue;
    }
    SenderSlot& old = *it->second;
    old.Stop(deadline);
    std::string url = http::RedactUrl(old.cfg.url);
    std::string reader = old.reader_name;
    bool gone = cfg.FindRemoteWrite(it->first) == nullptr;
    it = senders_.erase(it);  // destroys the reader before unregistering it
    if (gone) {
      if (Status s = wal_->UnregisterReader(reader); !s.ok()) {
        log::Warn("could not unregister WAL reader", {{"reader", reader}, {"err", s.message()}});
      }
      log::Info("remote write removed", {{"url", url}});
    }
  }
  for (auto& [name, slot] : next) {
    auto reader = wal_->OpenReader(slot->reader_name);
    if (!reader.ok())
      return MakeError("remote_write " + name + ": opening its WAL reader: " + reader.message());
    remote_write::BatcherOptions bo;
    bo.max_samples_per_send = slot->cfg.queue_config.max_samples_per_send;
    bo.batch_send_deadline = slot->cfg.queue_config.batch_send_deadline;
    bo.external_labels = slot->external_labels;
    bo.send_native_histograms = slot->cfg.send_native_histograms;
    bo.send_exemplars = slot->cfg.send_exemplars;
    bo.send_metadata = slot->cfg.metadata_config.send;
    if (!slot->cfg.write_relabel_configs.empty()) {
      bo.relabel = [rules = slot->cfg.write_relabel_configs](model::Labels& l) {
        return relabel::Process(l, rules);
      };
    }
    slot->source = std::make_unique<remote_write::WalSampleSource>(std::move(reader).value(), std::move(bo));
    remote_write::SenderOptions so;
    so.name = http::RedactUrl(slot->cfg.url);
    so.retry.min_backoff = slot->cfg.queue_config.min_backoff;
    so.retry.max_backoff = slot->cfg.queue_config.max_backoff;
    so.retry.retry_on_http_429 = slot->cfg.queue_config.retry_on_http_429;
    so.message = slot->cfg.message_v2 ? remote_write::MessageType::kV2 : remote_write::MessageType::kV1;
    so.send_metadata = slot->cfg.metadata_config.send;
    so.metadata_send_interval = slot->cfg.metadata_config.send_interval;
    so.metadata_max_per_send = slot->cfg.metadata_config.max_samples_per_send;
    slot->sender = std::make_unique<remote_write::Sender>(so, *slot->source, *slot->transport, clock_);
    SenderSlot* raw = slot.get();
    slot->thread = std::thread([raw] { raw->sender->Run(); });
    log::Info("remote write started", {{"name", name}, {"url", so.name}});
    senders_[name] = std::move(slot);
  }
  return {};
}

void Agent::ApplyScrapeLoops(const config::AgentConfig& cfg) {
  std::map<std::string, scrape::ScrapeTarget> wanted;
  std::map<std::string, const config::ScrapeConfig*> job_of;
  for (const auto& job : cfg.scrape_configs) {
    auto built = scrape::BuildTargets(job, options_.pod_uid);
    for (const auto& e : built.errors) log::Warn("target skipped", {{"reason", e}});
    for (auto& t : built.targets) {
      t.settings.created_timestamp_zero_ingestion = options_.created_timestamp_zero_ingestion;
      std::string key = LoopKey(t);
      job_of[key] = &job;
      wanted.emplace(std::move(key), std::move(t));
    }
  }
  // Loops whose target and job settings are unchanged keep running (and keep
  // their staleness state); the rest stop, marking their series stale.
  for (auto it = loops_.begin(); it != loops_.end();) {
    auto w = wanted.find(it->first);
    if (w != wanted.end() && *job_of[it->first] == it->second->job) {
      wanted.erase(w);
      ++it;
      continue;
    }
    const auto& t = it->second->loop->target();
    it->second->loop->Stop(/*mark_stale=*/true);
    m_->target_up.Remove({t.job, it->second->instance});
    log::Info("scrape target stopped", {{"job", t.job}, {"url", http::RedactUrl(t.url)}});
    it = loops_.erase(it);
  }
  for (auto& [key, target] : wanted) {
    auto slot = std::make_unique<LoopSlot>();
    slot->job = *job_of[key];
    slot->instance = std::string(model::Get(target.settings.target_labels, "instance"));
    scrape::LoopObserver obs;
    std::string job = target.job, instance = slot->instance;
    auto last_ok = std::make_shared<int>(-1);  // -1 unknown, 0 down, 1 up
    obs.on_scrape = [this, job, instance, last_ok](const scrape::ScrapeTarget& t,
                                                   const scrape::ScrapeReport& r) {
      m_->scrapes.With({job, instance, r.ok ? "success" : "failure"}).Inc();
      m_->target_up.With({job, instance}).Set(r.ok ? 1 : 0);
      m_->samples_scraped.With({job, instance}).Inc(static_cast<double>(r.samples_scraped));
      m_->samples_appended.With({job, instance}).Inc(static_cast<double>(r.samples_appended));
      if (r.out_of_bounds > 0)
        m_->samples_out_of_bounds.With({job, instance}).Inc(static_cast<double>(r.out_of_bounds));
      if (!r.ok && *last_ok != 0) {
        log::Warn("scrape failed", {{"job", job}, {"url", http::RedactUrl(t.url)}, {"err", r.error}});
      } else if (r.ok && *last_ok == 0) {
        log::Info("scrape recovered", {{"job", job}, {"url", http::RedactUrl(t.url)}});
      } else if (!r.ok) {
        log::Debug("scrape failed", {{"job", job}, {"url", http::RedactUrl(t.url)}, {"err", r.error}});
      }
      *last_ok = r.ok ? 1 : 0;
    };
    auto fetcher = std::make_unique<scrape::HttpFetcher>(target.tls);
    auto appender = std::make_unique<storage::WalAppender>(*shared_wal_);
    log::Info("scrape target started", {{"job", target.job},
                                        {"url", http::RedactUrl(target.url)},
                                        {"interval", units::FormatDuration(target.interval)}});
    slot->loop = std::make_unique<scrape::ScrapeLoop>(std::move(target), std::move(fetcher),
                                                      std::move(appender), std::move(obs));
    slot->loop->Start();
    loops_[key] = std::move(slot);
  }
}

void Agent::StartWeb() {
  web_ = std::make_unique<Web>(
      WebOptions{.listen_address = options_.listen_address, .bind_retry = options_.bind_retry}, registry_,
      [this] { return ready_.load(); }, m_->bind_failures);
  auto reload = [this](const http::ServerRequest&) {
    if (!options_.enable_lifecycle) return http::ServerResponse::Text(403, "Lifecycle API is not enabled.\n");
    Status s = Reload();
    return s.ok() ? http::ServerResponse::Text(200, "") : http::ServerResponse::Text(500, s.message() + "\n");
  };
  web_->Handle("POST", "/-/reload", reload);
  web_->Handle("PUT", "/-/reload", reload);
  web_->Start();
}

int Agent::web_port() const {
  return web_ ? web_->port() : 0;
}

void Agent::Collect() {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock() || !wal_) return;  // a reload is running: keep the last values
  wal::Metrics w = wal_->GetMetrics();
  m_->wal_bytes.Set(static_cast<double>(w.bytes_on_disk));
  m_->wal_segments.Set(static_cast<double>(w.segments));
  m_->wal_series.Set(static_cast<double>(w.series_live));
  m_->wal_pending_bytes.Set(static_cast<double>(w.pending_bytes));
  m_->wal_samples_written.SetTotal(static_cast<double>(w.samples_written));
  m_->wal_fsyncs.SetTotal(static_cast<double>(w.fsyncs));
  m_->wal_write_errors.SetTotal(static_cast<double>(w.write_errors));
  m_->wal_dropped.With({"size_bound"}).SetTotal(static_cast<double>(w.samples_dropped_size_bound));
  m_->wal_dropped.With({"pending_overflow"}).SetTotal(static_cast<double>(w.samples_dropped_pending));
  m_->wal_rejected.SetTotal(static_cast<double>(shared_wal_->rejected_samples.load()));
  m_->wal_failed_commits.SetTotal(static_cast<double>(shared_wal_->failed_commits.load()));
  for (const auto& [name, slot] : senders_) {
    std::vector<std::string> l{name, http::RedactUrl(slot->cfg.url)};
    auto s = slot->sender->stats();
    m_->rw_sent.With(l).SetTotal(static_cast<double>(s.samples_sent));
    m_->rw_histograms_sent.With(l).SetTotal(static_cast<double>(s.histograms_sent));
    m_->rw_exemplars_sent.With(l).SetTotal(static_cast<double>(s.exemplars_sent));
    m_->rw_metadata_sent.With(l).SetTotal(static_cast<double>(s.metadata_sent));
    m_->rw_metadata_failed.With(l).SetTotal(static_cast<double>(s.metadata_failed));
    m_->rw_unconfirmed.With(l).SetTotal(static_cast<double>(s.written_unconfirmed));
    m_->rw_message.With(l).Set(s.message == remote_write::MessageType::kV2 ? 2 : 1);
    m_->rw_failed.With(l).SetTotal(static_cast<double>(s.samples_failed));
    m_->rw_retried.With(l).SetTotal(static_cast<double>(s.samples_retried));
    m_->rw_bytes.With(l).SetTotal(static_cast<double>(s.bytes_sent));
    m_->rw_pending.With(l).Set(static_cast<double>(s.pending_samples + slot->source->pending()));
    m_->rw_last_send.With(l).Set(static_cast<double>(s.last_send_timestamp_ms) / 1000.0);
    const auto b = slot->source->batcher_stats();
    m_->rw_dropped.With({l[0], l[1], "relabel"}).SetTotal(static_cast<double>(b.samples_dropped_relabel));
    m_->rw_dropped.With({l[0], l[1], "invalid"}).SetTotal(static_cast<double>(b.samples_invalid));
    m_->rw_dropped.With({l[0], l[1], "unknown_series"})
        .SetTotal(static_cast<double>(b.samples_unknown_series));
    if (auto r = w.readers.find(slot->reader_name); r != w.readers.end()) {
      m_->rw_lost.With(l).SetTotal(static_cast<double>(r->second.samples_dropped_size_bound));
    }
  }
}

void Agent::RequestShutdown() {
  shutdown_.Request();
}

void Agent::WaitForShutdownRequest() {
  shutdown_.Wait();
}

ShutdownStalenessDecision Agent::DecideStalenessAtShutdown() {
  ShutdownStalenessOptions o;
  o.mode = options_.stale_markers;
  o.sidecar = sidecar_mode();
  o.probe_window = options_.probe_window;
  std::vector<std::pair<const scrape::ScrapeTarget*, std::unique_ptr<scrape::HttpProber>>> probes;
  for (const auto& [key, slot] : loops_) {
    const auto& t = slot->loop->target();
    probes.emplace_back(&t, std::make_unique<scrape::HttpProber>(t.tls));
  }
  if (o.mode == StaleMarkersMode::kAuto && o.sidecar && !probes.empty()) {
    log::Info("shutdown: probing the pod's targets",
              {{"targets", static_cast<uint64_t>(probes.size())},
               {"window", units::FormatDuration(options_.probe_window)}});
  }
  auto round = [&] {
    ProbeRound r;
    for (auto& [target, prober] : probes) {
      ++r.targets;
      auto timeout = std::min(target->timeout, options_.probe_timeout);
      if (prober->Answers(*target, timeout)) ++r.answered;
    }
    return r;
  };
  return DecideShutdownStaleness(
      o, round, [] { return std::chrono::steady_clock::now(); },
      [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); });
}

void Agent::Shutdown() {
  RequestShutdown();
  // The watcher's callback reloads under mu_: stop it before taking mu_.
  if (watcher_) watcher_->Stop();
  // The web server first: a /-/reload in flight needs mu_.
  if (web_) web_->Stop();
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_ || !wal_) {
    shut_down_ = true;
    return;
  }
  shut_down_ = true;
  ready_ = false;
  auto deadline = std::chrono::steady_clock::now() + options_.shutdown_grace;
  log::Info("shutting down: stopping scrapes, flushing remote writes",
            {{"grace", units::FormatDuration(
                           std::chrono::duration_cast<std::chrono::milliseconds>(options_.shutdown_grace))}});
  for (auto& [key, slot] : loops_) slot->loop->Stop(/*mark_stale=*/false);
  if (self_loop_) self_loop_->Stop(/*mark_stale=*/false);
  ShutdownStalenessDecision staleness = DecideStalenessAtShutdown();
  log::Info("shutdown: staleness markers " + std::string(staleness.mark_stale ? "written" : "not written"),
            {{"reason", staleness.reason}, {"probe_rounds", static_cast<uint64_t>(staleness.rounds)}});
  if (staleness.mark_stale) {
    for (auto& [key, slot] : loops_) slot->loop->MarkStale();
    if (self_loop_) self_loop_->MarkStale();
  }
  loops_.clear();
  self_loop_.reset();
  for (auto& [name, slot] : senders_) slot->sender->Stop(deadline);
  wal_->NotifyReaders();
  for (auto& [name, slot] : senders_) {
    if (slot->thread.joinable()) slot->thread.join();
    auto s = slot->sender->stats();
    log::Info("remote write stopped", {{"url", http::RedactUrl(slot->cfg.url)},
                                       {"samples_sent", s.samples_sent},
                                       {"pending_samples", s.pending_samples + slot->source->pending()}});
  }
  senders_.clear();
  wal_.reset();  // syncs and closes
  log::Info("agent stopped");
}

}  // namespace promsidecar::agent
