// The admission side of a running operator replica: both webhooks behind one
// TLS server (reading the process's shared cache), the serving certificate
// and the webhook configurations. Every replica serves; only the leader writes (rotates the
// certificate, applies the configurations), because the configurations are
// applied whole with server-side apply and a replica that does not know the
// current caBundle would remove it.
//
// Certificates, one of two modes:
//   - self-managed (cert_dir empty): a CA and serving certificate kept in the
//     Secret <configuration name>-webhook-certs of the operator's namespace;
//     the leader creates and renews them (CertManager), every replica copies
//     the pair into generated_cert_dir and the server picks up new files on
//     the next handshake;
//   - external (cert_dir set, e.g. cert-manager's Secret mounted there):
//     tls.crt/tls.key are read from cert_dir; the caBundle comes from
//     ca_bundle_file or cert-manager's CA injector.
// The server starts once a certificate exists, so a fresh install's second
// replica waits for the leader's first Secret instead of failing.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/kube/client.h"
#include "common/metrics/metrics.h"
#include "common/util/result.h"
#include "operator/admission/cache_facts.h"
#include "operator/admission/certs.h"
#include "operator/admission/server.h"
#include "operator/admission/webhook_config.h"
#include "operator/admission/webhooks.h"
#include "operator/cache/cache.h"
#include "operator/inject/inject.h"

namespace promsidecar::admission {

struct WebhookServiceOptions {
  std::string listen_address = ":8443";
  // A request must arrive whole (TLS handshake, headers, body) within this,
  // or its connection is cut and counted (http::ServerOptions).
  std::chrono::milliseconds request_deadline = AdmissionServerOptions::DefaultHttpOptions().request_deadline;
  // External certificates: tls.crt and tls.key in this directory. Empty:
  // self-managed.
  std::string cert_dir;
  // External mode: PEM file whose content becomes the caBundle (optional).
  std::string ca_bundle_file;
  // Self-managed mode: where the pair from the Secret is written.
  std::string generated_cert_dir = "/tmp/promsidecar-webhook";
  // Whether this process writes the webhook configurations at all (off: an
  // installation that manages them itself).
  bool manage_configurations = true;
  WebhookConfigOptions configuration;
  inject::OperatorSettings settings;
  // Audiences the API server accepts: refused for projected remote-write
  // tokens (validate::ValidationContext::api_audiences).
  std::vector<std::string> api_audiences;
  // How often the certificate is re-checked (leader) or re-read (others)
  // once everything is in place; retries while not are every second.
  std::chrono::seconds certificate_check_period{300};
};

class WebhookService {
 public:
  // `cache` is the process's shared cache: subscribed to here (before it
  // starts), started by its owner.
  WebhookService(kube::Client& client, cache::ClusterCache& cache, WebhookServiceOptions options,
                 metrics::Registry& registry);
  ~WebhookService();
  WebhookService(const WebhookService&) = delete;
  WebhookService& operator=(const WebhookService&) = delete;

  // Validates the options (an error names the flag to fix) and starts the
  // certificate loop. The server starts when a certificate exists.
  Status Start();
  void Stop();
  // From the leader elector (or true at once without leader election).
  void SetLeading(bool leading);

  // The caches are synced and the server is listening.
  bool Ready() const;
  int BoundPort() const;

 private:
  void CertificateLoop();
  // One pass: certificates, configurations, server. True when all are in place.
  bool Reconcile();
  bool StartServerIfCertificateExists();
  void OnAgentsChanged();

  kube::Client& client_;
  cache::ClusterCache& cache_;
  WebhookServiceOptions options_;
  WebhookMetrics metrics_;
  CacheFacts facts_;
  std::unique_ptr<PodInjectionWebhook> pods_;
  std::unique_ptr<AgentValidationWebhook> agents_;
  std::unique_ptr<AdmissionServer> server_;
  std::unique_ptr<WebhookConfigurator> configurator_;
  std::unique_ptr<CertManager> certs_;
  std::string tls_dir_;

  std::thread loop_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool leading_ = false;
  bool kicked_ = false;  // leadership changed: reconcile now
  // Configurations applied since this replica became the leader.
  bool applied_as_leader_ = false;
  std::atomic<bool> serving_{false};
};

}  // namespace promsidecar::admission
