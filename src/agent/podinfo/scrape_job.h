// A sidecar's scrape job, derived from its own pod: the
// `prometheus.operator.io/*` annotations (and, when the shared config allows
// it, the widespread `prometheus.io/*` ones) plus the pod's labels and
// downward-API env. Pure.
//
// Annotations (prefix prometheus.operator.io/):
//   scrape               "true" scrapes; anything else: no scraping
//   port                 "8080", "8080,9090" or a container port name
//                        ("http-metrics", resolved through the webhook's
//                        container-ports annotation): one target per port
//                        (required)
//   path                 default /metrics
//   scrape-interval      Prometheus duration; not below min_scrape_interval
//   scrape-timeout       Prometheus duration; not above the interval
//   scheme               http (default) or https
//   insecure-skip-verify "true": accept a self-signed app certificate (https)
//   params               URL-encoded query, e.g. "module=http_2xx&debug=1"
//   sample-limit         may only lower the agent's sample_limit
//   job                  the job label
//   scrape-host          "localhost" (default, 127.0.0.1) or "pod-ip" (POD_IP,
//                        for apps that listen only on the pod's address)
// Legacy (when enabled): prometheus.io/scrape, port, path, scheme; ours win.
//
// An invalid value disables only that setting or target, falls back to the
// default (or the minimum), and is reported as a problem naming the
// annotation. Values are echoed only for our own annotations, shortened.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/config/config.h"

namespace promsidecar::podinfo {

inline constexpr std::string_view kPrefix = "prometheus.operator.io/";
inline constexpr std::string_view kLegacyPrefix = "prometheus.io/";

struct PodEnv {
  std::string name;        // POD_NAME
  std::string namespace_;  // POD_NAMESPACE
  std::string uid;         // POD_UID
  std::string ip;          // POD_IP
};

struct SidecarSettings {
  std::chrono::milliseconds min_scrape_interval{std::chrono::seconds(10)};
  std::chrono::milliseconds default_interval{std::chrono::minutes(1)};
  std::chrono::milliseconds default_timeout{std::chrono::seconds(10)};
  config::ScrapeLimits limits;  // the agent's (from the PrometheusAgent)
  bool legacy_annotations = false;
};

struct AnnotationProblem {
  std::string annotation;  // e.g. "prometheus.operator.io/port"
  std::string problem;     // what is wrong and what is used instead
  friend bool operator==(const AnnotationProblem&, const AnnotationProblem&) = default;
};

struct DerivedJob {
  bool scrape = false;
  std::string reason;  // why nothing is scraped, when !scrape
  // job_name = the job label; one static_config per port with labels
  // namespace, pod, instance (<pod>:<port>); resolved interval/timeout/limits.
  config::ScrapeConfig job;
  std::vector<AnnotationProblem> problems;
};

DerivedJob DeriveScrapeJob(const std::map<std::string, std::string>& annotations,
                           const std::map<std::string, std::string>& labels, const PodEnv& pod,
                           const SidecarSettings& settings);

// The pod name without its controller's suffix: `web-7d4b9c8f6-x2x9k` (a
// ReplicaSet's pod) → `web`, `db-0` (StatefulSet) → `db`, `agent-x2x9k`
// (DaemonSet/Job) → `agent`; anything else unchanged.
std::string WorkloadName(const std::string& pod_name);

}  // namespace promsidecar::podinfo
