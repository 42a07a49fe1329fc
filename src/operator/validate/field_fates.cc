#include "operator/validate/field_fates.h"

#include <array>

namespace promsidecar::validate {
namespace {

using api::FieldError;
using nlohmann::json;

constexpr Fate H = Fate::kHonoured;
constexpr Fate R = Fate::kRefused;
constexpr Fate I = Fate::kIgnored;

// Reasons shared by groups of fields.
constexpr std::string_view kNoDiscovery =
    "each sidecar scrapes only its own pod (chosen by pod annotations) and discovers no targets; remove the "
    "field or use mode StatefulSet/DaemonSet";
constexpr std::string_view kNoServerPod =
    "each sidecar scrapes only its own pod (chosen by pod annotations) and keeps its WAL in the pod; remove "
    "the "
    "field or use mode StatefulSet/DaemonSet";
constexpr std::string_view kWorkloadPod =
    "the agent runs inside the application's pod, whose own spec decides this; set it on the workload";
constexpr std::string_view kNoServer =
    "it configures the Prometheus server, which Sidecar mode does not run (the sidecar's flags are the "
    "operator's); remove it";
constexpr std::string_view kEnforced =
    "Sidecar mode has no ServiceMonitor/PodMonitor limits to enforce; use the plain field (e.g. "
    "spec.sampleLimit "
    "instead of spec.enforcedSampleLimit), which applies to every sidecar's scrape";
constexpr std::string_view kNotYet = "not supported yet by the agent; remove it";
constexpr std::string_view kProxyExtras =
    "not supported yet by the agent, which uses exactly the proxy in proxyUrl; remove it";
constexpr std::string_view kOAuth2Extras =
    "not supported yet for the token request: the agent fetches tokens directly, with system CAs; remove it";
constexpr std::string_view kPodFile =
    "a path in the Prometheus pod, which Sidecar mode does not run; reference a Secret or ConfigMap with ca, "
    "cert or keySecret instead";
constexpr std::string_view kNoShards =
    "the agent sends each endpoint's samples over one queue and does not reshard; remove it";

// clang-format off
constexpr std::array kFates{
    // Top level of spec, upstream's fields first.
    FieldFate{"spec.mode", H, "Sidecar (or the seed's sidecar, with a warning); other modes are upstream's"},
    FieldFate{"spec.remoteWrite", H, "every sidecar's remote_write list (at most 32 endpoints)"},
    FieldFate{"spec.externalLabels", H, "global.external_labels of every sidecar"},
    FieldFate{"spec.scrapeInterval", H, "the default scrape interval (30s); pod annotations may ask for another"},
    FieldFate{"spec.scrapeTimeout", H, "the default scrape timeout; at most the interval"},
    FieldFate{"spec.sampleLimit", H, "global.sample_limit of every sidecar"},
    FieldFate{"spec.labelLimit", H, "global.label_limit of every sidecar"},
    FieldFate{"spec.labelNameLengthLimit", H, "global.label_name_length_limit of every sidecar"},
    FieldFate{"spec.labelValueLengthLimit", H, "global.label_value_length_limit of every sidecar"},
    FieldFate{"spec.bodySizeLimit", H, "global.body_size_limit of every sidecar"},
    FieldFate{"spec.scrapeProtocols", H, "global.scrape_protocols of every sidecar"},
    FieldFate{"spec.scrapeNativeHistograms", H, "global.scrape_native_histograms of every sidecar"},
    FieldFate{"spec.scrapeClassicHistograms", H, "global.always_scrape_classic_histograms of every sidecar"},
    FieldFate{"spec.logLevel", H, "--log.level of the injected containers"},
    FieldFate{"spec.logFormat", H, "--log.format of the injected containers"},
    FieldFate{"spec.image", H, "the Prometheus image of spec.sidecar.engine prometheus (a warning with engine native)"},
    FieldFate{"spec.version", H, "the Prometheus version of spec.sidecar.engine prometheus, for its flags (a warning with engine native)"},
    FieldFate{"spec.imagePullPolicy", H, "imagePullPolicy of the injected containers"},
    FieldFate{"spec.imagePullSecrets", H, "added to the imagePullSecrets of injected pods"},
    FieldFate{"spec.paused", H, "a paused agent injects nothing and renders nothing"},
    FieldFate{"spec.shards", H, "at most 1: Sidecar mode does not shard"},
    FieldFate{"spec.portName", I,
              "upstream defaults it to web; it names the Prometheus pod's web port, and the sidecar's port is "
              "always named promsidecar",
              "web"},
    FieldFate{"spec.serviceMonitorSelector", R, kNoDiscovery},
    FieldFate{"spec.serviceMonitorNamespaceSelector", R, kNoDiscovery},
    FieldFate{"spec.podMonitorSelector", R, kNoDiscovery},
    FieldFate{"spec.podMonitorNamespaceSelector", R, kNoDiscovery},
    FieldFate{"spec.probeSelector", R, kNoDiscovery},
    FieldFate{"spec.probeNamespaceSelector", R, kNoDiscovery},
    FieldFate{"spec.scrapeConfigSelector", R, kNoDiscovery},
    FieldFate{"spec.scrapeConfigNamespaceSelector", R, kNoDiscovery},
    FieldFate{"spec.additionalScrapeConfigs", R, kNoDiscovery},
    FieldFate{"spec.ignoreNamespaceSelectors", R, kNoDiscovery},
    FieldFate{"spec.serviceDiscoveryRole", R, kNoDiscovery},
    FieldFate{"spec.scrapeClasses", R, kNoDiscovery},
    FieldFate{"spec.podTargetLabels", R, kNoDiscovery},
    FieldFate{"spec.arbitraryFSAccessThroughSMs", R, kNoDiscovery},
    FieldFate{"spec.overrideHonorLabels", R, kNoDiscovery},
    FieldFate{"spec.overrideHonorTimestamps", R, kNoDiscovery},
    FieldFate{"spec.apiserverConfig", R, kNoDiscovery},
    FieldFate{"spec.keepDroppedTargets", R, kNoDiscovery},
    FieldFate{"spec.targetLimit", R, kNoDiscovery},
    FieldFate{"spec.enforcedNamespaceLabel", R, kNoDiscovery},
    FieldFate{"spec.excludedFromEnforcement", R, kNoDiscovery},
    FieldFate{"spec.enforcedSampleLimit", R, kEnforced},
    FieldFate{"spec.enforcedTargetLimit", R, kEnforced},
    FieldFate{"spec.enforcedLabelLimit", R, kEnforced},
    FieldFate{"spec.enforcedLabelNameLengthLimit", R, kEnforced},
    FieldFate{"spec.enforcedLabelValueLengthLimit", R, kEnforced},
    FieldFate{"spec.enforcedKeepDroppedTargets", R, kEnforced},
    FieldFate{"spec.enforcedBodySizeLimit", R, kEnforced},
    FieldFate{"spec.replicas", R, kNoServerPod},
    FieldFate{"spec.storage", R, kNoServerPod},
    FieldFate{"spec.shardingStrategy", R, kNoServerPod},
    FieldFate{"spec.persistentVolumeClaimRetentionPolicy", R, kNoServerPod},
    FieldFate{"spec.resources", R,
              "it would size the Prometheus pod; use spec.sidecar.resources for the agent container"},
    FieldFate{"spec.securityContext", R,
              "the pod's securityContext belongs to the workload; use spec.sidecar.securityContext for the agent "
              "container (merged over its hardened default)"},
    FieldFate{"spec.updateStrategy", R,
              "it is the DaemonSet's; use spec.sidecar.updateStrategy for how a new agent reaches running pods"},
    FieldFate{"spec.tolerations", R, kWorkloadPod},
    FieldFate{"spec.affinity", R, kWorkloadPod},
    FieldFate{"spec.nodeSelector", R, kWorkloadPod},
    FieldFate{"spec.topologySpreadConstraints", R, kWorkloadPod},
    FieldFate{"spec.priorityClassName", R, kWorkloadPod},
    FieldFate{"spec.schedulerName", R, kWorkloadPod},
    FieldFate{"spec.runtime", R, kWorkloadPod},
    FieldFate{"spec.hostNetwork", R, kWorkloadPod},
    FieldFate{"spec.hostAliases", R, kWorkloadPod},
    FieldFate{"spec.hostUsers", R, kWorkloadPod},
    FieldFate{"spec.dnsConfig", R, kWorkloadPod},
    FieldFate{"spec.dnsPolicy", R, kWorkloadPod},
    FieldFate{"spec.serviceAccountName", R, kWorkloadPod},
    FieldFate{"spec.automountServiceAccountToken", R, kWorkloadPod},
    FieldFate{"spec.enableServiceLinks", R, kWorkloadPod},
    FieldFate{"spec.podMetadata", R, kWorkloadPod},
    FieldFate{"spec.minReadySeconds", R, kWorkloadPod},
    FieldFate{"spec.terminationGracePeriodSeconds", R, kWorkloadPod},
    FieldFate{"spec.podManagementPolicy", R, kWorkloadPod},
    FieldFate{"spec.maximumStartupDurationSeconds", R, kWorkloadPod},
    FieldFate{"spec.serviceName", R, kWorkloadPod},
    FieldFate{"spec.containers", R, kWorkloadPod},
    FieldFate{"spec.initContainers", R, kWorkloadPod},
    FieldFate{"spec.volumes", R, kWorkloadPod},
    FieldFate{"spec.volumeMounts", R, kWorkloadPod},
    FieldFate{"spec.configMaps", R, kWorkloadPod},
    FieldFate{"spec.secrets", R, kWorkloadPod},
    FieldFate{"spec.web", R, kNoServer},
    FieldFate{"spec.listenLocal", R, kNoServer},
    FieldFate{"spec.routePrefix", R, kNoServer},
    FieldFate{"spec.externalUrl", R, kNoServer},
    FieldFate{"spec.enableFeatures", R, kNoServer},
    FieldFate{"spec.additionalArgs", R, kNoServer},
    FieldFate{"spec.enableRemoteWriteReceiver", R, kNoServer},
    FieldFate{"spec.remoteWriteReceiverMessageVersions", R, kNoServer},
    FieldFate{"spec.enableOTLPReceiver", R, kNoServer},
    FieldFate{"spec.otlp", R, kNoServer},
    FieldFate{"spec.tsdb", R, kNoServer},
    FieldFate{"spec.walCompression", R, kNoServer},
    FieldFate{"spec.reloadStrategy", R, kNoServer},
    FieldFate{"spec.tracingConfig", R, kNoServer},
    FieldFate{"spec.scrapeFailureLogFile", R, kNoServer},
    FieldFate{"spec.prometheusExternalLabelName", R,
              "Sidecar mode adds no prometheus external label; remove it and set spec.externalLabels"},
    FieldFate{"spec.replicaExternalLabelName", R,
              "Sidecar mode adds no prometheus_replica external label; remove it and set spec.externalLabels"},
    FieldFate{"spec.convertClassicHistogramsToNHCB", R, kNotYet},
    FieldFate{"spec.nameValidationScheme", R, kNotYet},
    FieldFate{"spec.nameEscapingScheme", R, kNotYet},
    // promsidecar's own.
    FieldFate{"spec.sidecar", H, "how pods get the sidecar (promsidecar's own field)"},

    // One remoteWrite entry (upstream's RemoteWriteSpec).
    FieldFate{"spec.remoteWrite[].url", H, "url"},
    FieldFate{"spec.remoteWrite[].name", H, "name"},
    FieldFate{"spec.remoteWrite[].headers", H, "headers"},
    FieldFate{"spec.remoteWrite[].remoteTimeout", H, "remote_timeout"},
    FieldFate{"spec.remoteWrite[].writeRelabelConfigs", H, "write_relabel_configs"},
    FieldFate{"spec.remoteWrite[].writeRelabelConfigs[].sourceLabels", H, "source_labels"},
    FieldFate{"spec.remoteWrite[].writeRelabelConfigs[].separator", H, "separator"},
    FieldFate{"spec.remoteWrite[].writeRelabelConfigs[].targetLabel", H, "target_label"},
    FieldFate{"spec.remoteWrite[].writeRelabelConfigs[].regex", H, "regex"},
    FieldFate{"spec.remoteWrite[].writeRelabelConfigs[].modulus", H, "modulus"},
    FieldFate{"spec.remoteWrite[].writeRelabelConfigs[].replacement", H, "replacement"},
    FieldFate{"spec.remoteWrite[].writeRelabelConfigs[].action", H, "action (default replace)"},
    FieldFate{"spec.remoteWrite[].basicAuth", H, "basic_auth"},
    FieldFate{"spec.remoteWrite[].basicAuth.username", H, "basic_auth.username"},
    FieldFate{"spec.remoteWrite[].basicAuth.password", H, "basic_auth.password_file"},
    FieldFate{"spec.remoteWrite[].authorization", H, "authorization"},
    FieldFate{"spec.remoteWrite[].authorization.type", H, "authorization.type (default Bearer)"},
    FieldFate{"spec.remoteWrite[].authorization.credentials", H, "authorization.credentials_file"},
    FieldFate{"spec.remoteWrite[].authorization.credentialsFile", H,
              "authorization.credentials_file, a path in the agent container"},
    FieldFate{"spec.remoteWrite[].authorization.projectedServiceAccountToken", H,
              "a projected token volume of the pod (promsidecar's own field)"},
    FieldFate{"spec.remoteWrite[].oauth2", H, "oauth2"},
    FieldFate{"spec.remoteWrite[].oauth2.clientId", H, "oauth2.client_id"},
    FieldFate{"spec.remoteWrite[].oauth2.clientSecret", H, "oauth2.client_secret_file"},
    FieldFate{"spec.remoteWrite[].oauth2.tokenUrl", H, "oauth2.token_url"},
    FieldFate{"spec.remoteWrite[].oauth2.scopes", H, "oauth2.scopes"},
    FieldFate{"spec.remoteWrite[].oauth2.endpointParams", H, "oauth2.endpoint_params"},
    FieldFate{"spec.remoteWrite[].oauth2.tlsConfig", R, kOAuth2Extras},
    FieldFate{"spec.remoteWrite[].oauth2.proxyUrl", R, kOAuth2Extras},
    FieldFate{"spec.remoteWrite[].oauth2.noProxy", R, kOAuth2Extras},
    FieldFate{"spec.remoteWrite[].oauth2.proxyFromEnvironment", R, kOAuth2Extras},
    FieldFate{"spec.remoteWrite[].oauth2.proxyConnectHeader", R, kOAuth2Extras},
    FieldFate{"spec.remoteWrite[].tlsConfig", H, "tls_config"},
    FieldFate{"spec.remoteWrite[].tlsConfig.ca", H, "tls_config.ca_file"},
    FieldFate{"spec.remoteWrite[].tlsConfig.cert", H, "tls_config.cert_file"},
    FieldFate{"spec.remoteWrite[].tlsConfig.keySecret", H, "tls_config.key_file"},
    FieldFate{"spec.remoteWrite[].tlsConfig.serverName", H, "tls_config.server_name"},
    FieldFate{"spec.remoteWrite[].tlsConfig.insecureSkipVerify", H, "tls_config.insecure_skip_verify"},
    FieldFate{"spec.remoteWrite[].tlsConfig.minVersion", H, "tls_config.min_version"},
    FieldFate{"spec.remoteWrite[].tlsConfig.maxVersion", R,
              "not supported by the agent, which negotiates the highest version both ends speak; remove it "
              "(minVersion is supported)"},
    FieldFate{"spec.remoteWrite[].tlsConfig.caFile", R, kPodFile},
    FieldFate{"spec.remoteWrite[].tlsConfig.certFile", R, kPodFile},
    FieldFate{"spec.remoteWrite[].tlsConfig.keyFile", R, kPodFile},
    FieldFate{"spec.remoteWrite[].proxyUrl", H, "proxy_url"},
    FieldFate{"spec.remoteWrite[].noProxy", R, kProxyExtras},
    FieldFate{"spec.remoteWrite[].proxyFromEnvironment", R, kProxyExtras},
    FieldFate{"spec.remoteWrite[].proxyConnectHeader", R, kProxyExtras},
    FieldFate{"spec.remoteWrite[].queueConfig", H, "queue_config"},
    FieldFate{"spec.remoteWrite[].queueConfig.capacity", H, "queue_config.capacity"},
    FieldFate{"spec.remoteWrite[].queueConfig.maxSamplesPerSend", H, "queue_config.max_samples_per_send"},
    FieldFate{"spec.remoteWrite[].queueConfig.batchSendDeadline", H, "queue_config.batch_send_deadline"},
    FieldFate{"spec.remoteWrite[].queueConfig.minBackoff", H, "queue_config.min_backoff"},
    FieldFate{"spec.remoteWrite[].queueConfig.maxBackoff", H, "queue_config.max_backoff"},
    FieldFate{"spec.remoteWrite[].queueConfig.retryOnRateLimit", H, "queue_config.retry_on_http_429"},
    FieldFate{"spec.remoteWrite[].queueConfig.minShards", R, kNoShards},
    FieldFate{"spec.remoteWrite[].queueConfig.maxShards", R, kNoShards},
    FieldFate{"spec.remoteWrite[].queueConfig.maxRetries", I,
              "Prometheus itself has ignored it since 2.11: retries are bounded by time (maxBackoff), not by "
              "count"},
    FieldFate{"spec.remoteWrite[].queueConfig.sampleAgeLimit", R,
              "not supported yet by the agent, which keeps unsent samples until the WAL's size bound "
              "(spec.sidecar.walSizeLimit) drops the oldest; remove it"},
    FieldFate{"spec.remoteWrite[].messageVersion", H, "protobuf_message (V2.0: remote write 2.0)"},
    FieldFate{"spec.remoteWrite[].sendExemplars", H, "send_exemplars"},
    FieldFate{"spec.remoteWrite[].sendNativeHistograms", H, "send_native_histograms"},
    FieldFate{"spec.remoteWrite[].metadataConfig", H, "metadata_config"},
    FieldFate{"spec.remoteWrite[].metadataConfig.send", H, "metadata_config.send"},
    FieldFate{"spec.remoteWrite[].metadataConfig.sendInterval", H, "metadata_config.send_interval"},
    FieldFate{"spec.remoteWrite[].metadataConfig.maxSamplesPerSend", H, "metadata_config.max_samples_per_send"},
    FieldFate{"spec.remoteWrite[].sigv4", R,
              "not supported yet in Sidecar mode; send through a SigV4 signing proxy (proxyUrl) or use "
              "basicAuth, authorization or oauth2"},
    FieldFate{"spec.remoteWrite[].azureAd", R,
              "not supported yet in Sidecar mode; use oauth2 (client credentials against Entra ID's token "
              "endpoint) or authorization"},
    FieldFate{"spec.remoteWrite[].bearerToken", R,
              "deprecated upstream, and a secret in the object; use authorization.credentials (a Secret key "
              "reference)"},
    FieldFate{"spec.remoteWrite[].bearerTokenFile", R,
              "a path in the Prometheus pod, which Sidecar mode does not run; use authorization.credentials, "
              "authorization.credentialsFile or authorization.projectedServiceAccountToken"},
    FieldFate{"spec.remoteWrite[].followRedirects", R,
              "not configurable: the agent never follows redirects on remote write (a redirect fails the "
              "request); remove it"},
    FieldFate{"spec.remoteWrite[].enableHTTP2", R,
              "not configurable: the agent uses the HTTP version libcurl negotiates (HTTP/2 over TLS when the "
              "server offers it); remove it"},
    FieldFate{"spec.remoteWrite[].roundRobinDNS", R, kNotYet},
};
// clang-format on

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string_view::npos) dot = path.size();
    out.push_back(path.substr(start, dot - start));
    start = dot + 1;
  }
  return out;
}

// Calls `found` for every value at segments[i..] below `node`, with its path.
template <typename F>
void Walk(const json& node, const std::vector<std::string_view>& segments, size_t i, const std::string& path,
          const F& found) {
  if (i == segments.size()) {
    found(node, path);
    return;
  }
  std::string_view seg = segments[i];
  const bool list = seg.ends_with("[]");
  if (list) seg.remove_suffix(2);
  if (!node.is_object()) return;
  auto it = node.find(std::string(seg));
  if (it == node.end() || it->is_null()) return;
  const std::string here = path + "." + std::string(seg);
  if (!list) {
    Walk(*it, segments, i + 1, here, found);
    return;
  }
  if (!it->is_array()) return;  // the parser reports the type
  for (size_t k = 0; k < it->size(); ++k) {
    Walk((*it)[k], segments, i + 1, here + "[" + std::to_string(k) + "]", found);
  }
}

}  // namespace

std::span<const FieldFate> FieldFates() {
  return kFates;
}

std::string_view FateName(Fate fate) {
  switch (fate) {
    case Fate::kHonoured: return "honoured";
    case Fate::kRefused: return "refused";
    case Fate::kIgnored: return "ignored";
  }
  return "";
}

std::string RefusalMessage(const FieldFate& fate) {
  return "not allowed in Sidecar mode: " + std::string(fate.note);
}

void CheckFieldFates(const json& spec, std::vector<FieldError>* out) {
  for (const FieldFate& f : kFates) {
    if (f.fate == Fate::kHonoured) continue;
    std::vector<std::string_view> segments = Split(f.path);
    // Every path starts at spec.
    Walk(spec, segments, 1, "spec", [&](const json& value, const std::string& path) {
      if (f.fate == Fate::kRefused) {
        // The value may be a secret (bearerToken): never shown.
        out->push_back({FieldError::Severity::kError, path, "", RefusalMessage(f)});
        return;
      }
      const std::string shown = value.is_string() ? value.get<std::string>() : value.dump();
      if (!f.quiet_value.empty() && shown == f.quiet_value) return;
      out->push_back(
          {FieldError::Severity::kWarning, path, shown, "ignored in Sidecar mode: " + std::string(f.note)});
    });
  }
}

}  // namespace promsidecar::validate
