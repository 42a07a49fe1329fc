#include "operator/api/label_selector.h"

#include <algorithm>

namespace promsidecar::api {

using nlohmann::json;

Result<LabelSelector> ParseLabelSelector(const json& j, const std::string& path) {
  if (!j.is_object()) return MakeError(path + ": must be an object with matchLabels and/or matchExpressions");
  LabelSelector sel;
  if (auto it = j.find("matchLabels"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return MakeError(path + ".matchLabels: must be a map of label names to values");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) {
        return MakeError(path + ".matchLabels." + k + ": must be a string (quote numbers and booleans)");
      }
      sel.match_labels[k] = v.get<std::string>();
    }
  }
  if (auto it = j.find("matchExpressions"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return MakeError(path + ".matchExpressions: must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& e = (*it)[i];
      std::string ep = path + ".matchExpressions[" + std::to_string(i) + "]";
      if (!e.is_object()) return MakeError(ep + ": must be an object with key, operator and values");
      LabelSelectorRequirement req;
      auto key = e.find("key");
      if (key == e.end() || !key->is_string() || key->get<std::string>().empty()) {
        return MakeError(ep + ".key: required, a label name");
      }
      req.key = key->get<std::string>();
      auto op = e.find("operator");
      std::string ops = op != e.end() && op->is_string() ? op->get<std::string>() : "";
      if (ops == "In") {
        req.op = LabelSelectorRequirement::Operator::kIn;
      } else if (ops == "NotIn") {
        req.op = LabelSelectorRequirement::Operator::kNotIn;
      } else if (ops == "Exists") {
        req.op = LabelSelectorRequirement::Operator::kExists;
      } else if (ops == "DoesNotExist") {
        req.op = LabelSelectorRequirement::Operator::kDoesNotExist;
      } else {
        return MakeError(ep + ".operator: \"" + ops + "\" is not one of In, NotIn, Exists, DoesNotExist");
      }
      if (auto vals = e.find("values"); vals != e.end() && !vals->is_null()) {
        if (!vals->is_array()) return MakeError(ep + ".values: must be a list of strings");
        for (const json& v : *vals) {
          if (!v.is_string()) return MakeError(ep + ".values: must be a list of strings");
          req.values.push_back(v.get<std::string>());
        }
      }
      bool set_op = req.op == LabelSelectorRequirement::Operator::kIn ||
                    req.op == LabelSelectorRequirement::Operator::kNotIn;
      if (set_op && req.values.empty()) {
        return MakeError(ep + ".values: must be non-empty when operator is " + ops);
      }
      if (!set_op && !req.values.empty()) {
        return MakeError(ep + ".values: must be empty when operator is " + ops);
      }
      sel.match_expressions.push_back(std::move(req));
    }
  }
  return sel;
}

bool Matches(const LabelSelector& selector, const Labels& labels) {
  for (const auto& [k, v] : selector.match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const LabelSelectorRequirement& req : selector.match_expressions) {
    auto it = labels.find(req.key);
    bool has = it != labels.end();
    bool in_values = has && std::find(req.values.begin(), req.values.end(), it->second) != req.values.end();
    switch (req.op) {
      case LabelSelectorRequirement::Operator::kIn:
        if (!in_values) return false;
        break;
      case LabelSelectorRequirement::Operator::kNotIn:
        if (in_values) return false;
        break;
      case LabelSelectorRequirement::Operator::kExists:
        if (!has) return false;
        break;
      case LabelSelectorRequirement::Operator::kDoesNotExist:
        if (has) return false;
        break;
    }
  }
  return true;
}

}  // namespace promsidecar::api
