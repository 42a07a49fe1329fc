// Tolerant reads of Kubernetes objects held as JSON: a missing key or a
// value of another type reads as null / "" instead of throwing, since the
// controller reads objects written by anyone.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace promsidecar::controller::detail {

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

}  // namespace promsidecar::controller::detail
