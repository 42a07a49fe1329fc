#include "operator/controller/upgrades.h"

#include <cctype>

#include "common/log/log.h"
#include "operator/api/well_known.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

ObjectRef AgentRef(const cache::AgentObject& a) {
  return {a.api_version, api::kAgentKind, a.agent.namespace_, a.agent.name, a.agent.uid};
}

}  // namespace

Upgrader::Upgrader(kube::Client& client, ApiCalls& calls, EventRecorder& events, Restarter& restarter,
                   metrics::Family<metrics::Counter>* in_place, UpgraderOptions options)
    : client_(client),
      calls_(calls),
      events_(events),
      restarter_(restarter),
      in_place_(in_place),
      options_(options),
      limiter_(options.max_in_place_per_minute) {}

void Upgrader::WarnOnce(const cache::AgentObject& agent, const std::string& reason, const std::string& id,
                        const std::string& note) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Keys are per agent and cause, so the set is as bounded as the agents.
    if (!warned_.insert(agent.agent.uid + "/" + id).second) return;
  }
  events_.Record(AgentRef(agent), "Warning", reason, "Upgrade", note);
}

std::optional<std::chrono::milliseconds> Upgrader::Apply(
    const cache::AgentObject& object, const std::vector<OutdatedPod>& outdated,
    const std::function<inject::ClusterFacts(const std::string& ns)>& facts_for,
    const std::vector<std::string>& kubelets, const std::function<bool()>& leading) {
  const api::Agent& agent = object.agent;
  std::optional<std::chrono::milliseconds> come_back;
  if (outdated.empty() || agent.paused) return come_back;
  switch (agent.sidecar.update_strategy) {
    case api::UpdateStrategy::kNone: return come_back;  // reported in status.outdatedPods only
    case api::UpdateStrategy::kInPlace:
      InPlace(object, outdated, facts_for, kubelets, leading, &come_back);
      return come_back;
    case api::UpdateStrategy::kRollout: break;
  }
  if (!options_.rollout_enabled) {
    WarnOnce(
        object, "RolloutDisabled", "rollout-disabled",
        "spec.sidecar.updateStrategy is Rollout but promsidecar-operator runs without --rollout.enabled: "
        "outdated pods are only reported (status.outdatedPods). Fix: run it with --rollout.enabled "
        "and apply " +
            std::string(kOptionalRbac) + " (Helm: rollout.enabled=true), or set updateStrategy: None");
    return come_back;
  }
  for (const auto& o : outdated) {
    if (!leading()) break;
    const auto& pod = o.pod;
    const auto outcome =
        restarter_.RestartOwnerOf(*pod, "rollout",
                                  "pod " + pod->Ref() + " runs an outdated sidecar of PrometheusAgent " +
                                      agent.Ref() + " (spec.sidecar.updateStrategy: Rollout)");
    if (outcome == Restarter::Outcome::kRateLimited) return restarter_.WaitTime();
    if (outcome == Restarter::Outcome::kForbidden) {
      WarnOnce(
          object, "UpgradeForbidden", "rollout-forbidden",
          "spec.sidecar.updateStrategy is Rollout but promsidecar-operator may not restart workloads (HTTP "
          "403): apply " +
              std::string(kOptionalRbac) + ", or set spec.sidecar.updateStrategy: None");
      break;
    }
  }
  return come_back;
}

void Upgrader::InPlace(const cache::AgentObject& object, const std::vector<OutdatedPod>& outdated,
                       const std::function<inject::ClusterFacts(const std::string& ns)>& facts_for,
                       const std::vector<std::string>& kubelets, const std::function<bool()>& leading,
                       std::optional<std::chrono::milliseconds>* come_back) {
  const api::Agent& agent = object.agent;
  std::map<std::string, inject::ClusterFacts> facts;  // by namespace
  for (const auto& o : outdated) {
    if (!leading()) return;
    const auto& meta = o.pod;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_.count(meta->uid)) continue;  // patched; the cache has not caught up yet
      // Read before and found needing more than an image: not read again
      // until what would be injected changes.
      auto r = ruled_out_.find(meta->uid);
      if (r != ruled_out_.end() && r->second == o.want_hash) continue;
    }
    const auto now = Steady::now();
    if (limiter_.WaitTime(now).count() > 0) {
      *come_back = std::chrono::duration_cast<std::chrono::milliseconds>(limiter_.WaitTime(now));
      return;
    }
    auto f = facts.find(std::string(meta->ns));
    if (f == facts.end()) f = facts.emplace(std::string(meta->ns), facts_for(std::string(meta->ns))).first;
    // Only the spec says which container and image: read this one pod.
    auto got = client_.Get(kube::resources::Pods(), meta->ns, meta->name);
    calls_.Count("get", "pods", got.ok() || kube::IsNotFound(got.error()));
    if (!got.ok()) continue;
    const json& pod = *got;
    const PodCheck check = CheckInjectedPod(pod, f->second);
    if (check.drift != PodDrift::kImageOnly || check.agent != agent.Ref()) {
      if (check.drift == PodDrift::kNeedsRestart && check.agent == agent.Ref()) {
        log::Debug("outdated pod needs a restart, not an image change: reported only",
                   {{"pod", meta->Ref()}, {"agent", agent.Ref()}});
      }
      std::lock_guard<std::mutex> lock(mu_);
      ruled_out_[meta->uid] = o.want_hash;
      continue;
    }
    const auto container = FindAgentContainer(pod);
    const auto patch = InPlacePatch(pod, check);
    if (!container || !patch) continue;
    if (!InPlaceAllowed(container->list == "initContainers", kubelets)) {
      log::Debug(
          "in-place upgrade not possible: the agent is a native sidecar and a Node's kubelet is older "
          "than 1.32, which would not restart it; reported as outdated",
          {{"pod", meta->Ref()}, {"agent", agent.Ref()}});
      std::lock_guard<std::mutex> lock(mu_);
      ruled_out_[meta->uid] = o.want_hash;
      continue;
    }
    if (!limiter_.TryAcquire(now)) {
      *come_back = std::chrono::duration_cast<std::chrono::milliseconds>(limiter_.WaitTime(now));
      return;
    }
    auto r = client_.Patch(kube::resources::Pods(), meta->ns, meta->name, kube::PatchType::kJson, *patch);
    calls_.Count("patch", "pods", r.ok());
    if (!r.ok()) {
      if (kube::IsForbidden(r.error())) {
        if (in_place_) in_place_->With({"forbidden"}).Inc();
        calls_.Forbidden("patch", "pods", "spec.sidecar.updateStrategy: InPlace", kOptionalRbacFix);
        WarnOnce(object, "UpgradeForbidden", "inplace-forbidden",
                 "spec.sidecar.updateStrategy is InPlace but promsidecar-operator may not patch pods (HTTP "
                 "403): apply " +
                     std::string(kOptionalRbac) + ", or set spec.sidecar.updateStrategy: None");
        return;
      }
      // A failed `test` (the pod changed since it was read) lands here too;
      // the pod's next update brings a reconcile.
      if (in_place_) in_place_->With({"failed"}).Inc();
      log::Warn("in-place agent upgrade failed",
                {{"pod", meta->Ref()}, {"agent", agent.Ref()}, {"error", r.message()}});
      events_.Record(
          AgentRef(object), "Warning", "UpgradeFailed", "Upgrade",
          "in-place upgrade of the agent container failed for pod " + meta->Ref() + ": " + r.message());
      continue;
    }
    if (in_place_) in_place_->With({"patched"}).Inc();
    log::Info("agent container image patched in place", {{"pod", meta->Ref()},
                                                         {"agent", agent.Ref()},
                                                         {"container_list", container->list},
                                                         {"from", container->image},
                                                         {"to", check.want_image}});
    if (container->image != check.want_image) {
      std::lock_guard<std::mutex> lock(mu_);
      pending_[meta->uid] = {std::string(meta->ns), meta->name,        agent.Ref(),
                             check.want_image,      AgentStatusOf(*r), now};
    }
  }
}

bool Upgrader::IsPending(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.count(uid) > 0;
}

void Upgrader::CheckPending(const std::string& ns, const std::string& name) {
  auto got = client_.Get(kube::resources::Pods(), ns, name);
  calls_.Count("get", "pods", got.ok() || kube::IsNotFound(got.error()));
  if (!got.ok()) return;
  const json& pod = *got;
  const std::string uid = pod.value("metadata", json::object()).value("uid", "");
  const AgentContainerStatus now = AgentStatusOf(pod);
  Pending done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(uid);
    if (it == pending_.end() || !UpgradeConfirmed(it->second.before, now)) return;
    done = it->second;
    pending_.erase(it);
  }
  if (in_place_) in_place_->With({"confirmed"}).Inc();
  log::Info("in-place agent upgrade confirmed by the container status", {{"pod", done.ns + "/" + done.name},
                                                                         {"agent", done.agent},
                                                                         {"image", now.image},
                                                                         {"image_id", now.image_id}});
  events_.Record({"v1", "Pod", done.ns, done.name, uid}, "Normal", "AgentUpgraded", "Upgrade",
                 "the promsidecar agent container was upgraded in place to " + done.image +
                     " and runs again (image " + now.image + ", imageID " + now.image_id +
                     "); only that container restarted, its WAL in the emptyDir was kept");
}

void Upgrader::Forget(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.erase(uid);
  ruled_out_.erase(uid);
}

void Upgrader::ExpirePending() {
  const auto now = Steady::now();
  std::vector<Pending> expired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (now - it->second.since < options_.confirm_timeout) {
        ++it;
        continue;
      }
      expired.push_back(it->second);
      it = pending_.erase(it);
    }
  }
  for (const auto& p : expired) {
    if (in_place_) in_place_->With({"unconfirmed"}).Inc();
    log::Warn(
        "in-place agent upgrade not confirmed: the agent container's status still shows its old image; "
        "check the pod's events (image pull?) and the kubelet",
        {{"pod", p.ns + "/" + p.name}, {"agent", p.agent}, {"image", p.image}});
  }
}

size_t Upgrader::PendingCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

}  // namespace promsidecar::controller
