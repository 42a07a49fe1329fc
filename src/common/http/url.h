// URL text helpers that need no HTTP stack, for the client, the remote-write
// sender and anything else that logs or reports URLs.
#pragma once

#include <string>
#include <string_view>

namespace promsidecar::http {

// The URL with the userinfo of its authority ("user:password@") replaced by
// `replacement` (default: removed), safe for logs, errors and metric labels.
// Without "://" the whole text up to the first '/', '?' or '#' is taken as
// the authority. Paths, queries and fragments are kept: an '@' there is not
// userinfo. Pure.
std::string RedactUrl(std::string_view url, std::string_view replacement = "");

}  // namespace promsidecar::http
