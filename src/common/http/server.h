// A small HTTP/1.1 server for our control endpoints: the agent's /metrics,
// /-/healthy, /-/ready, /-/reload and the operator's TLS webhooks, /metrics,
// /healthz, /readyz. Not a general web server: exact-path routing, bounded
// request bodies, a bounded worker pool, timeouts on every read and write,
// and a deadline on reading each whole request.
//
//   http::Server server({.listen_address = "127.0.0.1:0"});
//   server.Handle("GET", "/-/healthy", [](const http::ServerRequest&) {
//     return http::ServerResponse::Text(200, "OK\n");
//   });
//   if (auto started = server.Start(); !started) { ...started.message()... }
//   ... server.BoundPort() ...
//   server.Stop();
//
// Responses: 404 for an unknown path, 405 (with Allow) for a known path and
// another method, 413 for a body above max_body_bytes, 500 when a handler
// throws (exceptions never leave the server). HEAD is served by the GET
// handler, without the body.
//
// TLS: the certificate and key files are re-read, without a restart, by the
// first handshake after either file's modification time (or size or inode)
// changes, so a rotated certificate (cert-manager, a kubelet Secret volume
// swap) is served to every new connection. A pair that fails to load or does
// not match is logged and the previous pair stays in use. TLS 1.2 minimum,
// forward-secret AEAD cipher suites only.
//
// Request deadline: a request must arrive whole (TLS handshake, request
// line, headers, body) within request_deadline of its first byte (of the
// worker taking the connection, for a connection's first request). Per-read
// timeouts alone let a client that trickles a byte now and then hold a worker
// for ever. Past the deadline the connection is shut for reading, which wakes
// the worker whatever it waits in (a TLS handshake, a header, the body): it
// closes the connection (mostly without an answer, at times after a 408) and
// takes the next one. The idle
// wait between keep-alive requests is not counted (keep_alive_timeout bounds
// it), nor is the time a handler takes or writing the answer.
//
// Thread-safety: Handle() must be called before Start(). Handlers run
// concurrently on the worker threads. Start()/Stop() from one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/util/result.h"

namespace promsidecar::metrics {
class Counter;
}

namespace promsidecar::http {

struct ServerRequest {
  std::string method;  // upper case, e.g. "GET"
  std::string path;    // percent-decoded, without the query string
  // Query parameters (decoded), sorted by name; repeated names keep their order.
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;  // peer IP

  // The first value of header `name` (case-insensitive), if any.
  std::optional<std::string> Header(std::string_view name) const;
  // The first value of query parameter `name`, if any.
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct ServerResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers (Content-Type and Content-Length are set from the fields).
  std::vector<std::pair<std::string, std::string>> headers;

  static ServerResponse Text(int status, std::string body);
  static ServerResponse Json(int status, std::string body);
};

using Handler = std::function<ServerResponse(const ServerRequest&)>;

struct ServerTlsOptions {
  std::string cert_file;  // PEM: the serving certificate, then any intermediates
  std::string key_file;   // PEM private key matching the certificate
};

struct ServerOptions {
  // "host:port", "[v6]:port" or ":port" (all IPv4 interfaces). Port 0 picks
  // a free port; BoundPort() tells which.
  std::string listen_address = "127.0.0.1:0";
  std::optional<ServerTlsOptions> tls;
  // Larger request bodies (after content decoding) are refused with 413.
  std::size_t max_body_bytes = 1u << 20;
  // Per read and per write on a connection; also bounds the TLS handshake.
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
  // From a request's first byte to its last; see "Request deadline" above.
  // Must be positive.
  std::chrono::milliseconds request_deadline{10'000};
  // Incremented for each request cut by request_deadline (optional; must
  // outlive the server).
  metrics::Counter* deadline_exceeded = nullptr;
  // How long an idle keep-alive connection may hold a worker.
  std::chrono::seconds keep_alive_timeout{5};
  // Requests served on one connection before the server closes it (the
  // client reconnects: a new TLS handshake). httplib's default is 5.
  std::size_t keep_alive_max_requests = 5;
  // Connections are served by at most this many threads; up to
  // max_pending_connections accepted connections wait for one, after which
  // the server stops accepting and new clients wait in the kernel backlog.
  std::size_t worker_threads = 4;
  std::size_t max_pending_connections = 64;
  // Names this server in log lines, e.g. "webhook" or "metrics".
  std::string name = "http";
};

// Splits a listen address into host and port. Pure; exposed for config
// validation. ":9090" gives host "0.0.0.0".
struct HostPort {
  std::string host;
  int port = 0;
};
Result<HostPort> ParseListenAddress(std::string_view address);

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers `handler` for an exact method and path. Registering the same
  // pair twice replaces the first handler. Call before Start().
  void Handle(std::string method, std::string path, Handler handler);

  // Binds and starts serving on background threads; returns once the server
  // accepts connections. An error (address in use, bad address, unreadable
  // TLS files) leaves the server stopped, and Start() may be called again
  // later, e.g. by a background retry loop.
  Status Start();

  // The port actually bound; 0 when not running.
  int BoundPort() const;
  bool Running() const;

  // Graceful: stops accepting, lets in-flight requests finish, joins all
  // threads. Idempotent. An idle keep-alive connection (the apiserver keeps
  // its webhook connections open) can delay it by up to keep_alive_timeout;
  // a stuck client by up to request_deadline.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace promsidecar::http
