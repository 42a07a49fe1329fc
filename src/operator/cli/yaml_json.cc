#include "operator/cli/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

namespace promsidecar::cli {
namespace {

using nlohmann::json;

bool IsDecimalInt(const std::string& s) {
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool IsFloat(const std::string& s) {
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  size_t digits = 0;
  bool dot = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      ++digits;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (digits == 0) return false;
  if (i == s.size()) return dot;
  if (s[i] != 'e' && s[i] != 'E') return false;
  ++i;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// The value an unquoted scalar stands for.
json ResolvePlain(const std::string& s) {
  static const std::set<std::string> kTrue{"y",    "Y",    "yes", "Yes", "YES", "true",
                                           "True", "TRUE", "on",  "On",  "ON"};
  static const std::set<std::string> kFalse{"n",     "N",     "no",  "No",  "NO", "false",
                                            "False", "FALSE", "off", "Off", "OFF"};
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (kTrue.count(s)) return true;
  if (kFalse.count(s)) return false;
  if (IsDecimalInt(s)) {
    errno = 0;
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == 0) return v;
    return std::strtod(s.c_str(), nullptr);
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    bool ok = true;
    for (size_t i = 2; i < s.size(); ++i) {
      ok = ok && (s[1] == 'x' ? std::isxdigit(static_cast<unsigned char>(s[i])) != 0
                              : (s[i] >= '0' && s[i] <= '7'));
    }
    if (ok) return std::strtoll(s.c_str() + 2, nullptr, s[1] == 'x' ? 16 : 8);
  }
  if (IsFloat(s)) return std::strtod(s.c_str(), nullptr);
  if (s == ".inf" || s == ".Inf" || s == "+.inf") return std::numeric_limits<double>::infinity();
  if (s == "-.inf" || s == "-.Inf") return -std::numeric_limits<double>::infinity();
  return s;
}

Result<json> ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& tag = node.Tag();
      if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(node.Scalar());
      return ResolvePlain(node.Scalar());
    }
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const YAML::Node& item : node) {
        auto v = ToJson(item);
        if (!v) return v;
        arr.push_back(std::move(*v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return MakeError("YAML map keys must be scalars");
        auto v = ToJson(kv.second);
        if (!v) return v;
        obj[kv.first.Scalar()] = std::move(*v);
      }
      return obj;
    }
  }
  return json(nullptr);
}

void Emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, item] : v.items()) {
        out << YAML::Key;
        if (!ResolvePlain(k).is_string()) {
          out << YAML::DoubleQuoted << k;
        } else {
          out << k;
        }
        out << YAML::Value;
        Emit(out, item);
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const json& item : v) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (!ResolvePlain(s).is_string()) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      break;
    }
    case json::value_t::boolean: out << (v.get<bool>() ? "true" : "false"); break;
    case json::value_t::null: out << YAML::Null; break;
    default:  // numbers, printed as JSON spells them
      out << v.dump();
      break;
  }
}

}  // namespace

bool LooksLikeJson(std::string_view text) {
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    return c == '{' || c == '[';
  }
  return false;
}

Result<std::vector<json>> ParseDocuments(std::string_view text) {
  std::vector<json> docs;
  if (LooksLikeJson(text)) {
    json j = json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded()) return MakeError("invalid JSON");
    docs.push_back(std::move(j));
    return docs;
  }
  try {
    for (const YAML::Node& node : YAML::LoadAll(std::string(text))) {
      if (node.IsNull()) continue;
      auto j = ToJson(node);
      if (!j) return j.error();
      docs.push_back(std::move(*j));
    }
  } catch (const YAML::Exception& e) {
    return MakeError(std::string("invalid YAML: ") + e.what());
  }
  return docs;
}

Result<std::vector<json>> ParseObjects(std::string_view text) {
  auto docs = ParseDocuments(text);
  if (!docs) return docs;
  std::vector<json> out;
  for (json& d : *docs) {
    if (d.is_object() && d.value("kind", "") == "List" && d.contains("items") && d["items"].is_array()) {
      for (json& item : d["items"]) out.push_back(std::move(item));
    } else if (d.is_array()) {
      for (json& item : d) out.push_back(std::move(item));
    } else {
      out.push_back(std::move(d));
    }
  }
  return out;
}

std::string ToYaml(const json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  out.SetMapFormat(YAML::Block);
  Emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace promsidecar::cli
