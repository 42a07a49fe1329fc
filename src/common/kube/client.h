// A small Kubernetes REST client: objects are nlohmann::json, resources are
// described by kube::Resource, failures are typed kube::ApiError values.
//
// Thread-safety: a Client is thread-safe; share one per process. Every request
// has a timeout; 429/5xx and connection failures are retried per RetryPolicy
// (see retry.h for which verbs). Watches are not retried: the caller (usually
// an Informer) re-opens them from the last resourceVersion. Every write
// (POST, PUT, PATCH, DELETE) first takes a token from the client-side bucket
// (ClientOptions::write_qps/write_burst), so no code path can flood the API
// server, whatever it loops over.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/kube/config.h"
#include "common/kube/errors.h"
#include "common/kube/rate_limit.h"
#include "common/kube/resource.h"
#include "common/kube/retry.h"
#include "common/kube/transport.h"
#include "common/kube/watch.h"

namespace promsidecar::kube {

using nlohmann::json;

struct ClientOptions {
  RetryPolicy retry;
  std::chrono::milliseconds request_timeout{30'000};
  // Bound on one response body (a LIST page, an object).
  size_t max_response_bytes = 128u << 20;
  std::string user_agent = "promsidecar";
  // Waits between retries and for write tokens; tests replace it to avoid
  // real sleeps.
  std::function<void(std::chrono::milliseconds)> sleep;
  // Client-side token bucket on writes; write_qps <= 0: unlimited.
  double write_qps = 0;
  int write_burst = 1;
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;           // page size; 0: no paging
  std::string continue_token;  // from the previous page's metadata.continue
  std::string resource_version;
  std::string resource_version_match;  // "NotOlderThan", "Exact"
  // Accept header; empty: application/json. kMetadataOnlyList asks for
  // metadata only (a PartialObjectMetadataList).
  std::string accept;
};

inline constexpr const char* kMetadataOnlyList =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
// The same for a watch: each event's object is a PartialObjectMetadata.
inline constexpr const char* kMetadataOnlyWatch =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

struct WatchOptions {
  std::string resource_version;  // empty: start with synthetic ADDED events for existing objects
  std::string label_selector;
  std::string field_selector;
  bool allow_watch_bookmarks = true;
  // The server ends the watch after this; the HTTP timeout is this plus a margin.
  int timeout_seconds = 300;
  // Accept header; empty: application/json. kMetadataOnlyWatch: metadata only.
  std::string accept;
};

enum class PatchType {
  kJson,            // RFC 6902 JSON Patch (array of operations)
  kMerge,           // RFC 7386 JSON merge patch
  kStrategicMerge,  // built-in types only
  kApply,           // server-side apply; needs field_manager
};

struct WriteOptions {
  std::string field_manager;
  bool dry_run = false;
};

struct PatchOptions {
  std::string field_manager;  // required for kApply
  bool force = false;         // kApply: take ownership of conflicting fields
  bool dry_run = false;
  std::string subresource;  // e.g. "status"
};

struct DeleteOptions {
  std::string propagation_policy;  // "Foreground", "Background", "Orphan"
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;
  std::string precondition_resource_version;
  bool dry_run = false;
};

class Client {
 public:
  // Talks to config.server through a TransportImpl.
  explicit Client(Config config, ClientOptions options = {});
  // Uses the given transport (tests, fault injection).
  Client(Config config, std::shared_ptr<Transport> transport, ClientOptions options = {});

  const Config& config() const { return config_; }
  // The namespace of the kubeconfig context or of the pod; may be empty.
  const std::string& default_namespace() const { return config_.ns; }

  // `ns` is ignored for cluster-scoped resources.
  Result<json, ApiError> Get(const Resource& r, std::string_view ns, std::string_view name);
  // One page: a List object (items, metadata.resourceVersion, metadata.continue).
  // Items get the apiVersion and kind they lack in lists. Empty `ns`: all namespaces.
  Result<json, ApiError> List(const Resource& r, std::string_view ns, const ListOptions& options = {});
  // Follows metadata.continue until the end: one List object with every item
  // and the snapshot's resourceVersion. options.limit sets the page size.
  Result<json, ApiError> ListAll(const Resource& r, std::string_view ns, ListOptions options = {});
  // `ns` empty: metadata.namespace of the object.
  Result<json, ApiError> Create(const Resource& r, std::string_view ns, const json& object,
                                const WriteOptions& options = {});
  // PUT; namespace and name from object.metadata; metadata.resourceVersion, if
  // set, makes a stale update fail with Conflict.
  Result<json, ApiError> Update(const Resource& r, const json& object, const WriteOptions& options = {});
  Result<json, ApiError> UpdateStatus(const Resource& r, const json& object,
                                      const WriteOptions& options = {});
  Result<json, ApiError> Patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                               const json& patch, const PatchOptions& options = {});
  // Server-side apply of a full object (namespace and name from its metadata).
  Result<json, ApiError> Apply(const Resource& r, const json& object, std::string_view field_manager,
                               bool force = false);
  // Returns what the server returns: the deleted object (possibly with
  // deletionTimestamp set) or a Status.
  Result<json, ApiError> Delete(const Resource& r, std::string_view ns, std::string_view name,
                                const DeleteOptions& options = {});

  // Streams a watch: calls on_event for each event until the server ends the
  // stream (ok), on_event returns false (ok), should_stop returns true (ok;
  // polled about every second even when idle), or a failure (error; an HTTP
  // 410 is IsGone). ERROR events are passed to on_event like any other.
  Result<void, ApiError> Watch(const Resource& r, std::string_view ns, const WatchOptions& options,
                               const std::function<bool(WatchEvent&)>& on_event,
                               std::function<bool()> should_stop = {});

  // Any GET path, e.g. "/version" or "/apis" (with retries).
  Result<json, ApiError> GetPath(std::string_view path);

  // Seconds writes have waited for the client-side token bucket (a metric).
  double WriteThrottleSeconds() const;

 private:
  struct Call;
  Result<http::Response, ApiError> Execute(const Call& call);
  Result<json, ApiError> ExecuteJson(const Call& call);
  std::string ContextFor(std::string_view method, std::string_view path) const;

  Config config_;
  ClientOptions options_;
  std::shared_ptr<Transport> transport_;
  std::unique_ptr<TokenSource> token_;
  std::unique_ptr<TokenBucket> write_limiter_;
  std::atomic<int64_t> write_throttle_us_{0};
};

// Helpers for objects.
std::string Namespace(const json& object);
std::string Name(const json& object);
std::string ResourceVersion(const json& object);
// "ns/name", or "name" for cluster-scoped objects.
std::string ObjectKey(const json& object);

}  // namespace promsidecar::kube
