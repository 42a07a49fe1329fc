// String interning for caches that hold many copies of few distinct values
// (namespaces, label values, versions): each distinct value is stored once
// and callers keep a 16-byte view of it.
//
// Views stay valid for the life of the process: interned values are never
// freed. Intern only values drawn from a bounded set (names of cluster
// objects, annotation values the operator itself writes), never free text.
// Thread-safe.
#pragma once

#include <string_view>

namespace promsidecar::util {

std::string_view Intern(std::string_view value);

}  // namespace promsidecar::util
