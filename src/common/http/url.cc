#include "common/http/url.h"

#include <algorithm>

namespace promsidecar::http {
namespace {

constexpr std::string_view kRedacted = "<redacted>";

bool IsAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 3986: unreserved, reserved and '%' (of percent-encoding).
bool IsUrlChar(char c) {
  if (IsAlpha(c) || IsDigit(c)) return true;
  return std::string_view("-._~:/?#[]@!$&'()*+,;=%").find(c) != std::string_view::npos;
}

}  // namespace

bool IsUrlScheme(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(),
                     [](char c) { return IsAlpha(c) || IsDigit(c) || c == '+' || c == '-' || c == '.'; });
}

std::string RedactUrl(std::string_view url) {
  if (!std::all_of(url.begin(), url.end(), IsUrlChar)) return std::string(kRedacted);
  url = url.substr(0, url.find('#'));
  const size_t q = url.find('?');
  const bool has_query = q != std::string_view::npos && q + 1 < url.size();
  url = url.substr(0, q);

  const size_t sep = url.find("://");
  size_t start = 0;
  if (sep != std::string_view::npos) {
    if (!IsUrlScheme(url.substr(0, sep))) return std::string(kRedacted);
    start = sep + 3;
  } else if (url.starts_with("//")) {
    start = 2;  // network-path reference: "//host/path"
  }
  const size_t end = std::min(url.find('/', start), url.size());
  std::string_view authority = url.substr(start, end - start);
  const std::string_view path = url.substr(end);
  // Without "scheme://" the end of the authority is a guess: in "https:/u:p@h"
  // the userinfo would land in the path.
  if (sep == std::string_view::npos && path.find('@') != std::string_view::npos)
    return std::string(kRedacted);

  std::string out(url.substr(0, start));
  // The last '@': a password may itself contain '@'.
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    out += kRedacted;
    out += '@';
    authority.remove_prefix(at + 1);
  }
  out += authority;
  out += path;
  if (has_query) {
    out += '?';
    out += kRedacted;
  }
  return out;
}

}  // namespace promsidecar::http
