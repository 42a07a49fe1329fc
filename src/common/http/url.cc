#include "common/http/url.h"

namespace promsidecar::http {

std::string RedactUrl(std::string_view url, std::string_view replacement) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string_view::npos) end = url.size();
  // The last '@': a password may itself contain '@'.
  const size_t at = url.substr(start, end - start).rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, start));
  out += replacement;
  out += url.substr(start + at + 1);
  return out;
}

}  // namespace promsidecar::http
