// Structured logging: one line per event, logfmt (default) or JSON, with a
// level. Thread-safe. Never pass a secret as a field value: the logger cannot
// tell a password from a path.
//
//   log::Info("config reloaded", {{"file", path}, {"targets", n}});
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/util/result.h"

namespace promsidecar::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kLogfmt, kJson };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, int64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, int v) : Field(k, static_cast<int64_t>(v)) {}
  Field(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, unsigned v) : Field(k, static_cast<uint64_t>(v)) {}
  Field(std::string_view k, double v);
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}

  std::string_view key;
  std::string value;
  bool quoted = true;  // JSON: a string rather than a number/bool literal
};

Result<Level> ParseLevel(std::string_view text);
Result<Format> ParseFormat(std::string_view text);
std::string_view LevelName(Level level);

// Process-wide settings; call once from main() before other threads start.
void Configure(Level level, Format format, std::FILE* out = stderr);
bool Enabled(Level level);

// FormatLine renders one log line without the trailing newline (pure; used by
// the logger and by tests).
std::string FormatLine(std::chrono::system_clock::time_point ts, Level level, std::string_view msg,
                       std::initializer_list<Field> fields, Format format);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields);

inline void Debug(std::string_view msg, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, msg, fields);
}
inline void Info(std::string_view msg, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, msg, fields);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, msg, fields);
}
inline void Error(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, msg, fields);
}

}  // namespace promsidecar::log
