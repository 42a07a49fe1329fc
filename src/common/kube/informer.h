// An informer: a local cache of one resource kept current by LIST + WATCH,
// with event handlers. Like client-go's, reduced to what our controller needs.
//
//   Informer pods(client, {.resource = resources::Pods(), .label_selector = "a=b"},
//                 {.on_add = [](const json& p) {...}});
//   pods.Start();
//   pods.WaitForSync(30s);
//   auto p = pods.Get("ns", "name");
//
// Handlers run on the informer's own thread, one at a time, after the cache
// has been updated (so Get() inside a handler sees the new state). They must
// not call Stop(). Get/List/HasSynced are thread-safe.
//
// The watch resumes from the last resourceVersion (bookmarks keep it fresh).
// When the server answers 410 Gone (compacted history), the informer relists
// and emits the differences between its cache and the new list as
// adds/updates/deletes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"

namespace promsidecar::kube {

struct InformerOptions {
  Resource resource;
  std::string ns;  // empty: all namespaces (or a cluster-scoped resource)
  std::string label_selector;
  std::string field_selector;
  int64_t list_page_size = 500;
  // Server-side end of each watch request; the informer re-watches at once.
  int watch_timeout_seconds = 300;
  std::chrono::milliseconds min_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
};

struct InformerHandlers {
  std::function<void(const nlohmann::json& object)> on_add;
  std::function<void(const nlohmann::json& old_object, const nlohmann::json& new_object)> on_update;
  // The last state known (from the DELETED event or the cache).
  std::function<void(const nlohmann::json& object)> on_delete;
};

// A change between the cache and a fresh list (pure, for relists).
struct StoreDelta {
  enum class Kind { kAdd, kUpdate, kDelete };
  Kind kind;
  nlohmann::json old_object;  // kUpdate, kDelete
  nlohmann::json new_object;  // kAdd, kUpdate
};
// Differences from `cache` (keyed by ObjectKey) to `items`: objects only in
// items are added, only in cache deleted, in both with another
// resourceVersion updated. Ordered deletes, then updates and adds by key.
std::vector<StoreDelta> DiffSnapshot(const std::map<std::string, nlohmann::json>& cache,
                                     const nlohmann::json& items);

class Informer {
 public:
  Informer(Client& client, InformerOptions options, InformerHandlers handlers);
  ~Informer();  // Stop()
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void Start();
  // Stops the thread and waits for it (returns within about a second even
  // while a watch is open). Idempotent.
  void Stop();

  // True once the first list has been stored and its handlers have run.
  bool HasSynced() const { return synced_.load(); }
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  // `ns` empty for cluster-scoped objects.
  std::optional<nlohmann::json> Get(std::string_view ns, std::string_view name) const;
  std::vector<nlohmann::json> List() const;
  std::string LastResourceVersion() const;

  // Counters for metrics and tests.
  uint64_t lists() const { return lists_.load(); }
  uint64_t watches() const { return watches_.load(); }

 private:
  void Run();
  bool ListAndReplace();  // false on error (backs off)
  // Returns true when the informer must relist (Gone).
  bool WatchOnce(bool* made_progress);
  void Backoff(std::chrono::milliseconds& delay);

  Client& client_;
  InformerOptions options_;
  InformerHandlers handlers_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, nlohmann::json> cache_;
  std::string resource_version_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> lists_{0};
  std::atomic<uint64_t> watches_{0};
  std::thread thread_;
};

}  // namespace promsidecar::kube
