// The validating webhook's rules for PrometheusAgent objects, as a pure
// function: object + what the cluster holds → field errors and warnings.
//
// Objects in modes other than Sidecar are upstream's business: they get no
// findings at all. Every error names the field path, the offending value
// (never a secret's content: URLs are shown without user info or query) and
// what is allowed.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/api/agent.h"
#include "operator/api/field_error.h"

namespace promsidecar::validate {

struct ValidationContext {
  // Agents already stored (any namespace). The object under validation is
  // recognised by namespace/name and ignored here (an UPDATE of itself).
  std::vector<api::Agent> existing_agents;
  // Names of the Secrets and ConfigMaps that exist in the agent's namespace.
  std::set<std::string> existing_secrets;
  std::set<std::string> existing_config_maps;
  // False when the caller could not list them: then no missing-reference
  // warnings are produced.
  bool references_known = true;
};

std::vector<api::FieldError> Validate(const nlohmann::json& agent, const ValidationContext& ctx);

// The spec fields a Sidecar agent must not set (shards is allowed up to 1).
const std::vector<std::string>& FieldsForbiddenInSidecarMode();

// Whether `url` is an absolute http(s) URL with a host and a valid port;
// the error says why not. `schemes` lists the allowed schemes.
Status CheckUrl(const std::string& url, const std::vector<std::string>& schemes);

}  // namespace promsidecar::validate
