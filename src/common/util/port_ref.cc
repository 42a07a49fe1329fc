#include "common/util/port_ref.h"

#include <algorithm>
#include <charconv>

namespace promsidecar::ports {
namespace {

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

bool ParseNumber(std::string_view s, int* out) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1 || v > 65535) return false;
  *out = v;
  return true;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string FormatNamedPorts(const std::vector<NamedPort>& ports) {
  std::string out;
  for (const NamedPort& p : ports) {
    if (!out.empty()) out += ',';
    out += p.name + "=" + std::to_string(p.port);
  }
  return out;
}

std::vector<NamedPort> ParseNamedPorts(std::string_view text) {
  std::vector<NamedPort> out;
  for (const std::string& entry : SplitPortList(text)) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    NamedPort p;
    p.name = std::string(Trim(std::string_view(entry).substr(0, eq)));
    if (p.name.empty() || !ParseNumber(Trim(std::string_view(entry).substr(eq + 1)), &p.port)) continue;
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> SplitPortList(std::string_view text) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view part = Trim(text.substr(pos, comma - pos));
    pos = comma + 1;
    if (!part.empty()) parts.emplace_back(part);
  }
  return parts;
}

std::string ShowPart(std::string_view part) {
  constexpr size_t kMax = 64;
  return "\"" + std::string(part.substr(0, kMax)) + (part.size() > kMax ? "...\"" : "\"");
}

PortRef Resolve(std::string_view part, const std::vector<NamedPort>& named) {
  PortRef r;
  // Kubernetes port names always hold a letter, so digits are a number.
  if (AllDigits(part) || part.starts_with('-') || part.starts_with('+')) {
    if (!ParseNumber(part, &r.port)) {
      r.error = PortError::kBadNumber;
      r.problem = "is not a port (1-65535)";
    }
    return r;
  }
  std::vector<int> found;
  for (const NamedPort& p : named) {
    if (p.name == part && std::find(found.begin(), found.end(), p.port) == found.end())
      found.push_back(p.port);
  }
  if (found.size() == 1) {
    r.port = found[0];
    return r;
  }
  if (found.empty()) {
    r.error = PortError::kUnknownName;
    std::vector<std::string_view> names;
    for (const NamedPort& p : named) {
      if (std::find(names.begin(), names.end(), p.name) == names.end()) names.push_back(p.name);
    }
    if (names.empty()) {
      r.problem = "is not a port number and the pod's containers declare no named ports";
    } else {
      r.problem = "is not a port number nor a port name of the pod's containers (they declare:";
      for (std::string_view n : names) r.problem += " " + std::string(n);
      r.problem += ")";
    }
    return r;
  }
  r.error = PortError::kAmbiguousName;
  std::string numbers;
  for (size_t i = 0; i < found.size(); ++i) {
    numbers += (i == 0 ? "" : i + 1 == found.size() ? " and " : ", ") + std::to_string(found[i]);
  }
  r.problem = "is a port name that containers of the pod declare as " + numbers + "; use the number instead";
  return r;
}

}  // namespace promsidecar::ports
