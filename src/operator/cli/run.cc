#include "operator/cli/run.h"

#include <CLI/CLI.hpp>

#include <unistd.h>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <random>

#include "common/http/server.h"
#include "common/kube/client.h"
#include "common/kube/config.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/util/units.h"
#include "operator/admission/webhook_config.h"
#include "operator/admission/webhook_service.h"
#include "operator/cache/cache.h"
#include "operator/cli/cluster_flags.h"
#include "operator/controller/controller.h"
#include "operator/leader/leader.h"
#include "operator/validate/validate.h"

namespace promsidecar::cli {
namespace {

struct RunOptions {
  // Shared with `explain`, which must see the cluster as the operator does.
  ClusterFlags cluster;
  std::string metrics_address = ":8080";
  std::string health_address = ":8081";
  bool leader_election = true;
  std::string lease_namespace;
  std::string lease_name = "promsidecar-operator";
  std::string identity;
  int lease_duration = 15;
  int renew_deadline = 10;
  int retry_period = 2;
  int resync_period = 600;
  std::string status_interval = "10s";
  // Client-side token bucket on every API write.
  double api_write_qps = 20;
  int api_write_burst = 40;
  // Repair report and agent upgrades (docs/operator.md).
  std::string repair_interval = "10m";
  bool repair_enabled = false;
  bool rollout_enabled = false;
  int repair_max_restarts_per_minute = 5;
  int upgrade_max_in_place_per_minute = 30;
  // Admission webhooks (every replica serves them).
  bool webhook_enabled = true;
  std::string webhook_listen_address = ":8443";
  std::string webhook_cert_dir;
  std::string webhook_ca_bundle_file;
  std::string webhook_generated_cert_dir = "/tmp/promsidecar-webhook";
  std::string webhook_cert_manager_inject_ca_from;
  bool webhook_manage_configurations = true;
  std::string webhook_configuration_name = "promsidecar";
  std::string webhook_service_name = "promsidecar-webhook";
  std::string webhook_url;
  std::string webhook_failure_policy =
      admission::FailurePolicyName(admission::WebhookConfigOptions{}.failure_policy);
  int webhook_timeout_seconds = admission::WebhookConfigOptions{}.timeout_seconds;
  std::string webhook_request_deadline = "10s";
  // Empty: learnt from the API server's service-account issuer discovery.
  std::vector<std::string> api_audiences;
  std::string log_level = "info";
  std::string log_format = "logfmt";
};

std::string DefaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  return std::string(host) + "_" + std::to_string(rd() % 1000000);
}

// What the API server accepts tokens for, refused as a projected token's
// audience: --api-audiences, or else its service-account issuer (which
// Kubernetes uses as --api-audiences unless told otherwise) plus the
// cluster-local name. Read once: a changed issuer needs an API server restart
// and so, in practice, a new operator rollout too.
std::vector<std::string> LearnApiAudiences(kube::Client& client, const std::vector<std::string>& flag) {
  if (!flag.empty()) return flag;
  auto discovery = client.GetPath("/.well-known/openid-configuration");
  std::string issuer;
  if (discovery.ok() && discovery->is_object() && (*discovery)["issuer"].is_string()) {
    issuer = (*discovery)["issuer"].get<std::string>();
  } else {
    log::Warn(
        "cannot read the API server's service-account issuer; projected-token audiences are checked against "
        "the built-in names only (set --api-audiences to the API server's)",
        {{"error",
          discovery.ok() ? std::string("no issuer in the discovery document") : discovery.message()}});
  }
  return validate::DefaultApiAudiences(issuer);
}

}  // namespace

int RunCommand(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
               std::string_view version) {
  CLI::App app{
      "promsidecar-operator run: serve the admission webhooks and reconcile PrometheusAgents (rendered "
      "config "
      "Secrets, status, events)"};
  app.name("promsidecar-operator run");
  RunOptions o;
  AddClusterFlags(&app, &o.cluster);
  app.add_option("--metrics-address", o.metrics_address, "Listen address of /metrics");
  app.add_option("--health-address", o.health_address, "Listen address of /healthz and /readyz");
  app.add_option("--leader-election", o.leader_election,
                 "Elect a leader with a Lease (only the leader reconciles)");
  app.add_option("--leader-election-namespace", o.lease_namespace,
                 "Namespace of the Lease (default: the operator's)");
  app.add_option("--lease-name", o.lease_name, "Name of the Lease");
  app.add_option("--leader-election-identity", o.identity,
                 "This replica's identity (default: hostname_random)");
  app.add_option("--lease-duration", o.lease_duration,
                 "Seconds without renewal before another replica takes over")
      ->check(CLI::PositiveNumber);
  app.add_option("--renew-deadline", o.renew_deadline, "Seconds a leader keeps leading without a renewal")
      ->check(CLI::PositiveNumber);
  app.add_option("--retry-period", o.retry_period, "Seconds between acquire/renew attempts")
      ->check(CLI::PositiveNumber);
  app.add_option("--resync-period", o.resync_period,
                 "Seconds between full re-checks of every rendered Secret")
      ->check(CLI::PositiveNumber);
  app.add_option("--status.min-interval", o.status_interval,
                 "Least time between two status writes of one PrometheusAgent; changes in between are "
                 "coalesced into one write (Prometheus duration)");
  app.add_option("--api.write-qps", o.api_write_qps,
                 "Client-side token bucket on every API write (create, update, patch, delete): writes per "
                 "second; 0 disables it")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--api.write-burst", o.api_write_burst, "Writes the token bucket lets through at once")
      ->check(CLI::PositiveNumber);
  app.add_option("--repair.interval", o.repair_interval,
                 "How often the repair report looks for annotated pods without a sidecar (Prometheus "
                 "duration, at least 10s; it reads the operator's cache, not the API server)");
  app.add_flag("--repair.enabled", o.repair_enabled,
               "Restart the Deployment/StatefulSet/DaemonSet of pods the repair report finds (needs "
               "deploy/optional/restart-workloads-rbac.yaml); bare pods are only reported");
  app.add_flag(
      "--rollout.enabled", o.rollout_enabled,
      "Let PrometheusAgents with spec.sidecar.updateStrategy: Rollout restart the workloads of outdated "
      "pods (needs deploy/optional/restart-workloads-rbac.yaml); without it they are only reported");
  app.add_option("--repair.max-restarts-per-minute", o.repair_max_restarts_per_minute,
                 "Workload restarts per minute, by repair and by updateStrategy Rollout together")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--upgrade.max-in-place-per-minute", o.upgrade_max_in_place_per_minute,
                 "Agent containers patched per minute by updateStrategy InPlace")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--webhook.enabled", o.webhook_enabled,
                 "Serve the admission webhooks (/mutate-pod, /validate-prometheusagent)");
  app.add_option("--webhook.listen-address", o.webhook_listen_address,
                 "Listen address of the TLS webhook server");
  app.add_option("--webhook.cert-dir", o.webhook_cert_dir,
                 "Use tls.crt/tls.key from this directory (e.g. a cert-manager Secret volume) instead of "
                 "self-managed certificates");
  app.add_option("--webhook.ca-bundle-file", o.webhook_ca_bundle_file,
                 "With --webhook.cert-dir: PEM CA written into the webhook configurations' caBundle");
  app.add_option("--webhook.cert-manager-inject-ca-from", o.webhook_cert_manager_inject_ca_from,
                 "With --webhook.cert-dir: <namespace>/<Certificate> for cert-manager's CA injector");
  app.add_option("--webhook.generated-cert-dir", o.webhook_generated_cert_dir,
                 "Self-managed certificates: writable directory for the serving pair");
  app.add_option("--webhook.manage-configurations", o.webhook_manage_configurations,
                 "Create and update the Mutating/ValidatingWebhookConfigurations (the leader does)");
  app.add_option("--webhook.configuration-name", o.webhook_configuration_name,
                 "metadata.name of both webhook configurations (and prefix of the certificate Secret)");
  app.add_option("--webhook.service-name", o.webhook_service_name,
                 "Service in the operator's namespace that routes to the webhook port (port 443)");
  app.add_option("--webhook.url", o.webhook_url,
                 "Register the webhooks by URL (https://host:port) instead of the Service: for an operator "
                 "running outside the cluster");
  app.add_option("--webhook.failure-policy", o.webhook_failure_policy,
                 "What the API server does with a pod when the pod webhook is unreachable: Ignore (admit it "
                 "without the sidecar; the repair report finds it) or Fail (reject it). The PrometheusAgent "
                 "webhook always fails closed");
  app.add_option("--webhook.timeout-seconds", o.webhook_timeout_seconds,
                 "timeoutSeconds of both webhooks (the API server allows 1 to 30)")
      ->check(CLI::Range(admission::kMinWebhookTimeoutSeconds, admission::kMaxWebhookTimeoutSeconds));
  app.add_option("--webhook.request-deadline", o.webhook_request_deadline,
                 "A webhook request must arrive whole (TLS handshake, headers, body) within this, or its "
                 "connection is cut (promsidecar_operator_webhook_requests_deadline_exceeded_total), so a "
                 "client trickling bytes cannot hold a worker")
      ->capture_default_str();
  app.add_option(
      "--api-audiences", o.api_audiences,
      "Audiences the API server accepts tokens for (its --api-audiences), comma-separated; refused "
      "as projectedServiceAccountToken.audience. Default: the service-account issuer from "
      "/.well-known/openid-configuration and https://kubernetes.default.svc.cluster.local");
  app.add_option("--log.level", o.log_level, "debug, info, warn or error");
  app.add_option("--log.format", o.log_format, "logfmt or json");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err) == 0 ? 0 : 2;
  }
  auto level = log::ParseLevel(o.log_level);
  auto format = log::ParseFormat(o.log_format);
  if (!level || !format) {
    err << (level ? format.message() : level.message()) << "\n";
    return 2;
  }
  log::Configure(*level, *format);
  auto repair_interval = units::ParseDuration(o.repair_interval);
  if (!repair_interval || *repair_interval < std::chrono::seconds(10)) {
    err << "--repair.interval: \"" << o.repair_interval << "\" "
        << (repair_interval ? std::string("is shorter than the minimum 10s") : repair_interval.message())
        << "; use a duration such as 10m\n";
    return 2;
  }
  auto status_interval = units::ParseDuration(o.status_interval);
  if (!status_interval) {
    err << "--status.min-interval: \"" << o.status_interval << "\" " << status_interval.message()
        << "; use a duration such as 10s\n";
    return 2;
  }

  auto failure_policy = admission::ParseFailurePolicy(o.webhook_failure_policy);
  if (!failure_policy) {
    err << "--webhook.failure-policy: " << failure_policy.message() << "\n";
    return 2;
  }

  if (Status s = CheckSettingsFlags(&o.cluster.settings); !s.ok()) {
    err << s.message() << "\n";
    return 2;
  }

  auto request_deadline = units::ParseDuration(o.webhook_request_deadline);
  if (!request_deadline || *request_deadline <= std::chrono::milliseconds(0)) {
    err << "--webhook.request-deadline: \"" << o.webhook_request_deadline << "\" "
        << (request_deadline ? std::string("is not positive") : request_deadline.message())
        << "; use a duration such as 10s\n";
    return 2;
  }

  auto config = kube::LoadDefaultConfig(o.cluster.kubeconfig, o.cluster.context);
  if (!config) {
    log::Error("cannot load the Kubernetes client configuration", {{"error", config.message()}});
    return 1;
  }
  ResolveClusterFlags(std::getenv("POD_NAMESPACE"), config->ns, &o.cluster);
  const std::string& operator_namespace = o.cluster.settings.operator_namespace;
  const std::vector<std::string>& agent_namespaces = o.cluster.agent_namespaces;
  if (o.lease_namespace.empty()) o.lease_namespace = operator_namespace;
  if (o.identity.empty()) o.identity = DefaultIdentity();

  // Signals go to sigwait below, never to a random thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  kube::ClientOptions client_options;
  client_options.user_agent = "promsidecar-operator";
  client_options.write_qps = o.api_write_qps;
  client_options.write_burst = o.api_write_burst;
  kube::Client client(*config, client_options);
  metrics::Registry registry;
  registry
      .AddGaugeFamily("promsidecar_operator_build_info", "Version of the running operator (always 1).",
                      {"version"})
      .With({std::string(version)})
      .Set(1);
  auto& api_calls = registry.AddCounterFamily("promsidecar_operator_api_calls_total",
                                              "Kubernetes API calls by verb, resource and outcome.",
                                              {"verb", "resource", "outcome"});

  // What is injected and what the controller compares pods with: one set.
  inject::OperatorSettings settings;
  ApplySettingsFlags(o.cluster.settings, &settings);
  const api::AgentApiGroup group{o.cluster.api_group};

  // One cache per process: the webhooks and the controller read the same
  // view (one Node view filtered by --webhook.node-selector for both).
  cache::ClusterCache cluster(
      client,
      {.group = group, .agent_namespaces = agent_namespaces, .node_label_selector = o.cluster.node_selector});
  cluster.RegisterMetrics(registry, api_calls);

  controller::Options copts;
  copts.api_group = group;
  copts.settings = settings;
  copts.resync_period = std::chrono::seconds(o.resync_period);
  copts.status_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*status_interval);
  copts.repair_interval = std::chrono::duration_cast<std::chrono::seconds>(*repair_interval);
  copts.repair_enabled = o.repair_enabled;
  copts.upgrades.rollout_enabled = o.rollout_enabled;
  copts.restarts.max_per_minute = o.repair_max_restarts_per_minute;
  copts.upgrades.max_in_place_per_minute = o.upgrade_max_in_place_per_minute;
  copts.events.reporting_instance = o.identity;
  // Served through a Service: restarts wait until it has a ready endpoint.
  if (o.webhook_enabled && o.webhook_url.empty())
    copts.webhook_service =
        controller::WebhookReadiness::Options{.ns = operator_namespace, .service = o.webhook_service_name};
  controller::Controller controller(client, cluster, copts, &registry, &api_calls);

  std::unique_ptr<admission::WebhookService> webhooks;
  if (o.webhook_enabled) {
    admission::WebhookServiceOptions wopts;
    wopts.listen_address = o.webhook_listen_address;
    wopts.request_deadline = std::chrono::duration_cast<std::chrono::milliseconds>(*request_deadline);
    wopts.cert_dir = o.webhook_cert_dir;
    wopts.ca_bundle_file = o.webhook_ca_bundle_file;
    wopts.generated_cert_dir = o.webhook_generated_cert_dir;
    wopts.manage_configurations = o.webhook_manage_configurations;
    wopts.configuration.name = o.webhook_configuration_name;
    wopts.configuration.group = group;
    wopts.configuration.operator_namespace = operator_namespace;
    wopts.configuration.excluded_namespaces = settings.excluded_namespaces;
    wopts.configuration.namespace_opt_in_label = o.cluster.settings.namespace_opt_in_label;
    wopts.configuration.url_base = o.webhook_url;
    wopts.configuration.service_name = o.webhook_service_name;
    wopts.configuration.service_namespace = operator_namespace;
    wopts.configuration.cert_manager_inject_ca_from = o.webhook_cert_manager_inject_ca_from;
    wopts.configuration.timeout_seconds = o.webhook_timeout_seconds;
    wopts.configuration.failure_policy = *failure_policy;
    wopts.settings = settings;
    wopts.api_audiences = LearnApiAudiences(client, SplitCommas(o.api_audiences));
    std::string audiences;
    for (const auto& a : wopts.api_audiences) audiences += (audiences.empty() ? "" : ",") + a;
    log::Info("refusing the API server's audiences for projected remote-write tokens",
              {{"api_audiences", audiences}});
    webhooks = std::make_unique<admission::WebhookService>(client, cluster, wopts, registry);
  }

  http::Server metrics_server({.listen_address = o.metrics_address, .name = "metrics"});
  metrics_server.Handle("GET", "/metrics", [&registry](const http::ServerRequest&) {
    http::ServerResponse r = http::ServerResponse::Text(200, registry.Render());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  http::Server health_server({.listen_address = o.health_address, .name = "health"});
  health_server.Handle("GET", "/healthz",
                       [](const http::ServerRequest&) { return http::ServerResponse::Text(200, "ok\n"); });
  health_server.Handle("GET", "/readyz", [&controller, &webhooks](const http::ServerRequest&) {
    if (!controller.Synced()) return http::ServerResponse::Text(503, "informer caches not synced\n");
    if (webhooks && !webhooks->Ready()) {
      return http::ServerResponse::Text(503, "webhook server not serving yet (certificate or caches)\n");
    }
    return http::ServerResponse::Text(200, "ok\n");
  });
  if (Status s = metrics_server.Start(); !s) {
    log::Error("cannot start the metrics server", {{"error", s.message()}});
    return 1;
  }
  if (Status s = health_server.Start(); !s) {
    log::Error("cannot start the health server", {{"error", s.message()}});
    return 1;
  }
  std::string ns_list;
  for (const auto& ns : agent_namespaces) ns_list += (ns_list.empty() ? "" : ",") + ns;
  log::Info("promsidecar-operator starting", {{"server", config->server},
                                              {"agent_namespaces", ns_list},
                                              {"api_group", o.cluster.api_group},
                                              {"metrics_port", metrics_server.BoundPort()},
                                              {"health_port", health_server.BoundPort()},
                                              {"identity", o.identity},
                                              {"leader_election", o.leader_election}});

  cluster.Start();
  controller.Start();
  if (webhooks) {
    if (Status s = webhooks->Start(); !s.ok()) {
      log::Error("cannot start the admission webhooks", {{"error", s.message()}});
      controller.Stop();
      return 2;
    }
  }
  auto set_leading = [&controller, &webhooks](bool leading) {
    controller.SetLeading(leading);
    if (webhooks) webhooks->SetLeading(leading);
  };
  std::unique_ptr<leader::LeaderElector> elector;
  if (o.leader_election) {
    leader::LeaseOptions lopts;
    lopts.ns = o.lease_namespace;
    lopts.name = o.lease_name;
    lopts.identity = o.identity;
    lopts.lease_duration = std::chrono::seconds(o.lease_duration);
    lopts.renew_deadline = std::chrono::seconds(o.renew_deadline);
    lopts.retry_period = std::chrono::seconds(o.retry_period);
    elector = std::make_unique<leader::LeaderElector>(client, lopts, set_leading);
    registry.AddCallbackGauge("promsidecar_operator_leader", "1 while this replica holds the leader Lease.",
                              [&elector] { return elector && elector->IsLeader() ? 1.0 : 0.0; });
    elector->Start();
  } else {
    set_leading(true);
  }

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("shutting down", {{"signal", sig}});
  // Stop reconciling first, then hand the lease over so a successor starts at once.
  if (elector) elector->Stop();
  set_leading(false);
  controller.Stop();
  cluster.Stop();
  // Last: other replicas (or failurePolicy Ignore) take the requests.
  if (webhooks) webhooks->Stop();
  health_server.Stop();
  metrics_server.Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace promsidecar::cli
