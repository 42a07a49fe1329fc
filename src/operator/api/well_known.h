// Names the operator writes to or reads from pods: annotations, labels,
// container and volume names. The webhook, the controller and the agent's
// annotation parser must agree on these, so they live in one place.
#pragma once

#include <string_view>

#include "common/util/port_ref.h"

namespace promsidecar::api {

// Set by users on pods.
inline constexpr const char* kScrapeAnnotation = "prometheus.operator.io/scrape";
inline constexpr const char* kAgentSelectorAnnotation = "prometheus.operator.io/agent-selector";
// Per-pod override of spec.sidecar.nativeSidecar: "always" | "never" | "auto".
inline constexpr const char* kNativeSidecarAnnotation = "prometheus.operator.io/native-sidecar";
inline constexpr const char* kLegacyScrapeAnnotation = "prometheus.io/scrape";
// Scrape ports: numbers or container port names (the webhook checks names).
inline constexpr const char* kPortAnnotation = "prometheus.operator.io/port";
inline constexpr const char* kLegacyPortAnnotation = "prometheus.io/port";

// Set by the webhook on pods it injected or skipped.
inline constexpr const char* kInjectionLabel = "prometheus.operator.io/injection";  // injected | skipped
inline constexpr const char* kAgentLabel = "prometheus.operator.io/agent";          // <ns>.<name>
inline constexpr const char* kStatusAnnotation = "prometheus.operator.io/injection-status";  // "injected"
inline constexpr const char* kSkipReasonAnnotation = "prometheus.operator.io/injection-skip-reason";
inline constexpr const char* kAgentVersionAnnotation = "prometheus.operator.io/agent-version";
inline constexpr const char* kPrometheusVersionAnnotation = "prometheus.operator.io/prometheus-version";
inline constexpr const char* kInjectedHashAnnotation = "prometheus.operator.io/injected-hash";
// The pod's own inputs to what was injected ("terminationGracePeriodSeconds=30"),
// so the controller can tell from metadata alone what would be injected now.
inline constexpr const char* kInjectionClassAnnotation = "prometheus.operator.io/injection-class";
// The pod's named container ports ("http-metrics=8080"), for the agent, which
// cannot see the containers, to resolve a port name.
inline constexpr const char* kContainerPortsAnnotation = ports::kContainerPortsAnnotation;
inline constexpr const char* kDefaultContainerAnnotation = "kubectl.kubernetes.io/default-container";

// What the webhook injects.
inline constexpr const char* kAgentContainerName = "promsidecar-agent";
inline constexpr const char* kPrometheusContainerName = "promsidecar-prometheus";
inline constexpr const char* kPodInfoVolumeName = "promsidecar-podinfo";
inline constexpr const char* kSharedConfigVolumeName = "promsidecar-config";
inline constexpr const char* kWalVolumeName = "promsidecar-wal";
inline constexpr const char* kNoTokenVolumeName = "promsidecar-no-token";
inline constexpr const char* kRenderedVolumeName = "promsidecar-rendered";
// Projected service-account token volumes: this prefix plus an id per audience.
inline constexpr const char* kProjectedTokenVolumePrefix = "promsidecar-rwt-";

// Where it mounts them.
inline constexpr const char* kPodInfoDir = "/etc/promsidecar/pod";
inline constexpr const char* kSharedConfigDir = "/etc/promsidecar/shared";
inline constexpr const char* kWalDir = "/var/lib/promsidecar/wal";
inline constexpr const char* kRenderedDir = "/etc/prometheus-rendered";
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
// Projected remote-write tokens live under here, one directory per audience;
// never at kServiceAccountDir, which stays an empty, token-less mount.
inline constexpr const char* kProjectedTokenRoot = "/var/run/secrets/promsidecar/remote-write";
inline constexpr const char* kProjectedTokenFile = "token";

// Whether a pod volume of this name is one the webhook injects (the fixed
// ones and the projected token volumes): the webhook's name-collision check,
// StripInjection and the controller must agree on it.
inline bool IsInjectedVolumeName(std::string_view name) {
  for (const char* ours : {kPodInfoVolumeName, kSharedConfigVolumeName, kWalVolumeName, kNoTokenVolumeName,
                           kRenderedVolumeName}) {
    if (name == ours) return true;
  }
  return name.starts_with(kProjectedTokenVolumePrefix);
}

}  // namespace promsidecar::api
