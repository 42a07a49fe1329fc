#include "operator/controller/restarts.h"

#include <algorithm>

#include "common/log/log.h"
#include "common/util/json_access.h"
#include "common/util/time.h"
#include "operator/controller/repair.h"

namespace promsidecar::controller {
namespace {

using util::At;
using util::Str;
using Steady = std::chrono::steady_clock;

kube::Resource AppsResource(const std::string& plural) {
  return {"apps", "v1", plural, true};
}

}  // namespace

Restarter::Restarter(kube::Client& client, ApiCalls& calls, EventRecorder& events,
                     metrics::Family<metrics::Counter>* restarts, RestarterOptions options)
    : client_(client),
      calls_(calls),
      events_(events),
      restarts_(restarts),
      options_(options),
      limiter_(options.max_per_minute),
      restarted_(options.min_interval) {}

std::chrono::milliseconds Restarter::WaitTime() const {
  auto wait = limiter_.WaitTime(Steady::now());
  // The webhook's readiness is looked at again after a few seconds.
  if (held_for_webhook_.load()) wait = std::max(wait, std::chrono::milliseconds(3000));
  return wait;
}

Restarter::Outcome Restarter::RestartOwnerOf(const cache::PodMeta& pod, const std::string& reason,
                                             const std::string& why) {
  const auto now = Steady::now();
  auto count = [&](const char* outcome) {
    if (restarts_) restarts_->With({reason, outcome}).Inc();
  };
  Workload w = ResolveWorkload(std::string(pod.ns), pod.owner);
  std::string rs_key;
  auto failed = [&](const kube::ApiError& e, const std::string& verb, const std::string& resource) {
    if (kube::IsForbidden(e)) {
      count("forbidden");
      calls_.Forbidden(verb, resource,
                       reason == "repair" ? "--repair.enabled" : "spec.sidecar.updateStrategy: Rollout",
                       kOptionalRbacFix);
      return Outcome::kForbidden;
    }
    if (kube::IsNotFound(e)) return Outcome::kNotRestartable;  // gone meanwhile
    count("error");
    log::Warn("cannot restart the owner of a pod",
              {{"pod", pod.Ref()}, {"reason", reason}, {"error", e.What()}});
    return Outcome::kFailed;
  };
  if (!w.need_replica_set.empty()) {
    rs_key = "ReplicaSet/" + w.ns + "/" + w.need_replica_set;
    if (!restarted_.Due(rs_key, now)) return Outcome::kRecentlyRestarted;
    auto rs = client_.Get(AppsResource("replicasets"), w.ns, w.need_replica_set);
    calls_.Count("get", "replicasets", rs.ok() || kube::IsNotFound(rs.error()));
    if (!rs.ok()) return failed(rs.error(), "get", "replicasets.apps");
    w = ResolveWorkload(std::string(pod.ns), pod.owner, *rs);
  }
  if (w.kind == Workload::Kind::kNone) {
    log::Debug("not restarting the owner of a pod", {{"pod", pod.Ref()}, {"reason", reason}, {"why", w.why}});
    if (!rs_key.empty()) restarted_.Mark(rs_key, now);  // not re-read for a while
    return Outcome::kNotRestartable;
  }
  if (!restarted_.Due(w.Key(), now)) return Outcome::kRecentlyRestarted;
  if (limiter_.WaitTime(now).count() > 0) return Outcome::kRateLimited;
  const kube::Resource resource = AppsResource(w.Plural());
  auto current = client_.Get(resource, w.ns, w.name);
  calls_.Count("get", w.Plural(), current.ok() || kube::IsNotFound(current.error()));
  if (!current.ok()) return failed(current.error(), "get", w.Plural() + ".apps");
  const auto wall = std::chrono::system_clock::now();
  if (RestartedWithin(*current, wall, options_.min_interval)) {
    restarted_.Mark(w.Key(), now);
    if (!rs_key.empty()) restarted_.Mark(rs_key, now);
    return Outcome::kRecentlyRestarted;
  }
  const bool held = options_.webhook_reachable && !options_.webhook_reachable();
  held_for_webhook_.store(held);
  if (held) {
    count("webhook_unreachable");
    log::Debug("workload restart held back: the injection webhook is not reachable yet",
               {{"workload", w.Key()}, {"reason", reason}});
    return Outcome::kRateLimited;
  }
  if (!limiter_.TryAcquire(now)) return Outcome::kRateLimited;
  auto patched =
      client_.Patch(resource, w.ns, w.name, kube::PatchType::kMerge, RestartPatch(util::FormatRfc3339(wall)));
  calls_.Count("patch", w.Plural(), patched.ok());
  if (!patched.ok()) return failed(patched.error(), "patch", w.Plural() + ".apps");
  restarted_.Mark(w.Key(), now);
  if (!rs_key.empty()) restarted_.Mark(rs_key, now);
  count("restarted");
  log::Info("workload restarted so that its pods get the current promsidecar sidecar",
            {{"workload", w.Key()}, {"reason", reason}, {"pod", pod.Ref()}});
  events_.Record({"apps/v1", w.KindName(), w.ns, w.name, Str(At(*current, "metadata"), "uid")}, "Normal",
                 reason == "repair" ? "RestartedForSidecar" : "RestartedForAgentUpgrade", "Restart",
                 "restarted (" + std::string(kRestartedAtAnnotation) + ") by promsidecar-operator: " + why);
  return Outcome::kRestarted;
}

}  // namespace promsidecar::controller
