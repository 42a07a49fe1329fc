// An informer: a local cache of one resource kept current by LIST + WATCH,
// with event handlers. Like client-go's (a Reflector feeding a store), reduced
// to what our operator needs, and lean by construction:
//
//   - a Transform turns each object, once, into what the cache keeps (a small
//     struct: only the fields its readers read) or drops it (nullptr: neither
//     kept nor reported); the JSON is freed right after;
//   - metadata_only lists and watches PartialObjectMetadata (labels,
//     annotations, owner references), never the spec or status;
//   - the LIST is read page by page and each page transformed before the next
//     one is read, so a relist never holds the whole collection as JSON;
//   - readers get shared pointers to immutable objects (Get, ListNamespace,
//     ForEach): never a copy of the cache.
//
//   Informer<PodMeta> pods(client, {.resource = resources::Pods(), .metadata_only = true},
//                          [](json&& o) { return ToPodMeta(o); },
//                          {.on_add = [](const auto& p) {...}});
//   pods.Start();
//   pods.WaitForSync(30s);
//   auto p = pods.Get("ns", "name");
//
// Handlers run on the informer's own thread, one at a time, after the cache
// has been updated (so Get() inside a handler sees the new state). They must
// not call Stop(). Every other method is thread-safe.
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
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"

namespace promsidecar::kube {

struct InformerOptions {
  Resource resource;
  std::string ns;  // empty: all namespaces (or a cluster-scoped resource)
  std::string label_selector;
  std::string field_selector;
  // List and watch PartialObjectMetadata only (no spec, no status).
  bool metadata_only = false;
  int64_t list_page_size = 500;
  // Server-side end of each watch request; the informer re-watches at once.
  int watch_timeout_seconds = 300;
  std::chrono::milliseconds min_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
};

// Where the list/watch loop delivers what it reads. A relist is
// BeginList, ListItem per item (page by page), EndList.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  virtual void BeginList() = 0;
  virtual void ListItem(nlohmann::json&& item) = 0;
  virtual void EndList() = 0;
  // ADDED, MODIFIED or DELETED.
  virtual void Event(WatchEvent::Type type, nlohmann::json&& object) = 0;
};

// The list/watch loop of one resource, on its own thread.
class Reflector {
 public:
  Reflector(Client& client, InformerOptions options, ReflectorSink& sink);
  ~Reflector();  // Stop()
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void Start();
  // Stops the thread and waits for it (returns within about a second even
  // while a watch is open). Idempotent.
  void Stop();
  bool HasSynced() const { return synced_.load(); }
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  std::string LastResourceVersion() const;
  const InformerOptions& options() const { return options_; }
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
  ReflectorSink& sink_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string resource_version_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> lists_{0};
  std::atomic<uint64_t> watches_{0};
  std::thread thread_;
};

template <class T>
using ObjectPtr = std::shared_ptr<const T>;

// What the cache keeps of one object; nullptr: not kept (and no event).
template <class T>
using Transform = std::function<ObjectPtr<T>(nlohmann::json&& object)>;

template <class T>
struct InformerHandlers {
  std::function<void(const ObjectPtr<T>& object)> on_add;
  std::function<void(const ObjectPtr<T>& old_object, const ObjectPtr<T>& new_object)> on_update;
  // The last state known.
  std::function<void(const ObjectPtr<T>& object)> on_delete;
};

// The whole object as JSON, without metadata.managedFields (server-side apply
// bookkeeping, often the larger half of an object, which no reader reads).
ObjectPtr<nlohmann::json> KeepJson(nlohmann::json&& object);
// "ns/name", or "name" for cluster-scoped objects: the cache key.
std::string CacheKey(std::string_view ns, std::string_view name);

template <class T>
class Informer : private ReflectorSink {
 public:
  Informer(Client& client, InformerOptions options, Transform<T> transform, InformerHandlers<T> handlers = {})
      : transform_(std::move(transform)),
        handlers_(std::move(handlers)),
        reflector_(client, std::move(options), *this) {}
  ~Informer() override { reflector_.Stop(); }

  void Start() { reflector_.Start(); }
  void Stop() { reflector_.Stop(); }
  // True once the first list has been stored and its handlers have run.
  bool HasSynced() const { return reflector_.HasSynced(); }
  bool WaitForSync(std::chrono::milliseconds timeout) const { return reflector_.WaitForSync(timeout); }
  std::string LastResourceVersion() const { return reflector_.LastResourceVersion(); }
  uint64_t lists() const { return reflector_.lists(); }
  uint64_t watches() const { return reflector_.watches(); }

  // `ns` empty for cluster-scoped objects.
  ObjectPtr<T> Get(std::string_view ns, std::string_view name) const {
    std::shared_lock lock(mu_);
    auto it = cache_.find(CacheKey(ns, name));
    return it == cache_.end() ? nullptr : it->second.object;
  }
  // The objects of one namespace, in name order (the cache is ordered by
  // "ns/name", so this costs the namespace, not the cache).
  std::vector<ObjectPtr<T>> ListNamespace(std::string_view ns) const {
    const std::string from = std::string(ns) + "/";
    const std::string to = std::string(ns) + "0";  // '0' follows '/'
    std::vector<ObjectPtr<T>> out;
    std::shared_lock lock(mu_);
    for (auto it = cache_.lower_bound(from); it != cache_.end() && it->first < to; ++it) {
      out.push_back(it->second.object);
    }
    return out;
  }
  // Every object (pointers only): for small kinds (agents, LimitRanges).
  std::vector<ObjectPtr<T>> List() const {
    std::vector<ObjectPtr<T>> out;
    std::shared_lock lock(mu_);
    out.reserve(cache_.size());
    for (const auto& [key, e] : cache_) out.push_back(e.object);
    return out;
  }
  // Calls fn on every object under a read lock: a const view of the whole
  // cache without copying it. fn must be quick and must not call back into
  // this informer's writers.
  void ForEach(const std::function<void(const T&)>& fn) const {
    std::shared_lock lock(mu_);
    for (const auto& [key, e] : cache_) fn(*e.object);
  }
  size_t Size() const {
    std::shared_lock lock(mu_);
    return cache_.size();
  }

 private:
  struct Entry {
    std::string resource_version;
    ObjectPtr<T> object;
  };

  void BeginList() override { staging_.clear(); }
  void ListItem(nlohmann::json&& item) override {
    std::string key = ObjectKey(item);
    std::string rv = ResourceVersion(item);
    ObjectPtr<T> object = transform_(std::move(item));
    if (object) staging_[std::move(key)] = Entry{std::move(rv), std::move(object)};
  }
  void EndList() override {
    struct Delta {
      ObjectPtr<T> old_object, new_object;
    };
    std::vector<Delta> deltas;
    {
      std::unique_lock lock(mu_);
      for (const auto& [key, old] : cache_) {
        if (!staging_.contains(key)) deltas.push_back({old.object, nullptr});
      }
      for (const auto& [key, now] : staging_) {
        auto it = cache_.find(key);
        if (it == cache_.end()) {
          deltas.push_back({nullptr, now.object});
        } else if (it->second.resource_version != now.resource_version) {
          deltas.push_back({it->second.object, now.object});
        }
      }
      cache_.swap(staging_);
    }
    staging_.clear();
    for (const auto& d : deltas) Notify(d.old_object, d.new_object);
  }
  void Event(WatchEvent::Type type, nlohmann::json&& object) override {
    std::string key = ObjectKey(object);
    std::string rv = ResourceVersion(object);
    ObjectPtr<T> now;
    if (type != WatchEvent::Type::kDeleted) now = transform_(std::move(object));
    ObjectPtr<T> old;
    {
      std::unique_lock lock(mu_);
      auto it = cache_.find(key);
      if (it != cache_.end()) old = std::move(it->second.object);
      if (now) {
        if (it != cache_.end()) {
          it->second = Entry{std::move(rv), now};
        } else {
          cache_.emplace(std::move(key), Entry{std::move(rv), now});
        }
      } else if (it != cache_.end()) {
        // Deleted, or changed into something the transform drops.
        cache_.erase(it);
      }
    }
    Notify(old, now);
  }
  void Notify(const ObjectPtr<T>& old_object, const ObjectPtr<T>& new_object) {
    if (old_object && new_object) {
      if (handlers_.on_update) handlers_.on_update(old_object, new_object);
    } else if (new_object) {
      if (handlers_.on_add) handlers_.on_add(new_object);
    } else if (old_object) {
      if (handlers_.on_delete) handlers_.on_delete(old_object);
    }
  }

  Transform<T> transform_;
  InformerHandlers<T> handlers_;
  mutable std::shared_mutex mu_;
  std::map<std::string, Entry> cache_;
  std::map<std::string, Entry> staging_;  // the informer thread's relist in progress
  Reflector reflector_;                   // last: its thread stops before the rest goes
};

using JsonInformer = Informer<nlohmann::json>;

}  // namespace promsidecar::kube
