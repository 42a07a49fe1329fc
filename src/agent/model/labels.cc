#include "agent/model/labels.h"

#include <algorithm>
#include <array>

#include "common/util/hash.h"

namespace promsidecar::model {

void Canonicalize(Labels& labels) {
  std::stable_sort(labels.begin(), labels.end(),
                   [](const Label& a, const Label& b) { return a.name < b.name; });
  Labels out;
  out.reserve(labels.size());
  for (auto& l : labels) {
    if (!out.empty() && out.back().name == l.name) {
      out.back().value = std::move(l.value);
    } else {
      out.push_back(std::move(l));
    }
  }
  std::erase_if(out, [](const Label& l) { return l.value.empty(); });
  labels = std::move(out);
}

bool IsCanonical(const Labels& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].value.empty()) return false;
    if (i > 0 && !(labels[i - 1].name < labels[i].name)) return false;
  }
  return true;
}

std::string_view Get(const Labels& labels, std::string_view name) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != labels.end() && it->name == name) return it->value;
  return {};
}

void Set(Labels& labels, std::string_view name, std::string_view value) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  bool found = it != labels.end() && it->name == name;
  if (value.empty()) {
    if (found) labels.erase(it);
    return;
  }
  if (found) {
    it->value.assign(value);
  } else {
    labels.insert(it, Label{std::string(name), std::string(value)});
  }
}

uint64_t Hash(const Labels& labels) {
  Fnv1a64 h;
  for (const auto& l : labels) {
    h.AddField(l.name);
    h.AddField(l.value);
  }
  return h.value();
}

std::string ToString(const Labels& labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ", ";
    out += labels[i].name;
    out += "=\"";
    for (char c : labels[i].value) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

namespace {
// Per byte: 1 = may start a label name ([a-zA-Z_]), 2 = may follow
// ([a-zA-Z0-9_]), 4 = may be anywhere in a metric name (also ':').
// One table lookup per byte: these checks run for every label of every
// series scraped from the protobuf format.
constexpr std::array<uint8_t, 256> kNameChars = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    t[c] = static_cast<uint8_t>((alpha ? 1 : 0) | (alpha || digit ? 2 : 0) | (alpha || c == ':' ? 4 : 0) |
                                (digit ? 8 : 0));
  }
  return t;
}();
inline uint8_t Class(char c) {
  return kNameChars[static_cast<unsigned char>(c)];
}
}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(Class(name[0]) & 4)) return false;
  for (size_t i = 1; i < name.size(); ++i) {
    if (!(Class(name[i]) & (4 | 8))) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !(Class(name[0]) & 1)) return false;
  for (size_t i = 1; i < name.size(); ++i) {
    if (!(Class(name[i]) & 2)) return false;
  }
  return true;
}

}  // namespace promsidecar::model
