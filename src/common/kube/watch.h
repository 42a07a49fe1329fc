// Decoding a WATCH response: newline-delimited JSON events arriving in chunks
// that do not respect line boundaries.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/kube/errors.h"
#include "common/util/result.h"

namespace promsidecar::kube {

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  // The object; for kError a Status (see ApiErrorFromStatus); for kBookmark
  // an object whose only meaningful field is metadata.resourceVersion.
  nlohmann::json object;
};

std::string_view WatchEventTypeName(WatchEvent::Type type);

// Parses one event line ({"type":"ADDED","object":{...}}).
Result<WatchEvent> ParseWatchEvent(std::string_view line);

// Splits a byte stream into lines. A line longer than `max_line` is an error
// (a bound on memory, whatever the server sends).
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line = 64u << 20) : max_line_(max_line) {}
  // Calls on_line for each complete non-empty line in the data so far; stops
  // early (returning true) if on_line returns false. Returns an error when a
  // line exceeds the bound.
  Result<bool> Feed(std::string_view chunk, const std::function<bool(std::string_view)>& on_line);
  // Bytes of an incomplete line held back.
  size_t pending() const { return buffer_.size(); }

 private:
  size_t max_line_;
  std::string buffer_;
};

}  // namespace promsidecar::kube
