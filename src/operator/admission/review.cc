#include "operator/admission/review.h"

#include <tuple>
#include <utility>

#include "common/util/base64.h"

namespace promsidecar::admission {

using nlohmann::json;

AdmissionResponse AdmissionResponse::Deny(int code, std::string message, std::string reason) {
  AdmissionResponse r;
  r.allowed = false;
  r.status_code = code;
  r.status_message = std::move(message);
  r.status_reason = std::move(reason);
  return r;
}

std::size_t JsonNestingDepth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return deepest;
}

namespace {

// Optional string field: absent or null → "", another type → error.
Status ReadString(const json& obj, const char* key, const std::string& where, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) return MakeError(where + "." + key + " must be a string");
  *out = it->get<std::string>();
  return {};
}

Status ReadObject(const json& obj, const char* key, const std::string& where, const json** out) {
  static const json kEmpty = json::object();
  *out = &kEmpty;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_object()) return MakeError(where + "." + key + " must be an object");
  *out = &*it;
  return {};
}

}  // namespace

Result<AdmissionRequest> DecodeAdmissionReview(std::string_view body) {
  if (JsonNestingDepth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    return MakeError("request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                     " levels; expected an AdmissionReview");
  }
  json review = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (review.is_discarded()) return MakeError("request body is not valid JSON; expected an AdmissionReview");
  if (!review.is_object()) return MakeError("request body is not a JSON object; expected an AdmissionReview");
  const std::string api_version = review.value("apiVersion", json()).is_string()
                                      ? review["apiVersion"].get<std::string>()
                                      : std::string();
  const std::string kind =
      review.value("kind", json()).is_string() ? review["kind"].get<std::string>() : std::string();
  if (kind != kAdmissionReviewKind) {
    return MakeError("kind is \"" + kind + "\"; expected " + kAdmissionReviewKind);
  }
  if (api_version != kAdmissionApiVersion) {
    return MakeError("apiVersion is \"" + api_version + "\"; only " + kAdmissionApiVersion +
                     " is served (admissionReviewVersions: [v1])");
  }
  auto req_it = review.find("request");
  if (req_it == review.end() || !req_it->is_object()) {
    return MakeError("AdmissionReview has no request object");
  }
  json& req = *req_it;
  AdmissionRequest out;
  if (auto s = ReadString(req, "uid", "request", &out.uid); !s.ok()) return MakeError(s.message());
  if (out.uid.empty()) return MakeError("AdmissionReview request has no uid");

  const json* kind_obj = nullptr;
  if (auto s = ReadObject(req, "kind", "request", &kind_obj); !s.ok()) return MakeError(s.message());
  const json* resource_obj = nullptr;
  if (auto s = ReadObject(req, "resource", "request", &resource_obj); !s.ok()) return MakeError(s.message());
  const json* user_obj = nullptr;
  if (auto s = ReadObject(req, "userInfo", "request", &user_obj); !s.ok()) return MakeError(s.message());
  for (auto [obj, key, where, dst] : {
           std::tuple{kind_obj, "group", "request.kind", &out.kind.group},
           std::tuple{kind_obj, "version", "request.kind", &out.kind.version},
           std::tuple{kind_obj, "kind", "request.kind", &out.kind.kind},
           std::tuple{resource_obj, "group", "request.resource", &out.resource.group},
           std::tuple{resource_obj, "version", "request.resource", &out.resource.version},
           std::tuple{resource_obj, "resource", "request.resource", &out.resource.resource},
           std::tuple{static_cast<const json*>(&req), "subResource", "request", &out.sub_resource},
           std::tuple{static_cast<const json*>(&req), "name", "request", &out.name},
           std::tuple{static_cast<const json*>(&req), "namespace", "request", &out.namespace_},
           std::tuple{static_cast<const json*>(&req), "operation", "request", &out.operation},
           std::tuple{user_obj, "username", "request.userInfo", &out.user},
       }) {
    if (auto s = ReadString(*obj, key, where, dst); !s.ok()) return MakeError(s.message());
  }
  if (auto it = req.find("dryRun"); it != req.end() && !it->is_null()) {
    if (!it->is_boolean()) return MakeError("request.dryRun must be a boolean");
    out.dry_run = it->get<bool>();
  }
  for (auto [key, dst] : {std::pair{"object", &out.object}, std::pair{"oldObject", &out.old_object}}) {
    auto it = req.find(key);
    if (it == req.end() || it->is_null()) continue;
    if (!it->is_object()) return MakeError(std::string("request.") + key + " must be an object");
    *dst = std::move(*it);
  }
  return out;
}

namespace {

// Warnings travel as HTTP headers: no control characters.
std::string SanitizeWarning(const std::string& w) {
  std::string out;
  out.reserve(w.size());
  for (char c : w) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  return out;
}

}  // namespace

std::string EncodeAdmissionReview(const std::string& uid, const AdmissionResponse& response) {
  // Written out directly: the base64 patch is most of an answer and needs no
  // escaping, so building a JSON tree around it only to serialise it again
  // would double the work. Invalid UTF-8 is replaced rather than thrown:
  // messages and patches may quote user input.
  auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
  std::string out = R"({"apiVersion":")";
  out += kAdmissionApiVersion;
  out += R"(","kind":")";
  out += kAdmissionReviewKind;
  out += R"(","response":{"uid":)";
  out += dump(json(uid));
  out += response.allowed ? R"(,"allowed":true)" : R"(,"allowed":false)";
  if (response.allowed && response.patch.is_array() && !response.patch.empty()) {
    out += R"(,"patchType":"JSONPatch","patch":")";
    out += EncodeBase64(dump(response.patch));
    out += '"';
  }
  if (!response.warnings.empty()) {
    json warnings = json::array();
    for (const auto& w : response.warnings) warnings.push_back(SanitizeWarning(w));
    out += R"(,"warnings":)";
    out += dump(warnings);
  }
  if (!response.allowed || response.status_code != 0 || !response.status_message.empty()) {
    json status = {{"code", response.status_code != 0 ? response.status_code : 403},
                   {"message", response.status_message}};
    if (!response.status_reason.empty()) status["reason"] = response.status_reason;
    status["status"] = response.allowed ? "Success" : "Failure";
    out += R"(,"status":)";
    out += dump(status);
  }
  out += "}}";
  return out;
}

}  // namespace promsidecar::admission
