#include "operator/render/render.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <set>

#include <yaml-cpp/yaml.h>

#include "common/kube/config.h"
#include "common/util/base64.h"
#include "common/util/hash.h"
#include "common/util/units.h"
#include "operator/api/well_known.h"

namespace promsidecar::render {
namespace {

using nlohmann::json;

std::string Quote(const std::string& s) {
  return "\"" + s + "\"";
}

// Resolves references against `refs`, collecting credential files.
class Renderer {
 public:
  Renderer(const api::Agent& agent, const ReferencedObjects& refs) : agent_(agent), refs_(refs) {}

  Result<std::string> FromSecret(const api::SecretKeySelector& sel, const std::string& path) {
    auto obj = refs_.secrets.find(sel.name);
    if (obj == refs_.secrets.end()) {
      return Fail(path + ": Secret " + Quote(sel.name) + " not found in namespace " +
                  Quote(agent_.namespace_) + " (create it, or fix the reference)");
    }
    auto v = obj->second.find(sel.key);
    if (v == obj->second.end()) {
      return Fail(path + ": Secret " + Quote(sel.name) + " has no key " + Quote(sel.key) +
                  " (add the key, or fix the reference)");
    }
    return v->second;
  }

  Result<std::string> FromConfigMap(const api::ConfigMapKeySelector& sel, const std::string& path) {
    auto obj = refs_.config_maps.find(sel.name);
    if (obj == refs_.config_maps.end()) {
      return Fail(path + ": ConfigMap " + Quote(sel.name) + " not found in namespace " +
                  Quote(agent_.namespace_) + " (create it, or fix the reference)");
    }
    auto v = obj->second.find(sel.key);
    if (v == obj->second.end()) {
      return Fail(path + ": ConfigMap " + Quote(sel.name) + " has no key " + Quote(sel.key) +
                  " (add the key, or fix the reference)");
    }
    return v->second;
  }

  Result<std::string> FromEither(const api::SecretOrConfigMap& s, const std::string& path) {
    if (s.secret) return FromSecret(*s.secret, path + ".secret");
    if (s.config_map) return FromConfigMap(*s.config_map, path + ".configMap");
    return Fail(path + ": neither secret nor configMap is set (set one)");
  }

  // Stores `value` as data key `key` and returns the path the config names.
  std::string File(const std::string& key, std::string value) {
    files_[key] = std::move(value);
    return key;  // relative to config.yaml's directory
  }

  std::map<std::string, std::string>& files() { return files_; }

  Error Fail(const std::string& msg) const {
    return MakeError("PrometheusAgent " + agent_.Ref() + ": " + msg);
  }

 private:
  const api::Agent& agent_;
  const ReferencedObjects& refs_;
  std::map<std::string, std::string> files_;
};

void EmitString(YAML::Emitter& out, const std::string& key, const std::string& value) {
  out << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << value;
}

void EmitStringMap(YAML::Emitter& out, const std::string& key, const std::map<std::string, std::string>& m) {
  out << YAML::Key << key << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : m)
    out << YAML::Key << YAML::DoubleQuoted << k << YAML::Value << YAML::DoubleQuoted << v;
  out << YAML::EndMap;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Status EmitTls(YAML::Emitter& out, Renderer& r, const api::TlsConfig& tls, const std::string& path,
               const std::string& file_prefix) {
  if (!tls.max_version.empty()) {
    return r.Fail(path + ".maxVersion: not supported by promsidecar-agent (remove it; minVersion is)");
  }
  out << YAML::Key << "tls_config" << YAML::Value << YAML::BeginMap;
  if (tls.ca) {
    auto v = r.FromEither(*tls.ca, path + ".ca");
    if (!v) return v.error();
    EmitString(out, "ca_file", r.File(file_prefix + "ca.crt", *v));
  }
  if (tls.cert) {
    auto v = r.FromEither(*tls.cert, path + ".cert");
    if (!v) return v.error();
    EmitString(out, "cert_file", r.File(file_prefix + "tls.crt", *v));
  }
  if (tls.key_secret) {
    auto v = r.FromSecret(*tls.key_secret, path + ".keySecret");
    if (!v) return v.error();
    EmitString(out, "key_file", r.File(file_prefix + "tls.key", *v));
  }
  if (!tls.server_name.empty()) EmitString(out, "server_name", tls.server_name);
  if (tls.insecure_skip_verify) out << YAML::Key << "insecure_skip_verify" << YAML::Value << true;
  if (!tls.min_version.empty()) EmitString(out, "min_version", tls.min_version);
  out << YAML::EndMap;
  return {};
}

Status EmitRemoteWrite(YAML::Emitter& out, Renderer& r, const api::RemoteWrite& rw, size_t i) {
  const std::string path = "spec.remoteWrite[" + std::to_string(i) + "]";
  const std::string prefix = "rw" + std::to_string(i) + "-";
  out << YAML::BeginMap;
  EmitString(out, "url", rw.url);
  if (!rw.name.empty()) EmitString(out, "name", rw.name);
  if (!rw.remote_timeout.empty()) EmitString(out, "remote_timeout", rw.remote_timeout);
  if (!rw.headers.empty()) EmitStringMap(out, "headers", rw.headers);
  if (!rw.write_relabel_configs.empty()) {
    out << YAML::Key << "write_relabel_configs" << YAML::Value << YAML::BeginSeq;
    for (const auto& rc : rw.write_relabel_configs) {
      out << YAML::BeginMap;
      if (!rc.source_labels.empty()) {
        out << YAML::Key << "source_labels" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const auto& l : rc.source_labels) out << YAML::DoubleQuoted << l;
        out << YAML::EndSeq;
      }
      if (rc.separator) EmitString(out, "separator", *rc.separator);
      if (rc.target_label) EmitString(out, "target_label", *rc.target_label);
      if (rc.regex) EmitString(out, "regex", *rc.regex);
      if (rc.modulus) out << YAML::Key << "modulus" << YAML::Value << *rc.modulus;
      if (rc.replacement) EmitString(out, "replacement", *rc.replacement);
      if (rc.action) EmitString(out, "action", Lower(*rc.action));
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (rw.basic_auth) {
    out << YAML::Key << "basic_auth" << YAML::Value << YAML::BeginMap;
    if (rw.basic_auth->username) {
      // Not a secret in Prometheus's model; the agent takes it inline only.
      auto v = r.FromSecret(*rw.basic_auth->username, path + ".basicAuth.username");
      if (!v) return v.error();
      EmitString(out, "username", *v);
    }
    if (rw.basic_auth->password) {
      auto v = r.FromSecret(*rw.basic_auth->password, path + ".basicAuth.password");
      if (!v) return v.error();
      EmitString(out, "password_file", r.File(prefix + "password", *v));
    }
    out << YAML::EndMap;
  }
  if (rw.authorization) {
    if (rw.authorization->SourceCount() > 1) {
      return r.Fail(path +
                    ".authorization: set only one of credentials, credentialsFile and "
                    "projectedServiceAccountToken (remove the others)");
    }
    out << YAML::Key << "authorization" << YAML::Value << YAML::BeginMap;
    if (!rw.authorization->type.empty()) EmitString(out, "type", rw.authorization->type);
    if (rw.authorization->projected_token) {
      // The kubelet writes and rotates it inside the pod: nothing to copy.
      EmitString(out, "credentials_file",
                 api::ProjectedTokenVolumeFor(rw.authorization->projected_token->audience).File());
    } else if (rw.authorization->credentials) {
      auto v = r.FromSecret(*rw.authorization->credentials, path + ".authorization.credentials");
      if (!v) return v.error();
      EmitString(out, "credentials_file", r.File(prefix + "token", *v));
    } else if (!rw.authorization->credentials_file.empty()) {
      // A path inside the agent container (e.g. a projected token volume).
      EmitString(out, "credentials_file", rw.authorization->credentials_file);
    }
    out << YAML::EndMap;
  }
  if (rw.oauth2) {
    const auto& o = *rw.oauth2;
    out << YAML::Key << "oauth2" << YAML::Value << YAML::BeginMap;
    auto id = r.FromEither(o.client_id, path + ".oauth2.clientId");
    if (!id) return id.error();
    EmitString(out, "client_id", *id);
    if (o.client_secret) {
      auto v = r.FromSecret(*o.client_secret, path + ".oauth2.clientSecret");
      if (!v) return v.error();
      EmitString(out, "client_secret_file", r.File(prefix + "client-secret", *v));
    }
    EmitString(out, "token_url", o.token_url);
    if (!o.scopes.empty()) {
      out << YAML::Key << "scopes" << YAML::Value << YAML::BeginSeq;
      for (const auto& s : o.scopes) out << YAML::DoubleQuoted << s;
      out << YAML::EndSeq;
    }
    if (!o.endpoint_params.empty()) EmitStringMap(out, "endpoint_params", o.endpoint_params);
    out << YAML::EndMap;
  }
  if (rw.tls_config) {
    if (Status s = EmitTls(out, r, *rw.tls_config, path + ".tlsConfig", prefix); !s) return s;
  }
  if (!rw.proxy_url.empty()) EmitString(out, "proxy_url", rw.proxy_url);
  if (rw.queue_config) {
    const auto& q = *rw.queue_config;
    out << YAML::Key << "queue_config" << YAML::Value << YAML::BeginMap;
    if (q.capacity) out << YAML::Key << "capacity" << YAML::Value << *q.capacity;
    if (q.max_samples_per_send)
      out << YAML::Key << "max_samples_per_send" << YAML::Value << *q.max_samples_per_send;
    if (!q.batch_send_deadline.empty()) EmitString(out, "batch_send_deadline", q.batch_send_deadline);
    if (!q.min_backoff.empty()) EmitString(out, "min_backoff", q.min_backoff);
    if (!q.max_backoff.empty()) EmitString(out, "max_backoff", q.max_backoff);
    if (q.retry_on_rate_limit)
      out << YAML::Key << "retry_on_http_429" << YAML::Value << *q.retry_on_rate_limit;
    out << YAML::EndMap;
  }
  // Written only when set, so the configs (and hashes) of objects without
  // them stay as they were.
  if (!rw.message_version.empty()) {
    EmitString(out, "protobuf_message",
               rw.message_version == "V2.0" ? "io.prometheus.write.v2.Request" : "prometheus.WriteRequest");
  }
  if (rw.send_exemplars) out << YAML::Key << "send_exemplars" << YAML::Value << *rw.send_exemplars;
  if (rw.send_native_histograms) {
    out << YAML::Key << "send_native_histograms" << YAML::Value << *rw.send_native_histograms;
  }
  if (rw.metadata_config) {
    const auto& m = *rw.metadata_config;
    out << YAML::Key << "metadata_config" << YAML::Value << YAML::BeginMap;
    if (m.send) out << YAML::Key << "send" << YAML::Value << *m.send;
    if (!m.send_interval.empty()) EmitString(out, "send_interval", m.send_interval);
    if (m.max_samples_per_send) {
      out << YAML::Key << "max_samples_per_send" << YAML::Value << *m.max_samples_per_send;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return {};
}

void AddSelector(std::set<std::string>& secrets, std::set<std::string>& cms,
                 const api::SecretOrConfigMap& s) {
  if (s.secret) secrets.insert(s.secret->name);
  if (s.config_map) cms.insert(s.config_map->name);
}

void CollectRefs(const api::Agent& agent, std::set<std::string>& secrets, std::set<std::string>& cms) {
  for (const auto& rw : agent.remote_write) {
    if (rw.basic_auth) {
      if (rw.basic_auth->username) secrets.insert(rw.basic_auth->username->name);
      if (rw.basic_auth->password) secrets.insert(rw.basic_auth->password->name);
    }
    if (rw.authorization && rw.authorization->credentials)
      secrets.insert(rw.authorization->credentials->name);
    if (rw.oauth2) {
      AddSelector(secrets, cms, rw.oauth2->client_id);
      if (rw.oauth2->client_secret) secrets.insert(rw.oauth2->client_secret->name);
    }
    if (rw.tls_config) {
      if (rw.tls_config->ca) AddSelector(secrets, cms, *rw.tls_config->ca);
      if (rw.tls_config->cert) AddSelector(secrets, cms, *rw.tls_config->cert);
      if (rw.tls_config->key_secret) secrets.insert(rw.tls_config->key_secret->name);
    }
  }
}

}  // namespace

std::vector<std::string> ReferencedSecretNames(const api::Agent& agent) {
  std::set<std::string> s, c;
  CollectRefs(agent, s, c);
  return {s.begin(), s.end()};
}

std::vector<std::string> ReferencedConfigMapNames(const api::Agent& agent) {
  std::set<std::string> s, c;
  CollectRefs(agent, s, c);
  return {c.begin(), c.end()};
}

std::string DataHash(const std::map<std::string, std::string>& data) {
  // The legacy basis keeps the hash already in every rendered Secret's
  // annotation (see common/util/hash.h).
  Fnv1a64 h(kLegacyTruncatedFnv1a64Basis);
  auto mix = [&h](const std::string& s) {
    // Length-prefixed so ("ab","c") and ("a","bc") differ.
    h.Add(std::to_string(s.size()) + ":");
    h.Add(s);
  };
  for (const auto& [k, v] : data) {
    mix(k);
    mix(v);
  }
  return HashHex(h.value());
}

Result<RenderedSecret> RenderSharedConfig(const api::Agent& agent, const ReferencedObjects& refs,
                                          const std::string& target_namespace) {
  Renderer r(agent, refs);
  if (!agent.is_sidecar()) return r.Fail("spec.mode: " + Quote(agent.mode_text) + " is not Sidecar");
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "global" << YAML::Value << YAML::BeginMap;
  // Always written: the agent's own default is Prometheus's 1m, not the CRD's 30s.
  EmitString(out, "scrape_interval",
             units::FormatDuration(agent.scrape_interval.value_or(api::kDefaultScrapeInterval)));
  if (agent.scrape_timeout) EmitString(out, "scrape_timeout", units::FormatDuration(*agent.scrape_timeout));
  if (!agent.external_labels.empty()) EmitStringMap(out, "external_labels", agent.external_labels);
  if (agent.sample_limit) out << YAML::Key << "sample_limit" << YAML::Value << *agent.sample_limit;
  if (agent.label_limit) out << YAML::Key << "label_limit" << YAML::Value << *agent.label_limit;
  if (agent.label_name_length_limit) {
    out << YAML::Key << "label_name_length_limit" << YAML::Value << *agent.label_name_length_limit;
  }
  if (agent.label_value_length_limit) {
    out << YAML::Key << "label_value_length_limit" << YAML::Value << *agent.label_value_length_limit;
  }
  if (agent.body_size_limit_bytes) {
    EmitString(out, "body_size_limit", units::FormatBytes(*agent.body_size_limit_bytes));
  }
  if (!agent.scrape_protocols.empty()) {
    out << YAML::Key << "scrape_protocols" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& p : agent.scrape_protocols) out << YAML::DoubleQuoted << p;
    out << YAML::EndSeq;
  }
  if (agent.scrape_native_histograms) {
    out << YAML::Key << "scrape_native_histograms" << YAML::Value << *agent.scrape_native_histograms;
  }
  if (agent.scrape_classic_histograms) {
    out << YAML::Key << "always_scrape_classic_histograms" << YAML::Value << *agent.scrape_classic_histograms;
  }
  out << YAML::EndMap;
  out << YAML::Key << "remote_write" << YAML::Value << YAML::BeginSeq;
  for (size_t i = 0; i < agent.remote_write.size(); ++i) {
    if (Status s = EmitRemoteWrite(out, r, agent.remote_write[i], i); !s) return s.error();
  }
  out << YAML::EndSeq;
  // What the agent applies to the pod's annotations (spec.sidecar).
  out << YAML::Key << "sidecar" << YAML::Value << YAML::BeginMap;
  EmitString(out, "min_scrape_interval", units::FormatDuration(agent.sidecar.min_scrape_interval));
  out << YAML::Key << "legacy_annotations" << YAML::Value << agent.sidecar.legacy_annotations;
  out << YAML::EndMap;
  out << YAML::EndMap;
  if (!out.good()) return r.Fail("rendering config.yaml: " + out.GetLastError());

  RenderedSecret rendered;
  rendered.name = api::SharedConfigSecretName(agent);
  rendered.namespace_ = target_namespace;
  rendered.data = std::move(r.files());
  rendered.data[api::kSharedConfigKey] = std::string(kSchemaMarkerPrefix) +
                                         std::to_string(kConfigSchemaVersion) +
                                         "\n# Rendered by promsidecar-operator from PrometheusAgent " +
                                         agent.Ref() + "; do not edit.\n" + out.c_str() + "\n";
  rendered.data_hash = DataHash(rendered.data);
  return rendered;
}

nlohmann::json SecretObject(const api::Agent& agent, const RenderedSecret& rendered) {
  json data = json::object();
  for (const auto& [k, v] : rendered.data) data[k] = EncodeBase64(v);
  return json{
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"type", "Opaque"},
      {"metadata",
       {{"name", rendered.name},
        {"namespace", rendered.namespace_},
        {"labels", {{api::kAgentLabel, agent.LabelValue()}, {kManagedByLabel, kManagedByValue}}},
        {"annotations", {{kDataHashAnnotation, rendered.data_hash}, {kAgentRefAnnotation, agent.Ref()}}}}},
      {"data", data}};
}

std::map<std::string, std::string> SecretData(const nlohmann::json& secret) {
  std::map<std::string, std::string> out;
  if (auto it = secret.find("data"); it != secret.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) continue;
      auto decoded = kube::DecodeBase64(v.get<std::string>());
      if (decoded) out[k] = *decoded;
    }
  }
  if (auto it = secret.find("stringData"); it != secret.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) {
      if (v.is_string()) out[k] = v.get<std::string>();
    }
  }
  return out;
}

std::map<std::string, std::string> ConfigMapData(const nlohmann::json& config_map) {
  std::map<std::string, std::string> out;
  if (auto it = config_map.find("data"); it != config_map.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) {
      if (v.is_string()) out[k] = v.get<std::string>();
    }
  }
  if (auto it = config_map.find("binaryData"); it != config_map.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) continue;
      auto decoded = kube::DecodeBase64(v.get<std::string>());
      if (decoded) out[k] = *decoded;
    }
  }
  return out;
}

}  // namespace promsidecar::render
