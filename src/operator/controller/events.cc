#include "operator/controller/events.h"

#include <vector>

#include "common/log/log.h"
#include "common/util/hash.h"
#include "common/util/time.h"

namespace promsidecar::controller {

using nlohmann::json;

namespace {

// Kubernetes caps an Event's note at 1 kB.
constexpr size_t kMaxNote = 1024;

std::string Truncate(std::string s, size_t max) {
  if (s.size() <= max) return s;
  s.resize(max - 3);
  // Do not cut a UTF-8 sequence in half.
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80)) s.pop_back();
  return s + "...";
}

const kube::Resource& EventsResource() {
  static const kube::Resource r{"events.k8s.io", "v1", "events", true};
  return r;
}

}  // namespace

Result<json, kube::ApiError> KubeEventSink::Create(const std::string& ns, const json& event) {
  auto r = client_.Create(EventsResource(), ns, event);
  calls_.Count("create", "events.events.k8s.io", r.ok() || kube::IsAlreadyExists(r.error()));
  return r;
}

Result<json, kube::ApiError> KubeEventSink::Get(const std::string& ns, const std::string& name) {
  auto r = client_.Get(EventsResource(), ns, name);
  calls_.Count("get", "events.events.k8s.io", r.ok());
  return r;
}

Result<json, kube::ApiError> KubeEventSink::Patch(const std::string& ns, const std::string& name,
                                                  const json& patch) {
  auto r = client_.Patch(EventsResource(), ns, name, kube::PatchType::kMerge, patch);
  calls_.Count("patch", "events.events.k8s.io", r.ok());
  return r;
}

json ObjectRef::Json() const {
  json r = {{"apiVersion", api_version}, {"kind", kind}, {"name", name}};
  if (!ns.empty()) r["namespace"] = ns;
  if (!uid.empty()) r["uid"] = uid;
  return r;
}

EventRecorder::EventRecorder(EventSink& sink, EventRecorderOptions options,
                             std::function<Clock::time_point()> now)
    : sink_(sink), options_(std::move(options)), now_(std::move(now)) {
  options_.reporting_instance = Truncate(options_.reporting_instance, 128);
}

std::string EventRecorder::EventName(const ObjectRef& regarding, const std::string& reason) {
  // The legacy basis keeps the names of Events already in the cluster, which
  // later occurrences update (see common/util/hash.h).
  const std::string suffix = "." + HashHex(LegacyTruncatedFnv1a64(regarding.kind + "/" + regarding.ns + "/" +
                                                                  regarding.name + "/" + reason));
  // A DNS subdomain: at most 253 characters; object names are DNS names.
  return regarding.name.substr(0, 253 - 17) + suffix;
}

void EventRecorder::Record(const ObjectRef& regarding, const std::string& type, const std::string& reason,
                           const std::string& action, const std::string& note,
                           const std::optional<ObjectRef>& related) {
  const std::string key = regarding.ns + "/" + EventName(regarding, reason);
  const auto now = now_();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= options_.max_tracked) {
      ++dropped_;
      return;
    }
    Entry e;
    e.regarding = regarding;
    e.related = related;
    e.type = type;
    e.reason = reason;
    e.action = action;
    e.note = Truncate(note, kMaxNote);
    e.first = now;
    it = entries_.emplace(key, std::move(e)).first;
  }
  ++it->second.count;
  it->second.last = now;
}

bool EventRecorder::Write(const std::string& name, Entry& e, Clock::time_point now) {
  const std::string& ns = e.regarding.ns;
  auto series = [&](int64_t total) {
    return json{{"count", total}, {"lastObservedTime", util::FormatRfc3339Micro(e.last)}};
  };
  if (!e.created) {
    json event = {{"apiVersion", "events.k8s.io/v1"},
                  {"kind", "Event"},
                  {"metadata", {{"name", name}, {"namespace", ns}}},
                  {"eventTime", util::FormatRfc3339Micro(e.first)},
                  {"reportingController", options_.reporting_controller},
                  {"reportingInstance", options_.reporting_instance},
                  {"action", e.action},
                  {"reason", e.reason},
                  {"regarding", e.regarding.Json()},
                  {"note", e.note},
                  {"type", e.type}};
    if (e.related) event["related"] = e.related->Json();
    if (e.count >= 2) event["series"] = series(e.count);
    auto r = sink_.Create(ns, event);
    if (r.ok()) {
      e.created = true;
      e.written = e.count;
      e.last_write = now;
      return true;
    }
    if (!kube::IsAlreadyExists(r.error())) {
      Failed(e, now, "cannot create event", r.error());
      return true;
    }
    // Another leader (or an earlier run) wrote it: continue its count.
    auto existing = sink_.Get(ns, name);
    if (!existing.ok()) {
      Failed(e, now, "cannot read event", existing.error());
      return true;
    }
    const json& s = existing->value("series", json::object());
    e.base = s.is_object() && s.contains("count") && s["count"].is_number_integer()
                 ? s["count"].get<int64_t>()
                 : 1;
    e.created = true;
  }
  const int64_t total = e.base + e.count;
  if (total < 2) {
    e.written = e.count;
    return false;
  }
  auto r = sink_.Patch(ns, name, json{{"series", series(total)}});
  if (r.ok()) {
    e.written = e.count;
    e.last_write = now;
  } else if (kube::IsNotFound(r.error())) {
    // Expired (the API server keeps Events for an hour): start a new one.
    e.created = false;
    e.base = 0;
    e.count -= e.written;
    e.written = 0;
    e.first = e.last;
  } else {
    Failed(e, now, "cannot update event", r.error());
  }
  return true;
}

void EventRecorder::Failed(Entry& e, Clock::time_point now, const char* what, const kube::ApiError& error) {
  // Tried again one series interval later, never in a loop.
  e.retry_at = now + options_.series_interval;
  log::Warn(what,
            {{"reason", e.reason},
             {"object", e.regarding.kind + " " + e.regarding.ns + "/" + e.regarding.name},
             {"error", error.What()},
             {"fix", kube::IsForbidden(error) ? "kubectl apply -f deploy/20-rbac.yaml (create, get and patch "
                                                "on events.events.k8s.io)"
                                              : "none needed if it passes: retried"}});
}

int EventRecorder::Flush() {
  const auto now = now_();
  int writes = 0;
  // The API calls happen outside the lock, so Record never waits for them.
  std::vector<std::pair<std::string, Entry>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& e = it->second;
      if (e.count > e.written && now >= e.retry_at &&
          (!e.created || now - e.last_write >= options_.series_interval)) {
        due.emplace_back(it->first, e);
        ++it;
      } else if (e.count == e.written && now - e.last >= options_.forget_after) {
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [key, e] : due) {
    const int64_t recorded = e.count;
    if (Write(key.substr(key.find('/') + 1), e, now)) ++writes;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) continue;
    // Occurrences recorded meanwhile stay pending.
    const int64_t meanwhile = it->second.count - recorded;
    Entry merged = e;
    merged.count += meanwhile;
    merged.last = std::max(merged.last, it->second.last);
    it->second = std::move(merged);
  }
  return writes;
}

size_t EventRecorder::Tracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

uint64_t EventRecorder::Dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

}  // namespace promsidecar::controller
