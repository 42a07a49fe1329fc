// UTF-8 validation with the same rules as Go's utf8.Valid (no overlong
// forms, no surrogates, nothing above U+10FFFF), which Prometheus applies to
// label values and HELP text.
#pragma once

#include <string_view>

namespace promsidecar::textparse {

bool IsValidUtf8(std::string_view s);

}  // namespace promsidecar::textparse
