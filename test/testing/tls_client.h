// A bare OpenSSL TLS client for tests of our servers' TLS policy: it can
// offer old protocol versions and weak TLS 1.2 ciphers (which curl and the
// project's http::Client refuse to), reports what was negotiated and the
// certificate shown, and can send raw HTTP bytes.
#pragma once

#include <chrono>
#include <string>

namespace promsidecar::testing {

struct TlsOutcome {
  bool handshake_ok = false;
  std::string peer_common_name;
  std::string protocol;  // e.g. "TLSv1.3"
  std::string response;  // raw bytes read after sending `request`, until the server closed
  std::string error;     // connect or handshake failure
};

struct TlsClientOptions {
  int max_version = 0;        // e.g. TLS1_1_VERSION (from OpenSSL); 0: library default
  std::string tls12_ciphers;  // also caps the client at TLS 1.2; empty: library default
  std::string request;        // sent after the handshake when not empty
  // Per socket read/write: how long to wait for the server to answer or close.
  std::chrono::seconds io_timeout{10};
};

// Connects to 127.0.0.1:`port`, verifies the server against `ca_pem` and IP
// SAN 127.0.0.1, then sends `request` (if any) and reads until the server
// closes the connection.
TlsOutcome TlsConnect(int port, const std::string& ca_pem, const TlsClientOptions& options = {});

}  // namespace promsidecar::testing
