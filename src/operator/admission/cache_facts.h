// The webhooks' view of the cluster in a running operator: ClusterFactsSource
// and ValidationContextSource over the process's one shared cache
// (cache::ClusterReader), so an admission request reads memory only and
// shares the cache's snapshots (agents, kubelet versions) instead of copying
// them. Validation reads Secret and ConfigMap names from the metadata-only
// cache: no Secret data is ever listed.
#pragma once

#include <string>
#include <vector>

#include "operator/admission/webhooks.h"
#include "operator/cache/reader.h"

namespace promsidecar::admission {

class CacheFacts : public ClusterFactsSource, public ValidationContextSource {
 public:
  // api_audiences: what the API server accepts tokens for (validate::ValidationContext).
  explicit CacheFacts(const cache::ClusterReader& reader, std::vector<std::string> api_audiences = {})
      : reader_(reader), api_audiences_(std::move(api_audiences)) {}

  Result<inject::ClusterFacts> FactsFor(const std::string& pod_namespace) override;
  Result<validate::ValidationContext> ContextFor(const std::string& agent_namespace) override;

 private:
  const cache::ClusterReader& reader_;
  const std::vector<std::string> api_audiences_;
};

}  // namespace promsidecar::admission
