#include "operator/api/names.h"

#include <algorithm>
#include <string>

namespace promsidecar::api {

Status CheckNamespaceName(std::string_view name) {
  // The API server's own limit for namespace names (and label values).
  constexpr size_t kMaxLength = 63;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > kMaxLength) {
    return MakeError("\"" + std::string(name) + "\" is not a namespace name: it has " +
                     std::to_string(name.size()) + " characters, want 1 to 63");
  }
  bool chars_ok = std::all_of(name.begin(), name.end(), [&alnum](char c) { return alnum(c) || c == '-'; });
  if (!chars_ok || !alnum(name.front()) || !alnum(name.back())) {
    return MakeError(
        "\"" + std::string(name) +
        "\" is not a namespace name: use lower-case letters, digits and '-', starting and ending "
        "with a letter or digit");
  }
  return {};
}

}  // namespace promsidecar::api
