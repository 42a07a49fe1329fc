#include "agent/runtime/shutdown_staleness.h"

namespace promsidecar::agent {

Result<StaleMarkersMode> ParseStaleMarkersMode(std::string_view text) {
  if (text == "auto") return StaleMarkersMode::kAuto;
  if (text == "always") return StaleMarkersMode::kAlways;
  if (text == "never") return StaleMarkersMode::kNever;
  return MakeError("\"" + std::string(text) +
                   "\" is not a staleness-marker mode (want auto, always or never)");
}

std::string_view ToString(StaleMarkersMode mode) {
  switch (mode) {
    case StaleMarkersMode::kAuto: return "auto";
    case StaleMarkersMode::kAlways: return "always";
    case StaleMarkersMode::kNever: return "never";
  }
  return "auto";
}

ShutdownStalenessDecision DecideShutdownStaleness(
    const ShutdownStalenessOptions& options, const std::function<ProbeRound()>& probe,
    const std::function<std::chrono::steady_clock::time_point()>& now,
    const std::function<void(std::chrono::milliseconds)>& sleep) {
  ShutdownStalenessDecision d;
  if (options.mode == StaleMarkersMode::kAlways) {
    d.mark_stale = true;
    d.reason = "--shutdown.stale-markers=always";
    return d;
  }
  if (options.mode == StaleMarkersMode::kNever) {
    d.reason = "--shutdown.stale-markers=never";
    return d;
  }
  if (!options.sidecar) {
    d.reason = "standalone: a restart resumes the series (as in Prometheus)";
    return d;
  }
  const auto until = now() + options.probe_window;
  for (;;) {
    ProbeRound round = probe();
    ++d.rounds;
    if (round.targets == 0) {
      d.reason = "the pod has no target to probe: presumed a restart of the agent";
      return d;
    }
    if (PodGone(round)) {
      d.mark_stale = true;
      d.reason = "no target of the pod answers: the pod is going away";
      return d;
    }
    if (now() >= until) break;
    sleep(options.probe_interval);
  }
  d.reason = "the pod's targets still answer: only the agent restarts";
  return d;
}

}  // namespace promsidecar::agent
