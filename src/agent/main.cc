// promsidecar-agent: flags, signals and subcommands only; the work is in
// runtime/agent.h (scraping) and runtime/renderer.h (upstream engine).
//
//   promsidecar-agent --config.file=agent.yml [--web.listen-address=:9099] ...
//   promsidecar-agent --render-prometheus-config=OUT [--reload-url=URL] --config.file=... ...
//   promsidecar-agent check config FILE
//   promsidecar-agent check metrics [--format=text|openmetrics] < page.txt
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>

#include "agent/config/config.h"
#include "agent/render/prometheus_config.h"
#include "agent/runtime/agent.h"
#include "agent/runtime/renderer.h"
#include "agent/textparse/check.h"
#include "common/log/log.h"
#include "common/util/units.h"

#ifndef PROMSIDECAR_VERSION
#define PROMSIDECAR_VERSION "dev"
#endif

namespace ps = promsidecar;

namespace {

int CheckConfig(const std::string& file) {
  auto errors = ps::config::CheckConfig(file);
  if (errors.empty()) {
    std::cout << file << ": SUCCESS: the configuration is valid\n";
    return 0;
  }
  std::cerr << file << ": FAILED: " << errors.size() << (errors.size() == 1 ? " error\n" : " errors\n");
  for (const auto& e : errors) std::cerr << "  " << e << "\n";
  return 1;
}

int CheckMetrics(const std::string& format_name) {
  ps::textparse::Format format = format_name == "openmetrics" ? ps::textparse::Format::kOpenMetrics
                                                              : ps::textparse::Format::kPrometheusText;
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  auto problems = ps::textparse::CheckMetrics(input, format);
  for (const auto& p : problems) std::cerr << ps::textparse::ToString(p) << "\n";
  if (ps::textparse::HasErrors(problems)) return 1;
  // Lint problems alone do not fail the check (exit 3 would break pipelines
  // that only care about parseability; promtool exits 3 for lint).
  return 0;
}

// Signals are taken synchronously by a dedicated thread: SIGHUP reloads,
// SIGTERM/SIGINT shut down.
void BlockSignals(sigset_t* set) {
  sigemptyset(set);
  sigaddset(set, SIGHUP);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
  pthread_sigmask(SIG_BLOCK, set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// Runs `process` until SIGTERM/SIGINT; SIGHUP calls `on_hup`.
template <typename Process>
int RunUntilSignal(Process& process, sigset_t* signals, const std::function<void()>& on_hup) {
  std::thread signal_thread([&] {
    while (true) {
      int sig = 0;
      if (sigwait(signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        on_hup();
        continue;
      }
      ps::log::Info("signal received, shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      process.RequestShutdown();
      return;
    }
  });
  process.WaitForShutdownRequest();
  process.Shutdown();
  signal_thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "promsidecar-agent: scrapes Prometheus targets, keeps a small write-ahead log, and remote-writes "
      "(Prometheus "
      "remote write 1.0). Runs standalone from a Prometheus-style config file or as the sidecar that "
      "promsidecar-operator injects; with --render-prometheus-config, as the config renderer and reloader of "
      "an "
      "upstream Prometheus in agent mode.",
      "promsidecar-agent"};
  app.set_version_flag("--version", std::string("promsidecar-agent ") + PROMSIDECAR_VERSION);

  ps::agent::AgentOptions opts;
  opts.version = PROMSIDECAR_VERSION;
  std::string wal_max_size = "256MiB", wal_segment_size = "1MiB", fsync = "batch", grace = "10s";
  std::string log_level = "info", log_format = "logfmt";
  opts.wal.dir = "data/wal";
  app.add_option("--config.file", opts.config_file,
                 "Prometheus-style configuration file. In sidecar mode: the shared part the operator renders "
                 "(may appear after the start; until then the agent scrapes into its WAL with defaults).");
  app.add_option(
      "--pod.annotations-file", opts.sidecar.annotations_file,
      "Sidecar mode: the downwardAPI file of the pod's annotations; the prometheus.operator.io/* "
      "annotations define the scrape job. Pod identity comes from POD_NAME, POD_NAMESPACE, POD_UID, "
      "POD_IP.");
  app.add_option("--pod.labels-file", opts.sidecar.labels_file,
                 "Sidecar mode: the downwardAPI file of the pod's labels (for the job label).");
  app.add_option(
         "--web.listen-address", opts.listen_address,
         "Address for /metrics, /-/healthy, /-/ready and /-/reload. A failed bind is retried; scraping "
         "goes on meanwhile.")
      ->capture_default_str();
  app.add_flag("--web.enable-lifecycle", opts.enable_lifecycle, "Enable POST /-/reload (as in Prometheus).");
  app.add_option("--wal.dir", opts.wal.dir, "Directory of the write-ahead log.")->capture_default_str();
  app.add_option("--wal.max-size", wal_max_size,
                 "Disk bound of the WAL; when reached the oldest data is dropped and counted.")
      ->capture_default_str();
  app.add_option("--wal.segment-size", wal_segment_size, "Size of one WAL segment file.")
      ->capture_default_str();
  app.add_option(
         "--wal.fsync", fsync,
         "always: fsync every scrape (survives power loss); batch: at most every second; never: survives "
         "process crashes only.")
      ->capture_default_str();
  app.add_option("--shutdown.grace", grace,
                 "On SIGTERM, how long to keep sending what is pending before exiting.")
      ->capture_default_str();
  std::vector<std::string> features;
  app.add_option(
         "--enable-feature", features,
         "Prometheus feature flags the agent implements: created-timestamp-zero-ingestion (a counter, "
         "summary or histogram sample whose created timestamp is newer than the series' last sample is "
         "preceded by a zero sample at that time; protobuf scrapes). Repeatable or comma-separated.")
      ->delimiter(',');
  std::string stale_markers = "auto", probe_window = "0s";
  app.add_option("--shutdown.stale-markers", stale_markers,
                 "auto: no staleness markers when the process stops (as in Prometheus), except in sidecar "
                 "mode when none of the pod's targets answers any more (the pod is going away); always; "
                 "never.")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  app.add_option("--shutdown.probe-window", probe_window,
                 "Sidecar mode, auto: how long to keep probing the pod's targets at SIGTERM while they still "
                 "answer (for a regular, non-native sidecar, stopped together with the app); 0: one probe.")
      ->capture_default_str();
  std::string render_output, reload_url, prometheus_version = "2.42";
  app.add_option(
      "--render-prometheus-config", render_output,
      "Upstream-engine mode: instead of scraping, render a complete prometheus.yml for an upstream "
      "Prometheus "
      "in agent mode to this file (scrape job from the pod's annotations, remote_write from --config.file), "
      "again whenever an input changes. No WAL; --wal.* and --web.enable-lifecycle do not apply.");
  app.add_option("--reload-url", reload_url,
                 "With --render-prometheus-config: POST here after each change of the file, e.g. "
                 "http://127.0.0.1:9090/-/reload (Prometheus needs --web.enable-lifecycle); retried with "
                 "backoff while Prometheus is not up. Without it only the file is written.");
  app.add_option(
         "--prometheus.version", prometheus_version,
         "With --render-prometheus-config: the version of the Prometheus that reads the file (2.32 or "
         "newer); the file uses only fields that version accepts.")
      ->capture_default_str();
  app.add_option("--log.level", log_level, "debug, info, warn or error.")->capture_default_str();
  app.add_option("--log.format", log_format, "logfmt or json.")->capture_default_str();

  auto* check =
      app.add_subcommand("check", "Validate a configuration file or an exposition page, like promtool.");
  check->require_subcommand(1);
  std::string check_file;
  auto* check_config =
      check->add_subcommand("config", "Validate a configuration file; exit 1 with every error.");
  check_config->add_option("FILE", check_file, "The configuration file.")->required();
  std::string metrics_format = "text";
  auto* check_metrics = check->add_subcommand("metrics",
                                              "Parse an exposition page from stdin; print each problem with "
                                              "its line; exit 1 if it cannot be parsed.");
  check_metrics->add_option("--format", metrics_format, "text (Prometheus 0.0.4) or openmetrics.")
      ->check(CLI::IsMember({"text", "openmetrics"}))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  if (check_config->parsed()) return CheckConfig(check_file);
  if (check_metrics->parsed()) return CheckMetrics(metrics_format);

  auto level = ps::log::ParseLevel(log_level);
  auto format = ps::log::ParseFormat(log_format);
  if (!level.ok() || !format.ok()) {
    std::cerr << "--log.level/--log.format: " << (level.ok() ? format.message() : level.message()) << "\n";
    return 2;
  }
  ps::log::Configure(*level, *format);
  if (opts.config_file.empty()) {
    std::cerr << "--config.file is required (see --help)\n";
    return 2;
  }
  auto bad_flag = [](const std::string& flag, const std::string& why) {
    std::cerr << flag << ": " << why << "\n";
    return 2;
  };
  const bool render_mode = !render_output.empty();
  for (const char* flag : {"--reload-url", "--prometheus.version"}) {
    if (!render_mode && app.count(flag) > 0)
      return bad_flag(flag, "only applies with --render-prometheus-config");
  }
  if (render_mode) {
    for (const char* flag :
         {"--wal.dir", "--wal.max-size", "--wal.segment-size", "--wal.fsync", "--web.enable-lifecycle"}) {
      if (app.count(flag) > 0)
        ps::log::Warn("flag ignored with --render-prometheus-config", {{"flag", flag}});
    }
  }
  auto prom_version = ps::render::ParsePrometheusVersion(prometheus_version);
  if (!prom_version.ok()) return bad_flag("--prometheus.version", prom_version.message());
  if (!reload_url.empty() && reload_url.rfind("http://", 0) != 0 && reload_url.rfind("https://", 0) != 0) {
    return bad_flag("--reload-url",
                    "\"" + ps::http::RedactUrl(reload_url) +
                        "\" is not an http:// or https:// URL (e.g. http://127.0.0.1:9090/-/reload)");
  }
  auto max_size = ps::units::ParseBytes(wal_max_size);
  if (!max_size.ok()) return bad_flag("--wal.max-size", max_size.message());
  auto segment = ps::units::ParseBytes(wal_segment_size);
  if (!segment.ok() || *segment < 64 * 1024) {
    return bad_flag("--wal.segment-size", segment.ok() ? "must be at least 64KiB" : segment.message());
  }
  auto policy = ps::wal::ParseFsyncPolicy(fsync);
  if (!policy.ok()) return bad_flag("--wal.fsync", policy.message());
  auto grace_d = ps::units::ParseDuration(grace);
  if (!grace_d.ok()) return bad_flag("--shutdown.grace", grace_d.message());
  auto window_d = ps::units::ParseDuration(probe_window);
  if (!window_d.ok()) return bad_flag("--shutdown.probe-window", window_d.message());
  if (*window_d >= *grace_d) {
    return bad_flag("--shutdown.probe-window", probe_window + " must be shorter than --shutdown.grace (" +
                                                   grace + "): probing takes from the time left to send");
  }
  for (const auto& f : features) {
    if (f == "created-timestamp-zero-ingestion") {
      opts.created_timestamp_zero_ingestion = true;
    } else {
      return bad_flag(
          "--enable-feature",
          "unknown feature \"" + f + "\" (promsidecar-agent implements created-timestamp-zero-ingestion)");
    }
  }
  opts.stale_markers = ps::agent::ParseStaleMarkersMode(stale_markers).value();
  opts.probe_window = *window_d;
  opts.wal.max_size = *max_size;
  opts.wal.segment_size = *segment;
  opts.wal.fsync = *policy;
  opts.shutdown_grace = *grace_d;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  opts.pod_uid = env("POD_UID");
  opts.sidecar.pod = {env("POD_NAME"), env("POD_NAMESPACE"), env("POD_UID"), env("POD_IP")};
  if (!opts.sidecar.annotations_file.empty() &&
      (opts.sidecar.pod.name.empty() || opts.sidecar.pod.namespace_.empty())) {
    std::cerr << "--pod.annotations-file (sidecar mode) needs POD_NAME and POD_NAMESPACE in the environment "
                 "(the injector sets them from the downward API)\n";
    return 2;
  }

  sigset_t signals;
  BlockSignals(&signals);
  if (render_mode) {
    ps::agent::RendererOptions ro;
    ro.output_file = render_output;
    ro.reload_url = reload_url;
    ro.prometheus_version = *prom_version;
    ro.config_file = opts.config_file;
    ro.sidecar = opts.sidecar;
    ro.listen_address = opts.listen_address;
    ro.version = opts.version;
    ps::agent::Renderer renderer(ro);
    if (ps::Status s = renderer.Start(); !s.ok()) {
      ps::log::Error("cannot start", {{"err", s.message()}});
      return 1;
    }
    return RunUntilSignal(renderer, &signals, [&] {
      ps::log::Info("SIGHUP: rendering again");
      renderer.Trigger();
    });
  }
  ps::agent::Agent agent(opts);
  if (ps::Status s = agent.Start(); !s.ok()) {
    ps::log::Error("cannot start", {{"err", s.message()}});
    return 1;
  }
  return RunUntilSignal(agent, &signals, [&] {
    ps::log::Info("SIGHUP: reloading configuration");
    (void)agent.Reload();
  });
}
