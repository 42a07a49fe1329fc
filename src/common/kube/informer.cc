#include "common/kube/informer.h"

#include "common/log/log.h"

namespace promsidecar::kube {

using nlohmann::json;

ObjectPtr<json> KeepJson(json&& object) {
  if (object.is_object()) {
    auto md = object.find("metadata");
    if (md != object.end() && md->is_object()) md->erase("managedFields");
  }
  return std::make_shared<const json>(std::move(object));
}

std::string CacheKey(std::string_view ns, std::string_view name) {
  if (ns.empty()) return std::string(name);
  std::string key;
  key.reserve(ns.size() + 1 + name.size());
  key.append(ns).append("/").append(name);
  return key;
}

Reflector::Reflector(Client& client, InformerOptions options, ReflectorSink& sink)
    : client_(client), options_(std::move(options)), sink_(sink) {}

Reflector::~Reflector() {
  Stop();
}

void Reflector::Start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { Run(); });
}

void Reflector::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Reflector::WaitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return synced_.load() || stop_.load(); }) && synced_.load();
}

std::string Reflector::LastResourceVersion() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

void Reflector::Backoff(std::chrono::milliseconds& delay) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, delay, [this] { return stop_.load(); });
  delay = std::min(delay * 2, options_.max_backoff);
}

bool Reflector::ListAndReplace() {
  ListOptions lo;
  lo.label_selector = options_.label_selector;
  lo.field_selector = options_.field_selector;
  lo.limit = options_.list_page_size;
  if (options_.metadata_only) lo.accept = kMetadataOnlyList;
  lists_.fetch_add(1);
  sink_.BeginList();
  std::string list_rv;
  for (;;) {
    // One page at a time: each page's items are handed over (and their JSON
    // freed) before the next is read.
    auto page = client_.List(options_.resource, options_.ns, lo);
    if (!page.ok()) {
      log::Warn("informer list failed", {{"resource", options_.resource.Name()}, {"err", page.message()}});
      return false;
    }
    if (list_rv.empty()) list_rv = ResourceVersion(*page);
    json& items = (*page)["items"];
    if (items.is_array()) {
      for (auto& item : items) sink_.ListItem(std::move(item));
    }
    std::string next;
    if (auto md = page->find("metadata"); md != page->end() && md->is_object()) {
      next = md->value("continue", "");
    }
    if (stop_.load()) return false;  // a partial list must not read as deletions
    if (next.empty()) break;
    lo.continue_token = std::move(next);
  }
  sink_.EndList();
  {
    std::lock_guard lock(mu_);
    resource_version_ = list_rv;
    synced_.store(true);
  }
  cv_.notify_all();
  return true;
}

bool Reflector::WatchOnce(bool* made_progress) {
  WatchOptions wo;
  wo.label_selector = options_.label_selector;
  wo.field_selector = options_.field_selector;
  wo.allow_watch_bookmarks = true;
  wo.timeout_seconds = options_.watch_timeout_seconds;
  wo.resource_version = LastResourceVersion();
  if (options_.metadata_only) wo.accept = kMetadataOnlyWatch;
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
        if (ev.type != WatchEvent::Type::kBookmark) sink_.Event(ev.type, std::move(ev.object));
        if (!rv.empty()) {
          std::lock_guard lock(mu_);
          resource_version_ = std::move(rv);
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

void Reflector::Run() {
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
