#include "operator/api/agent.h"

#include <algorithm>
#include <cctype>

#include "common/util/hash.h"
#include "common/util/units.h"
#include "operator/api/quantity.h"

namespace promsidecar::api {
namespace {

using nlohmann::json;

// Reads typed fields out of JSON and records a FieldError for each field that
// has the wrong type or an invalid value, so one pass reports every problem.
class Reader {
 public:
  explicit Reader(std::vector<FieldError>* errors) : errors_(errors) {}

  void Fail(const std::string& path, const json& value, const std::string& message) {
    errors_->push_back({FieldError::Severity::kError, path, Show(value), message});
  }

  static std::string Show(const json& value) {
    if (value.is_null()) return "";
    if (value.is_string()) return value.get<std::string>();
    std::string s = value.dump();
    if (s.size() > 120) s = s.substr(0, 117) + "...";
    return s;
  }

  static const json* Find(const json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::optional<std::string> String(const json& obj, const char* key, const std::string& path) {
    const json* v = Find(obj, key);
    if (!v) return std::nullopt;
    if (!v->is_string()) {
      Fail(path, *v, "must be a string");
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  std::optional<bool> Bool(const json& obj, const char* key, const std::string& path) {
    const json* v = Find(obj, key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) {
      Fail(path, *v, "must be true or false");
      return std::nullopt;
    }
    return v->get<bool>();
  }

  std::optional<int64_t> Int(const json& obj, const char* key, const std::string& path, int64_t min) {
    const json* v = Find(obj, key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) {
      Fail(path, *v, "must be an integer");
      return std::nullopt;
    }
    int64_t n = v->get<int64_t>();
    if (n < min) {
      Fail(path, *v, "must be at least " + std::to_string(min));
      return std::nullopt;
    }
    return n;
  }

  std::optional<uint64_t> Uint(const json& obj, const char* key, const std::string& path) {
    auto n = Int(obj, key, path, 0);
    if (!n) return std::nullopt;
    return static_cast<uint64_t>(*n);
  }

  std::optional<std::chrono::milliseconds> Duration(const json& obj, const char* key,
                                                    const std::string& path) {
    auto s = String(obj, key, path);
    if (!s) return std::nullopt;
    auto d = units::ParseDuration(*s);
    if (!d) {
      Fail(path, *s, "must be a Prometheus duration such as 30s, 1m or 1h30m");
      return std::nullopt;
    }
    return *d;
  }

  // A duration kept as text (queue settings the sidecars read), checked only.
  std::string DurationText(const json& obj, const char* key, const std::string& path) {
    auto s = String(obj, key, path);
    if (!s) return "";
    if (!units::ParseDuration(*s)) {
      Fail(path, *s, "must be a Prometheus duration such as 30s, 1m or 1h30m");
      return "";
    }
    return *s;
  }

  std::optional<uint64_t> Size(const json& obj, const char* key, const std::string& path) {
    auto s = String(obj, key, path);
    if (!s) return std::nullopt;
    auto b = units::ParseBytes(*s);
    if (!b) {
      Fail(path, *s, "must be a size such as 512KB, 10MB or 1GiB");
      return std::nullopt;
    }
    return *b;
  }

  // A Kubernetes quantity ("512Mi", "1Gi"), returned in bytes.
  std::optional<uint64_t> QuantityBytes(const json& obj, const char* key, const std::string& path) {
    const json* v = Find(obj, key);
    if (!v) return std::nullopt;
    std::string text = v->is_number_integer() ? std::to_string(v->get<int64_t>()) : Show(*v);
    if (!v->is_string() && !v->is_number_integer()) {
      Fail(path, *v, "must be a quantity such as 256Mi or 1Gi");
      return std::nullopt;
    }
    auto q = ParseQuantityMilli(text);
    if (!q) {
      Fail(path, *v, "must be a quantity such as 256Mi or 1Gi");
      return std::nullopt;
    }
    return static_cast<uint64_t>(*q / 1000 + (*q % 1000 != 0 ? 1 : 0));
  }

  std::map<std::string, std::string> StringMap(const json& obj, const char* key, const std::string& path) {
    std::map<std::string, std::string> out;
    const json* v = Find(obj, key);
    if (!v) return out;
    if (!v->is_object()) {
      Fail(path, *v, "must be a map of strings");
      return out;
    }
    for (const auto& [k, val] : v->items()) {
      if (!val.is_string()) {
        Fail(path + "." + k, val, "must be a string (quote numbers and booleans)");
        continue;
      }
      out[k] = val.get<std::string>();
    }
    return out;
  }

  std::vector<std::string> StringList(const json& obj, const char* key, const std::string& path) {
    std::vector<std::string> out;
    const json* v = Find(obj, key);
    if (!v) return out;
    if (!v->is_array()) {
      Fail(path, *v, "must be a list of strings");
      return out;
    }
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) {
        Fail(path + "[" + std::to_string(i) + "]", (*v)[i], "must be a string");
        continue;
      }
      out.push_back((*v)[i].get<std::string>());
    }
    return out;
  }

  // Reports a value outside `allowed`; returns its index or -1.
  int Enum(const json& obj, const char* key, const std::string& path,
           const std::vector<std::string>& allowed) {
    auto s = String(obj, key, path);
    if (!s) return -1;
    for (size_t i = 0; i < allowed.size(); ++i) {
      if (*s == allowed[i]) return static_cast<int>(i);
    }
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    Fail(path, *s, "must be one of " + list);
    return -1;
  }

  std::optional<SecretKeySelector> KeySelector(const json& obj, const char* key, const std::string& path) {
    const json* v = Find(obj, key);
    if (!v) return std::nullopt;
    if (!v->is_object()) {
      Fail(path, json(), "must be an object with name and key");
      return std::nullopt;
    }
    SecretKeySelector sel;
    auto name = String(*v, "name", path + ".name");
    auto k = String(*v, "key", path + ".key");
    if (!name || name->empty())
      Fail(path + ".name", json(), "required: the name of the object holding the value");
    if (!k || k->empty()) Fail(path + ".key", json(), "required: the key inside that object");
    sel.name = name.value_or("");
    sel.key = k.value_or("");
    sel.optional = Bool(*v, "optional", path + ".optional").value_or(false);
    return sel;
  }

  std::optional<SecretOrConfigMap> SecretOrCm(const json& obj, const char* key, const std::string& path) {
    const json* v = Find(obj, key);
    if (!v) return std::nullopt;
    if (!v->is_object()) {
      Fail(path, json(), "must be an object with either secret or configMap");
      return std::nullopt;
    }
    SecretOrConfigMap s;
    s.secret = KeySelector(*v, "secret", path + ".secret");
    s.config_map = KeySelector(*v, "configMap", path + ".configMap");
    if (s.secret && s.config_map) Fail(path, json(), "set either secret or configMap, not both");
    return s;
  }

 private:
  std::vector<FieldError>* errors_;
};

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::optional<TlsConfig> ReadTls(Reader& r, const json& obj, const std::string& path) {
  const json* v = Reader::Find(obj, "tlsConfig");
  if (!v) return std::nullopt;
  TlsConfig t;
  t.ca = r.SecretOrCm(*v, "ca", path + ".ca");
  t.cert = r.SecretOrCm(*v, "cert", path + ".cert");
  t.key_secret = r.KeySelector(*v, "keySecret", path + ".keySecret");
  t.server_name = r.String(*v, "serverName", path + ".serverName").value_or("");
  t.insecure_skip_verify = r.Bool(*v, "insecureSkipVerify", path + ".insecureSkipVerify").value_or(false);
  const std::vector<std::string> versions{"TLS10", "TLS11", "TLS12", "TLS13"};
  if (int i = r.Enum(*v, "minVersion", path + ".minVersion", versions); i >= 0) t.min_version = versions[i];
  if (int i = r.Enum(*v, "maxVersion", path + ".maxVersion", versions); i >= 0) t.max_version = versions[i];
  return t;
}

std::optional<ProjectedServiceAccountToken> ReadProjectedToken(Reader& r, const json& authorization,
                                                               const std::string& path) {
  const json* v = Reader::Find(authorization, "projectedServiceAccountToken");
  if (!v) return std::nullopt;
  ProjectedServiceAccountToken t;
  if (!v->is_object()) {
    r.Fail(path, *v, "must be an object with audience (and optionally expirationSeconds)");
    return t;
  }
  t.audience = r.String(*v, "audience", path + ".audience").value_or("");
  if (t.audience.empty()) {
    // Kubernetes would default it to the API server's audience: the backend
    // would receive a token that works against the API.
    r.Fail(path + ".audience", json(),
           "required: the audience the remote-write backend accepts (the token's aud claim), e.g. its URL");
  }
  if (const json* e = Reader::Find(*v, "expirationSeconds")) {
    if (!e->is_number_integer() || e->get<int64_t>() < kMinTokenExpirationSeconds ||
        e->get<int64_t>() > kMaxTokenExpirationSeconds) {
      r.Fail(path + ".expirationSeconds", *e,
             "must be an integer from 600 (10 minutes, Kubernetes' minimum for a projected token) to "
             "4294967296; omit it for 3600");
    } else {
      t.expiration_seconds = e->get<int64_t>();
    }
  }
  return t;
}

RelabelConfig ReadRelabel(Reader& r, const json& obj, const std::string& path) {
  RelabelConfig rc;
  rc.source_labels = r.StringList(obj, "sourceLabels", path + ".sourceLabels");
  rc.separator = r.String(obj, "separator", path + ".separator");
  rc.target_label = r.String(obj, "targetLabel", path + ".targetLabel");
  rc.regex = r.String(obj, "regex", path + ".regex");
  rc.replacement = r.String(obj, "replacement", path + ".replacement");
  if (auto m = r.Uint(obj, "modulus", path + ".modulus")) rc.modulus = *m;
  // Upstream accepts both spellings of the action (lowercase and CamelCase).
  const std::vector<std::string> actions{
      "replace",   "keep",      "drop",      "hashmod",   "labelmap",  "labeldrop", "labelkeep", "lowercase",
      "uppercase", "keepequal", "dropequal", "Replace",   "Keep",      "Drop",      "HashMod",   "LabelMap",
      "LabelDrop", "LabelKeep", "Lowercase", "Uppercase", "KeepEqual", "DropEqual"};
  if (int i = r.Enum(obj, "action", path + ".action", actions); i >= 0) rc.action = actions[i];
  return rc;
}

RemoteWrite ReadRemoteWrite(Reader& r, const json& obj, const std::string& path) {
  RemoteWrite rw;
  if (!obj.is_object()) {
    r.Fail(path, obj, "must be an object with at least url");
    return rw;
  }
  auto url = r.String(obj, "url", path + ".url");
  if (!url) {
    if (!Reader::Find(obj, "url")) r.Fail(path + ".url", json(), "required: the remote-write endpoint URL");
  } else {
    rw.url = *url;
  }
  rw.name = r.String(obj, "name", path + ".name").value_or("");
  rw.headers = r.StringMap(obj, "headers", path + ".headers");
  rw.remote_timeout = r.DurationText(obj, "remoteTimeout", path + ".remoteTimeout");
  if (const json* rcs = Reader::Find(obj, "writeRelabelConfigs")) {
    if (!rcs->is_array()) {
      r.Fail(path + ".writeRelabelConfigs", json(), "must be a list of relabel configs");
    } else {
      for (size_t i = 0; i < rcs->size(); ++i) {
        rw.write_relabel_configs.push_back(
            ReadRelabel(r, (*rcs)[i], Index(path + ".writeRelabelConfigs", i)));
      }
    }
  }
  if (const json* ba = Reader::Find(obj, "basicAuth")) {
    BasicAuth b;
    b.username = r.KeySelector(*ba, "username", path + ".basicAuth.username");
    b.password = r.KeySelector(*ba, "password", path + ".basicAuth.password");
    rw.basic_auth = b;
  }
  if (const json* az = Reader::Find(obj, "authorization")) {
    Authorization a;
    a.type = r.String(*az, "type", path + ".authorization.type").value_or("Bearer");
    a.credentials = r.KeySelector(*az, "credentials", path + ".authorization.credentials");
    a.credentials_file =
        r.String(*az, "credentialsFile", path + ".authorization.credentialsFile").value_or("");
    a.projected_token = ReadProjectedToken(r, *az, path + ".authorization.projectedServiceAccountToken");
    rw.authorization = a;
  }
  if (const json* o = Reader::Find(obj, "oauth2")) {
    OAuth2 oa;
    auto id = r.SecretOrCm(*o, "clientId", path + ".oauth2.clientId");
    if (!id) r.Fail(path + ".oauth2.clientId", json(), "required: a secret or configMap reference");
    oa.client_id = id.value_or(SecretOrConfigMap{});
    oa.client_secret = r.KeySelector(*o, "clientSecret", path + ".oauth2.clientSecret");
    if (!oa.client_secret) r.Fail(path + ".oauth2.clientSecret", json(), "required: a secret reference");
    auto token_url = r.String(*o, "tokenUrl", path + ".oauth2.tokenUrl");
    if (!token_url || token_url->empty())
      r.Fail(path + ".oauth2.tokenUrl", json(), "required: the token URL");
    oa.token_url = token_url.value_or("");
    oa.scopes = r.StringList(*o, "scopes", path + ".oauth2.scopes");
    oa.endpoint_params = r.StringMap(*o, "endpointParams", path + ".oauth2.endpointParams");
    rw.oauth2 = oa;
  }
  rw.tls_config = ReadTls(r, obj, path + ".tlsConfig");
  rw.proxy_url = r.String(obj, "proxyUrl", path + ".proxyUrl").value_or("");
  if (const json* q = Reader::Find(obj, "queueConfig")) {
    QueueConfig qc;
    std::string qp = path + ".queueConfig";
    qc.capacity = r.Int(*q, "capacity", qp + ".capacity", 1);
    qc.min_shards = r.Int(*q, "minShards", qp + ".minShards", 1);
    qc.max_shards = r.Int(*q, "maxShards", qp + ".maxShards", 1);
    qc.max_samples_per_send = r.Int(*q, "maxSamplesPerSend", qp + ".maxSamplesPerSend", 1);
    qc.max_retries = r.Int(*q, "maxRetries", qp + ".maxRetries", 0);
    qc.batch_send_deadline = r.DurationText(*q, "batchSendDeadline", qp + ".batchSendDeadline");
    qc.min_backoff = r.DurationText(*q, "minBackoff", qp + ".minBackoff");
    qc.max_backoff = r.DurationText(*q, "maxBackoff", qp + ".maxBackoff");
    qc.sample_age_limit = r.DurationText(*q, "sampleAgeLimit", qp + ".sampleAgeLimit");
    qc.retry_on_rate_limit = r.Bool(*q, "retryOnRateLimit", qp + ".retryOnRateLimit");
    rw.queue_config = qc;
  }
  const std::vector<std::string> versions{"V1.0", "V2.0"};
  if (int i = r.Enum(obj, "messageVersion", path + ".messageVersion", versions); i >= 0) {
    rw.message_version = versions[i];
  }
  rw.send_exemplars = r.Bool(obj, "sendExemplars", path + ".sendExemplars");
  rw.send_native_histograms = r.Bool(obj, "sendNativeHistograms", path + ".sendNativeHistograms");
  if (const json* m = Reader::Find(obj, "metadataConfig")) {
    const std::string mp = path + ".metadataConfig";
    if (!m->is_object()) {
      r.Fail(mp, *m, "must be an object with send, sendInterval and/or maxSamplesPerSend");
    } else {
      MetadataConfig mc;
      mc.send = r.Bool(*m, "send", mp + ".send");
      mc.send_interval = r.DurationText(*m, "sendInterval", mp + ".sendInterval");
      mc.max_samples_per_send = r.Int(*m, "maxSamplesPerSend", mp + ".maxSamplesPerSend", 1);
      rw.metadata_config = mc;
    }
  }
  return rw;
}

std::vector<std::string> ReadScrapeProtocols(Reader& r, const json& spec, const std::string& path) {
  std::vector<std::string> out;
  const auto& names = ScrapeProtocolNames();
  std::vector<std::string> list = r.StringList(spec, "scrapeProtocols", path);
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = path + "[" + std::to_string(i) + "]";
    if (std::find(names.begin(), names.end(), list[i]) == names.end()) {
      std::string all;
      for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
      r.Fail(item, list[i], "must be one of " + all);
    } else if (std::find(out.begin(), out.end(), list[i]) != out.end()) {
      r.Fail(item, list[i], "listed twice: list each protocol once, in order of preference");
    } else {
      out.push_back(list[i]);
    }
  }
  return out;
}

void ReadResources(Reader& r, const json& obj, const std::string& path, json* out) {
  const json* v = Reader::Find(obj, "resources");
  if (!v) return;
  if (!v->is_object()) {
    r.Fail(path, json(), "must be an object with requests and/or limits");
    return;
  }
  for (const char* part : {"requests", "limits"}) {
    const json* m = Reader::Find(*v, part);
    if (!m) continue;
    if (!m->is_object()) {
      r.Fail(path + "." + part, json(), "must be a map of resource names to quantities");
      continue;
    }
    for (const auto& [res, q] : m->items()) {
      std::string qp = path + "." + part + "." + res;
      if (res != "cpu" && res != "memory" && res != "ephemeral-storage") {
        r.Fail(qp, json(), "unsupported resource: use cpu, memory or ephemeral-storage");
        continue;
      }
      std::string text = q.is_number() ? q.dump() : Reader::Show(q);
      if ((!q.is_string() && !q.is_number()) || !ParseQuantityMilli(text)) {
        r.Fail(qp, q, "must be a quantity such as 50m, 0.5, 64Mi or 1Gi");
      }
    }
  }
  *out = *v;
}

SidecarSpec ReadSidecar(Reader& r, const json& spec) {
  SidecarSpec s;
  const json* v = Reader::Find(spec, "sidecar");
  if (!v) return s;
  const std::string p = "spec.sidecar";
  if (!v->is_object()) {
    r.Fail(p, json(), "must be an object");
    return s;
  }
  if (int i = r.Enum(*v, "engine", p + ".engine", {"native", "prometheus"}); i >= 0) {
    s.engine = i == 0 ? SidecarEngine::kNative : SidecarEngine::kPrometheus;
  }
  s.image = r.String(*v, "image", p + ".image").value_or("");
  if (int i = r.Enum(*v, "nativeSidecar", p + ".nativeSidecar", {"auto", "always", "never"}); i >= 0) {
    s.native_sidecar = static_cast<NativeSidecarMode>(i);
  }
  if (const json* ns = Reader::Find(*v, "namespaceSelector")) {
    auto sel = ParseLabelSelector(*ns, p + ".namespaceSelector");
    if (!sel) {
      r.Fail(p + ".namespaceSelector", json(), sel.message());
    } else {
      s.namespace_selector = *sel;
    }
  }
  s.is_default = r.Bool(*v, "default", p + ".default").value_or(false);
  s.wal_size_limit_bytes = r.QuantityBytes(*v, "walSizeLimit", p + ".walSizeLimit");
  if (auto d = r.Duration(*v, "minScrapeInterval", p + ".minScrapeInterval")) s.min_scrape_interval = *d;
  s.legacy_annotations = r.Bool(*v, "legacyAnnotations", p + ".legacyAnnotations").value_or(false);
  ReadResources(r, *v, p + ".resources", &s.resources);
  if (const json* sc = Reader::Find(*v, "securityContext")) {
    if (!sc->is_object()) {
      r.Fail(p + ".securityContext", json(), "must be a container securityContext object");
    } else {
      s.security_context = *sc;
    }
  }
  if (int i = r.Enum(*v, "updateStrategy", p + ".updateStrategy", {"None", "InPlace", "Rollout"}); i >= 0) {
    s.update_strategy = static_cast<UpdateStrategy>(i);
  }
  return s;
}

}  // namespace

Agent ParseAgentCollecting(const json& object, std::vector<FieldError>* errors) {
  Reader r(errors);
  Agent a;
  if (!object.is_object()) {
    r.Fail("<root>", json(), "a PrometheusAgent must be a JSON/YAML object");
    return a;
  }
  a.api_version = r.String(object, "apiVersion", "apiVersion").value_or("");
  if (auto kind = r.String(object, "kind", "kind"); kind && *kind != kAgentKind) {
    r.Fail("kind", *kind, std::string("must be ") + kAgentKind);
  }
  const json empty = json::object();
  const json* meta = Reader::Find(object, "metadata");
  const json& m = meta ? *meta : empty;
  a.name = r.String(m, "name", "metadata.name").value_or("");
  a.namespace_ = r.String(m, "namespace", "metadata.namespace").value_or("");
  a.uid = r.String(m, "uid", "metadata.uid").value_or("");
  if (const json* g = Reader::Find(m, "generation"); g && g->is_number_integer())
    a.generation = g->get<int64_t>();
  if (a.name.empty()) r.Fail("metadata.name", json(), "required");

  const json* specp = Reader::Find(object, "spec");
  const json& spec = specp ? *specp : empty;
  a.mode_text = r.String(spec, "mode", "spec.mode").value_or("");
  if (a.mode_text == "Sidecar" || a.mode_text == "sidecar") {
    a.mode = AgentMode::kSidecar;
  } else if (a.mode_text.empty() || a.mode_text == "StatefulSet") {
    a.mode = AgentMode::kStatefulSet;
  } else if (a.mode_text == "DaemonSet") {
    a.mode = AgentMode::kDaemonSet;
  } else {
    a.mode = AgentMode::kOther;
  }
  if (!a.is_sidecar()) return a;  // not ours: leave every other field alone

  if (const json* rws = Reader::Find(spec, "remoteWrite")) {
    if (!rws->is_array()) {
      r.Fail("spec.remoteWrite", json(), "must be a list of remote-write endpoints");
    } else {
      for (size_t i = 0; i < rws->size(); ++i) {
        a.remote_write.push_back(ReadRemoteWrite(r, (*rws)[i], Index("spec.remoteWrite", i)));
      }
    }
  }
  a.external_labels = r.StringMap(spec, "externalLabels", "spec.externalLabels");
  a.scrape_interval = r.Duration(spec, "scrapeInterval", "spec.scrapeInterval");
  a.scrape_timeout = r.Duration(spec, "scrapeTimeout", "spec.scrapeTimeout");
  a.sample_limit = r.Uint(spec, "sampleLimit", "spec.sampleLimit");
  a.label_limit = r.Uint(spec, "labelLimit", "spec.labelLimit");
  a.label_name_length_limit = r.Uint(spec, "labelNameLengthLimit", "spec.labelNameLengthLimit");
  a.label_value_length_limit = r.Uint(spec, "labelValueLengthLimit", "spec.labelValueLengthLimit");
  a.body_size_limit_bytes = r.Size(spec, "bodySizeLimit", "spec.bodySizeLimit");
  a.scrape_protocols = ReadScrapeProtocols(r, spec, "spec.scrapeProtocols");
  a.scrape_native_histograms = r.Bool(spec, "scrapeNativeHistograms", "spec.scrapeNativeHistograms");
  a.scrape_classic_histograms = r.Bool(spec, "scrapeClassicHistograms", "spec.scrapeClassicHistograms");
  const std::vector<std::string> levels{"", "debug", "info", "warn", "error"};
  if (int i = r.Enum(spec, "logLevel", "spec.logLevel", levels); i >= 0) a.log_level = levels[i];
  const std::vector<std::string> formats{"", "logfmt", "json"};
  if (int i = r.Enum(spec, "logFormat", "spec.logFormat", formats); i >= 0) a.log_format = formats[i];
  a.image = r.String(spec, "image", "spec.image").value_or("");
  a.version = r.String(spec, "version", "spec.version").value_or("");
  const std::vector<std::string> policies{"", "Always", "Never", "IfNotPresent"};
  if (int i = r.Enum(spec, "imagePullPolicy", "spec.imagePullPolicy", policies); i >= 0) {
    a.image_pull_policy = policies[i];
  }
  if (const json* ips = Reader::Find(spec, "imagePullSecrets")) {
    if (!ips->is_array()) {
      r.Fail("spec.imagePullSecrets", json(), "must be a list of {name: ...}");
    } else {
      for (size_t i = 0; i < ips->size(); ++i) {
        auto n = r.String((*ips)[i], "name", Index("spec.imagePullSecrets", i) + ".name");
        if (n && !n->empty()) a.image_pull_secrets.push_back(*n);
      }
    }
  }
  a.paused = r.Bool(spec, "paused", "spec.paused").value_or(false);
  a.sidecar = ReadSidecar(r, spec);
  return a;
}

Result<Agent> ParseAgent(const json& object) {
  std::vector<FieldError> errors;
  Agent a = ParseAgentCollecting(object, &errors);
  if (HasErrors(errors)) {
    std::string who = a.namespace_.empty() ? a.name : a.Ref();
    return MakeError("PrometheusAgent " + (who.empty() ? std::string("<unnamed>") : who) +
                     " is invalid: " + JoinErrors(errors));
  }
  return a;
}

namespace {

// Shortens `text` to `max` characters as "<prefix>-<hash of text>".
std::string Shorten(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  const std::string hash = HashHex(LegacyTruncatedFnv1a64(text));
  std::string prefix = text.substr(0, max - 17);
  // Label values and names must not end in '-' or '.' before our '-'.
  while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.' || prefix.back() == '_'))
    prefix.pop_back();
  return prefix + "-" + hash;
}

// [a-z0-9-] only, runs of anything else as one '-', no '-' at either end.
std::string DnsLabelPart(const std::string& text, size_t max) {
  std::string out;
  for (char c : text) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9');
    if (ok) {
      out += l;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
    if (out.size() >= max) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

}  // namespace

ProjectedTokenVolume ProjectedTokenVolumeFor(const std::string& audience) {
  // Readable part for people reading the pod, hash for uniqueness.
  // 16 + 30 + 1 + 16 characters: within the 63 of a DNS-1123 label.
  std::string readable = DnsLabelPart(audience, 30);
  std::string id = (readable.empty() ? "" : readable + "-") + HashHex(LegacyTruncatedFnv1a64(audience));
  ProjectedTokenVolume v;
  v.audience = audience;
  v.volume_name = kProjectedTokenVolumePrefix + id;
  v.dir = std::string(kProjectedTokenRoot) + "/" + id;
  return v;
}

std::vector<ProjectedTokenVolume> ProjectedTokenVolumes(const Agent& agent) {
  std::vector<ProjectedTokenVolume> out;
  for (const RemoteWrite& rw : agent.remote_write) {
    if (!rw.authorization || !rw.authorization->projected_token) continue;
    const ProjectedServiceAccountToken& t = *rw.authorization->projected_token;
    auto same = std::find_if(out.begin(), out.end(), [&](const auto& v) { return v.audience == t.audience; });
    if (same != out.end()) {
      same->expiration_seconds = std::min(same->expiration_seconds, t.expiration_seconds);
      continue;
    }
    out.push_back(ProjectedTokenVolumeFor(t.audience));
    out.back().expiration_seconds = t.expiration_seconds;
  }
  return out;
}

std::string Agent::LabelValue() const {
  return Shorten(namespace_ + "." + name, 63);
}

std::string SharedConfigSecretName(const Agent& agent) {
  return Shorten("promsidecar-" + agent.namespace_ + "." + agent.name, 253);
}

}  // namespace promsidecar::api
