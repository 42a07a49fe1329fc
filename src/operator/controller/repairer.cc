#include "operator/controller/repairer.h"

#include "common/log/log.h"
#include "operator/api/well_known.h"
#include "operator/controller/repair.h"

namespace promsidecar::controller {

ObjectRef EventTargetOf(const cache::PodMeta& pod) {
  if (pod.owner) {
    return {std::string(pod.owner->api_version), std::string(pod.owner->kind), std::string(pod.ns),
            pod.owner->name, pod.owner->uid};
  }
  return {"v1", "Pod", std::string(pod.ns), pod.name, pod.uid};
}

Repairer::Repairer(const cache::ClusterReader& reader, EventRecorder& events, Restarter& restarter,
                   bool repair_enabled, metrics::Family<metrics::Gauge>* uninjected,
                   metrics::Family<metrics::Counter>* runs)
    : reader_(reader),
      events_(events),
      restarter_(restarter),
      repair_enabled_(repair_enabled),
      uninjected_gauge_(uninjected),
      runs_(runs) {}

int Repairer::Uninjected(const std::string& agent) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(agent);
  return it == counts_.end() ? 0 : it->second;
}

Repairer::Report Repairer::Run(const inject::OperatorSettings& settings,
                               const std::function<bool()>& leading) {
  Report report;
  // agent → pods without a sidecar, facts once per namespace.
  std::map<std::string, std::vector<cache::ObjectPtr<cache::PodMeta>>> found;
  std::map<std::string, inject::ClusterFacts> facts;
  for (const auto& pod : reader_.UnhandledPods()) {
    auto f = facts.find(std::string(pod->ns));
    if (f == facts.end())
      f = facts.emplace(std::string(pod->ns), cache::FactsFor(reader_, pod->ns, settings)).first;
    const std::string agent = UninjectedAgent(*pod, f->second);
    if (!agent.empty()) found[agent].push_back(pod);
  }
  std::map<std::string, int> counts;
  std::vector<std::pair<cache::ObjectPtr<cache::PodMeta>, std::string>> new_pods;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> current;
    for (const auto& [agent, pods] : found) {
      counts[agent] = static_cast<int>(pods.size());
      for (const auto& pod : pods) {
        current.insert(pod->uid);
        if (!reported_.count(pod->uid)) new_pods.emplace_back(pod, agent);
      }
    }
    for (const auto& [agent, n] : counts) {
      auto it = counts_.find(agent);
      if (it == counts_.end() || it->second != n) report.changed_agents.push_back(agent);
    }
    for (const auto& [agent, n] : counts_) {
      if (!counts.count(agent)) report.changed_agents.push_back(agent);
    }
    counts_ = counts;
    // Forget pods that are gone or fixed: the set stays as large as the report.
    for (auto it = reported_.begin(); it != reported_.end();) {
      it = current.count(*it) ? std::next(it) : reported_.erase(it);
    }
  }
  for (const auto& agent : report.changed_agents) {
    if (!uninjected_gauge_) break;
    if (auto it = counts.find(agent); it != counts.end()) {
      uninjected_gauge_->With({agent}).Set(it->second);
    } else {
      uninjected_gauge_->Remove({agent});
    }
  }
  size_t total = 0;
  for (const auto& [agent, pods] : found) total += pods.size();
  if (total > 0) {
    log::Warn("repair report: pods without the promsidecar sidecar they opted in to",
              {{"pods", static_cast<uint64_t>(total)},
               {"agents", static_cast<uint64_t>(found.size())},
               {"repair_enabled", repair_enabled_}});
  }
  const std::string fix =
      repair_enabled_
          ? "the operator restarts its Deployment/StatefulSet/DaemonSet (--repair.enabled); a bare pod "
            "must be recreated"
          : "restart its workload (kubectl rollout restart) or recreate the pod; promsidecar-operator "
            "run --repair.enabled does it for Deployments, StatefulSets and DaemonSets";
  for (const auto& [pod, agent] : new_pods) {
    if (!leading()) break;
    const ObjectRef target = EventTargetOf(*pod);
    const std::string who = target.kind == "Pod" ? "the pod" : "pod " + pod->name + " (and any later count)";
    events_.Record(
        target, "Warning", "NotInjected", "Inject",
        who + " sets " + api::kScrapeAnnotation + " (or a legacy annotation PrometheusAgent " + agent +
            " honours) but has no promsidecar sidecar: it was created while the injection webhook was "
            "unreachable (failurePolicy Ignore). Fix: " +
            fix,
        target.kind == "Pod"
            ? std::nullopt
            : std::optional<ObjectRef>(ObjectRef{"v1", "Pod", std::string(pod->ns), pod->name, pod->uid}));
    std::lock_guard<std::mutex> lock(mu_);
    reported_.insert(pod->uid);
  }
  if (repair_enabled_) {
    for (const auto& [agent, pods] : found) {
      for (const auto& pod : pods) {
        if (!leading()) break;
        const auto outcome = restarter_.RestartOwnerOf(
            *pod, "repair",
            "pod " + pod->Ref() + " opted in to PrometheusAgent " + agent +
                " but was created without its sidecar (the injection webhook was unreachable)");
        if (outcome == Restarter::Outcome::kRateLimited) report.left_over = true;
        if (outcome == Restarter::Outcome::kRateLimited || outcome == Restarter::Outcome::kForbidden) break;
      }
      if (report.left_over) break;
    }
  }
  if (runs_) runs_->With({"ok"}).Inc();
  return report;
}

}  // namespace promsidecar::controller
