#include "agent/render/prometheus_config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>

#include "common/util/units.h"

namespace promsidecar::render {
namespace {

// Global scrape limits under `global:` are accepted from Prometheus 2.45 on.
constexpr PrometheusVersion kGlobalLimitsSince{2, 45};
// Agent mode exists from 2.32 on (--enable-feature=agent).
constexpr PrometheusVersion kAgentModeSince{2, 32};
// Since when a key exists (Prometheus's CHANGELOG); an older Prometheus
// rejects it, so it is left out for older versions (docs/agent.md lists it).
constexpr PrometheusVersion kMetadataConfigSince{2, 23};
constexpr PrometheusVersion kSendExemplarsSince{2, 27};
constexpr PrometheusVersion kSendNativeHistogramsSince{2, 40};
constexpr PrometheusVersion kBucketLimitSince{2, 45};
constexpr PrometheusVersion kScrapeProtocolsSince{2, 49};
constexpr PrometheusVersion kMinBucketFactorSince{2, 50};
constexpr PrometheusVersion kProtobufMessageSince{2, 54};
constexpr PrometheusVersion kClassicHistogramsKeySince{3, 0};  // always_scrape_classic_histograms (job)
constexpr PrometheusVersion kGlobalClassicHistogramsSince{3, 5};
constexpr PrometheusVersion kScrapeNativeHistogramsSince{3, 8};  // before: a feature flag

// Every value that comes from a user (label values, URLs, paths, header
// values) is double-quoted: `yes`, `null`, `0x1`, `: x` or a leading `*`
// would otherwise change type or meaning for Go's YAML parser.
void Str(YAML::Emitter& out, const std::string& value) {
  out << YAML::DoubleQuoted << value;
}

void KeyStr(YAML::Emitter& out, const char* key, const std::string& value) {
  out << YAML::Key << key << YAML::Value;
  Str(out, value);
}

void KeyDuration(YAML::Emitter& out, const char* key, config::Millis d) {
  out << YAML::Key << key << YAML::Value << units::FormatDuration(d);
}

void StringMap(YAML::Emitter& out, const char* key, const std::map<std::string, std::string>& m) {
  if (m.empty()) return;
  out << YAML::Key << key << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : m) {
    out << YAML::Key;
    Str(out, k);
    out << YAML::Value;
    Str(out, v);
  }
  out << YAML::EndMap;
}

void Labels(YAML::Emitter& out, const char* key, const model::Labels& labels) {
  if (labels.empty()) return;
  out << YAML::Key << key << YAML::Value << YAML::BeginMap;
  for (const auto& label : labels) {
    out << YAML::Key << label.name << YAML::Value;  // names are [a-zA-Z_][a-zA-Z0-9_]*
    Str(out, label.value);
  }
  out << YAML::EndMap;
}

// `key: value` for an inline secret, `key_file: path` for a file.
void Secret(YAML::Emitter& out, const std::string& key, const config::SecretSource& source) {
  if (!source.file.empty()) {
    KeyStr(out, (key + "_file").c_str(), source.file);
  } else if (!source.value.empty()) {
    KeyStr(out, key.c_str(), source.value.Reveal());
  }
}

void Tls(YAML::Emitter& out, const config::TLSConfig& tls) {
  if (tls == config::TLSConfig{}) return;
  out << YAML::Key << "tls_config" << YAML::Value << YAML::BeginMap;
  if (!tls.ca_file.empty()) KeyStr(out, "ca_file", tls.ca_file);
  if (!tls.cert_file.empty()) KeyStr(out, "cert_file", tls.cert_file);
  if (!tls.key_file.empty()) KeyStr(out, "key_file", tls.key_file);
  if (!tls.server_name.empty()) KeyStr(out, "server_name", tls.server_name);
  if (tls.insecure_skip_verify) out << YAML::Key << "insecure_skip_verify" << YAML::Value << true;
  if (!tls.min_version.empty()) KeyStr(out, "min_version", tls.min_version);
  out << YAML::EndMap;
}

void Auth(YAML::Emitter& out, const std::optional<config::BasicAuth>& basic,
          const std::optional<config::Authorization>& authorization) {
  if (basic) {
    out << YAML::Key << "basic_auth" << YAML::Value << YAML::BeginMap;
    KeyStr(out, "username", basic->username);
    Secret(out, "password", basic->password);
    out << YAML::EndMap;
  }
  if (authorization) {
    out << YAML::Key << "authorization" << YAML::Value << YAML::BeginMap;
    KeyStr(out, "type", authorization->type);
    Secret(out, "credentials", authorization->credentials);
    out << YAML::EndMap;
  }
}

void Limits(YAML::Emitter& out, const config::ScrapeLimits& limits) {
  auto put = [&](const char* key, uint64_t v) {
    if (v != 0) out << YAML::Key << key << YAML::Value << v;
  };
  put("sample_limit", limits.sample_limit);
  put("label_limit", limits.label_limit);
  put("label_name_length_limit", limits.label_name_length_limit);
  put("label_value_length_limit", limits.label_value_length_limit);
  if (limits.body_size_limit != 0) {
    out << YAML::Key << "body_size_limit" << YAML::Value << units::FormatBytes(limits.body_size_limit);
  }
}

void Rules(YAML::Emitter& out, const char* key, const std::vector<relabel::Rule>& rules) {
  if (rules.empty()) return;
  out << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const auto& rule : rules) {
    const relabel::RelabelConfigSpec& spec = rule.spec();
    out << YAML::BeginMap;
    if (spec.source_labels) {
      out << YAML::Key << "source_labels" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& l : *spec.source_labels) Str(out, l);
      out << YAML::EndSeq;
    }
    if (spec.separator) KeyStr(out, "separator", *spec.separator);
    if (spec.target_label) KeyStr(out, "target_label", *spec.target_label);
    if (spec.regex) KeyStr(out, "regex", *spec.regex);
    if (spec.modulus) out << YAML::Key << "modulus" << YAML::Value << *spec.modulus;
    if (spec.replacement) KeyStr(out, "replacement", *spec.replacement);
    if (spec.action)
      out << YAML::Key << "action" << YAML::Value << std::string(relabel::ActionName(*spec.action));
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

// scrape_protocols for `version`: PrometheusText1.0.0 exists from 3.0 on.
void Protocols(YAML::Emitter& out, const std::vector<config::ScrapeProtocol>& protocols,
               PrometheusVersion version) {
  out << YAML::Key << "scrape_protocols" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (auto p : protocols) {
    if (version.major < 3 && p == config::ScrapeProtocol::kPrometheusText1_0_0) continue;
    out << std::string(textparse::ToString(p));
  }
  out << YAML::EndSeq;
}

// The scrape keys a job sets beyond what the global section implies.
void NativeHistogramKeys(YAML::Emitter& out, const config::ScrapeConfig& job, const config::GlobalConfig& g,
                         PrometheusVersion version) {
  if (version >= kScrapeProtocolsSince &&
      job.scrape_protocols != config::DefaultScrapeProtocolsFor(g, job.scrape_native_histograms)) {
    Protocols(out, job.scrape_protocols, version);
  }
  if (version >= kScrapeNativeHistogramsSince && job.scrape_native_histograms != g.scrape_native_histograms) {
    out << YAML::Key << "scrape_native_histograms" << YAML::Value << job.scrape_native_histograms;
  }
  if (version >= kClassicHistogramsKeySince &&
      job.always_scrape_classic_histograms != g.always_scrape_classic_histograms) {
    out << YAML::Key << "always_scrape_classic_histograms" << YAML::Value
        << job.always_scrape_classic_histograms;
  }
  if (version >= kBucketLimitSince && job.native_histogram_bucket_limit != 0) {
    out << YAML::Key << "native_histogram_bucket_limit" << YAML::Value << job.native_histogram_bucket_limit;
  }
  if (version >= kMinBucketFactorSince && job.native_histogram_min_bucket_factor != 0) {
    // The shortest text that reads back as the same double ("1.1", not 1.1000000000000001).
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, job.native_histogram_min_bucket_factor);
    (void)ec;  // a finite double always fits
    out << YAML::Key << "native_histogram_min_bucket_factor" << YAML::Value << std::string(buf, end);
  }
}

void Scrape(YAML::Emitter& out, const config::ScrapeConfig& job, const config::GlobalConfig& g,
            PrometheusVersion version) {
  out << YAML::BeginMap;
  KeyStr(out, "job_name", job.job_name);
  if (job.honor_labels) out << YAML::Key << "honor_labels" << YAML::Value << true;
  if (!job.honor_timestamps) out << YAML::Key << "honor_timestamps" << YAML::Value << false;
  KeyDuration(out, "scrape_interval", job.scrape_interval);
  KeyDuration(out, "scrape_timeout", job.scrape_timeout);
  KeyStr(out, "metrics_path", job.metrics_path);
  out << YAML::Key << "scheme" << YAML::Value << job.scheme;
  if (version.major >= 3) {
    // 3.x fails a scrape whose Content-Type is missing or unparsable; 2.x and
    // promsidecar-agent read such a body as the text format. Keep that.
    out << YAML::Key << "fallback_scrape_protocol" << YAML::Value
        << std::string(textparse::ToString(
               job.fallback_scrape_protocol.value_or(config::ScrapeProtocol::kPrometheusText0_0_4)));
  }
  NativeHistogramKeys(out, job, g, version);
  if (!job.params.empty()) {
    out << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
    for (const auto& [name, values] : job.params) {
      out << YAML::Key;
      Str(out, name);
      out << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& v : values) Str(out, v);
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
  Auth(out, job.basic_auth, job.authorization);
  Tls(out, job.tls_config);
  // Always per job (resolved: the job's own value, else the global one), so
  // versions without global limits enforce them too.
  Limits(out, job.limits);
  out << YAML::Key << "static_configs" << YAML::Value << YAML::BeginSeq;
  for (const auto& sc : job.static_configs) {
    out << YAML::BeginMap << YAML::Key << "targets" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& t : sc.targets) Str(out, t);
    out << YAML::EndSeq;
    Labels(out, "labels", sc.labels);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  Rules(out, "relabel_configs", job.relabel_configs);
  Rules(out, "metric_relabel_configs", job.metric_relabel_configs);
  out << YAML::EndMap;
}

void RemoteWrite(YAML::Emitter& out, const config::RemoteWriteConfig& rw, PrometheusVersion version) {
  out << YAML::BeginMap;
  KeyStr(out, "url", rw.url);
  if (!rw.name.empty()) KeyStr(out, "name", rw.name);
  KeyDuration(out, "remote_timeout", rw.remote_timeout);
  StringMap(out, "headers", rw.headers);
  Rules(out, "write_relabel_configs", rw.write_relabel_configs);
  Auth(out, rw.basic_auth, rw.authorization);
  if (rw.oauth2) {
    const config::OAuth2& o = *rw.oauth2;
    out << YAML::Key << "oauth2" << YAML::Value << YAML::BeginMap;
    KeyStr(out, "client_id", o.client_id);
    Secret(out, "client_secret", o.client_secret);
    KeyStr(out, "token_url", o.token_url);
    if (!o.scopes.empty()) {
      out << YAML::Key << "scopes" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& s : o.scopes) Str(out, s);
      out << YAML::EndSeq;
    }
    StringMap(out, "endpoint_params", o.endpoint_params);
    Tls(out, o.tls_config);
    out << YAML::EndMap;
  }
  Tls(out, rw.tls_config);
  if (!rw.proxy_url.empty()) KeyStr(out, "proxy_url", rw.proxy_url);
  const config::QueueConfig& q = rw.queue_config;
  out << YAML::Key << "queue_config" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "capacity" << YAML::Value << q.capacity;
  out << YAML::Key << "max_samples_per_send" << YAML::Value << q.max_samples_per_send;
  KeyDuration(out, "batch_send_deadline", q.batch_send_deadline);
  KeyDuration(out, "min_backoff", q.min_backoff);
  KeyDuration(out, "max_backoff", q.max_backoff);
  // Experimental in 2.x and 3.x alike (default false there): written always,
  // so upstream follows our default of retrying 429.
  out << YAML::Key << "retry_on_http_429" << YAML::Value << q.retry_on_http_429;
  out << YAML::EndMap;
  if (rw.message_v2 && version >= kProtobufMessageSince) {
    out << YAML::Key << "protobuf_message" << YAML::Value << "io.prometheus.write.v2.Request";
  }
  if (rw.send_exemplars && version >= kSendExemplarsSince) {
    out << YAML::Key << "send_exemplars" << YAML::Value << true;
  }
  if (rw.send_native_histograms && version >= kSendNativeHistogramsSince) {
    out << YAML::Key << "send_native_histograms" << YAML::Value << true;
  }
  if (rw.metadata_config != config::MetadataConfig{} && version >= kMetadataConfigSince) {
    out << YAML::Key << "metadata_config" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "send" << YAML::Value << rw.metadata_config.send;
    KeyDuration(out, "send_interval", rw.metadata_config.send_interval);
    out << YAML::Key << "max_samples_per_send" << YAML::Value << rw.metadata_config.max_samples_per_send;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

std::optional<int> ParseInt(std::string_view s) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

Result<PrometheusVersion> ParsePrometheusVersion(std::string_view text) {
  std::string_view s = text;
  // The injector passes image tags, where both spellings occur.
  if (!s.empty() && (s.front() == 'v' || s.front() == 'V')) s.remove_prefix(1);
  auto dot = s.find('.');
  if (dot == std::string_view::npos) {
    return MakeError("Prometheus version \"" + std::string(text) +
                     "\": expected MAJOR.MINOR[.PATCH], e.g. 2.42.0");
  }
  auto rest = s.substr(dot + 1);
  auto minor_end = rest.find_first_not_of("0123456789");
  auto major = ParseInt(s.substr(0, dot));
  auto minor = ParseInt(rest.substr(0, minor_end));
  if (!major || !minor) {
    return MakeError("Prometheus version \"" + std::string(text) +
                     "\": expected MAJOR.MINOR[.PATCH], e.g. 2.42.0");
  }
  PrometheusVersion v{*major, *minor};
  if (v < kAgentModeSince) {
    return MakeError("Prometheus version \"" + std::string(text) +
                     "\": agent mode needs Prometheus 2.32 or newer (use a newer image)");
  }
  return v;
}

std::string RenderPrometheusConfig(const config::AgentConfig& shared,
                                   const std::optional<config::ScrapeConfig>& pod_job,
                                   PrometheusVersion version) {
  YAML::Emitter out;
  out.SetIndent(2);
  out << YAML::BeginMap;

  out << YAML::Key << "global" << YAML::Value << YAML::BeginMap;
  KeyDuration(out, "scrape_interval", shared.global.scrape_interval);
  KeyDuration(out, "scrape_timeout", shared.global.scrape_timeout);
  Labels(out, "external_labels", shared.global.external_labels);
  if (version >= kGlobalLimitsSince) Limits(out, shared.global.limits);
  if (!shared.global.scrape_protocols.empty() && version >= kScrapeProtocolsSince) {
    Protocols(out, shared.global.scrape_protocols, version);
  }
  if (shared.global.scrape_native_histograms && version >= kScrapeNativeHistogramsSince) {
    out << YAML::Key << "scrape_native_histograms" << YAML::Value << true;
  }
  if (shared.global.always_scrape_classic_histograms && version >= kGlobalClassicHistogramsSince) {
    out << YAML::Key << "always_scrape_classic_histograms" << YAML::Value << true;
  }
  out << YAML::EndMap;

  std::vector<const config::ScrapeConfig*> jobs;
  for (const auto& job : shared.scrape_configs) jobs.push_back(&job);
  if (pod_job) jobs.push_back(&*pod_job);
  if (!jobs.empty()) {
    out << YAML::Key << "scrape_configs" << YAML::Value << YAML::BeginSeq;
    for (const auto* job : jobs) Scrape(out, *job, shared.global, version);
    out << YAML::EndSeq;
  }
  if (!shared.remote_write.empty()) {
    out << YAML::Key << "remote_write" << YAML::Value << YAML::BeginSeq;
    for (const auto& rw : shared.remote_write) RemoteWrite(out, rw, version);
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return "# Rendered by promsidecar-agent for Prometheus " + std::to_string(version.major) + "." +
         std::to_string(version.minor) + " in agent mode. Do not edit: it is rewritten on every change.\n" +
         out.c_str() + "\n";
}

std::vector<std::string> PrometheusAgentArgs(PrometheusVersion version, const std::string& config_path,
                                             const std::string& storage_path,
                                             const std::string& listen_address) {
  return {
      version.major >= 3 ? "--agent" : "--enable-feature=agent",
      "--config.file=" + config_path,
      "--storage.agent.path=" + storage_path,
      "--web.listen-address=" + listen_address,
      "--web.enable-lifecycle",
  };
}

}  // namespace promsidecar::render
