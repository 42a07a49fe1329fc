#include "agent/remote_write/transport.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/http/url.h"

namespace promsidecar::remote_write {

namespace {
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}
}  // namespace

std::string_view ToString(MessageType type) {
  return type == MessageType::kV2 ? "io.prometheus.write.v2.Request" : "prometheus.WriteRequest";
}

bool IsReservedHeader(std::string_view name) {
  // Prometheus's reserved list for remote write, plus framing headers.
  static constexpr std::array<std::string_view, 14> kReserved = {"Authorization",      "Host",
                                                                 "Content-Encoding",   "Content-Length",
                                                                 "Content-Type",       "User-Agent",
                                                                 "Connection",         "Keep-Alive",
                                                                 "Proxy-Authenticate", "Proxy-Authorization",
                                                                 "Www-Authenticate",   "Accept-Encoding",
                                                                 "Transfer-Encoding",  "Expect"};
  for (auto r : kReserved) {
    if (EqualsIgnoreCase(name, r)) return true;
  }
  return StartsWithIgnoreCase(name, "X-Prometheus-Remote-");
}

Status ValidateTransportConfig(const TransportConfig& c) {
  if (!StartsWithIgnoreCase(c.url, "http://") && !StartsWithIgnoreCase(c.url, "https://")) {
    return MakeError("remote_write url \"" + http::RedactUrl(c.url) +
                     "\": must start with http:// or https://; fix the url field");
  }
  int methods = c.basic_auth.has_value() + c.authorization.has_value() + c.oauth2.has_value();
  if (methods > 1) {
    return MakeError("remote_write " + http::RedactUrl(c.url) +
                     ": at most one of basic_auth, authorization and oauth2 may be set; remove the others");
  }
  for (const auto& [name, value] : c.headers) {
    if (IsReservedHeader(name)) {
      return MakeError("remote_write " + http::RedactUrl(c.url) + ": header \"" + name +
                       "\" is set by the sender and cannot be configured; remove it from headers");
    }
    if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return MakeError("remote_write " + http::RedactUrl(c.url) + ": header \"" + name +
                       "\" has an invalid name or value (no ':', spaces or line breaks)");
    }
  }
  if (c.basic_auth && !c.basic_auth->password.value.empty() && !c.basic_auth->password.file.empty()) {
    return MakeError("remote_write " + http::RedactUrl(c.url) +
                     ": basic_auth has both password and password_file; keep one");
  }
  if (c.authorization && !c.authorization->credentials.value.empty() &&
      !c.authorization->credentials.file.empty()) {
    return MakeError("remote_write " + http::RedactUrl(c.url) +
                     ": authorization has both credentials and credentials_file; keep one");
  }
  if (c.oauth2 && (c.oauth2->client_id.empty() || c.oauth2->token_url.empty())) {
    return MakeError("remote_write " + http::RedactUrl(c.url) + ": oauth2 needs client_id and token_url");
  }
  if (c.tls.cert_file.empty() != c.tls.key_file.empty()) {
    return MakeError("remote_write " + http::RedactUrl(c.url) +
                     ": tls_config needs both cert_file and key_file, or neither");
  }
  if (c.remote_timeout.count() <= 0) {
    return MakeError("remote_write " + http::RedactUrl(c.url) + ": remote_timeout must be positive");
  }
  return {};
}

}  // namespace promsidecar::remote_write
