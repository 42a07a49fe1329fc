// The sidecars' shared config: one PrometheusAgent (Sidecar mode) plus the
// Secrets/ConfigMaps it references → the data of the per-namespace Secret the
// injected agent mounts at api::kSharedConfigDir. A pure function: the
// controller diffs its output against what is in the cluster and writes only
// when it differs.
//
// Secret data:
//   config.yaml   the agent's --config.file (global settings, external labels,
//                 scrape limits, remote_write). Credential fields are *_file
//                 paths RELATIVE to config.yaml's directory (the agent, like
//                 Prometheus, resolves them against it), so the same file works
//                 wherever the volume is mounted.
//   rw<i>-<what>  one key per credential file: password, token, client-secret,
//                 ca.crt, tls.crt, tls.key (and oauth2-ca.crt/... for OAuth2's TLS).
//                 authorization.projectedServiceAccountToken adds no key: its
//                 credentials_file is the absolute path of the projected token
//                 the webhook mounts (api::ProjectedTokenVolumeFor).
//
// Compatibility rule (schema marker `# promsidecar-config-schema: 1`, the
// first line of config.yaml): the agent's loader rejects unknown keys, so an
// operator upgrade must never render a key that an agent already running in a
// namespace rejects. A new key may only be rendered once every supported agent
// version accepts it; bump kConfigSchemaVersion only together with a migration
// note in docs and an agent that accepts both versions.
//
// Spec fields with no counterpart in the agent are not rendered:
// queueConfig.minShards/maxShards/maxRetries/sampleAgeLimit (a sidecar sends
// through one connection; sharding is a Prometheus-server concern). A field the
// agent cannot honour and whose omission would change behaviour
// (tlsConfig.maxVersion) is an error instead.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/result.h"
#include "operator/api/agent.h"

namespace promsidecar::render {

inline constexpr int kConfigSchemaVersion = 1;
inline constexpr const char* kSchemaMarkerPrefix = "# promsidecar-config-schema: ";
// On rendered Secrets: DataHash() of the data, for cheap comparisons.
inline constexpr const char* kDataHashAnnotation = "promsidecar.io/data-hash";
// On rendered Secrets: "<ns>/<name>" of the agent (the label may be shortened).
inline constexpr const char* kAgentRefAnnotation = "promsidecar.io/agent";
inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr const char* kManagedByValue = "promsidecar-operator";

// Objects in the agent's namespace, by name → key → decoded value (Secret data
// already base64-decoded; ConfigMap data and binaryData merged).
struct ReferencedObjects {
  std::map<std::string, std::map<std::string, std::string>> secrets;
  std::map<std::string, std::map<std::string, std::string>> config_maps;
};

struct RenderedSecret {
  std::string name;                         // api::SharedConfigSecretName(agent)
  std::string namespace_;                   // the target namespace
  std::map<std::string, std::string> data;  // raw values (not base64)
  std::string data_hash;                    // DataHash(data)
};

// Errors name the agent, the field path and the missing Secret/ConfigMap/key,
// e.g. `PrometheusAgent mon/a: spec.remoteWrite[0].basicAuth.password: Secret
// "creds" has no key "pw" (create it, or fix the reference)`.
Result<RenderedSecret> RenderSharedConfig(const api::Agent& agent, const ReferencedObjects& refs,
                                          const std::string& target_namespace);

// Names of the Secrets / ConfigMaps the agent's spec references (sorted, unique).
std::vector<std::string> ReferencedSecretNames(const api::Agent& agent);
std::vector<std::string> ReferencedConfigMapNames(const api::Agent& agent);

// Stable hash over sorted keys and values (LegacyTruncatedFnv1a64 of
// length-prefixed keys and values, 16 hex digits): the data-hash annotation.
std::string DataHash(const std::map<std::string, std::string>& data);

// The v1 Secret object for `rendered`: data base64-encoded, labelled with the
// agent (api::kAgentLabel = agent.LabelValue()) and managed-by, annotated with
// the data hash and the agent's "<ns>/<name>".
nlohmann::json SecretObject(const api::Agent& agent, const RenderedSecret& rendered);

// Decoded data of a Secret object (data + stringData); invalid base64 values are skipped.
std::map<std::string, std::string> SecretData(const nlohmann::json& secret);
// Data of a ConfigMap object (data + base64-decoded binaryData).
std::map<std::string, std::string> ConfigMapData(const nlohmann::json& config_map);

}  // namespace promsidecar::render
