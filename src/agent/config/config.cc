#include "agent/config/config.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/http/url.h"
#include "common/util/units.h"
#include "common/util/utf8.h"

namespace promsidecar::config {
namespace {

constexpr std::string_view kLabelNameRule = "label names match [a-zA-Z_][a-zA-Z0-9_]*";

// --- Error collection ---

struct Ctx {
  std::string file;
  std::filesystem::path base_dir;
  std::vector<std::pair<int, std::string>> errors;  // (line, message)

  void Error(int line, const std::string& path, const std::string& message) {
    std::string where = file + ":" + std::to_string(line > 0 ? line : 1) + ": ";
    errors.emplace_back(line, where + (path.empty() ? "" : path + ": ") + message);
  }

  // Relative credential and certificate paths are relative to the config file.
  std::string ResolvePath(const std::string& p) const {
    if (p.empty() || base_dir.empty() || std::filesystem::path(p).is_absolute()) return p;
    return (base_dir / p).lexically_normal().string();
  }
};

int LineOf(const YAML::Node& n) {
  YAML::Mark m = n.Mark();
  return m.is_null() ? 0 : m.line + 1;
}

std::string KindName(const YAML::Node& n) {
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  if (n.IsNull()) return "nothing";
  return "a scalar";
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ", ";
    out += i;
  }
  return out;
}

// --- URLs ---

struct ParsedUrl {
  std::string scheme;
  std::string host;
  std::string port;
};

bool ValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  int v = std::stoi(std::string(port));
  return v >= 1 && v <= 65535;
}

// Splits "host:port" / "[v6]:port"; false when malformed.
bool SplitHostPort(std::string_view hp, std::string& host, std::string& port, bool port_required) {
  if (!hp.empty() && hp[0] == '[') {
    size_t close = hp.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    host = std::string(hp.substr(1, close - 1));
    std::string_view rest = hp.substr(close + 1);
    if (rest.empty()) {
      port.clear();
      return !port_required;
    }
    if (rest[0] != ':') return false;
    port = std::string(rest.substr(1));
    return ValidPort(port);
  }
  size_t colon = hp.rfind(':');
  if (colon == std::string_view::npos) {
    host = std::string(hp);
    port.clear();
    return !port_required && !host.empty();
  }
  host = std::string(hp.substr(0, colon));
  port = std::string(hp.substr(colon + 1));
  if (host.empty() || host.find(':') != std::string::npos) return false;  // bare IPv6 needs brackets
  return ValidPort(port);
}

std::optional<ParsedUrl> ParseHttpUrl(std::string_view url) {
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  }
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  ParsedUrl out;
  out.scheme = std::string(url.substr(0, scheme_end));
  for (auto& c : out.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  size_t auth_start = scheme_end + 3;
  size_t auth_end = url.find_first_of("/?#", auth_start);
  if (auth_end == std::string_view::npos) auth_end = url.size();
  std::string_view authority = url.substr(auth_start, auth_end - auth_start);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (!SplitHostPort(authority, out.host, out.port, false) || out.host.empty()) return std::nullopt;
  return out;
}

bool IsHttpToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

// --- Typed access to one YAML map, remembering which keys were read ---

class MapReader {
 public:
  // `node` may be null (an empty section); anything but a map is an error.
  MapReader(Ctx& ctx, const YAML::Node& node, std::string path, int line)
      : ctx_(ctx), path_(std::move(path)), line_(line) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      valid_ = false;
      ctx_.Error(LineOf(node) ? LineOf(node) : line_, path_, "must be a map of keys, got " + KindName(node));
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        ctx_.Error(LineOf(it->first), path_, "keys must be plain strings");
        continue;
      }
      std::string name = it->first.Scalar();
      bool dup =
          std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; });
      if (dup) {
        ctx_.Error(LineOf(it->first), Path(name), "duplicate key");
        continue;
      }
      entries_.push_back(Entry{name, it->first, it->second, false});
    }
  }

  Ctx& ctx() { return ctx_; }
  int line() const { return line_; }
  // False when the node was not a map (already reported).
  bool valid() const { return valid_; }
  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  // The value of `key` if present and not null; marks the key as known.
  const YAML::Node* Get(std::string_view key) {
    known_.emplace_back(key);
    for (auto& e : entries_) {
      if (e.name == key) {
        e.used = true;
        if (e.value.IsNull()) return nullptr;
        return &e.value;
      }
    }
    return nullptr;
  }
  bool Has(std::string_view key) const {
    return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == key; });
  }
  // Line of a key's value (or of the key) for messages about it.
  int LineOfKey(std::string_view key) const {
    for (const auto& e : entries_) {
      if (e.name != key) continue;
      int l = LineOf(e.value);
      return l ? l : LineOf(e.key);
    }
    return line_;
  }

  // Line of the key itself: where a section starts, for "missing" messages.
  int KeyLine(std::string_view key) const {
    for (const auto& e : entries_) {
      if (e.name == key) return LineOf(e.key);
    }
    return line_;
  }

  // Reports every key nobody asked for.
  void Finish() {
    for (const auto& e : entries_) {
      if (e.used) continue;
      std::string hint;
      if (e.name.size() > 11 && e.name.ends_with("_sd_configs")) {
        hint = "promsidecar-agent supports static_configs only";
      } else {
        hint = "supported here: " + Join(known_);
      }
      ctx_.Error(LineOf(e.key), Path(e.name), "unsupported key (" + hint + ")");
    }
  }

  // Scalars. Each returns true when the key was present with a usable value.
  bool String(std::string_view key, std::string& out) {
    const YAML::Node* v = Get(key);
    if (!v) return false;
    if (!v->IsScalar()) {
      ctx_.Error(LineOf(*v), Path(key), "must be a string, got " + KindName(*v));
      return false;
    }
    out = v->Scalar();
    return true;
  }
  // Like String, but the value is a secret and never echoed.
  bool SecretString(std::string_view key, Secret& out) {
    std::string s;
    if (!String(key, s)) return false;
    out = Secret(std::move(s));
    return true;
  }
  bool Bool(std::string_view key, bool& out) {
    const YAML::Node* v = Get(key);
    if (!v) return false;
    bool b = false;
    if (!v->IsScalar() || !YAML::convert<bool>::decode(*v, b)) {
      ctx_.Error(LineOf(*v), Path(key), "must be true or false");
      return false;
    }
    out = b;
    return true;
  }
  bool Uint(std::string_view key, uint64_t& out) {
    const YAML::Node* v = Get(key);
    if (!v) return false;
    const std::string s = v->IsScalar() ? v->Scalar() : "";
    bool ok = !s.empty() && s.size() <= 19 &&
              std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) {
      ctx_.Error(
          LineOf(*v), Path(key),
          "must be a non-negative integer" + (v->IsScalar() ? ", got " + Quote(s) : ", got " + KindName(*v)));
      return false;
    }
    out = std::stoull(s);
    return true;
  }
  bool Duration(std::string_view key, Millis& out) {
    std::string s;
    if (!String(key, s)) return false;
    auto d = units::ParseDuration(s);
    if (!d.ok()) {
      ctx_.Error(LineOfKey(key), Path(key), d.message());
      return false;
    }
    out = *d;
    return true;
  }
  bool Bytes(std::string_view key, uint64_t& out) {
    std::string s;
    if (!String(key, s)) return false;
    auto b = units::ParseBytes(s);
    if (!b.ok()) {
      ctx_.Error(LineOfKey(key), Path(key), b.message());
      return false;
    }
    out = *b;
    return true;
  }
  bool StringList(std::string_view key, std::vector<std::string>& out, std::vector<int>* lines = nullptr) {
    const YAML::Node* v = Get(key);
    if (!v) return false;
    if (!v->IsSequence()) {
      ctx_.Error(LineOf(*v), Path(key), "must be a list of strings, got " + KindName(*v));
      return false;
    }
    out.clear();
    bool ok = true;
    size_t i = 0;
    for (const auto& item : *v) {
      if (!item.IsScalar()) {
        ctx_.Error(LineOf(item), Path(key) + "[" + std::to_string(i) + "]",
                   "must be a string, got " + KindName(item));
        ok = false;
      } else {
        out.push_back(item.Scalar());
        if (lines) lines->push_back(LineOf(item));
      }
      ++i;
    }
    return ok;
  }
  // A map of string to string, in key order; `lines` gets each key's line.
  bool StringMap(std::string_view key, std::map<std::string, std::string>& out,
                 std::map<std::string, int>* lines) {
    const YAML::Node* v = Get(key);
    if (!v) return false;
    if (!v->IsMap()) {
      ctx_.Error(LineOf(*v), Path(key), "must be a map of strings, got " + KindName(*v));
      return false;
    }
    bool ok = true;
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->first.IsScalar() || !(it->second.IsScalar() || it->second.IsNull())) {
        ctx_.Error(LineOf(it->first), Path(key), "must be a map of strings to strings");
        ok = false;
        continue;
      }
      const std::string k = it->first.Scalar();
      if (out.count(k)) {
        ctx_.Error(LineOf(it->first), Path(key) + "." + k, "duplicate key");
        ok = false;
        continue;
      }
      out[k] = it->second.IsNull() ? "" : it->second.Scalar();
      if (lines) (*lines)[k] = LineOf(it->first);
    }
    return ok;
  }

 private:
  struct Entry {
    std::string name;
    YAML::Node key;
    YAML::Node value;
    bool used;
  };
  Ctx& ctx_;
  std::string path_;
  int line_;
  std::vector<Entry> entries_;
  std::vector<std::string> known_;
  bool valid_ = true;
};

// Each element of a list-valued key with its path and line.
template <typename F>
void ForEachItem(MapReader& r, std::string_view key, F&& f) {
  const YAML::Node* v = r.Get(key);
  if (!v) return;
  if (!v->IsSequence()) {
    r.ctx().Error(LineOf(*v), r.Path(key), "must be a list, got " + KindName(*v));
    return;
  }
  size_t i = 0;
  for (const auto& item : *v) {
    f(item, r.Path(key) + "[" + std::to_string(i) + "]", i);
    ++i;
  }
}

// --- Sections ---

void ReadLabels(MapReader& r, std::string_view key, model::Labels& out) {
  std::map<std::string, std::string> m;
  std::map<std::string, int> lines;
  if (!r.StringMap(key, m, &lines)) return;
  out.clear();
  for (const auto& [name, value] : m) {
    if (!model::IsValidLabelName(name)) {
      r.ctx().Error(lines[name], r.Path(key),
                    Quote(name) + " is not a valid label name (" + std::string(kLabelNameRule) + ")");
      continue;
    }
    if (!IsValidUtf8(value)) {
      r.ctx().Error(lines[name], r.Path(key) + "." + name, "label value is not valid UTF-8");
      continue;
    }
    out.push_back({name, value});
  }
  model::Canonicalize(out);
}

void ReadSecretSource(MapReader& r, std::string_view value_key, std::string_view file_key,
                      SecretSource& out) {
  bool has_value = r.SecretString(value_key, out.value);
  std::string file;
  bool has_file = r.String(file_key, file);
  if (has_file) out.file = r.ctx().ResolvePath(file);
  if (has_value && has_file && !out.value.empty() && !file.empty()) {
    r.ctx().Error(r.LineOfKey(file_key), r.Path(file_key),
                  "set at most one of " + std::string(value_key) + " and " + std::string(file_key));
  }
}

TLSConfig ReadTls(Ctx& ctx, const YAML::Node& node, const std::string& path, int line) {
  TLSConfig tls;
  MapReader r(ctx, node, path, line);
  std::string s;
  if (r.String("ca_file", s)) tls.ca_file = ctx.ResolvePath(s);
  if (r.String("cert_file", s)) tls.cert_file = ctx.ResolvePath(s);
  if (r.String("key_file", s)) tls.key_file = ctx.ResolvePath(s);
  r.String("server_name", tls.server_name);
  r.Bool("insecure_skip_verify", tls.insecure_skip_verify);
  if (r.String("min_version", s)) {
    static const std::array<std::string_view, 4> kVersions{"TLS10", "TLS11", "TLS12", "TLS13"};
    if (std::find(kVersions.begin(), kVersions.end(), s) == kVersions.end()) {
      ctx.Error(r.LineOfKey("min_version"), r.Path("min_version"),
                "unknown TLS version " + Quote(s) + " (use TLS10, TLS11, TLS12 or TLS13)");
    } else {
      tls.min_version = s;
    }
  }
  if (!tls.cert_file.empty() && tls.key_file.empty()) {
    ctx.Error(r.LineOfKey("cert_file"), r.Path("key_file"), "cert_file needs key_file too");
  } else if (tls.cert_file.empty() && !tls.key_file.empty()) {
    ctx.Error(r.LineOfKey("key_file"), r.Path("cert_file"), "key_file needs cert_file too");
  }
  r.Finish();
  return tls;
}

void ReadTlsKey(MapReader& r, std::string_view key, TLSConfig& out) {
  if (const YAML::Node* v = r.Get(key)) out = ReadTls(r.ctx(), *v, r.Path(key), r.KeyLine(key));
}

std::optional<BasicAuth> ReadBasicAuth(MapReader& parent) {
  const YAML::Node* v = parent.Get("basic_auth");
  if (!v) return std::nullopt;
  MapReader r(parent.ctx(), *v, parent.Path("basic_auth"), parent.KeyLine("basic_auth"));
  BasicAuth auth;
  r.String("username", auth.username);
  ReadSecretSource(r, "password", "password_file", auth.password);
  r.Finish();
  return auth;
}

std::optional<Authorization> ReadAuthorization(MapReader& parent) {
  const YAML::Node* v = parent.Get("authorization");
  if (!v) return std::nullopt;
  MapReader r(parent.ctx(), *v, parent.Path("authorization"), parent.KeyLine("authorization"));
  Authorization auth;
  std::string type;
  if (r.String("type", type)) {
    auto b = type.find_first_not_of(" \t");
    auto e = type.find_last_not_of(" \t");
    type = b == std::string::npos ? "" : type.substr(b, e - b + 1);
    if (!type.empty()) auth.type = type;
  }
  std::string lower = auth.type;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "basic") {
    r.ctx().Error(r.LineOfKey("type"), r.Path("type"), "type cannot be \"Basic\" (use basic_auth instead)");
  } else if (!IsHttpToken(auth.type)) {
    r.ctx().Error(r.LineOfKey("type"), r.Path("type"), "must be an HTTP auth scheme such as Bearer");
  }
  ReadSecretSource(r, "credentials", "credentials_file", auth.credentials);
  r.Finish();
  return auth;
}

std::optional<OAuth2> ReadOAuth2(MapReader& parent) {
  const YAML::Node* v = parent.Get("oauth2");
  if (!v) return std::nullopt;
  MapReader r(parent.ctx(), *v, parent.Path("oauth2"), parent.KeyLine("oauth2"));
  OAuth2 o;
  if (!r.String("client_id", o.client_id) || o.client_id.empty()) {
    r.ctx().Error(r.line(), r.Path("client_id"), "is required for oauth2");
  }
  ReadSecretSource(r, "client_secret", "client_secret_file", o.client_secret);
  if (!r.String("token_url", o.token_url) || o.token_url.empty()) {
    r.ctx().Error(r.line(), r.Path("token_url"), "is required for oauth2");
  } else if (!ParseHttpUrl(o.token_url)) {
    r.ctx().Error(
        r.LineOfKey("token_url"), r.Path("token_url"),
        "must be an http:// or https:// URL with a host, got " + Quote(http::RedactUrl(o.token_url)));
  }
  r.StringList("scopes", o.scopes);
  r.StringMap("endpoint_params", o.endpoint_params, nullptr);
  ReadTlsKey(r, "tls_config", o.tls_config);
  r.Finish();
  return o;
}

void ReadRelabelList(MapReader& parent, std::string_view key, std::vector<relabel::Rule>& out) {
  ForEachItem(parent, key, [&](const YAML::Node& item, const std::string& path, size_t) {
    Ctx& ctx = parent.ctx();
    if (item.IsNull()) {
      // yaml-cpp places a null item at the next token; the list's key is clearer.
      ctx.Error(parent.KeyLine(key), path, "empty relabel rule");
      return;
    }
    MapReader r(ctx, item, path, LineOf(item));
    if (!r.valid()) return;
    relabel::RelabelConfigSpec spec;
    size_t errors_before = ctx.errors.size();
    std::vector<std::string> sources;
    if (r.StringList("source_labels", sources)) spec.source_labels = sources;
    std::string s;
    if (r.String("separator", s)) spec.separator = s;
    if (r.String("target_label", s)) spec.target_label = s;
    if (r.String("regex", s)) {
      spec.regex = s;
    } else if (r.Has("regex")) {
      spec.regex = "";  // `regex:` with no value is the empty regex, as in Prometheus
    }
    uint64_t modulus = 0;
    if (r.Uint("modulus", modulus)) spec.modulus = modulus;
    if (r.String("replacement", s)) spec.replacement = s;
    if (r.String("action", s)) {
      if (auto a = relabel::ParseAction(s)) {
        spec.action = *a;
      } else {
        ctx.Error(r.LineOfKey("action"), r.Path("action"),
                  "unknown relabel action " + Quote(s) + " (one of " + relabel::ActionNames() + ")");
      }
    }
    r.Finish();
    if (ctx.errors.size() != errors_before) return;
    relabel::Rule rule;
    if (auto err = relabel::Compile(spec, rule)) {
      ctx.Error(r.Has(err->field) ? r.LineOfKey(err->field) : r.line(), r.Path(err->field), err->message);
      return;
    }
    out.push_back(std::move(rule));
  });
}

void ReadLimits(MapReader& r, ScrapeLimits& limits) {
  r.Uint("sample_limit", limits.sample_limit);
  r.Uint("label_limit", limits.label_limit);
  r.Uint("label_name_length_limit", limits.label_name_length_limit);
  r.Uint("label_value_length_limit", limits.label_value_length_limit);
  r.Bytes("body_size_limit", limits.body_size_limit);
}

std::string Fmt(Millis d) {
  return units::FormatDuration(d);
}

constexpr std::string_view kProtocolNames =
    "PrometheusProto, OpenMetricsText1.0.0, OpenMetricsText0.0.1, PrometheusText1.0.0, PrometheusText0.0.4";

// A scrape protocol name, or an error naming the key and the known names.
std::optional<ScrapeProtocol> ReadProtocol(Ctx& ctx, int line, const std::string& path,
                                           const std::string& name) {
  if (auto p = textparse::ParseScrapeProtocol(name)) return p;
  std::string why =
      "unknown scrape protocol " + Quote(name) + " (one of " + std::string(kProtocolNames) + ")";
  if (name == "OpenMetricsText2.0.0")
    why = "OpenMetricsText2.0.0 is not supported (one of " + std::string(kProtocolNames) + ")";
  ctx.Error(line, path, why);
  return std::nullopt;
}

// scrape_protocols: a non-empty list of known names without duplicates.
// Returns whether the key was given.
bool ReadProtocols(MapReader& r, std::vector<ScrapeProtocol>& out) {
  std::vector<std::string> names;
  std::vector<int> lines;
  if (!r.StringList("scrape_protocols", names, &lines)) return false;
  if (names.empty()) {
    r.ctx().Error(
        r.LineOfKey("scrape_protocols"), r.Path("scrape_protocols"),
        "must not be empty (list the protocols to negotiate, e.g. [PrometheusProto, PrometheusText0.0.4])");
    return false;
  }
  out.clear();
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string path = r.Path("scrape_protocols") + "[" + std::to_string(i) + "]";
    auto p = ReadProtocol(r.ctx(), lines[i], path, names[i]);
    if (!p) continue;
    if (std::find(out.begin(), out.end(), *p) != out.end()) {
      r.ctx().Error(lines[i], path, "duplicate protocol " + Quote(names[i]));
      continue;
    }
    out.push_back(*p);
  }
  return true;
}

GlobalConfig ReadGlobal(Ctx& ctx, const YAML::Node* node, int line) {
  GlobalConfig g;
  if (!node) return g;
  MapReader r(ctx, *node, "global", line);
  Millis interval{0}, timeout{0};
  r.Duration("scrape_interval", interval);
  bool has_timeout = r.Duration("scrape_timeout", timeout);
  if (interval.count() > 0) g.scrape_interval = interval;
  if (has_timeout && timeout > g.scrape_interval) {
    ctx.Error(r.LineOfKey("scrape_timeout"), "global.scrape_timeout",
              Fmt(timeout) + " is greater than scrape_interval " + Fmt(g.scrape_interval) +
                  " (a scrape must end before the next one starts)");
  }
  g.scrape_timeout =
      (has_timeout && timeout.count() > 0) ? timeout : std::min(Millis(10000), g.scrape_interval);
  ReadLabels(r, "external_labels", g.external_labels);
  ReadLimits(r, g.limits);
  ReadProtocols(r, g.scrape_protocols);
  r.Bool("scrape_native_histograms", g.scrape_native_histograms);
  r.Bool("always_scrape_classic_histograms", g.always_scrape_classic_histograms);
  r.Finish();
  return g;
}

SidecarConfig ReadSidecar(Ctx& ctx, const YAML::Node* node, int line) {
  SidecarConfig sc;
  if (!node) return sc;
  MapReader r(ctx, *node, "sidecar", line);
  Millis min{0};
  if (r.Duration("min_scrape_interval", min)) {
    if (min.count() <= 0) {
      ctx.Error(r.LineOfKey("min_scrape_interval"), "sidecar.min_scrape_interval",
                "must be positive (e.g. 10s)");
    } else {
      sc.min_scrape_interval = min;
    }
  }
  r.Bool("legacy_annotations", sc.legacy_annotations);
  r.Bool("self_monitoring", sc.self_monitoring);
  r.Finish();
  return sc;
}

void ReadStaticConfigs(MapReader& parent, std::vector<StaticConfig>& out) {
  ForEachItem(parent, "static_configs", [&](const YAML::Node& item, const std::string& path, size_t) {
    Ctx& ctx = parent.ctx();
    MapReader r(ctx, item, path, LineOf(item));
    StaticConfig sc;
    std::vector<int> lines;
    if (r.StringList("targets", sc.targets, &lines)) {
      for (size_t i = 0; i < sc.targets.size(); ++i) {
        std::string host, port;
        const std::string& t = sc.targets[i];
        if (t.find('/') != std::string::npos || !SplitHostPort(t, host, port, true)) {
          ctx.Error(lines[i], r.Path("targets") + "[" + std::to_string(i) + "]",
                    Quote(t) + " is not a valid target (use host:port, e.g. localhost:8080 or [::1]:8080; " +
                        "no scheme or path)");
        }
      }
    }
    ReadLabels(r, "labels", sc.labels);
    r.Finish();
    out.push_back(std::move(sc));
  });
}

ScrapeConfig ReadScrapeConfig(Ctx& ctx, const YAML::Node& item, const std::string& path,
                              const GlobalConfig& g) {
  ScrapeConfig sc;
  MapReader r(ctx, item, path, LineOf(item));
  if (!r.valid()) return sc;
  if (!r.String("job_name", sc.job_name) || sc.job_name.empty()) {
    ctx.Error(r.line(), r.Path("job_name"), "is required (a non-empty name, unique among scrape_configs)");
  }
  ReadStaticConfigs(r, sc.static_configs);
  if (r.String("metrics_path", sc.metrics_path) && (sc.metrics_path.empty() || sc.metrics_path[0] != '/')) {
    ctx.Error(r.LineOfKey("metrics_path"), r.Path("metrics_path"),
              "must be an absolute path starting with /, got " + Quote(sc.metrics_path));
  }
  if (r.String("scheme", sc.scheme) && sc.scheme != "http" && sc.scheme != "https") {
    ctx.Error(r.LineOfKey("scheme"), r.Path("scheme"), "must be http or https, got " + Quote(sc.scheme));
  }
  if (const YAML::Node* v = r.Get("params")) {
    if (!v->IsMap()) {
      ctx.Error(LineOf(*v), r.Path("params"), "must be a map of parameter name to a list of values");
    } else {
      for (auto it = v->begin(); it != v->end(); ++it) {
        if (!it->first.IsScalar() || !it->second.IsSequence()) {
          ctx.Error(LineOf(it->first), r.Path("params"),
                    "must be a map of parameter name to a list of values (e.g. module: [http_2xx])");
          continue;
        }
        std::vector<std::string> values;
        const YAML::Node list = it->second;  // `it->` yields a temporary; keep the node alive
        for (const auto& val : list) {
          if (!val.IsScalar()) {
            ctx.Error(LineOf(val), r.Path("params") + "." + it->first.Scalar(), "values must be strings");
            continue;
          }
          values.push_back(val.Scalar());
        }
        sc.params[it->first.Scalar()] = std::move(values);
      }
    }
  }
  r.Bool("honor_labels", sc.honor_labels);
  r.Bool("honor_timestamps", sc.honor_timestamps);
  Millis interval{0}, timeout{0};
  r.Duration("scrape_interval", interval);
  bool has_timeout = r.Duration("scrape_timeout", timeout);
  sc.scrape_interval = interval.count() > 0 ? interval : g.scrape_interval;
  if (has_timeout && timeout > sc.scrape_interval) {
    ctx.Error(r.LineOfKey("scrape_timeout"), r.Path("scrape_timeout"),
              Fmt(timeout) + " is greater than scrape_interval " + Fmt(sc.scrape_interval) +
                  " (a scrape must end before the next one starts)");
  }
  sc.scrape_timeout =
      (has_timeout && timeout.count() > 0) ? timeout : std::min(g.scrape_timeout, sc.scrape_interval);
  ScrapeLimits own;
  ReadLimits(r, own);
  auto pick = [](uint64_t job, uint64_t global) { return job != 0 ? job : global; };
  sc.limits.sample_limit = pick(own.sample_limit, g.limits.sample_limit);
  sc.limits.label_limit = pick(own.label_limit, g.limits.label_limit);
  sc.limits.label_name_length_limit = pick(own.label_name_length_limit, g.limits.label_name_length_limit);
  sc.limits.label_value_length_limit = pick(own.label_value_length_limit, g.limits.label_value_length_limit);
  sc.limits.body_size_limit = pick(own.body_size_limit, g.limits.body_size_limit);
  sc.scrape_native_histograms = g.scrape_native_histograms;
  r.Bool("scrape_native_histograms", sc.scrape_native_histograms);
  sc.always_scrape_classic_histograms = g.always_scrape_classic_histograms;
  r.Bool("always_scrape_classic_histograms", sc.always_scrape_classic_histograms);
  if (!ReadProtocols(r, sc.scrape_protocols)) {
    sc.scrape_protocols = DefaultScrapeProtocolsFor(g, sc.scrape_native_histograms);
  }
  std::string fallback;
  if (r.String("fallback_scrape_protocol", fallback) && !fallback.empty()) {
    sc.fallback_scrape_protocol = ReadProtocol(ctx, r.LineOfKey("fallback_scrape_protocol"),
                                               r.Path("fallback_scrape_protocol"), fallback);
  }
  r.Uint("native_histogram_bucket_limit", sc.native_histogram_bucket_limit);
  if (const YAML::Node* v = r.Get("native_histogram_min_bucket_factor")) {
    double f = 0;
    if (!v->IsScalar() || !YAML::convert<double>::decode(*v, f) || !(f >= 0) || std::isinf(f)) {
      ctx.Error(LineOf(*v), r.Path("native_histogram_min_bucket_factor"),
                "must be a number of at least 0 (e.g. 1.1: neighbouring buckets differ by 10 % or more)");
    } else {
      sc.native_histogram_min_bucket_factor = f;
    }
  }
  ReadRelabelList(r, "relabel_configs", sc.relabel_configs);
  ReadRelabelList(r, "metric_relabel_configs", sc.metric_relabel_configs);
  sc.basic_auth = ReadBasicAuth(r);
  sc.authorization = ReadAuthorization(r);
  if (sc.basic_auth && sc.authorization) {
    ctx.Error(r.LineOfKey("authorization"), path, "set at most one of basic_auth and authorization");
  }
  ReadTlsKey(r, "tls_config", sc.tls_config);
  r.Finish();
  return sc;
}

}  // namespace

std::vector<ScrapeProtocol> DefaultScrapeProtocolsFor(const GlobalConfig& global, bool native_histograms) {
  // As Prometheus resolves it: only the protobuf format carries native histograms.
  if (!global.scrape_protocols.empty()) return global.scrape_protocols;
  auto d = native_histograms ? textparse::ProtoFirstScrapeProtocols() : textparse::DefaultScrapeProtocols();
  return {d.begin(), d.end()};
}

void ApplyGlobalScrapeDefaults(const GlobalConfig& global, ScrapeConfig& job) {
  job.scrape_native_histograms = global.scrape_native_histograms;
  job.always_scrape_classic_histograms = global.always_scrape_classic_histograms;
  job.scrape_protocols = DefaultScrapeProtocolsFor(global, job.scrape_native_histograms);
}

namespace {

// --- remote_write ---

constexpr std::array<std::string_view, 17> kReservedHeaders{
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "transfer-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

QueueConfig ReadQueue(MapReader& parent) {
  QueueConfig q;
  const YAML::Node* v = parent.Get("queue_config");
  if (!v) return q;
  Ctx& ctx = parent.ctx();
  MapReader r(ctx, *v, parent.Path("queue_config"), parent.KeyLine("queue_config"));
  if (r.Uint("capacity", q.capacity) && q.capacity == 0) {
    ctx.Error(r.LineOfKey("capacity"), r.Path("capacity"), "must be greater than 0");
  }
  if (r.Uint("max_samples_per_send", q.max_samples_per_send) && q.max_samples_per_send == 0) {
    ctx.Error(r.LineOfKey("max_samples_per_send"), r.Path("max_samples_per_send"), "must be greater than 0");
  }
  r.Duration("batch_send_deadline", q.batch_send_deadline);
  r.Duration("min_backoff", q.min_backoff);
  r.Duration("max_backoff", q.max_backoff);
  if (q.max_backoff < q.min_backoff) {
    ctx.Error(
        r.Has("max_backoff") ? r.LineOfKey("max_backoff") : r.LineOfKey("min_backoff"), r.Path("max_backoff"),
        Fmt(q.max_backoff) + " is less than min_backoff " + Fmt(q.min_backoff) + " (must be at least it)");
  }
  r.Bool("retry_on_http_429", q.retry_on_http_429);
  r.Finish();
  return q;
}

// Canonical text of a remote_write section for its default name: every
// setting except inline secret values.
std::string CanonicalText(const RemoteWriteConfig& rw) {
  std::ostringstream o;
  auto tls = [&](const TLSConfig& t) {
    o << "tls{" << t.ca_file << '|' << t.cert_file << '|' << t.key_file << '|' << t.server_name << '|'
      << t.insecure_skip_verify << '|' << t.min_version << "}";
  };
  auto secret = [&](const SecretSource& s) {
    o << "secret{" << (s.value.empty() ? 0 : 1) << '|' << s.file << "}";
  };
  o << "name=" << rw.name << "\nurl=" << rw.url << "\ntimeout=" << rw.remote_timeout.count() << "\n";
  for (const auto& [k, v] : rw.headers) o << "header " << k << '=' << v << "\n";
  for (const auto& rule : rw.write_relabel_configs) {
    const auto& s = rule.spec();
    o << "relabel{";
    if (s.source_labels) {
      for (const auto& l : *s.source_labels) o << l << ',';
    }
    o << '|' << s.separator.value_or("<>") << '|' << s.target_label.value_or("<>") << '|'
      << s.regex.value_or("<>") << '|' << s.modulus.value_or(0) << '|' << s.replacement.value_or("<>") << '|'
      << relabel::ActionName(s.action.value_or(relabel::Action::kReplace)) << "}\n";
  }
  if (rw.basic_auth) {
    o << "basic{" << rw.basic_auth->username << '|';
    secret(rw.basic_auth->password);
    o << "}\n";
  }
  if (rw.authorization) {
    o << "authz{" << rw.authorization->type << '|';
    secret(rw.authorization->credentials);
    o << "}\n";
  }
  if (rw.oauth2) {
    const auto& a = *rw.oauth2;
    o << "oauth2{" << a.client_id << '|' << a.token_url << '|';
    secret(a.client_secret);
    for (const auto& s : a.scopes) o << s << ',';
    for (const auto& [k, v] : a.endpoint_params) o << k << '=' << v << ',';
    tls(a.tls_config);
    o << "}\n";
  }
  tls(rw.tls_config);
  const auto& q = rw.queue_config;
  o << "\nproxy=" << rw.proxy_url << "\nqueue{" << q.capacity << '|' << q.max_samples_per_send << '|'
    << q.batch_send_deadline.count() << '|' << q.min_backoff.count() << '|' << q.max_backoff.count() << '|'
    << q.retry_on_http_429 << "}\n";
  // Keys added later only when set, so the default name of an older section
  // (and with it its WAL reader) stays what it was.
  if (rw.message_v2) o << "message=v2\n";
  if (rw.send_exemplars) o << "exemplars\n";
  if (rw.send_native_histograms) o << "native_histograms\n";
  if (rw.metadata_config != MetadataConfig{}) {
    o << "metadata{" << rw.metadata_config.send << '|' << rw.metadata_config.send_interval.count() << '|'
      << rw.metadata_config.max_samples_per_send << "}\n";
  }
  return o.str();
}

std::string ShortHash(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_md5(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < 3 && i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

RemoteWriteConfig ReadRemoteWrite(Ctx& ctx, const YAML::Node& item, const std::string& path) {
  RemoteWriteConfig rw;
  MapReader r(ctx, item, path, LineOf(item));
  if (!r.valid()) return rw;
  if (!r.String("url", rw.url) || rw.url.empty()) {
    ctx.Error(r.line(), r.Path("url"), "is required (the remote-write endpoint, http:// or https://)");
  } else if (!ParseHttpUrl(rw.url)) {
    ctx.Error(r.LineOfKey("url"), r.Path("url"),
              "must be an http:// or https:// URL with a host, got " + Quote(http::RedactUrl(rw.url)));
  }
  r.String("name", rw.name);
  if (r.Duration("remote_timeout", rw.remote_timeout) && rw.remote_timeout.count() == 0) {
    ctx.Error(r.LineOfKey("remote_timeout"), r.Path("remote_timeout"), "must be greater than 0");
  }
  std::map<std::string, int> header_lines;
  if (r.StringMap("headers", rw.headers, &header_lines)) {
    for (const auto& [name, value] : rw.headers) {
      const std::string hpath = r.Path("headers") + "." + name;
      const std::string lower = Lower(name);
      if (lower == "authorization") {
        ctx.Error(header_lines[name], hpath,
                  "set the Authorization header with basic_auth, authorization or oauth2");
      } else if (IsReservedHeader(lower)) {
        ctx.Error(header_lines[name], hpath,
                  "is a reserved header and must not be changed (promsidecar-agent sets the protocol and "
                  "connection headers itself)");
      } else if (!IsHttpToken(name)) {
        ctx.Error(header_lines[name], hpath, "is not a valid HTTP header name");
      } else if (value.find_first_of("\r\n") != std::string::npos || value.find('\0') != std::string::npos) {
        ctx.Error(header_lines[name], hpath, "header values may not contain line breaks");
      }
    }
  }
  ReadRelabelList(r, "write_relabel_configs", rw.write_relabel_configs);
  rw.basic_auth = ReadBasicAuth(r);
  rw.authorization = ReadAuthorization(r);
  rw.oauth2 = ReadOAuth2(r);
  std::vector<std::string> auths;
  if (rw.basic_auth) auths.push_back("basic_auth");
  if (rw.authorization) auths.push_back("authorization");
  if (rw.oauth2) auths.push_back("oauth2");
  if (auths.size() > 1) {
    ctx.Error(r.LineOfKey(auths[1]), path,
              "set at most one of basic_auth, authorization and oauth2 (found " + Join(auths) + ")");
  }
  ReadTlsKey(r, "tls_config", rw.tls_config);
  if (r.String("proxy_url", rw.proxy_url) && !rw.proxy_url.empty() && !ParseHttpUrl(rw.proxy_url)) {
    ctx.Error(r.LineOfKey("proxy_url"), r.Path("proxy_url"),
              "must be an http:// or https:// URL with a host, got " + Quote(http::RedactUrl(rw.proxy_url)));
  }
  rw.queue_config = ReadQueue(r);
  std::string message;
  if (r.String("protobuf_message", message)) {
    if (message == "io.prometheus.write.v2.Request") {
      rw.message_v2 = true;
    } else if (message != "prometheus.WriteRequest") {
      ctx.Error(
          r.LineOfKey("protobuf_message"), r.Path("protobuf_message"),
          "unknown message " + Quote(message) +
              " (prometheus.WriteRequest for remote write 1.0, io.prometheus.write.v2.Request for 2.0)");
    }
  }
  r.Bool("send_exemplars", rw.send_exemplars);
  r.Bool("send_native_histograms", rw.send_native_histograms);
  if (const YAML::Node* v = r.Get("metadata_config")) {
    MapReader m(ctx, *v, r.Path("metadata_config"), r.KeyLine("metadata_config"));
    m.Bool("send", rw.metadata_config.send);
    if (m.Duration("send_interval", rw.metadata_config.send_interval) &&
        rw.metadata_config.send_interval.count() <= 0) {
      ctx.Error(m.LineOfKey("send_interval"), m.Path("send_interval"), "must be positive (e.g. 1m)");
    }
    if (m.Uint("max_samples_per_send", rw.metadata_config.max_samples_per_send) &&
        rw.metadata_config.max_samples_per_send == 0) {
      ctx.Error(m.LineOfKey("max_samples_per_send"), m.Path("max_samples_per_send"),
                "must be greater than 0");
    }
    m.Finish();
  }
  r.Finish();
  return rw;
}

ParseOutcome Finish(Ctx& ctx, AgentConfig cfg) {
  ParseOutcome out;
  std::stable_sort(ctx.errors.begin(), ctx.errors.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [line, msg] : ctx.errors) out.errors.push_back(std::move(msg));
  if (out.errors.empty()) out.config = std::move(cfg);
  return out;
}

}  // namespace

Result<Secret> ReadSecret(const SecretSource& source) {
  if (source.file.empty()) return source.value;
  std::ifstream in(source.file, std::ios::binary);
  if (!in) {
    return MakeError("cannot read secret file " + source.file + ": " + std::strerror(errno) +
                     " (check the path and that the agent may read it)");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string s = buf.str();
  const char* ws = " \t\r\n\v\f";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return Secret();
  auto e = s.find_last_not_of(ws);
  return Secret(s.substr(b, e - b + 1));
}

bool IsReservedHeader(std::string_view name) {
  const std::string lower = Lower(name);
  return std::find(kReservedHeaders.begin(), kReservedHeaders.end(), lower) != kReservedHeaders.end();
}

const ScrapeConfig* AgentConfig::FindJob(std::string_view job_name) const {
  for (const auto& sc : scrape_configs) {
    if (sc.job_name == job_name) return &sc;
  }
  return nullptr;
}

const RemoteWriteConfig* AgentConfig::FindRemoteWrite(std::string_view name) const {
  for (const auto& rw : remote_write) {
    if (rw.name == name) return &rw;
  }
  return nullptr;
}

ParseOutcome ParseConfig(std::string_view text, const std::string& filename) {
  Ctx ctx;
  ctx.file = filename;
  ctx.base_dir = std::filesystem::path(filename).parent_path();
  AgentConfig cfg;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    ctx.Error(e.mark.is_null() ? 0 : e.mark.line + 1, "", "invalid YAML: " + e.msg);
    return Finish(ctx, std::move(cfg));
  }
  try {
    if (root.IsNull()) return Finish(ctx, std::move(cfg));  // an empty file: nothing to do, as Prometheus
    MapReader top(ctx, root, "", 1);
    cfg.global = ReadGlobal(ctx, top.Get("global"), top.KeyLine("global"));
    cfg.sidecar = ReadSidecar(ctx, top.Get("sidecar"), top.KeyLine("sidecar"));

    std::map<std::string, int> job_lines;
    ForEachItem(top, "scrape_configs", [&](const YAML::Node& item, const std::string& path, size_t) {
      if (item.IsNull()) {
        ctx.Error(top.KeyLine("scrape_configs"), path, "empty scrape config");
        return;
      }
      ScrapeConfig sc = ReadScrapeConfig(ctx, item, path, cfg.global);
      int line = item.IsMap() && item["job_name"] ? LineOf(item["job_name"]) : LineOf(item);
      if (!sc.job_name.empty()) {
        auto [it, inserted] = job_lines.emplace(sc.job_name, line);
        if (!inserted) {
          ctx.Error(line, path + ".job_name",
                    "duplicate job_name " + Quote(sc.job_name) + " (also used at line " +
                        std::to_string(it->second) + "; job names must be unique)");
        }
      }
      cfg.scrape_configs.push_back(std::move(sc));
    });

    std::map<std::string, int> name_lines;
    std::map<std::string, std::string> hashes;  // canonical hash -> path of first section
    ForEachItem(top, "remote_write", [&](const YAML::Node& item, const std::string& path, size_t) {
      if (item.IsNull()) {
        ctx.Error(top.KeyLine("remote_write"), path, "empty remote_write section");
        return;
      }
      RemoteWriteConfig rw = ReadRemoteWrite(ctx, item, path);
      if (!item.IsMap()) return;  // already reported
      const std::string hash = ShortHash(CanonicalText(rw));
      const int line = LineOf(item);
      const bool explicit_name = !rw.name.empty();
      const bool same_settings = !hashes.emplace(hash, path).second;
      if (!explicit_name) {
        if (same_settings) {
          ctx.Error(line, path,
                    "duplicate remote_write section (same settings as " + hashes[hash] +
                        "; remove one or give each a distinct name)");
        }
        rw.name = hash;
      }
      auto [it, inserted] = name_lines.emplace(rw.name, line);
      if (!inserted && !(same_settings && !explicit_name)) {
        ctx.Error(line, path + ".name",
                  "duplicate remote_write name " + Quote(rw.name) + " (also used at line " +
                      std::to_string(it->second) + "; names must be unique)");
      }
      cfg.remote_write.push_back(std::move(rw));
    });
    top.Finish();
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports structural surprises by throwing; keep it a value.
    ctx.Error(e.mark.is_null() ? 0 : e.mark.line + 1, "", "unexpected YAML structure: " + e.msg);
  }
  return Finish(ctx, std::move(cfg));
}

Result<AgentConfig> LoadConfigString(std::string_view text, const std::string& pseudo_filename) {
  ParseOutcome out = ParseConfig(text, pseudo_filename);
  if (out.config) return std::move(*out.config);
  std::string msg;
  for (const auto& e : out.errors) {
    if (!msg.empty()) msg += '\n';
    msg += e;
  }
  return MakeError(msg);
}

namespace {
Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(path + ": cannot read config file: " + std::strerror(errno) +
                     " (check --config.file and the file's permissions)");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}
}  // namespace

Result<AgentConfig> LoadConfigFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.error();
  return LoadConfigString(*text, path);
}

std::vector<std::string> CheckConfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return {text.message()};
  return ParseConfig(*text, path).errors;
}

}  // namespace promsidecar::config
