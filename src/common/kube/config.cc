#include "common/kube/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

namespace promsidecar::kube {
namespace {

namespace fs = std::filesystem;

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec(errno, std::generic_category());
    return MakeError("cannot read " + path.string() + ": " + ec.message());
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Finds the entry called `name` in a kubeconfig list such as `clusters`.
std::optional<YAML::Node> FindNamed(const YAML::Node& list, std::string_view name) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (const auto& item : list) {
    if (item.IsMap() && item["name"] && item["name"].IsScalar() && item["name"].Scalar() == name) return item;
  }
  return std::nullopt;
}

std::string Scalar(const YAML::Node& map, const char* key) {
  if (!map || !map.IsMap()) return "";
  YAML::Node n = map[key];
  if (!n || !n.IsScalar()) return "";
  return n.Scalar();
}

// Reads a "<x>" / "<x>-data" pair: PEM text from the base64 field or the file.
Result<std::string> PemField(const YAML::Node& map, const char* file_key, const std::string& where,
                             const fs::path& base_dir) {
  std::string data_key = std::string(file_key) + "-data";
  std::string data = Scalar(map, data_key.c_str());
  if (!data.empty()) {
    auto decoded = DecodeBase64(data);
    if (!decoded.ok()) return MakeError(where + "." + data_key + ": " + decoded.message());
    return std::move(decoded).value();
  }
  std::string file = Scalar(map, file_key);
  if (file.empty()) return std::string();
  fs::path path(file);
  if (path.is_relative()) path = base_dir / path;
  auto content = ReadFile(path);
  if (!content.ok()) return MakeError(where + "." + file_key + ": " + content.message());
  return std::move(content).value();
}

bool ParseBool(const std::string& s) {
  return s == "true" || s == "True" || s == "TRUE";
}

std::optional<std::string> RealGetenv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string TrimWhitespace(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

}  // namespace

http::ClientOptions Config::ToClientOptions() const {
  http::ClientOptions o;
  o.tls.ca_pem = ca_pem;
  o.tls.cert_pem = cert_pem;
  o.tls.key_pem = key_pem;
  o.tls.insecure_skip_verify = insecure_skip_tls_verify;
  o.proxy_url = proxy_url;
  return o;
}

Result<Config> ParseKubeconfig(std::string_view yaml, const fs::path& base_dir, std::string_view context,
                               std::string_view source_name) {
  std::string src(source_name);
  YAML::Node root_node;
  try {
    root_node = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return MakeError(src + ": not valid YAML: " + e.what());
  }
  const YAML::Node& root = root_node;  // const: lookups must not insert
  if (!root.IsMap())
    return MakeError(src + ": not a kubeconfig (expected a mapping with clusters, users, contexts)");

  std::string context_name(context);
  if (context_name.empty()) context_name = Scalar(root, "current-context");
  if (context_name.empty()) {
    return MakeError(src +
                     ": current-context is not set; set it (kubectl config use-context) or name a context");
  }
  auto ctx_entry = FindNamed(root["contexts"], context_name);
  if (!ctx_entry) return MakeError(src + ": contexts: no context named \"" + context_name + "\"");
  YAML::Node ctx = std::as_const(*ctx_entry)["context"];
  std::string ctx_where = "contexts[\"" + context_name + "\"].context";
  std::string cluster_name = Scalar(ctx, "cluster");
  if (cluster_name.empty()) return MakeError(src + ": " + ctx_where + ".cluster: missing");
  std::string user_name = Scalar(ctx, "user");

  Config cfg;
  cfg.ns = Scalar(ctx, "namespace");

  auto cluster_entry = FindNamed(root["clusters"], cluster_name);
  if (!cluster_entry) {
    return MakeError(src + ": " + ctx_where + ".cluster: no cluster named \"" + cluster_name +
                     "\" in clusters");
  }
  YAML::Node cluster = std::as_const(*cluster_entry)["cluster"];
  std::string cluster_where = src + ": clusters[\"" + cluster_name + "\"].cluster";
  cfg.server = Scalar(cluster, "server");
  if (cfg.server.empty()) return MakeError(cluster_where + ".server: missing; set the API server URL");
  while (!cfg.server.empty() && cfg.server.back() == '/') cfg.server.pop_back();
  cfg.insecure_skip_tls_verify = ParseBool(Scalar(cluster, "insecure-skip-tls-verify"));
  cfg.proxy_url = Scalar(cluster, "proxy-url");
  auto ca = PemField(cluster, "certificate-authority", cluster_where, base_dir);
  if (!ca.ok()) return ca.error();
  cfg.ca_pem = std::move(ca).value();

  if (!user_name.empty()) {
    auto user_entry = FindNamed(root["users"], user_name);
    if (!user_entry) {
      return MakeError(src + ": " + ctx_where + ".user: no user named \"" + user_name + "\" in users");
    }
    YAML::Node user = std::as_const(*user_entry)["user"];
    std::string user_where = src + ": users[\"" + user_name + "\"].user";
    if (user && user.IsMap()) {
      for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
        if (user[unsupported]) {
          return MakeError(user_where + "." + unsupported +
                           ": not supported by promsidecar; use a token, tokenFile or client certificate");
        }
      }
    }
    auto cert = PemField(user, "client-certificate", user_where, base_dir);
    if (!cert.ok()) return cert.error();
    cfg.cert_pem = std::move(cert).value();
    auto key = PemField(user, "client-key", user_where, base_dir);
    if (!key.ok()) return key.error();
    cfg.key_pem = std::move(key).value();
    if (cfg.cert_pem.empty() != cfg.key_pem.empty()) {
      return MakeError(user_where + ": client-certificate and client-key must be set together");
    }
    cfg.token = Scalar(user, "token");
    std::string token_file = Scalar(user, "tokenFile");
    if (!token_file.empty()) {
      fs::path p(token_file);
      if (p.is_relative()) p = base_dir / p;
      std::error_code ec;
      if (!fs::exists(p, ec)) return MakeError(user_where + ".tokenFile: " + p.string() + " does not exist");
      cfg.token_file = p.string();
    }
  }
  return cfg;
}

Result<Config> LoadKubeconfig(const fs::path& path, std::string_view context) {
  auto text = ReadFile(path);
  if (!text.ok()) return MakeError("kubeconfig: " + text.message());
  fs::path abs = fs::absolute(path);
  return ParseKubeconfig(*text, abs.parent_path(), context, "kubeconfig " + path.string());
}

Result<Config> LoadInClusterConfig(const InClusterOptions& options) {
  auto env = options.getenv ? options.getenv : RealGetenv;
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return MakeError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not running in "
        "a "
        "pod? pass a kubeconfig)");
  }
  Config cfg;
  std::string h = *host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 literal
  cfg.server = "https://" + h + ":" + *port;
  fs::path token = options.root / "token";
  std::error_code ec;
  if (!fs::exists(token, ec)) {
    return MakeError("in-cluster config: " + token.string() +
                     " does not exist; mount a service-account token (automountServiceAccountToken)");
  }
  cfg.token_file = token.string();
  auto ca = ReadFile(options.root / "ca.crt");
  if (!ca.ok()) return MakeError("in-cluster config: " + ca.message());
  cfg.ca_pem = std::move(ca).value();
  if (auto ns = ReadFile(options.root / "namespace"); ns.ok()) cfg.ns = TrimWhitespace(std::move(ns).value());
  return cfg;
}

Result<Config> LoadDefaultConfig(const std::string& kubeconfig_path, std::string_view context) {
  if (!kubeconfig_path.empty()) return LoadKubeconfig(kubeconfig_path, context);
  if (auto env = RealGetenv("KUBECONFIG"); env && !env->empty()) {
    // Only the first file of a KUBECONFIG list is used; merging is not supported.
    std::string first = env->substr(0, env->find(':'));
    return LoadKubeconfig(first, context);
  }
  if (RealGetenv("KUBERNETES_SERVICE_HOST")) return LoadInClusterConfig();
  if (auto home = RealGetenv("HOME"); home) {
    fs::path p = fs::path(*home) / ".kube" / "config";
    std::error_code ec;
    if (fs::exists(p, ec)) return LoadKubeconfig(p, context);
  }
  return MakeError(
      "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service "
      "account");
}

TokenSource::TokenSource(std::string static_token, std::string token_file,
                         std::chrono::seconds check_interval, Clock clock)
    : static_token_(std::move(static_token)),
      token_file_(std::move(token_file)),
      check_interval_(check_interval),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

Result<std::string> TokenSource::Token() {
  if (token_file_.empty()) return static_token_;
  std::lock_guard lock(mu_);
  auto now = clock_();
  if (last_check_ && now - *last_check_ < check_interval_ && !cached_.empty()) return cached_;
  last_check_ = now;
  std::error_code ec;
  auto mtime = fs::last_write_time(token_file_, ec);
  if (!ec && mtime_ && *mtime_ == mtime && !cached_.empty()) return cached_;
  auto content = ReadFile(token_file_);
  if (!content.ok()) {
    if (!cached_.empty()) return cached_;
    return MakeError("token file: " + content.message());
  }
  cached_ = TrimWhitespace(std::move(content).value());
  if (!ec) mtime_ = mtime;
  if (cached_.empty()) return MakeError("token file " + token_file_ + " is empty");
  return cached_;
}

void TokenSource::Invalidate() {
  std::lock_guard lock(mu_);
  last_check_.reset();
  mtime_.reset();
}

}  // namespace promsidecar::kube
