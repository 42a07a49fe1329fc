#include "common/kube/watch.h"

namespace promsidecar::kube {

std::string_view WatchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded: return "ADDED";
    case WatchEvent::Type::kModified: return "MODIFIED";
    case WatchEvent::Type::kDeleted: return "DELETED";
    case WatchEvent::Type::kBookmark: return "BOOKMARK";
    case WatchEvent::Type::kError: return "ERROR";
  }
  return "UNKNOWN";
}

Result<WatchEvent> ParseWatchEvent(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return MakeError("watch event is not a JSON object");
  auto type = j.find("type");
  auto object = j.find("object");
  if (type == j.end() || !type->is_string()) return MakeError("watch event has no \"type\" string");
  if (object == j.end() || !object->is_object()) return MakeError("watch event has no \"object\"");
  WatchEvent ev;
  const std::string& t = type->get_ref<const std::string&>();
  if (t == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (t == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (t == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (t == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else if (t == "ERROR") {
    ev.type = WatchEvent::Type::kError;
  } else {
    return MakeError("watch event has unknown type \"" + t + "\"");
  }
  ev.object = std::move(*object);
  return ev;
}

Result<bool> LineSplitter::Feed(std::string_view chunk,
                                const std::function<bool(std::string_view)>& on_line) {
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      if (buffer_.size() + chunk.size() > max_line_) {
        return MakeError("watch event longer than " + std::to_string(max_line_) + " bytes");
      }
      buffer_.append(chunk);
      return false;
    }
    std::string_view line;
    if (buffer_.empty()) {
      line = chunk.substr(0, nl);
    } else {
      if (buffer_.size() + nl > max_line_) {
        return MakeError("watch event longer than " + std::to_string(max_line_) + " bytes");
      }
      buffer_.append(chunk.substr(0, nl));
      line = buffer_;
    }
    chunk.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool keep_going = line.empty() || on_line(line);
    buffer_.clear();
    if (!keep_going) return true;
  }
  return false;
}

}  // namespace promsidecar::kube
