// Credential plumbing for the remote-write transport: secrets read from
// files that are re-read when they change, and the OAuth2 client-credentials
// token cache. Nothing here logs or formats a secret into an error.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/remote_write/transport.h"
#include "common/util/result.h"

namespace promsidecar::remote_write {

// Returns the secret's current value. For a file, the content (surrounding
// whitespace trimmed, as Prometheus does) is cached and re-read whenever the
// file's identity, size or mtime changes, which catches the kubelet's
// atomic symlink swap. Not thread-safe.
class SecretReader {
 public:
  // `what` names the field for errors, e.g. "basic_auth password_file".
  SecretReader(SecretRef ref, std::string what) : ref_(std::move(ref)), what_(std::move(what)) {}
  Result<std::string> Get();

 private:
  struct Stamp {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0;
    friend bool operator==(const Stamp&, const Stamp&) = default;
  };
  SecretRef ref_;
  std::string what_;
  std::optional<Stamp> stamp_;
  std::string cached_;
};

// An OAuth2 access token with the time it stops being used: its expiry
// minus a margin (min(10 s, half its lifetime)) so a request never carries a
// token that expires in flight. A token without expires_in is kept until
// invalidated (a 401 from the receiver).
class TokenCache {
 public:
  using Time = std::chrono::steady_clock::time_point;
  std::optional<std::string> Get(Time now) const;
  void Put(std::string token, std::optional<std::chrono::seconds> expires_in, Time now);
  void Invalidate() { token_.reset(); }

 private:
  std::optional<std::string> token_;
  std::optional<Time> use_until_;
};

struct TokenResponse {
  std::string access_token;
  std::string token_type;
  std::optional<std::chrono::seconds> expires_in;
};
// Parses an RFC 6749 5.1 token response. Errors never quote the body.
Result<TokenResponse> ParseTokenResponse(std::string_view body);

// application/x-www-form-urlencoded escaping of one name or value.
std::string FormUrlEncode(std::string_view s);

// The token request body: grant_type=client_credentials, scope, endpoint params.
std::string TokenRequestBody(const OAuth2Config& config);

}  // namespace promsidecar::remote_write
