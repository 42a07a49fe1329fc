// Tolerant reads of Kubernetes objects held as JSON: a missing key or a
// value of another type reads as null / "" / {} instead of throwing, since
// the operator reads objects written by anyone.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace promsidecar::util {

inline const nlohmann::json& At(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

inline std::string Str(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = At(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// The strings of an array (other elements skipped); empty for a non-array.
inline std::vector<std::string> StringList(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

}  // namespace promsidecar::util
