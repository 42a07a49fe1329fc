// The injected containers' securityContext: hardened defaults with the
// agent's spec.sidecar.securityContext merged over them, and the check that
// the result still passes Pod Security Admission's `restricted` level, so an
// override can never make injected pods fail a namespace's policy (or run
// with more than the agent needs). Pure.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace promsidecar::api {

// The defaults with `overrides` applied as a JSON merge patch (RFC 7386: a
// null removes a default). Non-objects are ignored. runAsUser/runAsGroup
// default to 65532, the agent image's user.
nlohmann::json SidecarSecurityContext(const nlohmann::json& overrides);

struct RestrictedViolation {
  std::string field;    // relative to the securityContext, e.g. "capabilities.add"
  std::string value;    // what it is (JSON), "<unset>" when absent
  std::string message;  // what `restricted` requires
};

// What makes a container securityContext fail Pod Security Admission
// `restricted` (Kubernetes' pod-security-standards, container fields only:
// the pod-level spec is the app's, so nothing may be left to it): privileged,
// allowPrivilegeEscalation, runAsNonRoot, runAsUser 0, capabilities,
// seccompProfile, appArmorProfile, seLinuxOptions, procMount and
// windowsOptions.hostProcess. Empty when it passes.
std::vector<RestrictedViolation> CheckRestricted(const nlohmann::json& security_context);

}  // namespace promsidecar::api
