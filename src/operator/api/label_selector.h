// metav1.LabelSelector and its matching rule, as a pure function.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/result.h"

namespace promsidecar::api {

using Labels = std::map<std::string, std::string>;

struct LabelSelectorRequirement {
  enum class Operator { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Operator op = Operator::kExists;
  std::vector<std::string> values;
};

// An empty selector (no matchLabels, no matchExpressions) matches everything,
// as Kubernetes defines it for namespaceSelector.
struct LabelSelector {
  Labels match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;
};

// Parses and validates a LabelSelector object; `path` names it in errors
// (e.g. "spec.sidecar.namespaceSelector").
Result<LabelSelector> ParseLabelSelector(const nlohmann::json& j, const std::string& path);

bool Matches(const LabelSelector& selector, const Labels& labels);

}  // namespace promsidecar::api
