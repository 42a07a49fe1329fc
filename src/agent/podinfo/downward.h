// The files a downwardAPI volume holds for `metadata.annotations` and
// `metadata.labels`: the kubelet writes one `key="value"` line per key,
// sorted by key, each value quoted with Go's strconv.Quote (fieldpath.FormatMap),
// and no newline after the last line.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/util/result.h"

namespace promsidecar::podinfo {

// Parses such a file. An error names the line (1-based) and what is wrong,
// never the value (annotation values can be large or sensitive).
Result<std::map<std::string, std::string>> ParseDownwardApiFile(std::string_view content);

// Go's strconv.Unquote for a double-quoted string (quotes included).
Result<std::string> UnquoteGo(std::string_view quoted);

}  // namespace promsidecar::podinfo
