#include "common/util/intern.h"

#include <mutex>
#include <string>
#include <unordered_set>

namespace promsidecar::util {

std::string_view Intern(std::string_view value) {
  if (value.empty()) return {};
  static std::mutex mu;
  // Node-based: an element's address never moves, so views stay valid.
  static auto* pool = new std::unordered_set<std::string>();
  std::lock_guard<std::mutex> lock(mu);
  return *pool->emplace(value).first;
}

}  // namespace promsidecar::util
