// The PrometheusAgent custom resource as the operator reads it.
//
// The same kind is served either in our own group (promsidecar.io/v1alpha1,
// the default) or, as an install option, in the seed's group
// (monitoring.coreos.com/v1alpha1) next to upstream's StatefulSet/DaemonSet
// modes. The code does not care which: the group is configuration
// (AgentApiGroup). Only Sidecar-mode objects are parsed in full; objects in
// other modes keep their metadata and mode and are otherwise left alone.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/result.h"
#include "operator/api/field_error.h"
#include "operator/api/label_selector.h"
#include "operator/api/well_known.h"

namespace promsidecar::api {

inline constexpr const char* kOwnGroup = "promsidecar.io";
inline constexpr const char* kSeedGroup = "monitoring.coreos.com";
inline constexpr const char* kAgentVersion = "v1alpha1";
inline constexpr const char* kAgentKind = "PrometheusAgent";
inline constexpr const char* kAgentPlural = "prometheusagents";

// Which group serves PrometheusAgent in this installation.
struct AgentApiGroup {
  std::string group = kOwnGroup;
  std::string ApiVersion() const { return group + "/" + kAgentVersion; }
  static AgentApiGroup Own() { return {kOwnGroup}; }
  static AgentApiGroup Seed() { return {kSeedGroup}; }
};

// Kubernetes' bounds for a projected token's expirationSeconds (pod
// validation) and the default it applies.
inline constexpr int64_t kMinTokenExpirationSeconds = 600;
inline constexpr int64_t kMaxTokenExpirationSeconds = int64_t{1} << 32;
inline constexpr int64_t kDefaultTokenExpirationSeconds = 3600;

// Upstream's default scrape interval, which its CRD and ours apply on write;
// render and validate apply it to objects that did not pass the API server.
inline constexpr std::chrono::milliseconds kDefaultScrapeInterval{30000};

// Credentials are references, spelled as upstream prometheus-operator does.
struct SecretKeySelector {
  std::string name;
  std::string key;
  bool optional = false;
};
using ConfigMapKeySelector = SecretKeySelector;

struct SecretOrConfigMap {
  std::optional<SecretKeySelector> secret;
  std::optional<ConfigMapKeySelector> config_map;
};

struct BasicAuth {
  std::optional<SecretKeySelector> username;
  std::optional<SecretKeySelector> password;
};

// A token of the pod's own ServiceAccount that the kubelet projects into the
// sending container and rotates (corev1 ServiceAccountTokenProjection): the
// credentials then never exist outside the pod, and nothing is copied into the
// rendered Secret. The field names and bounds are Kubernetes' own.
struct ProjectedServiceAccountToken {
  std::string audience;  // required: an empty one would mint an API-server token
  int64_t expiration_seconds = kDefaultTokenExpirationSeconds;
};

struct Authorization {
  std::string type = "Bearer";
  // At most one of these three (the validator and the CRDs' CEL say so).
  std::optional<SecretKeySelector> credentials;
  std::string credentials_file;
  std::optional<ProjectedServiceAccountToken> projected_token;
  int SourceCount() const {
    return (credentials ? 1 : 0) + (credentials_file.empty() ? 0 : 1) + (projected_token ? 1 : 0);
  }
};

struct OAuth2 {
  SecretOrConfigMap client_id;
  std::optional<SecretKeySelector> client_secret;
  std::string token_url;
  std::vector<std::string> scopes;
  std::map<std::string, std::string> endpoint_params;
};

struct TlsConfig {
  std::optional<SecretOrConfigMap> ca;
  std::optional<SecretOrConfigMap> cert;
  std::optional<SecretKeySelector> key_secret;
  std::string server_name;
  bool insecure_skip_verify = false;
  std::string min_version;
  std::string max_version;
};

struct QueueConfig {
  std::optional<int64_t> capacity;
  std::optional<int64_t> min_shards;
  std::optional<int64_t> max_shards;
  std::optional<int64_t> max_samples_per_send;
  std::optional<int64_t> max_retries;
  std::string batch_send_deadline;
  std::string min_backoff;
  std::string max_backoff;
  std::string sample_age_limit;
  std::optional<bool> retry_on_rate_limit;
};

struct RelabelConfig {
  std::vector<std::string> source_labels;
  std::optional<std::string> separator;
  std::optional<std::string> target_label;
  std::optional<std::string> regex;
  std::optional<uint64_t> modulus;
  std::optional<std::string> replacement;
  std::optional<std::string> action;
};

// Prometheus's remote_write metadata_config, spelled as upstream's CRD does.
struct MetadataConfig {
  std::optional<bool> send;
  std::string send_interval;  // duration text; empty: the agent's default (1m)
  std::optional<int64_t> max_samples_per_send;
};

struct RemoteWrite {
  std::string url;
  std::string name;
  std::map<std::string, std::string> headers;
  std::string remote_timeout;
  std::vector<RelabelConfig> write_relabel_configs;
  std::optional<BasicAuth> basic_auth;
  std::optional<Authorization> authorization;
  std::optional<OAuth2> oauth2;
  std::optional<TlsConfig> tls_config;
  std::string proxy_url;
  std::optional<QueueConfig> queue_config;
  // "V1.0" or "V2.0" (remote write 1.0's prometheus.WriteRequest or 2.0's
  // io.prometheus.write.v2.Request); empty when absent: 1.0.
  std::string message_version;
  std::optional<bool> send_exemplars;
  std::optional<bool> send_native_histograms;
  std::optional<MetadataConfig> metadata_config;
};

// The scrape protocols Prometheus negotiates, as upstream's CRD spells them.
inline const std::vector<std::string>& ScrapeProtocolNames() {
  static const std::vector<std::string> kNames{"PrometheusProto", "OpenMetricsText0.0.1",
                                               "OpenMetricsText1.0.0", "PrometheusText0.0.4",
                                               "PrometheusText1.0.0"};
  return kNames;
}

enum class AgentMode { kSidecar, kStatefulSet, kDaemonSet, kOther };
enum class SidecarEngine { kNative, kPrometheus };
enum class NativeSidecarMode { kAuto, kAlways, kNever };
enum class UpdateStrategy { kNone, kInPlace, kRollout };

struct SidecarSpec {
  SidecarEngine engine = SidecarEngine::kNative;
  std::string image;  // empty: the operator's default agent image
  NativeSidecarMode native_sidecar = NativeSidecarMode::kAuto;
  // Absent: only the agent's own namespace may use it.
  std::optional<LabelSelector> namespace_selector;
  bool is_default = false;
  std::optional<uint64_t> wal_size_limit_bytes;  // absent: operator default
  std::chrono::milliseconds min_scrape_interval{std::chrono::seconds(10)};
  bool legacy_annotations = false;
  // corev1.ResourceRequirements / corev1.SecurityContext as given (validated
  // quantities); null when absent.
  nlohmann::json resources;
  nlohmann::json security_context;
  UpdateStrategy update_strategy = UpdateStrategy::kNone;
};

struct Agent {
  std::string api_version;
  std::string name;
  std::string namespace_;
  std::string uid;
  int64_t generation = 0;
  AgentMode mode = AgentMode::kStatefulSet;
  std::string mode_text;  // as written ("sidecar", "Sidecar", "DaemonSet", ...)

  std::vector<RemoteWrite> remote_write;
  std::map<std::string, std::string> external_labels;
  std::optional<std::chrono::milliseconds> scrape_interval;
  std::optional<std::chrono::milliseconds> scrape_timeout;
  std::optional<uint64_t> sample_limit;
  std::optional<uint64_t> label_limit;
  std::optional<uint64_t> label_name_length_limit;
  std::optional<uint64_t> label_value_length_limit;
  std::optional<uint64_t> body_size_limit_bytes;
  // Every sidecar's scrape: protocols in order of preference (empty: the
  // agent's default) and whether native histograms are kept.
  std::vector<std::string> scrape_protocols;
  std::optional<bool> scrape_native_histograms;
  // Also keep the classic form of histograms scraped as native ones.
  std::optional<bool> scrape_classic_histograms;
  std::string log_level;
  std::string log_format;
  std::string image;    // upstream Prometheus image (engine: prometheus)
  std::string version;  // upstream Prometheus version (engine: prometheus)
  std::string image_pull_policy;
  std::vector<std::string> image_pull_secrets;
  bool paused = false;
  SidecarSpec sidecar;

  bool is_sidecar() const { return mode == AgentMode::kSidecar; }
  // "<namespace>.<name>": the value of the prometheus.operator.io/agent label.
  // Label values hold at most 63 characters: longer pairs are shortened to a
  // prefix plus a hash of the whole pair (compare with LabelValue(), never parse).
  std::string LabelValue() const;
  // "<namespace>/<name>", for messages.
  std::string Ref() const { return namespace_ + "/" + name; }
};

// Parses a PrometheusAgent object (any apiVersion). Sidecar-mode objects are
// read in full; a type error, an unknown enum value or a bad duration/size in
// a field we act on is an error naming the field path. Other modes: metadata
// and mode only.
Result<Agent> ParseAgent(const nlohmann::json& object);

// The same parse, reporting every problem instead of the first (the
// validating webhook's view). The returned Agent holds what could be read.
Agent ParseAgentCollecting(const nlohmann::json& object, std::vector<FieldError>* errors);

// The per-namespace Secret that holds this agent's shared config
// (key kSharedConfigKey) and credentials. The agent's namespace is part of
// the name because two agents of the same name in different namespaces may
// both serve one namespace.
std::string SharedConfigSecretName(const Agent& agent);
inline constexpr const char* kSharedConfigKey = "config.yaml";

// One projected token volume per distinct audience among the agent's
// remoteWrite entries (the shortest expirationSeconds asked for wins), in
// order of first appearance. The webhook mounts it at `dir` and the shared
// config names `dir`/kProjectedTokenFile, so both derive it here. The id
// depends on the audience alone: adding, removing or reordering other
// entries never moves a token that running pods already mount.
struct ProjectedTokenVolume {
  std::string audience;
  int64_t expiration_seconds = kDefaultTokenExpirationSeconds;
  std::string volume_name;  // kProjectedTokenVolumePrefix + id, a DNS-1123 label
  std::string dir;          // kProjectedTokenRoot + "/" + id
  std::string File() const { return dir + "/" + kProjectedTokenFile; }
};
std::vector<ProjectedTokenVolume> ProjectedTokenVolumes(const Agent& agent);
// The same derivation for one audience (render uses it per entry).
ProjectedTokenVolume ProjectedTokenVolumeFor(const std::string& audience);

}  // namespace promsidecar::api
