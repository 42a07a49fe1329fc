// URL text helpers that need no HTTP stack, for the client, the remote-write
// sender, the operator's validation and anything else that logs or reports
// URLs.
#pragma once

#include <string>
#include <string_view>

namespace promsidecar::http {

// The one redaction of a URL for everything a person or a scraper can read:
// log lines, error messages, metric labels, Kubernetes Events and status.
// Keeps scheme://host[:port]/path and hides every place a credential lives:
//   - userinfo becomes "<redacted>@": the marker tells an operator that
//     credentials are configured without showing them;
//   - a non-empty query becomes "?<redacted>", names included: a name can be
//     the secret itself ("?<token>"), and query syntax varies too much to tell
//     names from values safely;
//   - the fragment is dropped.
// "https://u:p@h:8443/w?api_key=s#f" → "https://<redacted>@h:8443/w?<redacted>".
// Without "scheme://" the text up to the first '/', '?' or '#' is the
// authority ("u:p@h/w" → "<redacted>@h/w").
// Text whose secrets could sit anywhere becomes "<redacted>" as a whole: a
// character a URL cannot hold (space, control, quote, backslash, non-ASCII),
// an invalid scheme before "://", or an '@' after the authority — a '/', '?'
// or '#' in a password ends the authority early ("https://u:pa/ss@h"), as do
// wrong slashes ("https:/u:p@h"), so such an '@' is never taken for a path's.
// Idempotent: the marker itself passes through. Pure.
std::string RedactUrl(std::string_view url);

// Whether `scheme` is a URL scheme by RFC 3986 (a letter, then letters,
// digits, '+', '-' or '.'), so text before "://" may be echoed. Pure.
bool IsUrlScheme(std::string_view scheme);

}  // namespace promsidecar::http
