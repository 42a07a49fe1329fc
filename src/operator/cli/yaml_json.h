// Kubernetes manifests in YAML or JSON, as nlohmann::json documents.
//
// Scalars resolve the way kubectl reads YAML (YAML 1.1 via sigs.k8s.io/yaml):
// unquoted true/false/yes/no/on/off are booleans, unquoted numbers are
// numbers, null/~ is null; quoted scalars are always strings. Writing quotes
// every string that would otherwise read back as something else.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/result.h"

namespace promsidecar::cli {

// True when the text is JSON (its first non-blank character is { or [).
bool LooksLikeJson(std::string_view text);

// Every non-empty document of a YAML stream, or the one JSON value.
Result<std::vector<nlohmann::json>> ParseDocuments(std::string_view text);

// One document per object; items of a `kind: List` are flattened.
Result<std::vector<nlohmann::json>> ParseObjects(std::string_view text);

// Block-style YAML for one document (no leading "---").
std::string ToYaml(const nlohmann::json& value);

}  // namespace promsidecar::cli
