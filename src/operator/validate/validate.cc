#include "operator/validate/validate.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "common/http/url.h"
#include "common/util/units.h"
#include "operator/api/quantity.h"
#include "operator/api/security_context.h"
#include "operator/validate/field_fates.h"

namespace promsidecar::validate {

// Each endpoint costs every sidecar a sender: a bound keeps an agent's cost
// per pod predictable (Prometheus itself has none).
constexpr size_t kMaxRemoteWrites = 32;
namespace {

using api::FieldError;
using nlohmann::json;

constexpr uint64_t kMinWalSizeLimit = 16ull << 20;

void AddError(std::vector<FieldError>* out, std::string path, std::string value, std::string message) {
  out->push_back({FieldError::Severity::kError, std::move(path), std::move(value), std::move(message)});
}
void AddWarning(std::vector<FieldError>* out, std::string path, std::string value, std::string message) {
  out->push_back({FieldError::Severity::kWarning, std::move(path), std::move(value), std::move(message)});
}

std::string Show(const json& v) {
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s.size() > 120) s = s.substr(0, 117) + "...";
  return s;
}

void CheckShards(const json& spec, std::vector<FieldError>* out) {
  if (auto it = spec.find("shards"); it != spec.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() > 1) {
      AddError(out, "spec.shards", Show(*it), "Sidecar mode does not shard: omit shards or set it to 1");
    }
  }
}

// No mutating webhook rewrites agents, so the object keeps the seed's
// spelling; the warning says so instead of promising a rewrite.
void CheckModeSpelling(const std::string& mode, std::vector<FieldError>* out) {
  if (mode != "sidecar") return;
  AddWarning(out, "spec.mode", mode,
             "the seed's spelling of Sidecar: accepted and treated as Sidecar, but stored as written; write "
             "Sidecar (upstream's CRD and other tools know only that spelling)");
}

// spec.image and spec.version choose the Prometheus of engine: prometheus;
// the native engine runs no Prometheus, so they would do nothing there.
void CheckEngineFields(const api::Agent& agent, std::vector<FieldError>* out) {
  if (agent.sidecar.engine != api::SidecarEngine::kNative) return;
  if (!agent.image.empty()) {
    AddWarning(out, "spec.image", agent.image,
               "ignored with spec.sidecar.engine native (it is the Prometheus image of engine: prometheus); "
               "the agent's image is spec.sidecar.image");
  }
  if (!agent.version.empty()) {
    AddWarning(
        out, "spec.version", agent.version,
        "ignored with spec.sidecar.engine native (it is the Prometheus version of engine: prometheus)");
  }
}

void CheckRelabel(const api::RelabelConfig& rc, const std::string& path, std::vector<FieldError>* out) {
  if (rc.regex) {
    // Prometheus anchors relabel regexes at both ends.
    RE2::Options opts;
    opts.set_log_errors(false);
    RE2 re("^(?:" + *rc.regex + ")$", opts);
    if (!re.ok()) {
      AddError(out, path + ".regex", *rc.regex,
               "does not compile as RE2 (" + re.error() +
                   "); Prometheus regexes use RE2 syntax, without lookaround "
                   "or backreferences");
    }
  }
  std::string action = rc.action.value_or("replace");
  std::transform(action.begin(), action.end(), action.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  bool needs_target = action == "replace" || action == "hashmod" || action == "lowercase" ||
                      action == "uppercase" || action == "keepequal" || action == "dropequal";
  if (needs_target && !rc.target_label && action != "replace") {
    AddError(out, path + ".targetLabel", "", "required when action is " + action);
  }
  if (action == "replace" && !rc.target_label && !rc.source_labels.empty()) {
    AddError(out, path + ".targetLabel", "", "required when action is replace");
  }
  if (action == "hashmod" && (!rc.modulus || *rc.modulus == 0)) {
    AddError(out, path + ".modulus", rc.modulus ? "0" : "",
             "must be a positive integer when action is hashmod");
  }
}

struct Reference {
  std::string path;
  std::string name;
  bool config_map;
  bool optional;
};

void CollectSelector(const std::optional<api::SecretKeySelector>& s, const std::string& path, bool cm,
                     std::vector<Reference>* refs) {
  if (s && !s->name.empty()) refs->push_back({path + ".name", s->name, cm, s->optional});
}

void CollectSecretOrCm(const std::optional<api::SecretOrConfigMap>& s, const std::string& path,
                       std::vector<Reference>* refs) {
  if (!s) return;
  CollectSelector(s->secret, path + ".secret", false, refs);
  CollectSelector(s->config_map, path + ".configMap", true, refs);
}

std::string NormalizeAudience(std::string_view audience) {
  size_t b = audience.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = audience.find_last_not_of(" \t\r\n");
  std::string out(audience.substr(b, e - b + 1));
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

// The in-cluster names of the API server: kubernetes, kubernetes.default and
// kubernetes.default.svc[.<cluster domain>], as the host of an audience.
bool NamesInClusterApiServer(const std::string& normalized) {
  std::string_view host = normalized;
  if (size_t sep = host.find("://"); sep != std::string_view::npos) host.remove_prefix(sep + 3);
  host = host.substr(0, host.find_first_of(":/?#"));
  return host == "kubernetes" || host == "kubernetes.default" || host.starts_with("kubernetes.default.");
}

void CheckRemoteWrite(const api::RemoteWrite& rw, const std::string& path, const ValidationContext& ctx,
                      std::vector<FieldError>* out, std::vector<Reference>* refs) {
  if (!rw.url.empty()) {
    if (Status st = CheckUrl(rw.url, {"http", "https"}); !st) {
      AddError(out, path + ".url", http::RedactUrl(rw.url), st.message());
    }
  }
  if (!rw.proxy_url.empty()) {
    if (Status st = CheckUrl(rw.proxy_url, {"http", "https", "socks5"}); !st) {
      AddError(out, path + ".proxyUrl", http::RedactUrl(rw.proxy_url), st.message());
    }
  }
  if (rw.metadata_config && !rw.metadata_config->send_interval.empty()) {
    auto d = units::ParseDuration(rw.metadata_config->send_interval);
    if (d && d->count() <= 0) {
      AddError(out, path + ".metadataConfig.sendInterval", rw.metadata_config->send_interval,
               "must be positive (e.g. 1m, the default); to send no metadata set send: false");
    }
  }
  int auths = (rw.basic_auth ? 1 : 0) + (rw.authorization ? 1 : 0) + (rw.oauth2 ? 1 : 0);
  if (auths > 1) {
    AddError(out, path, "", "set at most one of basicAuth, authorization and oauth2");
  }
  if (rw.basic_auth) {
    if (!rw.basic_auth->username || !rw.basic_auth->password) {
      AddError(out, path + ".basicAuth", "", "needs both username and password (Secret key references)");
    }
    CollectSelector(rw.basic_auth->username, path + ".basicAuth.username", false, refs);
    CollectSelector(rw.basic_auth->password, path + ".basicAuth.password", false, refs);
  }
  if (rw.authorization) {
    const api::Authorization& az = *rw.authorization;
    const int sources = az.SourceCount();
    if (sources == 0) {
      AddError(out, path + ".authorization.credentials", "",
               "required: a Secret key reference holding the token (or projectedServiceAccountToken)");
    } else if (sources > 1) {
      AddError(out, path + ".authorization", "",
               "set only one of credentials, credentialsFile and projectedServiceAccountToken; remove the "
               "others");
    }
    if (rw.authorization->type == "Basic" || rw.authorization->type == "basic") {
      AddError(out, path + ".authorization.type", rw.authorization->type,
               "use basicAuth for Basic credentials");
    }
    CollectSelector(rw.authorization->credentials, path + ".authorization.credentials", false, refs);
    if (az.projected_token) {
      const std::string& audience = az.projected_token->audience;
      // An empty one is already reported as required (api::ParseAgent).
      if (auto why = ForbiddenTokenAudience(audience, ctx.api_audiences); why && !audience.empty()) {
        AddError(out, path + ".authorization.projectedServiceAccountToken.audience", Show(audience), *why);
      }
    }
  }
  if (rw.oauth2) {
    if (!rw.oauth2->token_url.empty()) {
      if (Status st = CheckUrl(rw.oauth2->token_url, {"http", "https"}); !st) {
        AddError(out, path + ".oauth2.tokenUrl", http::RedactUrl(rw.oauth2->token_url), st.message());
      }
    }
    CollectSecretOrCm(rw.oauth2->client_id, path + ".oauth2.clientId", refs);
    CollectSelector(rw.oauth2->client_secret, path + ".oauth2.clientSecret", false, refs);
  }
  if (rw.tls_config) {
    CollectSecretOrCm(rw.tls_config->ca, path + ".tlsConfig.ca", refs);
    CollectSecretOrCm(rw.tls_config->cert, path + ".tlsConfig.cert", refs);
    CollectSelector(rw.tls_config->key_secret, path + ".tlsConfig.keySecret", false, refs);
    if (rw.tls_config->cert.has_value() != rw.tls_config->key_secret.has_value()) {
      AddError(out, path + ".tlsConfig", "", "a client certificate needs both cert and keySecret");
    }
  }
  for (size_t i = 0; i < rw.write_relabel_configs.size(); ++i) {
    CheckRelabel(rw.write_relabel_configs[i], path + ".writeRelabelConfigs[" + std::to_string(i) + "]", out);
  }
}

void CheckResources(const json& resources, std::vector<FieldError>* out) {
  if (!resources.is_object()) return;
  auto req = resources.find("requests");
  auto lim = resources.find("limits");
  if (req == resources.end() || lim == resources.end() || !req->is_object() || !lim->is_object()) return;
  for (const auto& [res, q] : req->items()) {
    auto l = lim->find(res);
    if (l == lim->end()) continue;
    auto rq = api::ParseQuantityMilli(q.is_string() ? q.get<std::string>() : q.dump());
    auto lq = api::ParseQuantityMilli(l->is_string() ? l->get<std::string>() : l->dump());
    if (rq && lq && *rq > *lq) {
      AddError(out, "spec.sidecar.resources.requests." + res, Show(q),
               "must not exceed the limit " + Show(*l) + " (Kubernetes rejects such a container)");
    }
  }
}

}  // namespace

const std::vector<std::string>& FieldsForbiddenInSidecarMode() {
  static const std::vector<std::string> kFields = [] {
    std::vector<std::string> fields;
    for (const FieldFate& f : FieldFates()) {
      std::string_view path = f.path.substr(std::string_view("spec.").size());
      if (f.fate == Fate::kRefused && path.find('.') == std::string_view::npos) fields.emplace_back(path);
    }
    return fields;
  }();
  return kFields;
}

std::optional<std::string> ForbiddenTokenAudience(const std::string& audience,
                                                  const std::vector<std::string>& api_audiences) {
  static const std::string kFix =
      "; use the audience your remote-write backend accepts, e.g. its own URL (https://metrics.example.com)";
  const std::string a = NormalizeAudience(audience);
  if (a.empty())
    return "must not be blank: Kubernetes would issue the token for the API server's audience" + kFix;
  if (a == "api" || NamesInClusterApiServer(a)) {
    return "names the Kubernetes API server: the API server would accept the token, and every injected pod "
           "would send it to the remote-write URL" +
           kFix;
  }
  for (const std::string& api : api_audiences) {
    if (!NormalizeAudience(api).empty() && NormalizeAudience(api) == a) {
      return "is an audience the API server accepts (its --api-audiences, as the operator learnt them): "
             "every "
             "injected pod would send a token for the Kubernetes API to the remote-write URL" +
             kFix;
    }
  }
  return std::nullopt;
}

std::vector<std::string> DefaultApiAudiences(const std::string& issuer) {
  std::vector<std::string> out;
  if (!issuer.empty()) out.push_back(issuer);
  if (NormalizeAudience(issuer) != "https://kubernetes.default.svc.cluster.local")
    out.push_back("https://kubernetes.default.svc.cluster.local");
  return out;
}

Status CheckUrl(const std::string& url, const std::vector<std::string>& schemes) {
  std::string allowed;
  for (const std::string& s : schemes) allowed += (allowed.empty() ? "" : " or ") + s;
  size_t sep = url.find("://");
  if (sep == std::string::npos) {
    return MakeError("must be an absolute URL such as https://metrics.example.com/api/v1/write (scheme " +
                     allowed + ")");
  }
  std::string scheme = url.substr(0, sep);
  // Only a well-formed scheme is echoed: the text before "://" of pasted junk
  // ("curl -u user:pass https://...") may hold a credential.
  if (!http::IsUrlScheme(scheme)) {
    return MakeError("must start with a scheme (" + allowed + ") followed by \"://\"");
  }
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
    return MakeError("scheme \"" + scheme + "\" is not allowed: use " + allowed);
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return MakeError("contains whitespace or control characters; percent-encode them");
    }
  }
  size_t start = sep + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  std::string host = authority;
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return MakeError("has an unterminated IPv6 address");
    host = authority.substr(0, close + 1);
    std::string rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return MakeError("has junk after the IPv6 address");
      port = rest.substr(1);
    }
  } else if (size_t colon = authority.find(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host == "[]") return MakeError("has no host");
  if (authority.find(':') != std::string::npos && authority.back() != ']') {
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
        std::stoi(port) == 0 || std::stoi(port) > 65535) {
      return MakeError("has an invalid port: use 1-65535");
    }
  }
  return {};
}

std::vector<FieldError> Validate(const json& object, const ValidationContext& ctx) {
  std::vector<FieldError> out;
  if (!object.is_object()) {
    AddError(&out, "<root>", "", "a PrometheusAgent must be an object");
    return out;
  }
  const json* spec = nullptr;
  if (auto it = object.find("spec"); it != object.end() && it->is_object()) spec = &*it;
  std::string mode =
      spec && spec->contains("mode") && (*spec)["mode"].is_string() ? (*spec)["mode"].get<std::string>() : "";
  if (mode != "Sidecar" && mode != "sidecar") return out;  // upstream's modes are not ours to judge

  api::Agent agent = api::ParseAgentCollecting(object, &out);
  CheckFieldFates(*spec, &out);
  CheckShards(*spec, &out);
  CheckModeSpelling(mode, &out);
  CheckEngineFields(agent, &out);

  std::vector<Reference> refs;
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < agent.remote_write.size(); ++i) {
    std::string path = "spec.remoteWrite[" + std::to_string(i) + "]";
    CheckRemoteWrite(agent.remote_write[i], path, ctx, &out, &refs);
    const std::string& name = agent.remote_write[i].name;
    if (name.empty()) continue;
    if (auto [it, inserted] = names.emplace(name, i); !inserted) {
      AddError(&out, path + ".name", name,
               "must be unique; spec.remoteWrite[" + std::to_string(it->second) + "] has the same name");
    }
  }
  if (agent.remote_write.size() > kMaxRemoteWrites) {
    AddError(&out, "spec.remoteWrite", std::to_string(agent.remote_write.size()) + " endpoints",
             "at most " + std::to_string(kMaxRemoteWrites) +
                 " are supported: each one is a sender with its own queue in every injected pod");
  }
  if (agent.remote_write.empty()) {
    AddWarning(&out, "spec.remoteWrite", "",
               "no remote-write endpoint: sidecars will scrape into their WAL and send nothing");
  }

  std::chrono::milliseconds interval = agent.scrape_interval.value_or(api::kDefaultScrapeInterval);
  if (agent.scrape_timeout && *agent.scrape_timeout > interval) {
    AddError(&out, "spec.scrapeTimeout", (*spec)["scrapeTimeout"].get<std::string>(),
             "must not exceed the scrape interval (" + units::FormatDuration(interval) + ")");
  }
  if (agent.scrape_interval && *agent.scrape_interval < agent.sidecar.min_scrape_interval) {
    AddError(&out, "spec.scrapeInterval", (*spec)["scrapeInterval"].get<std::string>(),
             "must be at least spec.sidecar.minScrapeInterval (" +
                 units::FormatDuration(agent.sidecar.min_scrape_interval) + ")");
  }
  if (agent.scrape_interval && agent.scrape_interval->count() == 0) {
    AddError(&out, "spec.scrapeInterval", "0s", "must be greater than zero");
  }
  if (agent.sidecar.min_scrape_interval.count() <= 0) {
    AddError(&out, "spec.sidecar.minScrapeInterval", "0s", "must be greater than zero");
  }
  if (agent.sidecar.wal_size_limit_bytes && *agent.sidecar.wal_size_limit_bytes < kMinWalSizeLimit) {
    AddError(&out, "spec.sidecar.walSizeLimit", Show((*spec)["sidecar"]["walSizeLimit"]),
             "must be at least 16Mi: smaller WALs cannot hold one segment per sender");
  }
  CheckResources(agent.sidecar.resources, &out);
  // Judged as injected, merged over the defaults: a namespace enforcing the
  // restricted Pod Security level would reject every pod the agent serves.
  for (const api::RestrictedViolation& v :
       api::CheckRestricted(api::SidecarSecurityContext(agent.sidecar.security_context))) {
    AddError(&out, "spec.sidecar.securityContext." + v.field, v.value,
             v.message +
                 " (merged over the agent's hardened defaults, the injected containers must pass Pod "
                 "Security Admission \"restricted\"); change or remove the override");
  }

  if (agent.sidecar.is_default) {
    if (!agent.sidecar.namespace_selector) {
      AddError(&out, "spec.sidecar.namespaceSelector", "",
               "required when spec.sidecar.default is true: say explicitly which namespaces may use the "
               "cluster-default agent (an empty selector {} admits all)");
    }
    for (const api::Agent& other : ctx.existing_agents) {
      if (!other.is_sidecar() || !other.sidecar.is_default) continue;
      if (other.name == agent.name && other.namespace_ == agent.namespace_) continue;
      AddError(&out, "spec.sidecar.default", "true",
               "PrometheusAgent " + other.Ref() +
                   " is already the cluster default; only one Sidecar agent may set default: true");
      break;
    }
  }

  if (ctx.references_known) {
    for (const Reference& ref : refs) {
      const auto& existing = ref.config_map ? ctx.existing_config_maps : ctx.existing_secrets;
      if (existing.count(ref.name)) continue;
      std::string kind = ref.config_map ? "ConfigMap" : "Secret";
      AddWarning(&out, ref.path, ref.name,
                 kind + " " + agent.namespace_ + "/" + ref.name + " does not exist (yet)" +
                     (ref.optional ? "; the reference is optional"
                                   : "; sidecars will not send to this endpoint until it is created"));
    }
  }
  return out;
}

}  // namespace promsidecar::validate
