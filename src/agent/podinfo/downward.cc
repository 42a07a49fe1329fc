#include "agent/podinfo/downward.h"

#include "common/util/utf8.h"

namespace promsidecar::podinfo {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> UnquoteGo(std::string_view q) {
  if (q.size() < 2 || q.front() != '"' || q.back() != '"') return MakeError("not a double-quoted string");
  std::string out;
  out.reserve(q.size());
  for (size_t i = 1; i + 1 < q.size(); ++i) {
    char c = q[i];
    if (c == '"') return MakeError("unescaped quote inside the value");
    if (c == '\n') return MakeError("raw newline inside the value");
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i + 2 >= q.size()) return MakeError("backslash at the end of the value");
    char e = q[++i];
    switch (e) {
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case '\'': out += '\''; break;
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (i + digits >= q.size()) return MakeError("truncated \\" + std::string(1, e) + " escape");
        uint32_t v = 0;
        for (size_t d = 0; d < digits; ++d) {
          int h = HexValue(q[i + 1 + d]);
          if (h < 0) return MakeError("bad hex digit in \\" + std::string(1, e) + " escape");
          v = v * 16 + static_cast<uint32_t>(h);
        }
        i += digits;
        if (e == 'x') {
          out += static_cast<char>(v);  // a raw byte, possibly invalid UTF-8
        } else {
          if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            return MakeError("escape is not a valid code point");
          AppendUtf8(out, v);
        }
        break;
      }
      default:
        if (e >= '0' && e <= '7') {  // \NNN octal, as Go accepts
          if (i + 2 >= q.size()) return MakeError("truncated octal escape");
          uint32_t v = 0;
          for (size_t d = 0; d < 3; ++d) {
            char o = q[i + d];
            if (o < '0' || o > '7') return MakeError("bad octal escape");
            v = v * 8 + static_cast<uint32_t>(o - '0');
          }
          if (v > 255) return MakeError("octal escape above \\377");
          i += 2;
          out += static_cast<char>(v);
          break;
        }
        return MakeError(std::string("unknown escape \\") + e);
    }
  }
  return out;
}

Result<std::map<std::string, std::string>> ParseDownwardApiFile(std::string_view content) {
  std::map<std::string, std::string> out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t end = content.find('\n', pos);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;  // tolerate a trailing newline
    size_t eq = line.find("=\"");
    if (eq == std::string_view::npos || eq == 0) {
      return MakeError("line " + std::to_string(line_no) + ": expected key=\"value\"");
    }
    auto value = UnquoteGo(line.substr(eq + 1));
    if (!value.ok()) {
      return MakeError("line " + std::to_string(line_no) + " (key " + std::string(line.substr(0, eq)) +
                       "): " + value.message());
    }
    out[std::string(line.substr(0, eq))] = std::move(value).value();
  }
  return out;
}

}  // namespace promsidecar::podinfo
