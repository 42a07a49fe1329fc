// The repair report, served from the shared cache: pods that opted in but
// carry neither our injection label nor our status annotation (created while
// the webhook was unreachable: failurePolicy Ignore let them through) and
// that Decide would inject now (UninjectedAgent, repair.h). Each report:
//   - counts them per agent (status.uninjectedPods and the gauge
//     promsidecar_operator_uninjected_pods{agent});
//   - records a Warning Event NotInjected per newly found pod, aggregated on
//     its owning workload (one Event whose count rises) or on the bare pod;
//   - with repair enabled, restarts their workloads (Restarter).
// No API read: the cache already holds every opted-in pod's metadata.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/metrics/metrics.h"
#include "operator/cache/reader.h"
#include "operator/controller/events.h"
#include "operator/controller/restarts.h"

namespace promsidecar::controller {

// The object an Event about a pod is recorded on: its controlling owner (a
// Deployment's pods: their ReplicaSet), else the pod itself.
ObjectRef EventTargetOf(const cache::PodMeta& pod);

class Repairer {
 public:
  // `uninjected`: the gauge family {agent}; `runs`: counter family {outcome}.
  Repairer(const cache::ClusterReader& reader, EventRecorder& events, Restarter& restarter,
           bool repair_enabled, metrics::Family<metrics::Gauge>* uninjected,
           metrics::Family<metrics::Counter>* runs);

  struct Report {
    std::vector<std::string> changed_agents;  // whose count changed ("ns/name")
    bool left_over = false;                   // the restart rate limit left owners for later
  };
  Report Run(const inject::OperatorSettings& settings, const std::function<bool()>& leading);
  // The last report's count for an agent ("ns/name").
  int Uninjected(const std::string& agent) const;

 private:
  const cache::ClusterReader& reader_;
  EventRecorder& events_;
  Restarter& restarter_;
  const bool repair_enabled_;
  metrics::Family<metrics::Gauge>* uninjected_gauge_;
  metrics::Family<metrics::Counter>* runs_;
  mutable std::mutex mu_;
  std::map<std::string, int> counts_;  // agent → pods without a sidecar
  std::set<std::string> reported_;     // pod UIDs already counted into an Event (pruned to the report)
};

}  // namespace promsidecar::controller
