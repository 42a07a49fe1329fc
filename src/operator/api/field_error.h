// FieldError: one finding about one field of a Kubernetes object, shaped like
// the API server's own field errors so a webhook can return it verbatim.
#pragma once

#include <string>
#include <vector>

namespace promsidecar::api {

struct FieldError {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string path;     // e.g. "spec.remoteWrite[1].url"
  std::string value;    // the offending value, never a secret; empty when absent
  std::string message;  // what is wrong and what is allowed

  bool is_error() const { return severity == Severity::kError; }
  // "spec.remoteWrite[1].url: Invalid value: \"ftp://x\": must use http or https"
  std::string ToString() const;
};

// Joins the errors (not the warnings) into one sentence per line.
std::string JoinErrors(const std::vector<FieldError>& errors);
bool HasErrors(const std::vector<FieldError>& errors);

}  // namespace promsidecar::api
