// The upstream-engine mode: promsidecar-agent as config renderer for an
// upstream Prometheus running in agent mode in the same pod. Pure.
//
// RenderPrometheusConfig writes a complete prometheus.yml from the shared
// config (global, external labels, limits, remote_write) plus the pod's
// scrape job derived from its annotations. Only fields that the selected
// Prometheus version accepts are written:
//   - global scrape limits (`global.sample_limit`, label_limit,
//     label_name_length_limit, label_value_length_limit, body_size_limit)
//     exist only from Prometheus 2.45 on (2.42 rejects them as unknown
//     fields): they are written under `global` for >= 2.45 only. Every scrape
//     job carries its resolved limits itself, so older versions enforce them
//     too;
//   - `queue_config.retry_on_http_429` (experimental upstream, default false,
//     present in 2.42 and 3.x) is always written: our default is true;
//   - 3.x fails scrapes whose Content-Type is missing or invalid; 2.x (and
//     promsidecar-agent) read them as the text format. For 3.x every job gets
//     `fallback_scrape_protocol: PrometheusText0.0.4` (a 3.0 field, unknown
//     to 2.x), so switching engines does not break sloppy targets;
//   - agent mode rejects alerting, rule_files and remote_read: never written.
// Other 3.x default changes (UTF-8 metric names, HTTP/2 off) need nothing.
//
// Credentials: a source that is a file renders as `password_file`,
// `credentials_file`, `client_secret_file` (the Secret volume's path, so a
// rotated credential takes effect without a reload); an inline value renders
// inline (the rendered file then holds the secret: write it with mode 0600 in
// a directory only the two containers share, an emptyDir). The operator's
// shared configs use files.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "common/util/result.h"

namespace promsidecar::render {

struct PrometheusVersion {
  int major = 2;
  int minor = 42;
  friend auto operator<=>(const PrometheusVersion&, const PrometheusVersion&) = default;
};

// "2.42.0", "v3.5.1", "V3.5", "2.42.0+ds" -> {2, 42}. Error for anything before 2.32
// (no agent mode) or unparseable.
Result<PrometheusVersion> ParsePrometheusVersion(std::string_view text);

// A complete prometheus.yml: global, then scrape_configs (the shared ones,
// then `pod_job` if any), then remote_write. Deterministic (golden-tested).
std::string RenderPrometheusConfig(const config::AgentConfig& shared,
                                   const std::optional<config::ScrapeConfig>& pod_job,
                                   PrometheusVersion version);

// The command line (without the program name) that runs that Prometheus in
// agent mode with lifecycle endpoints (POST /-/reload): `--enable-feature=agent`
// for 2.x, `--agent` for 3.x.
std::vector<std::string> PrometheusAgentArgs(PrometheusVersion version, const std::string& config_path,
                                             const std::string& storage_path,
                                             const std::string& listen_address);

}  // namespace promsidecar::render
