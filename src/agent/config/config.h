// The agent's Prometheus-style configuration file (`--config.file`).
//
// A subset of Prometheus's configuration with the same key names, defaults and
// validation, so an existing Prometheus agent config can be pointed at
// promsidecar-agent:
//
//   global:          scrape_interval (1m), scrape_timeout (min(10s, interval)),
//                    external_labels, the scrape-limit defaults below, and
//                    scrape_protocols, scrape_native_histograms,
//                    always_scrape_classic_histograms (job defaults)
//   scrape_configs:  static_configs only (no service discovery)
//   sidecar:         min_scrape_interval, legacy_annotations, self_monitoring
//                    (our extension: the sidecar mode's settings)
//   remote_write:    url, name, remote_timeout, headers, write_relabel_configs,
//                    basic_auth | authorization | oauth2, tls_config, proxy_url,
//                    queue_config, protobuf_message, send_exemplars,
//                    send_native_histograms, metadata_config
//
// Global scrape limits (sample_limit, label_limit, label_name_length_limit,
// label_value_length_limit, body_size_limit) are defaults for every job, as
// in Prometheus 2.45+; a job's own non-zero value wins, 0 means no limit. The
// operator renders them from the PrometheusAgent's spec in sidecar mode.
//
// Deviations from Prometheus (deliberate, documented here):
// - queue_config.retry_on_http_429 defaults to TRUE (Prometheus: false); the
//   remote-write spec allows retrying 429 and our design retries it with
//   backoff, honouring Retry-After.
// - Targets must be `host:port` (Prometheus may add a default port); the agent
//   scrapes neighbours on explicit ports.
// - Keys Prometheus accepts but we do not implement (service discovery,
//   rule_files, alerting, remote_read, storage, queue_config.max_shards, ...)
//   are errors, never silently ignored.
// - The default remote_write name is the first 6 hex digits of the md5 of a
//   canonical rendering of that remote_write section, with inline secret values
//   left out (Prometheus hashes its YAML rendering, secrets included).
//
// Errors are collected, not stopped at: every message reads
// `FILE:LINE: KEY.PATH: what is wrong (what is allowed)`, e.g.
// `config.yml:12: scrape_configs[0].kubernetes_sd_configs: unsupported key
// (promsidecar-agent supports static_configs only)`. Secret values never
// appear in messages.
//
// Credentials in `*_file` fields are stored as paths (relative paths resolved
// against the config file's directory, as Prometheus does) and read when used
// (ReadSecret), so a rotated file takes effect without a reload.
//
// All types are plain values: copyable, comparable with ==, so a reload can
// tell which scrape jobs and remote_write sections changed.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "agent/model/labels.h"
#include "agent/relabel/relabel.h"
#include "agent/textparse/content_type.h"
#include "common/util/result.h"

namespace promsidecar::config {

using Millis = std::chrono::milliseconds;

// A secret string (password, token, client secret): compares by value, but
// never prints. Call Reveal() only where the value leaves the process.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  const std::string& Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  friend bool operator==(const Secret&, const Secret&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Secret& s) {
    return os << (s.value_.empty() ? "" : "<secret>");
  }

 private:
  std::string value_;
};

// A credential given inline (`password: x`) or as a file (`password_file:`).
// At most one is set; both empty means "not configured".
struct SecretSource {
  Secret value;
  std::string file;  // absolute, or relative to the agent's working directory
  bool empty() const { return value.empty() && file.empty(); }
  friend bool operator==(const SecretSource&, const SecretSource&) = default;
};

// The secret's current value: the inline value, or the file's contents read
// now with surrounding whitespace trimmed (as Prometheus does). The error
// names the file, never its contents.
Result<Secret> ReadSecret(const SecretSource& source);

struct TLSConfig {
  std::string ca_file;  // paths resolved against the config file's directory
  std::string cert_file;
  std::string key_file;
  std::string server_name;
  bool insecure_skip_verify = false;
  std::string min_version;  // "" (library default), "TLS10", "TLS11", "TLS12" or "TLS13"
  friend bool operator==(const TLSConfig&, const TLSConfig&) = default;
};

struct BasicAuth {
  std::string username;
  SecretSource password;
  friend bool operator==(const BasicAuth&, const BasicAuth&) = default;
};

// `Authorization: <type> <credentials>`.
struct Authorization {
  std::string type = "Bearer";  // never "Basic" (use basic_auth)
  SecretSource credentials;
  friend bool operator==(const Authorization&, const Authorization&) = default;
};

// OAuth 2.0 client credentials grant.
struct OAuth2 {
  std::string client_id;  // required
  SecretSource client_secret;
  std::string token_url;  // required, http(s)
  std::vector<std::string> scopes;
  std::map<std::string, std::string> endpoint_params;
  TLSConfig tls_config;
  friend bool operator==(const OAuth2&, const OAuth2&) = default;
};

// Per-scrape limits; 0 means no limit.
struct ScrapeLimits {
  uint64_t sample_limit = 0;
  uint64_t label_limit = 0;
  uint64_t label_name_length_limit = 0;
  uint64_t label_value_length_limit = 0;
  uint64_t body_size_limit = 0;  // bytes
  friend bool operator==(const ScrapeLimits&, const ScrapeLimits&) = default;
};

using textparse::ScrapeProtocol;

struct GlobalConfig {
  Millis scrape_interval{std::chrono::minutes(1)};
  Millis scrape_timeout{std::chrono::seconds(10)};
  model::Labels external_labels;  // canonical (sorted), names valid
  ScrapeLimits limits;            // defaults for every scrape job
  // Defaults for every job, as in Prometheus 3. Empty scrape_protocols: each
  // job picks Prometheus's default (protobuf first when it scrapes native
  // histograms).
  std::vector<ScrapeProtocol> scrape_protocols;
  bool scrape_native_histograms = false;
  bool always_scrape_classic_histograms = false;
  friend bool operator==(const GlobalConfig&, const GlobalConfig&) = default;
};

struct StaticConfig {
  std::vector<std::string> targets;  // "host:port", "[v6]:port"
  model::Labels labels;              // canonical, names valid
  friend bool operator==(const StaticConfig&, const StaticConfig&) = default;
};

// One scrape job, with global defaults already applied.
struct ScrapeConfig {
  std::string job_name;
  std::vector<StaticConfig> static_configs;
  std::string metrics_path = "/metrics";
  std::string scheme = "http";  // "http" or "https"
  std::map<std::string, std::vector<std::string>> params;
  bool honor_labels = false;
  bool honor_timestamps = true;
  Millis scrape_interval{0};  // resolved: job value, else global
  Millis scrape_timeout{0};   // resolved: job value, else min(global timeout, interval); <= interval
  ScrapeLimits limits;        // resolved: job value if non-zero, else global
  // Negotiation (resolved: job, else global, else Prometheus's default for
  // scrape_native_histograms) and what a Content-Type we cannot read means.
  std::vector<ScrapeProtocol> scrape_protocols{textparse::DefaultScrapeProtocols().begin(),
                                               textparse::DefaultScrapeProtocols().end()};
  std::optional<ScrapeProtocol> fallback_scrape_protocol;
  bool scrape_native_histograms = false;          // resolved: job, else global
  bool always_scrape_classic_histograms = false;  // resolved: job, else global
  uint64_t native_histogram_bucket_limit = 0;     // 0: no limit
  double native_histogram_min_bucket_factor = 0;  // 0: none (schema as exposed)
  std::vector<relabel::Rule> relabel_configs;
  std::vector<relabel::Rule> metric_relabel_configs;
  std::optional<BasicAuth> basic_auth;  // at most one of basic_auth, authorization
  std::optional<Authorization> authorization;
  TLSConfig tls_config;
  friend bool operator==(const ScrapeConfig&, const ScrapeConfig&) = default;
};

// Defaults are Prometheus's DefaultQueueConfig except retry_on_http_429.
struct QueueConfig {
  uint64_t capacity = 10000;
  uint64_t max_samples_per_send = 2000;
  Millis batch_send_deadline{std::chrono::seconds(5)};
  Millis min_backoff{30};
  Millis max_backoff{std::chrono::seconds(5)};  // >= min_backoff
  bool retry_on_http_429 = true;
  friend bool operator==(const QueueConfig&, const QueueConfig&) = default;
};

// Prometheus's remote_write metadata_config.
struct MetadataConfig {
  bool send = true;
  Millis send_interval{std::chrono::minutes(1)};  // 1.0: how often metadata requests go out
  uint64_t max_samples_per_send = 500;            // 1.0: families per metadata request
  friend bool operator==(const MetadataConfig&, const MetadataConfig&) = default;
};

struct RemoteWriteConfig {
  std::string url;   // http:// or https://, with a host
  std::string name;  // unique; defaulted to a 6-hex-digit hash of the section
  Millis remote_timeout{std::chrono::seconds(30)};
  std::map<std::string, std::string> headers;  // no reserved or Authorization headers
  std::vector<relabel::Rule> write_relabel_configs;
  // At most one of basic_auth, authorization, oauth2.
  std::optional<BasicAuth> basic_auth;
  std::optional<Authorization> authorization;
  std::optional<OAuth2> oauth2;
  TLSConfig tls_config;
  std::string proxy_url;  // "" or http(s)://host[:port]
  QueueConfig queue_config;
  // protobuf_message: false = prometheus.WriteRequest (1.0, Prometheus's
  // default), true = io.prometheus.write.v2.Request (2.0).
  bool message_v2 = false;
  bool send_exemplars = false;
  bool send_native_histograms = false;
  MetadataConfig metadata_config;
  friend bool operator==(const RemoteWriteConfig&, const RemoteWriteConfig&) = default;
};

// Settings of the sidecar mode (`sidecar:`), rendered by the operator from
// the PrometheusAgent's spec.sidecar. Ignored by a standalone agent.
struct SidecarConfig {
  Millis min_scrape_interval{std::chrono::seconds(10)};  // annotations cannot go below it
  bool legacy_annotations = false;                       // also honour prometheus.io/scrape|port|path|scheme
  bool self_monitoring = true;  // send the agent's own health series (job="promsidecar-agent")
  friend bool operator==(const SidecarConfig&, const SidecarConfig&) = default;
};

struct AgentConfig {
  GlobalConfig global;
  SidecarConfig sidecar;
  std::vector<ScrapeConfig> scrape_configs;     // unique job_name
  std::vector<RemoteWriteConfig> remote_write;  // unique name
  friend bool operator==(const AgentConfig&, const AgentConfig&) = default;

  const ScrapeConfig* FindJob(std::string_view job_name) const;
  const RemoteWriteConfig* FindRemoteWrite(std::string_view name) const;
};

// The scrape protocols of a job that sets none: the global list, else
// Prometheus's default for whether it scrapes native histograms.
std::vector<ScrapeProtocol> DefaultScrapeProtocolsFor(const GlobalConfig& global, bool native_histograms);

// Gives a job built outside the file (the sidecar's pod job) the global
// scrape defaults a job of the file would get.
void ApplyGlobalScrapeDefaults(const GlobalConfig& global, ScrapeConfig& job);

// Everything a parse found: a config when there are no errors, otherwise the
// complete list of errors in file order.
struct ParseOutcome {
  std::optional<AgentConfig> config;
  std::vector<std::string> errors;
};

// `text` is YAML; `filename` is used in messages and its directory resolves
// relative `*_file` paths (a bare name resolves against the working dir).
ParseOutcome ParseConfig(std::string_view text, const std::string& filename);

// Reads and parses `path`. On failure the error message is every error, one
// per line.
Result<AgentConfig> LoadConfigFile(const std::string& path);
Result<AgentConfig> LoadConfigString(std::string_view text, const std::string& pseudo_filename);

// `promsidecar-agent check config FILE`: every error, empty when valid.
std::vector<std::string> CheckConfig(const std::string& path);

// Header names a remote_write section may not set (lower case): the protocol's
// own headers and connection-level ones. Authorization is refused separately
// (use basic_auth, authorization or oauth2).
bool IsReservedHeader(std::string_view name);

}  // namespace promsidecar::config
