#include "agent/remote_write/auth.h"

#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace promsidecar::remote_write {

namespace {
std::string_view TrimSpace(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}
}  // namespace

Result<std::string> SecretReader::Get() {
  if (ref_.file.empty()) return ref_.value;
  struct stat st {};
  if (::stat(ref_.file.c_str(), &st) != 0) {
    return MakeError(what_ + " \"" + ref_.file +
                     "\" cannot be read: the file does not exist or is not accessible");
  }
  Stamp stamp{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
              static_cast<uint64_t>(st.st_size),
              static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  if (stamp_ && *stamp_ == stamp) return cached_;
  std::ifstream in(ref_.file, std::ios::binary);
  if (!in) return MakeError(what_ + " \"" + ref_.file + "\" cannot be opened for reading");
  std::ostringstream content;
  content << in.rdbuf();
  cached_ = std::string(TrimSpace(content.str()));
  stamp_ = stamp;
  return cached_;
}

std::optional<std::string> TokenCache::Get(Time now) const {
  if (!token_) return std::nullopt;
  if (use_until_ && now >= *use_until_) return std::nullopt;
  return token_;
}

void TokenCache::Put(std::string token, std::optional<std::chrono::seconds> expires_in, Time now) {
  token_ = std::move(token);
  use_until_.reset();
  if (expires_in) {
    auto margin = std::min<std::chrono::steady_clock::duration>(std::chrono::seconds(10), *expires_in / 2);
    use_until_ = now + *expires_in - margin;
  }
}

Result<TokenResponse> ParseTokenResponse(std::string_view body) {
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return MakeError("oauth2 token response is not a JSON object");
  TokenResponse r;
  auto at = j.find("access_token");
  if (at == j.end() || !at->is_string() || at->get<std::string>().empty()) {
    return MakeError("oauth2 token response has no access_token");
  }
  r.access_token = at->get<std::string>();
  if (auto tt = j.find("token_type"); tt != j.end() && tt->is_string()) r.token_type = tt->get<std::string>();
  if (auto ei = j.find("expires_in"); ei != j.end()) {
    // Some servers send the number as a string.
    if (ei->is_number() && ei->get<double>() > 0) {
      r.expires_in = std::chrono::seconds(static_cast<int64_t>(ei->get<double>()));
    } else if (ei->is_string()) {
      try {
        auto v = std::stoll(ei->get<std::string>());
        if (v > 0) r.expires_in = std::chrono::seconds(v);
      } catch (...) {
      }
    }
  }
  return r;
}

std::string FormUrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string TokenRequestBody(const OAuth2Config& config) {
  std::string body = "grant_type=client_credentials";
  if (!config.scopes.empty()) {
    std::string scope;
    for (const auto& s : config.scopes) {
      if (!scope.empty()) scope += ' ';
      scope += s;
    }
    body += "&scope=" + FormUrlEncode(scope);
  }
  for (const auto& [k, v] : config.endpoint_params) {
    body += "&" + FormUrlEncode(k) + "=" + FormUrlEncode(v);
  }
  return body;
}

}  // namespace promsidecar::remote_write
