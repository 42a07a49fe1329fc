#include "common/log/log.h"

#include <atomic>
#include <cmath>
#include <ctime>
#include <mutex>

namespace promsidecar::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<Format> g_format{Format::kLogfmt};
std::FILE* g_out = stderr;
std::mutex g_mu;

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) return true;
  }
  return false;
}

// Escapes for both logfmt and JSON strings: quotes, backslashes and control
// characters, so one event is always one line.
void AppendEscaped(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

void AppendTimestamp(std::string& out, std::chrono::system_clock::time_point ts) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  out += buf;
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k), quoted(false) {
  if (std::isnan(v) || std::isinf(v)) {
    value = std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
    quoted = true;  // JSON has no literal for these
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  value = buf;
}

Result<Level> ParseLevel(std::string_view text) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn") return Level::kWarn;
  if (text == "error") return Level::kError;
  return MakeError("invalid log level \"" + std::string(text) + "\": use debug, info, warn or error");
}

Result<Format> ParseFormat(std::string_view text) {
  if (text == "logfmt") return Format::kLogfmt;
  if (text == "json") return Format::kJson;
  return MakeError("invalid log format \"" + std::string(text) + "\": use logfmt or json");
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "unknown";
}

void Configure(Level level, Format format, std::FILE* out) {
  g_level.store(static_cast<int>(level));
  g_format.store(format);
  g_out = out;
}

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string FormatLine(std::chrono::system_clock::time_point ts, Level level, std::string_view msg,
                       std::initializer_list<Field> fields, Format format) {
  std::string out;
  out.reserve(96 + msg.size());
  if (format == Format::kJson) {
    out += "{\"ts\":\"";
    AppendTimestamp(out, ts);
    out += "\",\"level\":\"";
    out += LevelName(level);
    out += "\",\"msg\":\"";
    AppendEscaped(out, msg);
    out += '"';
    for (const Field& f : fields) {
      out += ",\"";
      AppendEscaped(out, f.key);
      out += "\":";
      if (f.quoted) out += '"';
      AppendEscaped(out, f.value);
      if (f.quoted) out += '"';
    }
    out += '}';
    return out;
  }
  out += "ts=";
  AppendTimestamp(out, ts);
  out += " level=";
  out += LevelName(level);
  out += " msg=";
  auto append_value = [&](std::string_view v) {
    if (NeedsQuotes(v)) {
      out += '"';
      AppendEscaped(out, v);
      out += '"';
    } else {
      out += v;
    }
  };
  append_value(msg);
  for (const Field& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    append_value(f.value);
  }
  return out;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  std::string line = FormatLine(std::chrono::system_clock::now(), level, msg, fields, g_format.load());
  line += '\n';
  std::lock_guard<std::mutex> lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), g_out);
  std::fflush(g_out);
}

}  // namespace promsidecar::log
