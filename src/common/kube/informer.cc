#include "common/kube/informer.h"

#include <set>

#include "common/log/log.h"

namespace promsidecar::kube {

using nlohmann::json;

namespace {

void DropManagedFields(json& object) {
  // Server-side apply bookkeeping, often the larger half of an object; no
  // informer user reads it.
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object()) {
    object["metadata"].erase("managedFields");
  }
}

}  // namespace

std::vector<StoreDelta> DiffSnapshot(const std::map<std::string, json>& cache, const json& items) {
  std::map<std::string, const json*> fresh;
  if (items.is_array()) {
    for (const auto& item : items) fresh[ObjectKey(item)] = &item;
  }
  std::vector<StoreDelta> out;
  for (const auto& [key, old] : cache) {
    if (!fresh.contains(key)) out.push_back({StoreDelta::Kind::kDelete, old, json()});
  }
  for (const auto& [key, now] : fresh) {
    auto it = cache.find(key);
    if (it == cache.end()) {
      out.push_back({StoreDelta::Kind::kAdd, json(), *now});
    } else if (ResourceVersion(it->second) != ResourceVersion(*now)) {
      out.push_back({StoreDelta::Kind::kUpdate, it->second, *now});
    }
  }
  return out;
}

Informer::Informer(Client& client, InformerOptions options, InformerHandlers handlers)
    : client_(client), options_(std::move(options)), handlers_(std::move(handlers)) {}

Informer::~Informer() {
  Stop();
}

void Informer::Start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Informer::WaitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return synced_.load() || stop_.load(); }) && synced_.load();
}

std::optional<json> Informer::Get(std::string_view ns, std::string_view name) const {
  std::string key = ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name);
  std::lock_guard lock(mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

std::vector<json> Informer::List() const {
  std::lock_guard lock(mu_);
  std::vector<json> out;
  out.reserve(cache_.size());
  for (const auto& [key, obj] : cache_) out.push_back(obj);
  return out;
}

std::string Informer::LastResourceVersion() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

void Informer::Backoff(std::chrono::milliseconds& delay) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, delay, [this] { return stop_.load(); });
  delay = std::min(delay * 2, options_.max_backoff);
}

bool Informer::ListAndReplace() {
  ListOptions lo;
  lo.label_selector = options_.label_selector;
  lo.field_selector = options_.field_selector;
  lo.limit = options_.list_page_size;
  auto list = client_.ListAll(options_.resource, options_.ns, lo);
  lists_.fetch_add(1);
  if (!list.ok()) {
    log::Warn("informer list failed", {{"resource", options_.resource.Name()}, {"err", list.message()}});
    return false;
  }
  json& items = (*list)["items"];
  if (items.is_array()) {
    for (auto& item : items) DropManagedFields(item);
  }
  std::vector<StoreDelta> deltas;
  {
    std::lock_guard lock(mu_);
    deltas = DiffSnapshot(cache_, items);
    cache_.clear();
    // Moved, not copied: at 10,000 pods a copy of the list is hundreds of MiB.
    if (items.is_array()) {
      for (auto& item : items) {
        std::string key = ObjectKey(item);
        cache_[std::move(key)] = std::move(item);
      }
    }
    resource_version_ = ResourceVersion(*list);
  }
  for (const auto& d : deltas) {
    switch (d.kind) {
      case StoreDelta::Kind::kAdd:
        if (handlers_.on_add) handlers_.on_add(d.new_object);
        break;
      case StoreDelta::Kind::kUpdate:
        if (handlers_.on_update) handlers_.on_update(d.old_object, d.new_object);
        break;
      case StoreDelta::Kind::kDelete:
        if (handlers_.on_delete) handlers_.on_delete(d.old_object);
        break;
    }
  }
  {
    std::lock_guard lock(mu_);
    synced_.store(true);
  }
  cv_.notify_all();
  return true;
}

bool Informer::WatchOnce(bool* made_progress) {
  WatchOptions wo;
  wo.label_selector = options_.label_selector;
  wo.field_selector = options_.field_selector;
  wo.allow_watch_bookmarks = true;
  wo.timeout_seconds = options_.watch_timeout_seconds;
  wo.resource_version = LastResourceVersion();
  bool gone = false;
  watches_.fetch_add(1);
  auto result = client_.Watch(
      options_.resource, options_.ns, wo,
      [&](WatchEvent& ev) {
        if (ev.type == WatchEvent::Type::kError) {
          ApiError err = ApiErrorFromStatus(ev.object, "watch " + options_.resource.Name());
          if (IsGone(err)) {
            gone = true;
          } else {
            log::Warn("informer watch error event",
                      {{"resource", options_.resource.Name()}, {"err", err.What()}});
          }
          return false;
        }
        *made_progress = true;
        std::string rv = ResourceVersion(ev.object);
        if (ev.type == WatchEvent::Type::kBookmark) {
          std::lock_guard lock(mu_);
          if (!rv.empty()) resource_version_ = rv;
          return !stop_.load();
        }
        DropManagedFields(ev.object);
        std::string key = ObjectKey(ev.object);
        std::optional<json> old;
        {
          std::lock_guard lock(mu_);
          auto it = cache_.find(key);
          if (it != cache_.end()) old = std::move(it->second);
          if (ev.type == WatchEvent::Type::kDeleted) {
            if (it != cache_.end()) cache_.erase(it);
          } else {
            cache_[key] = ev.object;
          }
          if (!rv.empty()) resource_version_ = rv;
        }
        if (ev.type == WatchEvent::Type::kDeleted) {
          if (handlers_.on_delete) handlers_.on_delete(ev.object);
        } else if (old) {
          if (handlers_.on_update) handlers_.on_update(*old, ev.object);
        } else {
          if (handlers_.on_add) handlers_.on_add(ev.object);
        }
        return !stop_.load();
      },
      [this] { return stop_.load(); });
  if (!result.ok()) {
    if (IsGone(result.error())) return true;
    if (!stop_.load()) {
      log::Warn("informer watch failed", {{"resource", options_.resource.Name()}, {"err", result.message()}});
    }
    *made_progress = false;
  }
  if (gone) {
    log::Info("informer watch expired; relisting", {{"resource", options_.resource.Name()}});
  }
  return gone;
}

void Informer::Run() {
  std::chrono::milliseconds delay = options_.min_backoff;
  bool need_list = true;
  while (!stop_.load()) {
    if (need_list) {
      if (!ListAndReplace()) {
        Backoff(delay);
        continue;
      }
      need_list = false;
      delay = options_.min_backoff;
    }
    bool progress = false;
    auto started = std::chrono::steady_clock::now();
    if (WatchOnce(&progress)) {
      need_list = true;
      continue;
    }
    if (stop_.load()) break;
    // A watch that ended normally after a while is simply renewed; one that
    // failed or closed at once waits, so a broken server is not hammered.
    if (progress || std::chrono::steady_clock::now() - started > std::chrono::seconds(5)) {
      delay = options_.min_backoff;
    } else {
      Backoff(delay);
    }
  }
}

}  // namespace promsidecar::kube
