// Typed Kubernetes API errors. The API server answers a failed request with a
// `Status` object; callers branch on its reason (NotFound, Conflict, ...), so
// the Kubernetes client returns Result<T, kube::ApiError> instead of a bare
// message.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/result.h"

namespace promsidecar::kube {

// One entry of Status.details.causes: e.g. {"FieldValueInvalid", "metadata.name", "..."}.
struct StatusCause {
  std::string reason;
  std::string field;
  std::string message;
};

struct ApiError {
  // HTTP status code; 0 when no response was received (connection failure,
  // timeout, malformed response).
  int code = 0;
  // Status.reason, e.g. "NotFound", "Conflict", "AlreadyExists", "Invalid",
  // "Forbidden", "Unauthorized", "Expired", "Gone", "TooManyRequests",
  // "InternalError", "ServiceUnavailable", "Timeout". Derived from the code
  // when the server sent none.
  std::string reason;
  // The server's message (or the transport's).
  std::string message;
  std::vector<StatusCause> causes;
  // Status.details: which object the error is about, where given.
  std::string details_name;
  std::string details_kind;
  // From the Retry-After header or Status.details.retryAfterSeconds.
  std::optional<std::chrono::seconds> retry_after;
  // What the client was doing, e.g. "GET /api/v1/namespaces/a/configmaps/b".
  std::string context;

  bool transport_failure() const { return code == 0; }
  // One sentence for logs and users: context, code, reason, message, causes.
  std::string What() const;
};

bool IsNotFound(const ApiError& e);
bool IsAlreadyExists(const ApiError& e);
bool IsConflict(const ApiError& e);
bool IsInvalid(const ApiError& e);
bool IsForbidden(const ApiError& e);
bool IsUnauthorized(const ApiError& e);
// 410, reason Expired or Gone: the requested resourceVersion was compacted; relist.
bool IsGone(const ApiError& e);
bool IsTooManyRequests(const ApiError& e);
bool IsServerError(const ApiError& e);  // 5xx

// Builds the error for an HTTP response with a non-2xx status. `body` is
// parsed as a Status when it is one; otherwise the code decides the reason and
// a bounded prefix of the body becomes the message.
ApiError ApiErrorFromResponse(int http_status, std::string_view body, std::string context);
// Builds the error from a Status object (e.g. a watch ERROR event's object).
ApiError ApiErrorFromStatus(const nlohmann::json& status, std::string context);
// The conventional reason for an HTTP code when the server gave none.
std::string ReasonForCode(int code);

// For Result<T, ApiError>.
inline std::string ErrorMessage(const ApiError& e) {
  return e.What();
}

}  // namespace promsidecar::kube
