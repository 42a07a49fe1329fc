// Static targets → scrape targets, as Prometheus populates target labels:
// `__address__`, `__scheme__`, `__metrics_path__`, `__param_<name>`, `job`
// and the static labels go through relabel_configs; the result gives the URL;
// `instance` defaults to the address; labels starting with "__" are dropped.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/scrape/scrape_loop.h"

namespace promsidecar::scrape {

struct TargetsResult {
  std::vector<ScrapeTarget> targets;
  std::vector<std::string> dropped;  // addresses relabel_configs dropped (for debug logs)
  std::vector<std::string> errors;   // targets skipped, each message names the job and address
};

// `pod_uid` (may be empty) spreads identical targets of different pods over
// the interval. `authorization` is filled in by the caller (it reads files).
TargetsResult BuildTargets(const config::ScrapeConfig& job, const std::string& pod_uid);

// The Authorization header for a job's basic_auth or authorization, read
// from files at each call (rotation without reload); empty function if none.
// An unreadable credentials file yields no header (the target answers 401,
// which the scrape reports).
std::function<std::string()> AuthorizationHeader(const config::ScrapeConfig& job);

// Builds the URL "scheme://address/path?params" (params URL-encoded, sorted).
std::string TargetUrl(const std::string& scheme, const std::string& address, const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace promsidecar::scrape
