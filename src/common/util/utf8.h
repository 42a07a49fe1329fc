// UTF-8 with the rules of Go's unicode/utf8, which Prometheus applies to
// label values and HELP text and protobuf applies to strings: no overlong
// forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace promsidecar {

// Whether all of `s` is valid UTF-8. On the parser's hot path: ASCII runs
// are checked 32 and 8 bytes at a time. Pure.
bool IsValidUtf8(std::string_view s);

// The code point at the start of `s` (non-empty) and, in `width`, the bytes
// it takes. An invalid or truncated sequence decodes as U+FFFD of width 1,
// as Go's utf8.DecodeRuneInString does. Pure.
char32_t DecodeUtf8(std::string_view s, size_t& width);

// Appends the UTF-8 encoding of `cp`, which must be a valid code point
// (at most U+10FFFF, not a surrogate).
void AppendUtf8(std::string& out, char32_t cp);

}  // namespace promsidecar
