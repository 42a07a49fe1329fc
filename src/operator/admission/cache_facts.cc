#include "operator/admission/cache_facts.h"

namespace promsidecar::admission {

Result<inject::ClusterFacts> CacheFacts::FactsFor(const std::string& pod_namespace) {
  if (!reader_.HasSynced()) return MakeError("informer caches have not synced yet");
  // Settings are the webhook's own (it sets them).
  return cache::FactsFor(reader_, pod_namespace, {});
}

Result<validate::ValidationContext> CacheFacts::ContextFor(const std::string& agent_namespace) {
  if (!reader_.HasSynced()) return MakeError("informer caches have not synced yet");
  validate::ValidationContext ctx;
  ctx.existing_agents = *reader_.Agents();
  ctx.api_audiences = api_audiences_;
  auto secrets = reader_.SecretVersions(agent_namespace);
  auto config_maps = reader_.ConfigMapVersions(agent_namespace);
  if (secrets && config_maps) {
    for (const auto& [name, rv] : *secrets) ctx.existing_secrets.insert(name);
    for (const auto& [name, rv] : *config_maps) ctx.existing_config_maps.insert(name);
  } else {
    // Not an agent namespace: the operator does not watch it (and does not
    // serve agents there), so references are not checked.
    ctx.references_known = false;
  }
  return ctx;
}

}  // namespace promsidecar::admission
