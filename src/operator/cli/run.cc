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
#include "operator/controller/controller.h"
#include "operator/leader/leader.h"

namespace promsidecar::cli {
namespace {

struct RunOptions {
  std::string kubeconfig;
  std::string context;
  std::vector<std::string> agent_namespaces;
  std::string operator_namespace;
  std::string api_group = "promsidecar.io";
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
  std::string agent_image;
  std::string log_level = "info";
  std::string log_format = "logfmt";
};

std::string DefaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  return std::string(host) + "_" + std::to_string(rd() % 1000000);
}

std::vector<std::string> SplitCommas(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& item : in) {
    size_t start = 0;
    while (start <= item.size()) {
      size_t end = item.find(',', start);
      if (end == std::string::npos) end = item.size();
      std::string part = item.substr(start, end - start);
      if (!part.empty()) out.push_back(part);
      start = end + 1;
    }
  }
  return out;
}

}  // namespace

int RunCommand(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "promsidecar-operator run: reconcile PrometheusAgents (rendered config Secrets, status, events)"};
  app.name("promsidecar-operator run");
  RunOptions o;
  app.add_option("--kubeconfig", o.kubeconfig,
                 "kubeconfig file (default: in-cluster, else $KUBECONFIG, else ~/.kube/config)");
  app.add_option("--context", o.context, "kubeconfig context (default: current-context)");
  app.add_option("--agent-namespaces", o.agent_namespaces,
                 "Namespaces whose PrometheusAgents (and the Secrets/ConfigMaps they reference) are watched; "
                 "comma-separated or repeated (default: the operator's namespace)");
  app.add_option(
      "--operator-namespace", o.operator_namespace,
      "The operator's namespace (default: $POD_NAMESPACE, else the kubeconfig's, else promsidecar-system)");
  app.add_option("--api-group", o.api_group, "Group serving PrometheusAgent")
      ->check(CLI::IsMember({"promsidecar.io", "monitoring.coreos.com"}));
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
  app.add_option("--agent-image", o.agent_image, "Default agent image (what would be injected now)");
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

  auto config = kube::LoadDefaultConfig(o.kubeconfig, o.context);
  if (!config) {
    log::Error("cannot load the Kubernetes client configuration", {{"error", config.message()}});
    return 1;
  }
  if (o.operator_namespace.empty()) {
    if (const char* pod_ns = std::getenv("POD_NAMESPACE"); pod_ns != nullptr && *pod_ns != '\0') {
      o.operator_namespace = pod_ns;
    } else if (!config->ns.empty()) {
      o.operator_namespace = config->ns;
    } else {
      o.operator_namespace = "promsidecar-system";
    }
  }
  o.agent_namespaces = SplitCommas(o.agent_namespaces);
  if (o.agent_namespaces.empty()) o.agent_namespaces.push_back(o.operator_namespace);
  if (o.lease_namespace.empty()) o.lease_namespace = o.operator_namespace;
  if (o.identity.empty()) o.identity = DefaultIdentity();

  // Signals go to sigwait below, never to a random thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  kube::ClientOptions client_options;
  client_options.user_agent = "promsidecar-operator";
  kube::Client client(*config, client_options);
  metrics::Registry registry;

  controller::Options copts;
  copts.agent_namespaces = o.agent_namespaces;
  copts.api_group = api::AgentApiGroup{o.api_group};
  copts.settings.operator_namespace = o.operator_namespace;
  if (!o.agent_image.empty()) copts.settings.agent_image = o.agent_image;
  copts.resync_period = std::chrono::seconds(o.resync_period);
  controller::Controller controller(client, copts, &registry);

  http::Server metrics_server({.listen_address = o.metrics_address, .name = "metrics"});
  metrics_server.Handle("GET", "/metrics", [&registry](const http::ServerRequest&) {
    http::ServerResponse r = http::ServerResponse::Text(200, registry.Render());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  http::Server health_server({.listen_address = o.health_address, .name = "health"});
  health_server.Handle("GET", "/healthz",
                       [](const http::ServerRequest&) { return http::ServerResponse::Text(200, "ok\n"); });
  health_server.Handle("GET", "/readyz", [&controller](const http::ServerRequest&) {
    return controller.Synced() ? http::ServerResponse::Text(200, "ok\n")
                               : http::ServerResponse::Text(503, "informers not synced\n");
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
  for (const auto& ns : o.agent_namespaces) ns_list += (ns_list.empty() ? "" : ",") + ns;
  log::Info("promsidecar-operator starting", {{"server", config->server},
                                              {"agent_namespaces", ns_list},
                                              {"api_group", o.api_group},
                                              {"metrics_port", metrics_server.BoundPort()},
                                              {"health_port", health_server.BoundPort()},
                                              {"identity", o.identity},
                                              {"leader_election", o.leader_election}});

  controller.Start();
  std::unique_ptr<leader::LeaderElector> elector;
  if (o.leader_election) {
    leader::LeaseOptions lopts;
    lopts.ns = o.lease_namespace;
    lopts.name = o.lease_name;
    lopts.identity = o.identity;
    lopts.lease_duration = std::chrono::seconds(o.lease_duration);
    lopts.renew_deadline = std::chrono::seconds(o.renew_deadline);
    lopts.retry_period = std::chrono::seconds(o.retry_period);
    elector = std::make_unique<leader::LeaderElector>(
        client, lopts, [&controller](bool leading) { controller.SetLeading(leading); });
    registry.AddCallbackGauge("promsidecar_operator_leader", "1 while this replica holds the leader Lease.",
                              [&elector] { return elector && elector->IsLeader() ? 1.0 : 0.0; });
    elector->Start();
  } else {
    controller.SetLeading(true);
  }

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("shutting down", {{"signal", sig}});
  // Stop reconciling first, then hand the lease over so a successor starts at once.
  if (elector) elector->Stop();
  controller.SetLeading(false);
  controller.Stop();
  health_server.Stop();
  metrics_server.Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace promsidecar::cli
