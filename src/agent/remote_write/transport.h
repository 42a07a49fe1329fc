// The HTTP side of remote write behind a small interface, so the sender is
// tested without sockets. CurlTransport (curl_transport.h) is the real one.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/remote_write/retry_policy.h"
#include "common/util/result.h"

namespace promsidecar::remote_write {

// Which protobuf message a request carries: remote write 1.0's
// prometheus.WriteRequest or 2.0's io.prometheus.write.v2.Request. The
// transport sets Content-Type and X-Prometheus-Remote-Write-Version from it.
enum class MessageType { kV1, kV2 };
// The config names ("prometheus.WriteRequest", "io.prometheus.write.v2.Request").
std::string_view ToString(MessageType type);

struct Request {
  std::string_view body;  // snappy-compressed message; must outlive Post()
  // Upper bound for this request; zero means the transport's remote_timeout.
  // The sender shortens it while flushing at shutdown.
  std::chrono::milliseconds timeout{0};
  MessageType message = MessageType::kV1;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends one request. An error means no HTTP status was received (network,
  // TLS, timeout, credentials unreadable); its message names the URL without
  // credentials and never contains a secret.
  virtual Result<HttpResult> Post(const Request& request) = 0;
};

// Headers a remote-write sender sets itself (spec: users "MUST NOT" be able
// to send these) plus those that would break HTTP framing or authentication.
// Case-insensitive. Config validation uses this too.
bool IsReservedHeader(std::string_view name);

// The remote-write request headers every request carries: 1.0's (which a
// 1.x receiver expects), and 2.0's.
inline constexpr std::string_view kContentEncoding = "snappy";
inline constexpr std::string_view kContentType = "application/x-protobuf";
inline constexpr std::string_view kRemoteWriteVersion = "0.1.0";
inline constexpr std::string_view kContentTypeV2 =
    "application/x-protobuf;proto=io.prometheus.write.v2.Request";
inline constexpr std::string_view kRemoteWriteVersionV2 = "2.0.0";

// Where a secret comes from: inline, or a file re-read when it changes
// (kubelet swaps mounted Secrets atomically).
struct SecretRef {
  std::string value;
  std::string file;
  bool empty() const { return value.empty() && file.empty(); }
};

struct BasicAuthConfig {
  std::string username;
  SecretRef password;
};

struct AuthorizationConfig {
  std::string type = "Bearer";
  SecretRef credentials;
};

struct OAuth2Config {
  std::string client_id;
  SecretRef client_secret;
  std::string token_url;
  std::vector<std::string> scopes;
  std::vector<std::pair<std::string, std::string>> endpoint_params;
};

struct TlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;  // SNI and certificate name check, when not the URL's host
  bool insecure_skip_verify = false;
};

struct TransportConfig {
  std::string url;
  std::chrono::milliseconds remote_timeout{30000};
  std::string user_agent = "promsidecar-agent";              // e.g. "promsidecar-agent/0.1.0"
  std::vector<std::pair<std::string, std::string>> headers;  // user headers
  // At most one of basic_auth, authorization, oauth2 (config validation).
  std::optional<BasicAuthConfig> basic_auth;
  std::optional<AuthorizationConfig> authorization;
  std::optional<OAuth2Config> oauth2;
  TlsConfig tls;
  std::string proxy_url;
  size_t max_response_body = 1024;  // kept for the log; the spec says ignore it
};

// Checks what the transport itself depends on (URL scheme, one auth method,
// no reserved header). The config component validates the rest.
Status ValidateTransportConfig(const TransportConfig& config);

}  // namespace promsidecar::remote_write
