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

namespace {

// Whether every character can be in a URL; the marker itself counts as one,
// so that redacting twice changes nothing.
bool AllUrlChars(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (s.substr(i).starts_with(kRedacted)) {
      i += kRedacted.size();
    } else if (!IsUrlChar(s[i++])) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string RedactUrl(std::string_view url) {
  if (!AllUrlChars(url)) return std::string(kRedacted);
  size_t sep = url.find("://");
  // A "://" after a '/', '?' or '#' is inside the path or the query.
  if (sep != std::string_view::npos && url.substr(0, sep).find_first_of("/?#") != std::string_view::npos) {
    sep = std::string_view::npos;
  }
  size_t start = 0;
  if (sep != std::string_view::npos) {
    if (!IsUrlScheme(url.substr(0, sep))) return std::string(kRedacted);
    start = sep + 3;
  } else if (url.starts_with("//")) {
    start = 2;  // network-path reference: "//host/path"
  }
  const size_t end = std::min(url.find_first_of("/?#", start), url.size());
  std::string_view authority = url.substr(start, end - start);
  const std::string_view rest = url.substr(end);
  // An '@' after the authority: a '/', '?' or '#' in a password may have cut
  // the authority short ("https://u:pa/ss@h"), or the scheme's slashes are
  // wrong ("https:/u:p@h"); either way the userinfo would be echoed.
  if (rest.find('@') != std::string_view::npos) return std::string(kRedacted);
  const size_t path_end = std::min(rest.find_first_of("?#"), rest.size());
  const size_t query_end = std::min(rest.find('#'), rest.size());
  const bool has_query = path_end < rest.size() && rest[path_end] == '?' && query_end > path_end + 1;

  std::string out(url.substr(0, start));
  // The last '@': a password may itself contain '@'.
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    out += kRedacted;
    out += '@';
    authority.remove_prefix(at + 1);
  }
  out += authority;
  out += rest.substr(0, path_end);
  if (has_query) {
    out += '?';
    out += kRedacted;
  }
  return out;
}

}  // namespace promsidecar::http
