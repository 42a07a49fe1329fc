#include "operator/api/security_context.h"

#include <algorithm>

namespace promsidecar::api {
namespace {

using nlohmann::json;

const json* Field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string Show(const json* v) {
  return v == nullptr ? "<unset>" : v->dump();
}

}  // namespace

json SidecarSecurityContext(const json& overrides) {
  // Built once and copied: building from an initializer list costs several
  // times a copy, and every admission builds one per injected container.
  static const json kDefault = {
      {"runAsNonRoot", true},
      {"runAsUser", 65532},
      {"runAsGroup", 65532},
      {"readOnlyRootFilesystem", true},
      {"allowPrivilegeEscalation", false},
      {"privileged", false},
      {"capabilities", {{"drop", {"ALL"}}}},
      {"seccompProfile", {{"type", "RuntimeDefault"}}},
  };
  json sc = kDefault;
  if (overrides.is_object()) sc.merge_patch(overrides);
  return sc;
}

std::vector<RestrictedViolation> CheckRestricted(const json& sc) {
  std::vector<RestrictedViolation> out;
  auto fail = [&out](std::string field, const json* v, std::string message) {
    out.push_back({std::move(field), Show(v), std::move(message)});
  };
  if (const json* v = Field(sc, "privileged"); v && *v != false) {
    fail("privileged", v, "must be false or unset");
  }
  if (const json* v = Field(sc, "allowPrivilegeEscalation"); !v || *v != false) {
    fail("allowPrivilegeEscalation", v, "must be false");
  }
  if (const json* v = Field(sc, "runAsNonRoot"); !v || *v != true) {
    fail("runAsNonRoot", v, "must be true");
  }
  if (const json* v = Field(sc, "runAsUser"); v && *v == 0) {
    fail("runAsUser", v, "must not be 0 (root)");
  }
  const json* caps = Field(sc, "capabilities");
  const json* drop = caps ? Field(*caps, "drop") : nullptr;
  if (!drop || !drop->is_array() || std::find(drop->begin(), drop->end(), json("ALL")) == drop->end()) {
    fail("capabilities.drop", drop, "must include ALL");
  }
  if (const json* add = caps ? Field(*caps, "add") : nullptr) {
    bool only_bind = add->is_array() && std::all_of(add->begin(), add->end(),
                                                    [](const json& c) { return c == "NET_BIND_SERVICE"; });
    if (!only_bind) fail("capabilities.add", add, "may only add NET_BIND_SERVICE");
  }
  const json* seccomp = Field(sc, "seccompProfile");
  const json* seccomp_type = seccomp ? Field(*seccomp, "type") : nullptr;
  if (!seccomp_type || (*seccomp_type != "RuntimeDefault" && *seccomp_type != "Localhost")) {
    fail("seccompProfile.type", seccomp_type, "must be RuntimeDefault or Localhost");
  }
  const json* apparmor = Field(sc, "appArmorProfile");
  if (const json* t = apparmor ? Field(*apparmor, "type") : nullptr;
      t && *t != "RuntimeDefault" && *t != "Localhost") {
    fail("appArmorProfile.type", t, "must be RuntimeDefault, Localhost or unset");
  }
  if (const json* selinux = Field(sc, "seLinuxOptions")) {
    static const json kTypes = {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"};
    if (const json* t = Field(*selinux, "type");
        t && *t != "" && std::find(kTypes.begin(), kTypes.end(), *t) == kTypes.end()) {
      fail("seLinuxOptions.type", t,
           "must be unset or one of container_t, container_init_t, container_kvm_t, container_engine_t");
    }
    for (const char* key : {"user", "role"}) {
      if (const json* v = Field(*selinux, key); v && *v != "") {
        fail(std::string("seLinuxOptions.") + key, v, "must be unset");
      }
    }
  }
  if (const json* v = Field(sc, "procMount"); v && *v != "Default") {
    fail("procMount", v, "must be Default or unset");
  }
  const json* windows = Field(sc, "windowsOptions");
  if (const json* v = windows ? Field(*windows, "hostProcess") : nullptr; v && *v != false) {
    fail("windowsOptions.hostProcess", v, "must be false or unset");
  }
  return out;
}

}  // namespace promsidecar::api
