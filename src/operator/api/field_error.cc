#include "operator/api/field_error.h"

namespace promsidecar::api {

std::string FieldError::ToString() const {
  std::string out = path;
  out += is_error() ? ": Invalid value" : ": Warning";
  if (!value.empty()) out += ": \"" + value + "\"";
  out += ": " + message;
  return out;
}

std::string JoinErrors(const std::vector<FieldError>& errors) {
  std::string out;
  for (const FieldError& e : errors) {
    if (!e.is_error()) continue;
    if (!out.empty()) out += "\n";
    out += e.ToString();
  }
  return out;
}

bool HasErrors(const std::vector<FieldError>& errors) {
  for (const FieldError& e : errors) {
    if (e.is_error()) return true;
  }
  return false;
}

}  // namespace promsidecar::api
