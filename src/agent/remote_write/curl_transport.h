// The real remote-write transport, on libcurl (one easy handle, so the
// connection is kept alive between requests). Written directly on libcurl,
// not on common/http's Client, which lacks three things this needs: a
// borrowed (zero-copy) request body, keeping the start of an oversized error
// body instead of failing the request, and TLS server_name.
//
// Sets Content-Encoding, Content-Type, X-Prometheus-Remote-Write-Version and
// User-Agent itself; user headers cannot override them. Auth: basic auth,
// Authorization header, OAuth2 client credentials (token cached until shortly
// before expiry, dropped on a 401). Secrets in files are re-read when the file
// changes; a secret with a line break is refused.
// TLS 1.2 or newer: CA, client certificate, server name, skip-verify. With
// server_name, the request is addressed to that name (SNI and certificate
// check) and CURLOPT_CONNECT_TO routes it to the URL's host; the Host header
// stays the URL's. The OAuth2 token request uses the same TLS settings (all
// but server_name) and proxy.
// No proxy unless proxy_url is set (the environment's *_proxy variables are
// ignored, as in Prometheus). Redirects are not followed.
//
// Not thread-safe: one transport per sender thread.
#pragma once

#include <memory>

#include "agent/remote_write/transport.h"
#include "common/util/result.h"

namespace promsidecar::remote_write {

class CurlTransport : public Transport {
 public:
  static Result<std::unique_ptr<CurlTransport>> Create(TransportConfig config);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<HttpResult> Post(const Request& request) override;

 private:
  struct Impl;
  explicit CurlTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace promsidecar::remote_write
