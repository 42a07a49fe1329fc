// Where the API server is and how to authenticate: from a kubeconfig file or
// from the in-cluster service-account files.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/http/client.h"
#include "common/util/base64.h"
#include "common/util/result.h"

namespace promsidecar::kube {

struct Config {
  std::string server;  // "https://127.0.0.1:6443"
  // CA, client certificate and key as PEM text (files are read at load time,
  // so a missing file is reported when the config is loaded).
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  bool insecure_skip_tls_verify = false;
  std::string proxy_url;
  // A static bearer token, or a file holding one (re-read when it changes:
  // projected service-account tokens rotate).
  std::string token;
  std::string token_file;
  // The context's namespace (kubeconfig) or the pod's (in-cluster); may be empty.
  std::string ns;

  http::ClientOptions ToClientOptions() const;
};

// Parses kubeconfig YAML text. `base_dir` resolves relative file paths (the
// kubeconfig's own directory, as kubectl does). `context` empty means
// current-context. Errors name the kubeconfig, the entry and the field.
Result<Config> ParseKubeconfig(std::string_view yaml, const std::filesystem::path& base_dir,
                               std::string_view context = {}, std::string_view source_name = "kubeconfig");
Result<Config> LoadKubeconfig(const std::filesystem::path& path, std::string_view context = {});

struct InClusterOptions {
  std::filesystem::path root = "/var/run/secrets/kubernetes.io/serviceaccount";
  // Environment lookup (KUBERNETES_SERVICE_HOST/PORT); getenv when unset.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};
Result<Config> LoadInClusterConfig(const InClusterOptions& options = {});

// Standard resolution: an explicit kubeconfig path, else $KUBECONFIG, else
// in-cluster, else ~/.kube/config.
Result<Config> LoadDefaultConfig(const std::string& kubeconfig_path = {}, std::string_view context = {});

// *-data fields and Secret data are standard base64 (common/util/base64.h);
// kube::DecodeBase64 stays the name callers outside promsidecar:: use.
using ::promsidecar::DecodeBase64;

// The bearer token to send. Thread-safe. With a token file it re-reads the
// file when its mtime changed, checking at most once per `check_interval`,
// or at once after Invalidate() (called on a 401).
class TokenSource {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  TokenSource(std::string static_token, std::string token_file,
              std::chrono::seconds check_interval = std::chrono::seconds(60), Clock clock = {});

  // Empty when there is no token. An unreadable token file keeps the last
  // token (an error is returned only if there never was one).
  Result<std::string> Token();
  // Forces a re-read on the next Token() call.
  void Invalidate();
  bool empty() const { return static_token_.empty() && token_file_.empty(); }

 private:
  std::string static_token_;
  std::string token_file_;
  std::chrono::seconds check_interval_;
  Clock clock_;
  std::mutex mu_;
  std::string cached_;
  std::optional<std::filesystem::file_time_type> mtime_;
  std::optional<std::chrono::steady_clock::time_point> last_check_;
};

}  // namespace promsidecar::kube
