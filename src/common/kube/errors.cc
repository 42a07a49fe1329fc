#include "common/kube/errors.h"

namespace promsidecar::kube {
namespace {

std::string StringField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

constexpr size_t kMaxBodyInMessage = 256;

}  // namespace

std::string ReasonForCode(int code) {
  switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return code >= 500 ? "InternalError" : (code >= 400 ? "BadRequest" : "Unknown");
  }
}

std::string ApiError::What() const {
  std::string out = context.empty() ? "" : context + ": ";
  if (code == 0) {
    out += message.empty() ? "request failed" : message;
    return out;
  }
  out += reason + " (" + std::to_string(code) + ")";
  if (!message.empty()) out += ": " + message;
  // The server's message usually lists the causes already; add those it omits.
  for (const auto& c : causes) {
    std::string text = c.field.empty() ? c.message : c.field + ": " + c.message;
    if (!text.empty() && out.find(c.message) == std::string::npos) out += "; " + text;
  }
  return out;
}

bool IsNotFound(const ApiError& e) {
  return e.reason == "NotFound" || (e.code == 404 && e.reason.empty());
}
bool IsAlreadyExists(const ApiError& e) {
  return e.reason == "AlreadyExists";
}
bool IsConflict(const ApiError& e) {
  return e.reason == "Conflict" || (e.code == 409 && e.reason.empty());
}
bool IsInvalid(const ApiError& e) {
  return e.reason == "Invalid" || (e.code == 422 && e.reason.empty());
}
bool IsForbidden(const ApiError& e) {
  return e.reason == "Forbidden" || e.code == 403;
}
bool IsUnauthorized(const ApiError& e) {
  return e.reason == "Unauthorized" || e.code == 401;
}
bool IsGone(const ApiError& e) {
  return e.code == 410 || e.reason == "Expired" || e.reason == "Gone";
}
bool IsTooManyRequests(const ApiError& e) {
  return e.code == 429 || e.reason == "TooManyRequests";
}
bool IsServerError(const ApiError& e) {
  return e.code >= 500 && e.code <= 599;
}

ApiError ApiErrorFromStatus(const nlohmann::json& status, std::string context) {
  ApiError err;
  err.context = std::move(context);
  if (!status.is_object()) {
    err.message = "malformed Status object";
    return err;
  }
  if (auto it = status.find("code"); it != status.end() && it->is_number_integer()) err.code = it->get<int>();
  err.reason = StringField(status, "reason");
  err.message = StringField(status, "message");
  if (auto d = status.find("details"); d != status.end() && d->is_object()) {
    err.details_name = StringField(*d, "name");
    err.details_kind = StringField(*d, "kind");
    if (auto r = d->find("retryAfterSeconds"); r != d->end() && r->is_number_integer() && r->get<int>() > 0) {
      err.retry_after = std::chrono::seconds(r->get<int>());
    }
    if (auto cs = d->find("causes"); cs != d->end() && cs->is_array()) {
      for (const auto& c : *cs) {
        if (!c.is_object()) continue;
        err.causes.push_back({StringField(c, "reason"), StringField(c, "field"), StringField(c, "message")});
      }
    }
  }
  if (err.reason.empty() && err.code != 0) err.reason = ReasonForCode(err.code);
  return err;
}

ApiError ApiErrorFromResponse(int http_status, std::string_view body, std::string context) {
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && StringField(parsed, "kind") == "Status") {
    ApiError err = ApiErrorFromStatus(parsed, std::move(context));
    // The HTTP status is authoritative for retry decisions.
    err.code = http_status;
    if (err.reason.empty()) err.reason = ReasonForCode(http_status);
    return err;
  }
  ApiError err;
  err.context = std::move(context);
  err.code = http_status;
  err.reason = ReasonForCode(http_status);
  std::string_view prefix = body.substr(0, kMaxBodyInMessage);
  while (!prefix.empty() && (prefix.back() == '\n' || prefix.back() == '\r')) prefix.remove_suffix(1);
  err.message = std::string(prefix);
  return err;
}

}  // namespace promsidecar::kube
