// A small blocking HTTP(S) client on libcurl: one request at a time, with the
// bounds every caller of ours needs (timeouts, a response size limit, TLS 1.2+)
// and a streaming mode for long responses such as Kubernetes WATCH.
//
// Thread-safety: a Client is NOT thread-safe. Use one Client per thread (or a
// pool); a Client reuses its connections across requests, so keep it around.
// Creating Clients from several threads at once is safe.
//
// Error messages name the method and the URL (without any user:password part)
// and never include header values or bodies, so they are safe to log.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http/url.h"  // RedactUrl, which the client's users log URLs with
#include "common/util/result.h"

namespace promsidecar::http {

// Header list with case-insensitive lookup; keeps order and duplicates.
class Headers {
 public:
  Headers() = default;
  Headers(std::initializer_list<std::pair<std::string, std::string>> init) : entries_(init) {}

  void Add(std::string name, std::string value) { entries_.emplace_back(std::move(name), std::move(value)); }
  // Replaces every header called `name` by one with `value`.
  void Set(std::string name, std::string value);
  // The first value of `name` (case-insensitive), if any.
  std::optional<std::string> Get(std::string_view name) const;
  std::vector<std::string> GetAll(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  void Clear() { entries_.clear(); }

  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// TLS settings. For each of CA, client certificate and key, give either a file
// path or the PEM text itself (the *_pem field wins when both are set).
struct TlsOptions {
  std::string ca_file;
  std::string ca_pem;
  std::string cert_file;
  std::string cert_pem;
  std::string key_file;
  std::string key_pem;
  // Skips server certificate and host name verification. Tests and explicit
  // user opt-in only.
  bool insecure_skip_verify = false;
};

// Settings that stay the same for every request a Client makes.
struct ClientOptions {
  TlsOptions tls;
  // e.g. "http://proxy:3128"; empty: no proxy, and the *_proxy environment
  // variables are ignored too, so behaviour never depends on the environment.
  std::string proxy_url;
  std::chrono::milliseconds connect_timeout{10'000};
  std::string user_agent = "promsidecar";
};

// Kinds of failure a caller may want to branch on (e.g. to retry).
enum class FailureKind {
  kNone,
  kConnect,         // could not resolve/connect/handshake: the server saw nothing
  kConnectionLost,  // the connection broke mid-exchange (the server may have acted)
  kTimeout,         // the request timeout passed (the server may have acted)
  kBodyTooLarge,    // the response body exceeded Request::max_body_bytes
  kAborted,         // on_chunk returned false or should_abort returned true
  kOther,           // anything else (connection reset mid-response, bad URL, ...)
};

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  // Whole-request deadline; zero means none (only sensible with should_abort).
  std::chrono::milliseconds timeout{30'000};
  // Zero: use ClientOptions::connect_timeout.
  std::chrono::milliseconds connect_timeout{0};
  // Limit on the (decoded) response body kept in Response::body. Exceeding it
  // fails the request with FailureKind::kBodyTooLarge and stops reading.
  // Zero means unlimited. Not applied to bytes handed to on_chunk.
  std::size_t max_body_bytes = 64u << 20;
  // Advertise gzip and decode the response transparently.
  bool decode_gzip = false;
  // Only connect (and complete the TLS handshake for https): no request is
  // sent, the Response has status 0. Tells "something listens" without the
  // server doing any work.
  bool connect_only = false;
  bool follow_redirects = false;
  // Streaming mode: when set and the status is 2xx, each body chunk is passed
  // here as it arrives and Response::body stays empty; returning false aborts
  // the transfer (FailureKind::kAborted). Non-2xx bodies are still collected
  // into Response::body (bounded by max_body_bytes) so errors can be parsed.
  std::function<bool(std::string_view chunk)> on_chunk;
  // Polled at least once a second while the transfer runs, even when no data
  // flows; returning true aborts it (FailureKind::kAborted). Used to stop a
  // long-running watch promptly.
  std::function<bool()> should_abort;
};

struct Response {
  long status = 0;
  Headers headers;  // of the final response (after 1xx and redirects)
  std::string body;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Performs one request. A completed exchange is a Response whatever its
  // status code; only transport failures are errors. `failure`, if given,
  // receives the kind of failure (kNone on success).
  Result<Response> Do(const Request& request, FailureKind* failure = nullptr);

 private:
  ClientOptions options_;
  void* curl_;  // CURL*, kept out of this header
};

}  // namespace promsidecar::http
