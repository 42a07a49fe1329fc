#include "common/kube/client.h"

#include <random>
#include <thread>

#include "common/log/log.h"

namespace promsidecar::kube {
namespace {

std::string StringAt(const json& j, const char* a, const char* b) {
  auto ia = j.find(a);
  if (ia == j.end() || !ia->is_object()) return "";
  auto ib = ia->find(b);
  if (ib == ia->end() || !ib->is_string()) return "";
  return ib->get<std::string>();
}

double JitterSample() {
  thread_local std::mt19937 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::string_view PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kJson: return "application/json-patch+json";
    case PatchType::kMerge: return "application/merge-patch+json";
    case PatchType::kStrategicMerge: return "application/strategic-merge-patch+json";
    case PatchType::kApply: return "application/apply-patch+yaml";
  }
  return "application/json";
}

// List items carry no apiVersion/kind; give them the list's so objects from a
// list and from a watch look alike.
void FillItemKinds(json& list, const Resource& r) {
  std::string kind = list.value("kind", "");
  if (kind.size() > 4 && kind.ends_with("List")) kind.resize(kind.size() - 4);
  auto items = list.find("items");
  if (items == list.end() || !items->is_array()) {
    list["items"] = json::array();
    return;
  }
  for (auto& item : *items) {
    if (!item.is_object()) continue;
    if (!item.contains("apiVersion")) item["apiVersion"] = r.ApiVersion();
    if (!item.contains("kind") && !kind.empty()) item["kind"] = kind;
  }
}

ApiError LocalError(std::string context, std::string message) {
  ApiError e;
  e.context = std::move(context);
  e.message = std::move(message);
  return e;
}

}  // namespace

std::string Namespace(const json& object) {
  return StringAt(object, "metadata", "namespace");
}
std::string Name(const json& object) {
  return StringAt(object, "metadata", "name");
}
std::string ResourceVersion(const json& object) {
  return StringAt(object, "metadata", "resourceVersion");
}
std::string ObjectKey(const json& object) {
  std::string ns = Namespace(object);
  return ns.empty() ? Name(object) : ns + "/" + Name(object);
}

struct Client::Call {
  std::string method;
  std::string path;  // with query string
  std::string body;
  std::string content_type;
  std::string accept;  // empty: application/json
  bool idempotent = true;
  std::chrono::milliseconds timeout{0};  // 0: options_.request_timeout
  int max_attempts = 0;                  // 0: options_.retry.max_attempts
  std::function<bool(std::string_view)> on_chunk;
  std::function<bool()> should_abort;
};

Client::Client(Config config, ClientOptions options)
    : Client(config, std::make_shared<TransportImpl>([&] {
               auto o = config.ToClientOptions();
               o.user_agent = options.user_agent;
               return o;
             }()),
             options) {}

Client::Client(Config config, std::shared_ptr<Transport> transport, ClientOptions options)
    : config_(std::move(config)), options_(std::move(options)), transport_(std::move(transport)) {
  while (!config_.server.empty() && config_.server.back() == '/') config_.server.pop_back();
  token_ = std::make_unique<TokenSource>(config_.token, config_.token_file);
  if (!options_.sleep) options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  write_limiter_ = std::make_unique<TokenBucket>(options_.write_qps, options_.write_burst,
                                                 std::chrono::steady_clock::now());
}

double Client::WriteThrottleSeconds() const {
  return static_cast<double>(write_throttle_us_.load()) / 1e6;
}

std::string Client::ContextFor(std::string_view method, std::string_view path) const {
  return std::string(method) + " " + std::string(path);
}

Result<http::Response, ApiError> Client::Execute(const Call& call) {
  std::string context = ContextFor(call.method, call.path);
  http::Request req;
  req.method = call.method;
  req.url = config_.server + call.path;
  req.body = call.body;
  req.timeout = call.timeout.count() > 0 ? call.timeout : options_.request_timeout;
  req.max_body_bytes = options_.max_response_bytes;
  req.decode_gzip = true;
  req.on_chunk = call.on_chunk;
  req.should_abort = call.should_abort;
  req.headers.Add("Accept", call.accept.empty() ? std::string("application/json") : call.accept);
  if (!call.content_type.empty()) req.headers.Add("Content-Type", call.content_type);

  int max_attempts = call.max_attempts > 0 ? call.max_attempts : std::max(1, options_.retry.max_attempts);
  bool refreshed_token = false;
  const bool write = call.method != "GET";
  for (int attempt = 1;; ++attempt) {
    if (write) {
      const auto wait = write_limiter_->Reserve(std::chrono::steady_clock::now());
      if (wait > std::chrono::steady_clock::duration::zero()) {
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait);
        write_throttle_us_.fetch_add(std::chrono::duration_cast<std::chrono::microseconds>(ms).count());
        options_.sleep(ms);
      }
    }
    std::string token;
    if (!token_->empty()) {
      auto t = token_->Token();
      if (!t.ok()) return LocalError(context, t.message());
      token = std::move(t).value();
      if (!token.empty()) req.headers.Set("Authorization", "Bearer " + token);
    }
    http::FailureKind failure = http::FailureKind::kNone;
    auto res = transport_->Do(req, &failure);
    ApiError err;
    if (!res.ok()) {
      // The http message already names method and URL; keep only the path here.
      err = LocalError(context, res.message());
    } else if (res->status >= 200 && res->status < 300) {
      return std::move(res).value();
    } else {
      err = ApiErrorFromResponse(static_cast<int>(res->status), res->body, context);
      if (auto ra = res->headers.Get("Retry-After")) {
        if (auto parsed = ParseRetryAfter(*ra)) err.retry_after = parsed;
      }
      // A rotated token: re-read it once and repeat.
      if (res->status == 401 && !refreshed_token && !token_->empty()) {
        refreshed_token = true;
        token_->Invalidate();
        auto fresh = token_->Token();
        if (fresh.ok() && *fresh != token) {
          --attempt;
          continue;
        }
      }
    }
    if (attempt >= max_attempts || !IsRetryable(err, failure, call.idempotent)) return err;
    auto delay = RetryDelay(options_.retry, attempt, err.retry_after, JitterSample());
    if (!delay) return err;
    log::Debug("retrying Kubernetes API request", {{"request", context},
                                                   {"attempt", attempt},
                                                   {"delay_ms", static_cast<int64_t>(delay->count())},
                                                   {"err", err.What()}});
    options_.sleep(*delay);
  }
}

Result<json, ApiError> Client::ExecuteJson(const Call& call) {
  auto res = Execute(call);
  if (!res.ok()) return res.error();
  if (res->body.empty()) return json::object();
  auto j = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return LocalError(ContextFor(call.method, call.path), "the API server's response is not valid JSON");
  }
  return j;
}

Result<json, ApiError> Client::Get(const Resource& r, std::string_view ns, std::string_view name) {
  Call c;
  c.method = "GET";
  c.path = ResourcePath(r, ns, name);
  return ExecuteJson(c);
}

Result<json, ApiError> Client::List(const Resource& r, std::string_view ns, const ListOptions& o) {
  Call c;
  c.method = "GET";
  c.path = ResourcePath(r, ns) + QueryString({{"labelSelector", o.label_selector},
                                              {"fieldSelector", o.field_selector},
                                              {"limit", o.limit > 0 ? std::to_string(o.limit) : ""},
                                              {"continue", o.continue_token},
                                              {"resourceVersion", o.resource_version},
                                              {"resourceVersionMatch", o.resource_version_match}});
  c.accept = o.accept;
  auto list = ExecuteJson(c);
  if (list.ok()) FillItemKinds(*list, r);
  return list;
}

Result<json, ApiError> Client::ListAll(const Resource& r, std::string_view ns, ListOptions options) {
  json all;
  for (;;) {
    auto page = List(r, ns, options);
    if (!page.ok()) return page;
    std::string next = StringAt(*page, "metadata", "continue");
    if (all.is_null()) {
      all = std::move(page).value();
    } else {
      auto& items = all["items"];
      for (auto& item : (*page)["items"]) items.push_back(std::move(item));
    }
    if (next.empty()) break;
    options.continue_token = next;
    // Later pages are read from the first page's snapshot; a resourceVersion
    // may not be combined with continue.
    options.resource_version.clear();
    options.resource_version_match.clear();
  }
  if (all["metadata"].is_object()) all["metadata"].erase("continue");
  return all;
}

Result<json, ApiError> Client::Create(const Resource& r, std::string_view ns, const json& object,
                                      const WriteOptions& o) {
  std::string target_ns = ns.empty() ? Namespace(object) : std::string(ns);
  Call c;
  c.method = "POST";
  c.idempotent = false;
  c.path = ResourcePath(r, target_ns) +
           QueryString({{"fieldManager", o.field_manager}, {"dryRun", o.dry_run ? "All" : ""}});
  c.body = object.dump();
  c.content_type = "application/json";
  return ExecuteJson(c);
}

Result<json, ApiError> Client::Update(const Resource& r, const json& object, const WriteOptions& o) {
  std::string name = Name(object);
  if (name.empty()) return LocalError("PUT " + r.Name(), "object has no metadata.name");
  Call c;
  c.method = "PUT";
  c.path = ResourcePath(r, Namespace(object), name) +
           QueryString({{"fieldManager", o.field_manager}, {"dryRun", o.dry_run ? "All" : ""}});
  c.body = object.dump();
  c.content_type = "application/json";
  return ExecuteJson(c);
}

Result<json, ApiError> Client::UpdateStatus(const Resource& r, const json& object, const WriteOptions& o) {
  std::string name = Name(object);
  if (name.empty()) return LocalError("PUT " + r.Name() + " status", "object has no metadata.name");
  Call c;
  c.method = "PUT";
  c.path = ResourcePath(r, Namespace(object), name, "status") +
           QueryString({{"fieldManager", o.field_manager}, {"dryRun", o.dry_run ? "All" : ""}});
  c.body = object.dump();
  c.content_type = "application/json";
  return ExecuteJson(c);
}

Result<json, ApiError> Client::Patch(const Resource& r, std::string_view ns, std::string_view name,
                                     PatchType type, const json& patch, const PatchOptions& o) {
  Call c;
  c.method = "PATCH";
  c.path = ResourcePath(r, ns, name, o.subresource);
  if (type == PatchType::kApply && o.field_manager.empty()) {
    return LocalError(ContextFor("PATCH", c.path), "server-side apply needs a field manager");
  }
  c.path += QueryString({{"fieldManager", o.field_manager},
                         {"force", type == PatchType::kApply && o.force ? "true" : ""},
                         {"dryRun", o.dry_run ? "All" : ""}});
  c.idempotent = type == PatchType::kApply || type == PatchType::kMerge;
  c.body = patch.dump();
  c.content_type = std::string(PatchContentType(type));
  return ExecuteJson(c);
}

Result<json, ApiError> Client::Apply(const Resource& r, const json& object, std::string_view field_manager,
                                     bool force) {
  PatchOptions o;
  o.field_manager = std::string(field_manager);
  o.force = force;
  return Patch(r, Namespace(object), Name(object), PatchType::kApply, object, o);
}

Result<json, ApiError> Client::Delete(const Resource& r, std::string_view ns, std::string_view name,
                                      const DeleteOptions& o) {
  json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!o.propagation_policy.empty()) body["propagationPolicy"] = o.propagation_policy;
  if (o.grace_period_seconds) body["gracePeriodSeconds"] = *o.grace_period_seconds;
  if (!o.precondition_uid.empty()) body["preconditions"]["uid"] = o.precondition_uid;
  if (!o.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = o.precondition_resource_version;
  }
  if (o.dry_run) body["dryRun"] = json::array({"All"});
  Call c;
  c.method = "DELETE";
  c.path = ResourcePath(r, ns, name);
  c.body = body.dump();
  c.content_type = "application/json";
  return ExecuteJson(c);
}

Result<json, ApiError> Client::GetPath(std::string_view path) {
  Call c;
  c.method = "GET";
  c.path = std::string(path);
  return ExecuteJson(c);
}

Result<void, ApiError> Client::Watch(const Resource& r, std::string_view ns, const WatchOptions& o,
                                     const std::function<bool(WatchEvent&)>& on_event,
                                     std::function<bool()> should_stop) {
  Call c;
  c.method = "GET";
  c.path = ResourcePath(r, ns) +
           QueryString({{"watch", "true"},
                        {"resourceVersion", o.resource_version},
                        {"labelSelector", o.label_selector},
                        {"fieldSelector", o.field_selector},
                        {"allowWatchBookmarks", o.allow_watch_bookmarks ? "true" : ""},
                        {"timeoutSeconds", o.timeout_seconds > 0 ? std::to_string(o.timeout_seconds) : ""}});
  c.accept = o.accept;
  // A watch resumes from the last resourceVersion; retrying here would
  // replay events, so the caller decides.
  c.max_attempts = 1;
  c.timeout =
      o.timeout_seconds > 0 ? std::chrono::seconds(o.timeout_seconds + 30) : std::chrono::milliseconds(0);
  std::string context = ContextFor(c.method, c.path);

  LineSplitter splitter;
  std::optional<ApiError> stream_error;
  bool stopped_by_callback = false;
  c.on_chunk = [&](std::string_view chunk) {
    auto fed = splitter.Feed(chunk, [&](std::string_view line) {
      auto ev = ParseWatchEvent(line);
      if (!ev.ok()) {
        stream_error = LocalError(context, ev.message());
        return false;
      }
      if (!on_event(*ev)) {
        stopped_by_callback = true;
        return false;
      }
      return true;
    });
    if (!fed.ok()) {
      stream_error = LocalError(context, fed.message());
      return false;
    }
    return !*fed;
  };
  c.should_abort = should_stop;
  bool stopped_by_caller = false;
  if (should_stop) {
    c.should_abort = [&] { return stopped_by_caller = should_stop(); };
  }
  auto res = Execute(c);
  if (stream_error) return *stream_error;
  if (stopped_by_callback || stopped_by_caller) return {};
  if (!res.ok()) return res.error();
  return {};
}

}  // namespace promsidecar::kube
