// The validating webhook's rules for PrometheusAgent objects, as a pure
// function: object + what the cluster holds → field errors and warnings.
//
// Objects in modes other than Sidecar are upstream's business: they get no
// findings at all. Every error names the field path, the offending value
// (never a secret's content: URLs are shown without user info or query) and
// what is allowed.
#pragma once

#include <optional>
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
  // Audiences the API server accepts tokens for (its --api-audiences), as the
  // operator learnt them (ApiAudiences); refused as a projected token's
  // audience besides the fixed kubernetes.default.svc spellings.
  std::vector<std::string> api_audiences;
};

std::vector<api::FieldError> Validate(const nlohmann::json& agent, const ValidationContext& ctx);

// The spec fields a Sidecar agent must not set (shards is allowed up to 1).
const std::vector<std::string>& FieldsForbiddenInSidecarMode();

// Why `audience` must not be a projected remote-write token's audience, or
// nullopt when it may be: the API server would accept such a token, so every
// injected pod would hand a credential for the Kubernetes API to whatever URL
// the agent names. Refused: blank, "api", the in-cluster API server's names
// (kubernetes, kubernetes.default, kubernetes.default.svc*, with or without a
// scheme, port or path) and any of api_audiences. Compared without case,
// surrounding blanks or a trailing slash, so a near-spelling does not slip by.
std::optional<std::string> ForbiddenTokenAudience(const std::string& audience,
                                                  const std::vector<std::string>& api_audiences);

// The audiences the API server accepts when the operator is not told them
// (--api-audiences): the service-account issuer (from the API server's
// /.well-known/openid-configuration; Kubernetes defaults --api-audiences to
// it) and https://kubernetes.default.svc.cluster.local. An empty issuer (the
// discovery failed) leaves the fixed one.
std::vector<std::string> DefaultApiAudiences(const std::string& issuer);

// Whether `url` is an absolute http(s) URL with a host and a valid port;
// the error says why not. `schemes` lists the allowed schemes.
Status CheckUrl(const std::string& url, const std::vector<std::string>& schemes);

}  // namespace promsidecar::validate
