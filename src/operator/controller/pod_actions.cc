// The leader's actions on running pods and their workloads: the repair
// report (pods without a sidecar they should have), owner restarts (repair
// and updateStrategy Rollout), in-place agent upgrades and their
// confirmation. The decisions are the pure functions of repair.h and
// upgrade.h; this file does the API calls, rate limits, Events and metrics.
#include <algorithm>
#include <cctype>

#include "common/log/log.h"
#include "operator/api/well_known.h"
#include "operator/controller/controller.h"
#include "operator/controller/json_access.h"

namespace promsidecar::controller {
namespace {

using detail::At;
using detail::Str;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

// A burst of pods created during a webhook outage gets its Events over a few
// reports instead of all at once.
constexpr size_t kMaxNotInjectedEventsPerRun = 100;

constexpr const char* kOptionalRbac = "deploy/optional/restart-workloads-rbac.yaml";
constexpr const char* kOptionalRbacFix =
    "kubectl apply -f deploy/optional/restart-workloads-rbac.yaml (binds the ClusterRole "
    "promsidecar-restart-workloads to the operator's ServiceAccount)";

kube::Resource AppsResource(const std::string& plural) {
  return {"apps", "v1", plural, true};
}

std::string PodRef(const json& pod) {
  return kube::Namespace(pod) + "/" + kube::Name(pod);
}

json InvolvedPod(const json& pod) {
  const json& md = At(pod, "metadata");
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"name", Str(md, "name")},
          {"namespace", Str(md, "namespace")},
          {"uid", Str(md, "uid")}};
}

std::string Uid8(const json& obj) {
  const std::string uid = Str(At(obj, "metadata"), "uid");
  return uid.substr(0, std::min<size_t>(8, uid.size()));
}

}  // namespace

void Controller::RepairLoop() {
  auto next = Steady::now();
  while (!stop_.load()) {
    if (!leading_.load() || !Synced()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    ExpirePendingUpgrades();
    auto now = Steady::now();
    if (repair_due_.exchange(false)) next = now;
    if (now < next) {
      std::this_thread::sleep_for(std::min<Steady::duration>(std::chrono::milliseconds(200), next - now));
      continue;
    }
    if (Status s = RunRepair(); !s) {
      log::Warn(
          "repair report failed; retrying next period",
          {{"error", s.message()}, {"period_s", static_cast<int64_t>(options_.repair_interval.count())}});
    }
    next = Steady::now() + options_.repair_interval;
    // Owners left over by the restart rate limit are taken up once it allows.
    if (options_.repair_enabled) {
      const auto wait = restart_limiter_.WaitTime(Steady::now());
      std::lock_guard<std::mutex> lock(mu_);
      if (repair_left_over_ && wait < options_.repair_interval) next = Steady::now() + wait;
    }
  }
}

Status Controller::RunRepair() {
  kube::ListOptions lo;
  lo.resource_version = "0";  // from the watch cache, not etcd
  lo.accept = kube::kMetadataOnlyList;
  auto list = client_.ListAll(kube::resources::Pods(), "", lo);
  CountCall("list", "pods", list.ok());
  if (!list.ok()) {
    metrics_->repair_runs->With({"error"}).Inc();
    if (kube::IsForbidden(list.error())) {
      ReportForbidden(
          "list", "pods", "the repair report",
          "kubectl apply -f deploy/20-rbac.yaml (ClusterRole promsidecar-operator grants list on pods)");
    }
    return MakeError("listing the metadata of all pods for the repair report: " + list.message());
  }

  std::map<std::string, std::vector<const json*>> by_ns;
  for (const auto& item : (*list)["items"]) by_ns[kube::Namespace(item)].push_back(&item);
  inject::ClusterFacts facts = BaseFacts();
  std::map<std::string, std::vector<const json*>> found;  // agent key → pods without a sidecar
  for (const auto& [ns, pods] : by_ns) {
    AddNamespaceFacts(ns, &facts);
    for (const json* pod : pods) {
      std::string agent = UninjectedAgent(*pod, facts);
      if (!agent.empty()) found[agent].push_back(pod);
    }
  }

  std::vector<std::string> changed;
  std::vector<const json*> to_report;
  std::map<std::string, int> counts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> current;
    for (const auto& [agent, pods] : found) {
      counts[agent] = static_cast<int>(pods.size());
      for (const json* pod : pods) {
        const std::string uid = Str(At(*pod, "metadata"), "uid");
        current.insert(uid);
        if (!reported_uninjected_.count(uid)) to_report.push_back(pod);
      }
    }
    for (const auto& [agent, n] : counts) {
      auto it = uninjected_.find(agent);
      if (it == uninjected_.end() || it->second != n) changed.push_back(agent);
    }
    for (const auto& [agent, n] : uninjected_) {
      if (!counts.count(agent)) changed.push_back(agent);
    }
    uninjected_ = counts;
    // Forget pods that are gone or fixed: the set stays as large as the report.
    for (auto it = reported_uninjected_.begin(); it != reported_uninjected_.end();) {
      it = current.count(*it) ? std::next(it) : reported_uninjected_.erase(it);
    }
  }
  for (const auto& agent : changed) {
    if (auto it = counts.find(agent); it != counts.end()) {
      metrics_->uninjected->With({agent}).Set(it->second);
    } else {
      metrics_->uninjected->Remove({agent});
    }
    queue_.Add(agent);  // its status.uninjectedPods
  }

  size_t total = 0;
  for (const auto& [agent, pods] : found) total += pods.size();
  if (total > 0) {
    log::Warn("repair report: pods without the promsidecar sidecar they opted in to",
              {{"pods", static_cast<uint64_t>(total)},
               {"agents", static_cast<uint64_t>(found.size())},
               {"repair_enabled", options_.repair_enabled}});
  }
  std::map<const json*, std::string> agent_of;
  for (const auto& [agent, pods] : found) {
    for (const json* pod : pods) agent_of[pod] = agent;
  }
  size_t emitted = 0;
  for (const json* pod : to_report) {
    if (emitted++ == kMaxNotInjectedEventsPerRun || !leading_.load()) break;
    const std::string fix =
        options_.repair_enabled
            ? "the operator restarts its Deployment/StatefulSet/DaemonSet (--repair.enabled); a bare pod "
              "must "
              "be recreated"
            : "restart its workload (kubectl rollout restart) or recreate the pod; promsidecar-operator run "
              "--repair.enabled does it for Deployments, StatefulSets and DaemonSets";
    EmitEvent(InvolvedPod(*pod), "Warning", "NotInjected",
              std::string("the pod sets ") + api::kScrapeAnnotation +
                  " (or a legacy annotation PrometheusAgent " + agent_of[pod] +
                  " honours) but has no promsidecar sidecar: it was created while the injection webhook was "
                  "unreachable (failurePolicy Ignore). Fix: " +
                  fix,
              kube::Name(*pod) + "." + Uid8(*pod) + ".notinjected");
    std::lock_guard<std::mutex> lock(mu_);
    reported_uninjected_.insert(Str(At(*pod, "metadata"), "uid"));
  }

  bool left_over = false;
  if (options_.repair_enabled) {
    for (const auto& [agent, pods] : found) {
      for (const json* pod : pods) {
        if (!leading_.load() || stop_.load()) break;
        const auto outcome = RestartOwnerOf(
            *pod, "repair",
            "pod " + PodRef(*pod) + " opted in to PrometheusAgent " + agent +
                " but was created without its sidecar (the injection webhook was unreachable)");
        if (outcome == RestartOutcome::kRateLimited) left_over = true;
        if (outcome == RestartOutcome::kRateLimited || outcome == RestartOutcome::kForbidden) break;
      }
      if (left_over) break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    repair_left_over_ = left_over;
  }
  metrics_->repair_runs->With({"ok"}).Inc();
  return {};
}

Controller::RestartOutcome Controller::RestartOwnerOf(const json& pod, const std::string& reason,
                                                      const std::string& why) {
  const auto now = Steady::now();
  Workload w = ResolveWorkload(pod);
  std::string rs_key;
  auto failed = [&](const kube::ApiError& e, const std::string& verb, const std::string& resource) {
    if (kube::IsForbidden(e)) {
      metrics_->owner_restarts->With({reason, "forbidden"}).Inc();
      ReportForbidden(verb, resource,
                      reason == "repair" ? "--repair.enabled" : "spec.sidecar.updateStrategy: Rollout",
                      kOptionalRbacFix);
      return RestartOutcome::kForbidden;
    }
    if (kube::IsNotFound(e)) return RestartOutcome::kNotRestartable;  // gone meanwhile
    metrics_->owner_restarts->With({reason, "error"}).Inc();
    log::Warn("cannot restart the owner of a pod",
              {{"pod", PodRef(pod)}, {"reason", reason}, {"error", e.What()}});
    return RestartOutcome::kFailed;
  };
  if (!w.need_replica_set.empty()) {
    rs_key = "ReplicaSet/" + w.ns + "/" + w.need_replica_set;
    if (!restarted_owners_.Due(rs_key, now)) return RestartOutcome::kRecentlyRestarted;
    auto rs = client_.Get(AppsResource("replicasets"), w.ns, w.need_replica_set);
    CountCall("get", "replicasets", rs.ok() || kube::IsNotFound(rs.error()));
    if (!rs.ok()) return failed(rs.error(), "get", "replicasets.apps");
    w = ResolveWorkload(pod, *rs);
  }
  if (w.kind == Workload::Kind::kNone) {
    log::Debug("not restarting the owner of a pod",
               {{"pod", PodRef(pod)}, {"reason", reason}, {"why", w.why}});
    if (!rs_key.empty()) restarted_owners_.Mark(rs_key, now);  // not re-read for a while
    return RestartOutcome::kNotRestartable;
  }
  if (!restarted_owners_.Due(w.Key(), now)) return RestartOutcome::kRecentlyRestarted;
  if (restart_limiter_.WaitTime(now).count() > 0) return RestartOutcome::kRateLimited;
  const kube::Resource resource = AppsResource(w.Plural());
  auto current = client_.Get(resource, w.ns, w.name);
  CountCall("get", w.Plural(), current.ok() || kube::IsNotFound(current.error()));
  if (!current.ok()) return failed(current.error(), "get", w.Plural() + ".apps");
  const auto wall = std::chrono::system_clock::now();
  if (RestartedWithin(*current, wall, options_.min_restart_interval)) {
    restarted_owners_.Mark(w.Key(), now);
    if (!rs_key.empty()) restarted_owners_.Mark(rs_key, now);
    return RestartOutcome::kRecentlyRestarted;
  }
  if (!restart_limiter_.TryAcquire(now)) return RestartOutcome::kRateLimited;
  auto patched =
      client_.Patch(resource, w.ns, w.name, kube::PatchType::kMerge, RestartPatch(FormatRfc3339(wall)));
  CountCall("patch", w.Plural(), patched.ok());
  if (!patched.ok()) return failed(patched.error(), "patch", w.Plural() + ".apps");
  restarted_owners_.Mark(w.Key(), now);
  if (!rs_key.empty()) restarted_owners_.Mark(rs_key, now);
  metrics_->owner_restarts->With({reason, "restarted"}).Inc();
  log::Info("workload restarted so that its pods get the current promsidecar sidecar",
            {{"workload", w.Key()}, {"reason", reason}, {"pod", PodRef(pod)}});
  EmitEvent({{"apiVersion", "apps/v1"},
             {"kind", w.KindName()},
             {"name", w.name},
             {"namespace", w.ns},
             {"uid", Str(At(*current, "metadata"), "uid")}},
            "Normal", reason == "repair" ? "RestartedForSidecar" : "RestartedForAgentUpgrade",
            "restarted (" + std::string(kRestartedAtAnnotation) + ") by promsidecar-operator: " + why);
  return RestartOutcome::kRestarted;
}

void Controller::ApplyUpdateStrategy(const std::string& key, const api::Agent& agent, const json& involved,
                                     const std::vector<OutdatedPod>& outdated) {
  switch (agent.sidecar.update_strategy) {
    case api::UpdateStrategy::kNone: return;  // reported in status.outdatedPods only
    case api::UpdateStrategy::kInPlace: UpgradeInPlace(key, agent, involved, outdated); return;
    case api::UpdateStrategy::kRollout: break;
  }
  if (!options_.rollout_enabled) {
    EmitEventOnce(
        involved, "Warning", "RolloutDisabled",
        "spec.sidecar.updateStrategy is Rollout but promsidecar-operator runs without --rollout.enabled: "
        "outdated pods are only reported (status.outdatedPods). Fix: run it with --rollout.enabled "
        "and apply " +
            std::string(kOptionalRbac) + " (Helm: rollout.enabled=true), or set updateStrategy: None",
        agent.name + "." + agent.uid.substr(0, 8) + ".rollout-disabled");
    return;
  }
  for (const auto& o : outdated) {
    if (!leading_.load()) return;
    if (o.check.agent != agent.Ref()) continue;
    if (o.check.drift != PodDrift::kImageOnly && o.check.drift != PodDrift::kNeedsRestart) continue;
    const auto outcome =
        RestartOwnerOf(o.pod, "rollout",
                       "pod " + PodRef(o.pod) + " runs an outdated sidecar of PrometheusAgent " +
                           agent.Ref() + " (spec.sidecar.updateStrategy: Rollout)");
    if (outcome == RestartOutcome::kRateLimited) {
      queue_.AddAfter(key, std::chrono::duration_cast<std::chrono::milliseconds>(
                               restart_limiter_.WaitTime(Steady::now())));
      return;
    }
    if (outcome == RestartOutcome::kForbidden) {
      EmitUpgradeForbidden(involved, agent, "Rollout", "restart workloads");
      return;
    }
  }
}

void Controller::EmitUpgradeForbidden(const json& involved, const api::Agent& agent,
                                      const std::string& strategy, const std::string& action) {
  std::string id = strategy;
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EmitEventOnce(involved, "Warning", "UpgradeForbidden",
                "spec.sidecar.updateStrategy is " + strategy + " but promsidecar-operator may not " + action +
                    " (HTTP 403): apply " + std::string(kOptionalRbac) +
                    ", or set spec.sidecar.updateStrategy: None",
                agent.name + "." + agent.uid.substr(0, 8) + "." + id + "-forbidden");
}

void Controller::UpgradeInPlace(const std::string& key, const api::Agent& agent, const json& involved,
                                const std::vector<OutdatedPod>& outdated) {
  std::vector<std::string> kubelets;
  for (const auto& n : nodes_->List()) {
    kubelets.push_back(Str(At(At(n, "status"), "nodeInfo"), "kubeletVersion"));
  }
  for (const auto& o : outdated) {
    if (!leading_.load()) return;
    if (o.check.drift != PodDrift::kImageOnly || o.check.agent != agent.Ref()) {
      if (o.check.drift == PodDrift::kNeedsRestart && o.check.agent == agent.Ref()) {
        log::Debug("outdated pod needs a restart, not an image change: reported only",
                   {{"pod", PodRef(o.pod)}, {"agent", agent.Ref()}});
      }
      continue;
    }
    const std::string uid = Str(At(o.pod, "metadata"), "uid");
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_upgrades_.count(uid)) continue;  // patched; the cache has not caught up yet
    }
    const auto container = FindAgentContainer(o.pod);
    const auto patch = InPlacePatch(o.pod, o.check);
    if (!container || !patch) continue;
    if (!InPlaceAllowed(container->list == "initContainers", kubelets)) {
      log::Debug(
          "in-place upgrade not possible: the agent is a native sidecar and a Node's kubelet is older "
          "than 1.32, which would not restart it; reported as outdated",
          {{"pod", PodRef(o.pod)}, {"agent", agent.Ref()}});
      continue;
    }
    const auto now = Steady::now();
    if (!in_place_limiter_.TryAcquire(now)) {
      queue_.AddAfter(key,
                      std::chrono::duration_cast<std::chrono::milliseconds>(in_place_limiter_.WaitTime(now)));
      return;
    }
    auto r = client_.Patch(kube::resources::Pods(), kube::Namespace(o.pod), kube::Name(o.pod),
                           kube::PatchType::kJson, *patch);
    CountCall("patch", "pods", r.ok());
    if (!r.ok()) {
      if (kube::IsForbidden(r.error())) {
        metrics_->in_place->With({"forbidden"}).Inc();
        ReportForbidden("patch", "pods", "spec.sidecar.updateStrategy: InPlace", kOptionalRbacFix);
        EmitUpgradeForbidden(involved, agent, "InPlace", "patch pods");
        return;
      }
      // A failed `test` (the pod changed since the cache saw it) lands here
      // too; the pod's next update brings a reconcile with its new state.
      metrics_->in_place->With({"failed"}).Inc();
      log::Warn("in-place agent upgrade failed",
                {{"pod", PodRef(o.pod)}, {"agent", agent.Ref()}, {"error", r.message()}});
      continue;
    }
    metrics_->in_place->With({"patched"}).Inc();
    log::Info("agent container image patched in place", {{"pod", PodRef(o.pod)},
                                                         {"agent", agent.Ref()},
                                                         {"container_list", container->list},
                                                         {"from", container->image},
                                                         {"to", o.check.want_image}});
    if (container->image != o.check.want_image) {
      std::lock_guard<std::mutex> lock(mu_);
      pending_upgrades_[uid] = {kube::Namespace(o.pod), kube::Name(o.pod), key,
                                o.check.want_image,     AgentStatusOf(*r), now};
    }
  }
}

void Controller::CheckPendingUpgrade(const json& pod) {
  const std::string uid = Str(At(pod, "metadata"), "uid");
  const AgentContainerStatus now = AgentStatusOf(pod);
  PendingUpgrade done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_upgrades_.find(uid);
    if (it == pending_upgrades_.end() || !UpgradeConfirmed(it->second.before, now)) return;
    done = it->second;
    pending_upgrades_.erase(it);
  }
  metrics_->in_place->With({"confirmed"}).Inc();
  log::Info("in-place agent upgrade confirmed by the container status", {{"pod", done.ns + "/" + done.name},
                                                                         {"agent", done.agent},
                                                                         {"image", now.image},
                                                                         {"image_id", now.image_id}});
  if (!leading_.load()) return;
  EmitEvent(InvolvedPod(pod), "Normal", "AgentUpgraded",
            "the promsidecar agent container was upgraded in place to " + done.image +
                " and runs again (image " + now.image + ", imageID " + now.image_id +
                "); only that container restarted, its WAL in the emptyDir was kept");
}

void Controller::ExpirePendingUpgrades() {
  const auto now = Steady::now();
  std::vector<PendingUpgrade> expired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = pending_upgrades_.begin(); it != pending_upgrades_.end();) {
      if (now - it->second.since < options_.in_place_confirm_timeout) {
        ++it;
        continue;
      }
      expired.push_back(it->second);
      it = pending_upgrades_.erase(it);
    }
  }
  for (const auto& p : expired) {
    metrics_->in_place->With({"unconfirmed"}).Inc();
    log::Warn(
        "in-place agent upgrade not confirmed: the agent container's status still shows its old image; "
        "check the pod's events (image pull?) and the kubelet",
        {{"pod", p.ns + "/" + p.name}, {"agent", p.agent}, {"image", p.image}});
  }
}

void Controller::EmitEventOnce(const json& involved, const std::string& type, const std::string& reason,
                               const std::string& message, const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Names are per agent and cause, so the set is as bounded as the agents.
    if (!once_events_.insert(name).second) return;
  }
  EmitEvent(involved, type, reason, message, name);
}

void Controller::ReportForbidden(const std::string& verb, const std::string& resource,
                                 const std::string& needed_by, const std::string& fix) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!forbidden_logged_.insert(verb + " " + resource).second) return;
  }
  log::Error("promsidecar-operator may not " + verb + " " + resource + " (HTTP 403)",
             {{"verb", verb}, {"resource", resource}, {"needed_by", needed_by}, {"fix", fix}});
}

}  // namespace promsidecar::controller
