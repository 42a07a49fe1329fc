// AdmissionReview v1, decoded once for every webhook: the request a webhook
// decides on and the response it returns, as plain structs. Each webhook is
// then a plain `AdmissionResponse Handle(const AdmissionRequest&)` function,
// free of HTTP and JSON envelopes.
//
// Decoding treats the body as hostile: it is size-capped by the HTTP server,
// and its nesting depth is checked before parsing (nlohmann's parser recurses
// per level, so "[[[[..." could otherwise exhaust the stack).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/result.h"

namespace promsidecar::admission {

inline constexpr const char* kAdmissionApiVersion = "admission.k8s.io/v1";
inline constexpr const char* kAdmissionReviewKind = "AdmissionReview";
// Deep enough for any pod (managedFields included), far below stack limits.
inline constexpr std::size_t kMaxJsonDepth = 64;

struct GroupVersionKind {
  std::string group;
  std::string version;
  std::string kind;
};

struct GroupVersionResource {
  std::string group;
  std::string version;
  std::string resource;
};

struct AdmissionRequest {
  std::string uid;
  GroupVersionKind kind;
  GroupVersionResource resource;
  std::string sub_resource;
  std::string name;
  std::string namespace_;
  std::string operation;  // CREATE, UPDATE, DELETE, CONNECT
  std::string user;       // userInfo.username
  bool dry_run = false;
  nlohmann::json object;      // null when absent (DELETE)
  nlohmann::json old_object;  // null when absent (CREATE)
};

struct AdmissionResponse {
  bool allowed = true;
  // RFC 6902 operations; an empty array sends no patch.
  nlohmann::json patch = nlohmann::json::array();
  std::vector<std::string> warnings;
  // Denials: HTTP-like code (403, 422, 400...) and a message for the user.
  int status_code = 0;
  std::string status_message;
  std::string status_reason;  // e.g. "Invalid", "Forbidden"

  static AdmissionResponse Allow() { return {}; }
  static AdmissionResponse Deny(int code, std::string message, std::string reason = "");
};

// The deepest nesting of arrays/objects in `text`, scanning at most until the
// depth exceeds `limit` (strings and escapes are honoured). Pure.
std::size_t JsonNestingDepth(std::string_view text, std::size_t limit);

// Body → request. Errors (one sentence each, for a 400): not JSON, nesting
// deeper than kMaxJsonDepth, not an object, wrong apiVersion/kind, missing
// request or request.uid, wrongly typed fields.
Result<AdmissionRequest> DecodeAdmissionReview(std::string_view body);

// The AdmissionReview JSON answering `uid`: patchType JSONPatch with the
// base64 patch when it is non-empty; warnings; status for denials.
std::string EncodeAdmissionReview(const std::string& uid, const AdmissionResponse& response);

}  // namespace promsidecar::admission
