#include "operator/controller/repair.h"

#include <cstdio>
#include <ctime>

#include "operator/api/well_known.h"
#include "operator/controller/json_access.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;

using detail::At;
using detail::Str;

}  // namespace

std::string UninjectedAgent(const json& pod, const inject::ClusterFacts& facts) {
  const json& md = At(pod, "metadata");
  if (!At(md, "deletionTimestamp").is_null()) return "";
  if (!Str(At(md, "annotations"), api::kStatusAnnotation).empty()) return "";
  if (At(At(md, "labels"), api::kInjectionLabel).is_string()) return "";  // injected or skipped
  const json as_pod = {{"apiVersion", "v1"},
                       {"kind", "Pod"},
                       {"metadata", md.is_object() ? md : json::object()},
                       {"spec", At(pod, "spec").is_object() ? At(pod, "spec") : json::object()}};
  const auto r = inject::Decide(as_pod, Str(md, "namespace"), facts);
  return r.outcome == inject::Outcome::kInjected ? r.agent : "";
}

std::optional<OwnerRef> ControllerOf(const json& object) {
  const json& refs = At(At(object, "metadata"), "ownerReferences");
  if (!refs.is_array()) return std::nullopt;
  for (const json& r : refs) {
    if (At(r, "controller") == true) {
      return OwnerRef{Str(r, "apiVersion"), Str(r, "kind"), Str(r, "name"), Str(r, "uid")};
    }
  }
  return std::nullopt;
}

std::string Workload::KindName() const {
  switch (kind) {
    case Kind::kDeployment: return "Deployment";
    case Kind::kStatefulSet: return "StatefulSet";
    case Kind::kDaemonSet: return "DaemonSet";
    case Kind::kNone: break;
  }
  return "";
}

std::string Workload::Plural() const {
  switch (kind) {
    case Kind::kDeployment: return "deployments";
    case Kind::kStatefulSet: return "statefulsets";
    case Kind::kDaemonSet: return "daemonsets";
    case Kind::kNone: break;
  }
  return "";
}

std::string Workload::Key() const {
  return KindName() + "/" + ns + "/" + name;
}

Workload ResolveWorkload(const json& pod, const json& replica_set) {
  Workload w;
  w.ns = Str(At(pod, "metadata"), "namespace");
  const auto owner = ControllerOf(pod);
  if (!owner) {
    w.why = "a bare pod (no controller owns it): delete and recreate it yourself";
    return w;
  }
  const bool apps = owner->api_version == "apps/v1";
  if (apps && owner->kind == "StatefulSet") {
    w.kind = Workload::Kind::kStatefulSet;
    w.name = owner->name;
    return w;
  }
  if (apps && owner->kind == "DaemonSet") {
    w.kind = Workload::Kind::kDaemonSet;
    w.name = owner->name;
    return w;
  }
  if (apps && owner->kind == "ReplicaSet") {
    if (replica_set.is_null()) {
      w.need_replica_set = owner->name;
      return w;
    }
    const auto rs_owner = ControllerOf(replica_set);
    if (rs_owner && rs_owner->api_version == "apps/v1" && rs_owner->kind == "Deployment") {
      w.kind = Workload::Kind::kDeployment;
      w.name = rs_owner->name;
      return w;
    }
    w.why = "owned by ReplicaSet " + owner->name + ", which no Deployment controls";
    return w;
  }
  w.why = "owned by " + owner->kind + " " + owner->name + ", which the operator does not restart";
  return w;
}

json RestartPatch(const std::string& now) {
  return {{"spec", {{"template", {{"metadata", {{"annotations", {{kRestartedAtAnnotation, now}}}}}}}}}};
}

std::optional<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6) {
    return std::nullopt;
  }
  size_t i = static_cast<size_t>(consumed);
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  }
  long offset = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int oh = 0, om = 0, n = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d%n", &oh, &om, &n) != 2) return std::nullopt;
    offset = (text[i] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
    i += 1 + static_cast<size_t>(n);
  } else {
    return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t t = timegm(&tm) - offset;
  return std::chrono::system_clock::from_time_t(t);
}

std::string FormatRfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool RestartedWithin(const json& workload, std::chrono::system_clock::time_point now,
                     std::chrono::seconds interval) {
  const std::string at =
      Str(At(At(At(At(workload, "spec"), "template"), "metadata"), "annotations"), kRestartedAtAnnotation);
  const auto when = ParseRfc3339(at);
  return when && now - *when < interval;
}

}  // namespace promsidecar::controller
