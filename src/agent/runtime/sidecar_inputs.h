// The sidecar's inputs: the shared config file the operator renders (an
// optional Secret volume: it may not exist yet) and the pod's annotations and
// labels (downwardAPI). Read together, the last good version of each kept when
// a file disappears or cannot be parsed. Used by the native agent and by the
// upstream-engine renderer, so both see exactly the same scrape job.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "agent/config/config.h"
#include "agent/podinfo/scrape_job.h"
#include "common/util/result.h"

namespace promsidecar::agent {

// Sidecar mode: the pod's own files and identity (downward API).
struct SidecarOptions {
  std::string annotations_file;  // empty: standalone mode
  std::string labels_file;
  podinfo::PodEnv pod;
};

struct SidecarView {
  config::AgentConfig shared;  // defaults while the file does not exist yet
  bool shared_present = false;
  podinfo::DerivedJob derived;
};

class SidecarInputs {
 public:
  SidecarInputs(std::string config_file, SidecarOptions options)
      : config_file_(std::move(config_file)), options_(std::move(options)) {}

  // An invalid shared config is an error (the caller keeps what it runs);
  // missing or unreadable pod files keep what was read before (logged).
  Result<SidecarView> Load();

  // shared + the pod's job (renamed "<job>-pod" if the shared config already
  // has a job of that name).
  static config::AgentConfig Merge(const SidecarView& view);

 private:
  std::string config_file_;
  SidecarOptions options_;
  std::optional<config::AgentConfig> shared_;
  std::map<std::string, std::string> annotations_, labels_;
};

}  // namespace promsidecar::agent
