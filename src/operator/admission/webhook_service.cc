#include "operator/admission/webhook_service.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/log/log.h"

namespace promsidecar::admission {
namespace {

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "https://10.0.0.1:8443" -> "10.0.0.1" when the host is an IPv4 address:
// the self-managed certificate must then carry it as an IP SAN.
std::string IpHostOf(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find_first_of(":/", start);
  std::string host = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (host.empty() || host.find_first_not_of("0123456789.") != std::string::npos) return "";
  return host;
}

}  // namespace

WebhookService::WebhookService(kube::Client& client, cache::ClusterCache& cache,
                               WebhookServiceOptions options, metrics::Registry& registry)
    : client_(client),
      cache_(cache),
      options_(std::move(options)),
      metrics_(WebhookMetrics::Register(registry)),
      facts_(cache, options_.api_audiences) {
  cache_.Subscribe({.on_agent = [this](const auto&, const auto&) { OnAgentsChanged(); }});
  registry.AddCallbackGauge("promsidecar_operator_webhook_serving",
                            "1 while this replica's admission webhook server is listening.",
                            [this] { return serving_.load() ? 1.0 : 0.0; });
}

WebhookService::~WebhookService() {
  Stop();
}

Status WebhookService::Start() {
  if (!options_.cert_dir.empty()) {
    tls_dir_ = options_.cert_dir;
  } else {
    if (options_.generated_cert_dir.empty()) {
      return MakeError(
          "--webhook.generated-cert-dir is empty: self-managed certificates need a writable directory "
          "(or set --webhook.cert-dir to use certificates from cert-manager)");
    }
    tls_dir_ = options_.generated_cert_dir;
  }
  if (!options_.ca_bundle_file.empty()) {
    if (options_.cert_dir.empty()) {
      return MakeError(
          "--webhook.ca-bundle-file only applies with --webhook.cert-dir (self-managed certificates bring "
          "their own CA)");
    }
    auto pem = ReadWholeFile(options_.ca_bundle_file);
    if (!pem.ok()) return MakeError("--webhook.ca-bundle-file: " + pem.message());
    options_.configuration.ca_bundle_pem = *pem;
  }
  if (options_.manage_configurations) {
    configurator_ = std::make_unique<WebhookConfigurator>(client_, options_.configuration);
  }
  if (options_.cert_dir.empty()) {
    CertManagerOptions copts;
    copts.secret_namespace = options_.configuration.operator_namespace;
    copts.secret_name = options_.configuration.name + "-webhook-certs";
    copts.dir = options_.generated_cert_dir;
    copts.service_name = options_.configuration.service_name;
    copts.service_namespace = options_.configuration.service_namespace;
    if (std::string ip = IpHostOf(options_.configuration.url_base); !ip.empty()) copts.ip_addresses = {ip};
    copts.webhooks = configurator_.get();
    certs_ = std::make_unique<CertManager>(client_, copts);
  }

  pods_ = std::make_unique<PodInjectionWebhook>(facts_, options_.settings, metrics_);
  agents_ = std::make_unique<AgentValidationWebhook>(facts_, options_.configuration.group, metrics_);
  AdmissionServerOptions sopts;
  sopts.http.listen_address = options_.listen_address;
  sopts.http.request_deadline = options_.request_deadline;
  sopts.http.tls = http::ServerTlsOptions{tls_dir_ + "/" + kTlsCertKey, tls_dir_ + "/" + kTlsKeyKey};
  sopts.metrics = metrics_;
  server_ = std::make_unique<AdmissionServer>(sopts);
  server_->Register(kMutatePodPath, [this](const AdmissionRequest& r) { return pods_->Handle(r); });
  server_->Register(kValidateAgentPath, [this](const AdmissionRequest& r) { return agents_->Handle(r); });

  loop_ = std::thread([this] { CertificateLoop(); });
  return {};
}

void WebhookService::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (loop_.joinable()) loop_.join();
  if (server_) server_->Stop();
  serving_ = false;
}

void WebhookService::SetLeading(bool leading) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    leading_ = leading;
    applied_as_leader_ = false;
    kicked_ = true;
  }
  wake_.notify_all();
}

bool WebhookService::Ready() const {
  return serving_.load() && cache_.HasSynced();
}

int WebhookService::BoundPort() const {
  return serving_.load() ? server_->BoundPort() : 0;
}

void WebhookService::OnAgentsChanged() {
  // Only the leader writes; a new leader applies the current state anyway.
  bool leading;
  {
    std::lock_guard<std::mutex> lock(mu_);
    leading = leading_ && applied_as_leader_;
  }
  if (!leading || !configurator_) return;
  if (Status s = configurator_->SetLegacyAnnotations(AnyLegacyAnnotations(*cache_.Agents())); !s.ok()) {
    log::Warn("cannot update the pod webhook's matchConditions", {{"error", s.message()}});
  }
}

bool WebhookService::StartServerIfCertificateExists() {
  if (serving_.load()) return true;
  if (!FileExists(tls_dir_ + "/" + kTlsCertKey) || !FileExists(tls_dir_ + "/" + kTlsKeyKey)) return false;
  if (Status s = server_->Start(); !s.ok()) {
    log::Error("cannot start the webhook server",
               {{"listen_address", options_.listen_address},
                {"error", s.message()},
                {"fix", "free the port or change --webhook.listen-address"}});
    return false;
  }
  serving_ = true;
  log::Info("webhook server listening",
            {{"port", server_->BoundPort()},
             {"certificates", options_.cert_dir.empty() ? "self-managed" : "external"},
             {"dir", tls_dir_}});
  return true;
}

bool WebhookService::Reconcile() {
  bool leading;
  bool applied;
  {
    std::lock_guard<std::mutex> lock(mu_);
    leading = leading_;
    applied = applied_as_leader_;
  }
  bool complete = true;
  if (certs_) {
    if (leading) {
      // Also applies the configurations when the caBundle changes.
      auto rotated = certs_->RotateIfNeeded();
      if (!rotated.ok()) {
        log::Warn("webhook certificate check failed; retrying", {{"error", rotated.message()}});
        complete = false;
      }
    } else if (Status s = certs_->SyncFromSecret(); !s.ok()) {
      // Normal for a moment on a fresh install: the leader creates the Secret.
      if (!serving_.load()) log::Debug("waiting for the webhook certificate", {{"error", s.message()}});
      complete = false;
    }
  }
  if (leading && !applied && configurator_ && complete) {
    // The full desired state, once per leadership: the trigger follows the agents.
    Status s = configurator_->Apply();
    if (s.ok()) s = configurator_->SetLegacyAnnotations(AnyLegacyAnnotations(*cache_.Agents()));
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (leading_ == leading) applied_as_leader_ = true;
      log::Info("webhook configurations applied", {{"name", options_.configuration.name}});
    } else {
      log::Warn("cannot apply the webhook configurations; retrying", {{"error", s.message()}});
      complete = false;
    }
  }
  return StartServerIfCertificateExists() && complete;
}

void WebhookService::CertificateLoop() {
  // The configurations' matchConditions depend on the agents: apply them
  // only from a synced cache.
  while (!cache_.WaitForSync(std::chrono::milliseconds(500))) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
  }
  for (;;) {
    const bool complete = Reconcile();
    std::unique_lock<std::mutex> lock(mu_);
    const auto period = complete ? options_.certificate_check_period : std::chrono::seconds(1);
    wake_.wait_for(lock, period, [this] { return stopping_ || kicked_; });
    kicked_ = false;
    if (stopping_) return;
  }
}

}  // namespace promsidecar::admission
