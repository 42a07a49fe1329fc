// Whether the agent writes staleness markers when it shuts down.
//
// Prometheus writes none when its process stops: it presumes a restart and
// resumes the series where they were. It writes them when a target goes
// away. A standalone agent does the same. A sidecar's targets go away with
// its pod, but its container also stops alone (an InPlace image upgrade, an
// eviction of the container, a crash): the agent cannot be told which, so it
// looks at the pod's targets when SIGTERM arrives. A native sidecar is
// stopped by the kubelet only after every app container has exited on pod
// deletion, so none of the pod's targets answers; when only the agent
// restarts, the app keeps serving and answers. A regular (non-native) sidecar
// gets SIGTERM together with the apps, which may still answer for a while
// during their own shutdown: for those the probe is repeated for a window
// (--shutdown.probe-window) and the pod counts as gone as soon as nothing
// answers. Crashes and OOM kills get no SIGTERM and write nothing.
//
// The decision is pure here; the runtime supplies the probe and the clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/util/result.h"

namespace promsidecar::agent {

enum class StaleMarkersMode {
  kAuto,    // standalone: never; sidecar: when the pod's targets are gone
  kAlways,  // every shutdown marks every series stale
  kNever,   // no shutdown ever does (markers only for targets removed by a reload)
};
// "auto" | "always" | "never".
Result<StaleMarkersMode> ParseStaleMarkersMode(std::string_view text);
std::string_view ToString(StaleMarkersMode mode);

// One probe of every target of the pod: how many there are, how many gave an
// HTTP answer (any status: the app is alive).
struct ProbeRound {
  size_t targets = 0;
  size_t answered = 0;
};

// The pod is going away when it has targets and none of them answered. With
// no target to ask there is no evidence, and the default of Prometheus (no
// markers) stands.
inline bool PodGone(const ProbeRound& round) {
  return round.targets > 0 && round.answered == 0;
}

struct ShutdownStalenessOptions {
  StaleMarkersMode mode = StaleMarkersMode::kAuto;
  bool sidecar = false;
  // Probing goes on for this long while targets still answer (regular
  // sidecars); zero: one round.
  std::chrono::milliseconds probe_window{0};
  std::chrono::milliseconds probe_interval{250};
};

struct ShutdownStalenessDecision {
  bool mark_stale = false;
  size_t rounds = 0;   // probe rounds run (0: the mode decided alone)
  std::string reason;  // for the shutdown log line
};

// Runs `probe` (one round over the pod's targets) as the options ask.
// `now` and `sleep` are injected so tests need no real time.
ShutdownStalenessDecision DecideShutdownStaleness(
    const ShutdownStalenessOptions& options, const std::function<ProbeRound()>& probe,
    const std::function<std::chrono::steady_clock::time_point()>& now,
    const std::function<void(std::chrono::milliseconds)>& sleep);

}  // namespace promsidecar::agent
