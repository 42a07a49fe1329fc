#include "agent/scrape/targets.h"

#include <cstdio>

#include "agent/scrape/offset.h"
#include "common/util/base64.h"

namespace promsidecar::scrape {
namespace {

std::string QueryEscape(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

constexpr std::string_view kParamPrefix = "__param_";

}  // namespace

std::function<std::string()> AuthorizationHeader(const config::ScrapeConfig& job) {
  if (job.basic_auth) {
    config::BasicAuth auth = *job.basic_auth;
    return [auth] {
      std::string password;
      if (!auth.password.empty()) {
        auto secret = config::ReadSecret(auth.password);
        if (secret.ok()) password = secret->Reveal();
      }
      return "Basic " + EncodeBase64(auth.username + ":" + password);
    };
  }
  if (job.authorization) {
    config::Authorization auth = *job.authorization;
    return [auth]() -> std::string {
      if (auth.credentials.empty()) return {};
      auto secret = config::ReadSecret(auth.credentials);
      if (!secret.ok()) return {};
      return auth.type + " " + secret->Reveal();
    };
  }
  return {};
}

std::string TargetUrl(const std::string& scheme, const std::string& address, const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& params) {
  std::string url = scheme + "://" + address;
  if (path.empty() || path[0] != '/') url += '/';
  url += path;
  for (size_t i = 0; i < params.size(); ++i) {
    url += i == 0 ? '?' : '&';
    url += QueryEscape(params[i].first);
    url += '=';
    url += QueryEscape(params[i].second);
  }
  return url;
}

TargetsResult BuildTargets(const config::ScrapeConfig& job, const std::string& pod_uid) {
  TargetsResult out;
  for (const auto& sc : job.static_configs) {
    for (const auto& address : sc.targets) {
      model::Labels labels = sc.labels;
      model::Set(labels, "__address__", address);
      model::Set(labels, "__scheme__", job.scheme);
      model::Set(labels, "__metrics_path__", job.metrics_path);
      model::Set(labels, "job", job.job_name);
      for (const auto& [name, values] : job.params) {
        if (!values.empty()) model::Set(labels, std::string(kParamPrefix) + name, values.front());
      }
      if (!job.relabel_configs.empty() && !relabel::Process(labels, job.relabel_configs)) {
        out.dropped.push_back(address);
        continue;
      }
      std::string addr(model::Get(labels, "__address__"));
      if (addr.empty()) {
        out.errors.push_back("scrape_configs[" + job.job_name + "]: target " + address +
                             ": relabel_configs left no __address__; target skipped");
        continue;
      }
      std::string scheme(model::Get(labels, "__scheme__"));
      if (scheme != "http" && scheme != "https") {
        out.errors.push_back("scrape_configs[" + job.job_name + "]: target " + address + ": scheme \"" +
                             scheme + "\" after relabeling; use http or https; target skipped");
        continue;
      }
      std::string path(model::Get(labels, "__metrics_path__"));
      // Params: every configured one, overridden by __param_<name> labels.
      std::vector<std::pair<std::string, std::string>> params;
      for (const auto& [name, values] : job.params) {
        std::string_view override = model::Get(labels, std::string(kParamPrefix) + name);
        for (size_t i = 0; i < values.size(); ++i) {
          params.emplace_back(name, i == 0 && !override.empty() ? std::string(override) : values[i]);
        }
      }
      for (const auto& l : labels) {
        if (l.name.starts_with(kParamPrefix) && !job.params.contains(l.name.substr(kParamPrefix.size()))) {
          params.emplace_back(l.name.substr(kParamPrefix.size()), l.value);
        }
      }
      if (model::Get(labels, "instance").empty()) model::Set(labels, "instance", addr);
      model::Labels target_labels;
      for (const auto& l : labels) {
        if (!l.name.starts_with("__")) target_labels.push_back(l);
      }

      ScrapeTarget t;
      t.job = job.job_name;
      t.url = TargetUrl(scheme, addr, path, params);
      t.interval = job.scrape_interval;
      t.timeout = job.scrape_timeout;
      t.settings.target_labels = std::move(target_labels);
      t.settings.honor_labels = job.honor_labels;
      t.settings.honor_timestamps = job.honor_timestamps;
      t.settings.limits =
          Limits{job.limits.sample_limit, job.limits.label_limit, job.limits.label_name_length_limit,
                 job.limits.label_value_length_limit, job.limits.body_size_limit};
      t.settings.metric_relabel = job.metric_relabel_configs;
      t.settings.proto.native_histograms = job.scrape_native_histograms;
      t.settings.proto.keep_classic_histograms = job.always_scrape_classic_histograms;
      t.settings.native_histogram_bucket_limit = job.native_histogram_bucket_limit;
      if (job.native_histogram_min_bucket_factor > 0) {
        t.settings.native_histogram_max_schema = model::PickSchema(job.native_histogram_min_bucket_factor);
      }
      t.accept = textparse::AcceptHeader(job.scrape_protocols);
      t.fallback_protocol = job.fallback_scrape_protocol;
      t.tls.ca_file = job.tls_config.ca_file;
      t.tls.cert_file = job.tls_config.cert_file;
      t.tls.key_file = job.tls_config.key_file;
      t.tls.insecure_skip_verify = job.tls_config.insecure_skip_verify;
      t.identity_hash = TargetIdentityHash(pod_uid, job.job_name, t.url);
      t.authorization = AuthorizationHeader(job);
      out.targets.push_back(std::move(t));
    }
  }
  return out;
}

}  // namespace promsidecar::scrape
