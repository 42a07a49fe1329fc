#include "operator/api/security_context.h"

#include <gtest/gtest.h>

namespace promsidecar::api {
namespace {

using nlohmann::json;

TEST(SidecarSecurityContext, DefaultsPassRestrictedAndOverridesMerge) {
  EXPECT_TRUE(CheckRestricted(SidecarSecurityContext(json())).empty());
  json sc = SidecarSecurityContext({{"runAsUser", 10001}, {"allowPrivilegeEscalation", nullptr}});
  EXPECT_EQ(sc["runAsUser"], 10001);
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_FALSE(sc.contains("allowPrivilegeEscalation")) << "a null removes a default (JSON merge patch)";
  EXPECT_EQ(SidecarSecurityContext("not an object"), SidecarSecurityContext(json()));
}

struct Case {
  std::string name;
  json overrides;                   // merged over the defaults
  std::vector<std::string> fields;  // the violations expected, in order
  std::string value;                // of the first one
};

TEST(CheckRestricted, OverridesMergedWithTheDefaults) {
  const Case cases[] = {
      {"no override", json::object(), {}, ""},
      {"another non-root user", {{"runAsUser", 10001}, {"runAsGroup", 10001}}, {}, ""},
      {"localhost seccomp",
       {{"seccompProfile", {{"type", "Localhost"}, {"localhostProfile", "p.json"}}}},
       {},
       ""},
      {"NET_BIND_SERVICE may be added", {{"capabilities", {{"add", {"NET_BIND_SERVICE"}}}}}, {}, ""},
      {"privileged", {{"privileged", true}}, {"privileged"}, "true"},
      {"privilege escalation", {{"allowPrivilegeEscalation", true}}, {"allowPrivilegeEscalation"}, "true"},
      {"privilege escalation removed",
       {{"allowPrivilegeEscalation", nullptr}},
       {"allowPrivilegeEscalation"},
       "<unset>"},
      {"runAsNonRoot false", {{"runAsNonRoot", false}}, {"runAsNonRoot"}, "false"},
      {"runAsNonRoot removed", {{"runAsNonRoot", nullptr}}, {"runAsNonRoot"}, "<unset>"},
      {"root user", {{"runAsUser", 0}}, {"runAsUser"}, "0"},
      {"a capability added",
       {{"capabilities", {{"add", {"NET_BIND_SERVICE", "NET_ADMIN"}}}}},
       {"capabilities.add"},
       "[\"NET_BIND_SERVICE\",\"NET_ADMIN\"]"},
      {"drop replaced without ALL",
       {{"capabilities", {{"drop", {"NET_RAW"}}}}},
       {"capabilities.drop"},
       "[\"NET_RAW\"]"},
      {"capabilities removed", {{"capabilities", nullptr}}, {"capabilities.drop"}, "<unset>"},
      {"unconfined seccomp",
       {{"seccompProfile", {{"type", "Unconfined"}}}},
       {"seccompProfile.type"},
       "\"Unconfined\""},
      {"seccomp removed", {{"seccompProfile", nullptr}}, {"seccompProfile.type"}, "<unset>"},
      {"unconfined AppArmor",
       {{"appArmorProfile", {{"type", "Unconfined"}}}},
       {"appArmorProfile.type"},
       "\"Unconfined\""},
      {"SELinux type", {{"seLinuxOptions", {{"type", "spc_t"}}}}, {"seLinuxOptions.type"}, "\"spc_t\""},
      {"SELinux user and role",
       {{"seLinuxOptions", {{"type", "container_t"}, {"user", "u"}, {"role", "r"}}}},
       {"seLinuxOptions.user", "seLinuxOptions.role"},
       "\"u\""},
      {"unmasked /proc", {{"procMount", "Unmasked"}}, {"procMount"}, "\"Unmasked\""},
      {"Windows host process",
       {{"windowsOptions", {{"hostProcess", true}}}},
       {"windowsOptions.hostProcess"},
       "true"},
      {"several at once",
       {{"privileged", true}, {"runAsUser", 0}, {"seccompProfile", {{"type", "Unconfined"}}}},
       {"privileged", "runAsUser", "seccompProfile.type"},
       "true"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<RestrictedViolation> got = CheckRestricted(SidecarSecurityContext(c.overrides));
    std::vector<std::string> fields;
    for (const RestrictedViolation& v : got) fields.push_back(v.field);
    EXPECT_EQ(fields, c.fields);
    if (got.empty()) continue;
    EXPECT_EQ(got[0].value, c.value);
    EXPECT_FALSE(got[0].message.empty());
  }
}

}  // namespace
}  // namespace promsidecar::api
