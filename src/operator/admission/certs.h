// The webhook's serving certificate when the operator manages it itself: a
// self-signed CA and a serving certificate for the Service's DNS names (plus
// configured IPs), kept in a Secret so every replica serves the same pair,
// written to the directory http::Server reads (it reloads on change), renewed
// before expiry by the leader only, with the caBundle applied to both webhook
// configurations. In cert-manager mode none of this runs: the server reads
// --webhook.cert-dir and cert-manager injects the caBundle.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"
#include "common/util/result.h"
#include "operator/admission/webhook_config.h"

namespace promsidecar::admission {

struct CertPair {
  std::string cert_pem;
  std::string key_pem;
};

struct CertSpec {
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};

// ECDSA P-256, made with the OpenSSL API.
Result<CertPair> GenerateCa(const CertSpec& spec);
Result<CertPair> IssueServingCert(const CertPair& ca, const CertSpec& spec);
// notAfter of the first certificate in `pem`.
Result<std::chrono::system_clock::time_point> CertificateNotAfter(const std::string& pem);
// Whether the leaf in `pem` covers every DNS name and IP in `spec`.
bool CertificateCovers(const std::string& pem, const CertSpec& spec);

// The Secret's keys.
inline constexpr const char* kCaCertKey = "ca.crt";
inline constexpr const char* kCaKeyKey = "ca.key";
inline constexpr const char* kTlsCertKey = "tls.crt";
inline constexpr const char* kTlsKeyKey = "tls.key";

struct CertManagerOptions {
  std::string secret_namespace = "promsidecar-system";
  std::string secret_name = "promsidecar-webhook-certs";  // "<name>-webhook-certs"
  std::string dir;  // where tls.crt / tls.key are written for http::Server
  // SANs: <service>.<namespace>.svc (and .svc.cluster.local) plus these IPs.
  std::string service_name = "promsidecar-webhook";
  std::string service_namespace = "promsidecar-system";
  std::vector<std::string> ip_addresses;
  std::chrono::hours ca_validity{24 * 365 * 5};
  std::chrono::hours cert_validity{24 * 365};
  std::chrono::hours renew_before{24 * 30};
  // Gets the caBundle (new CA, plus the previous one while it is valid);
  // null: nothing is applied.
  WebhookConfigurator* webhooks = nullptr;
};

class CertManager {
 public:
  CertManager(kube::Client& client, CertManagerOptions options);

  // Every replica: reads the Secret and writes the pair into options.dir.
  // NotFound until the leader has created it.
  Status SyncFromSecret();
  // Leader only: creates or renews what is missing, expiring within
  // renew_before or not covering the SANs; stores it in the Secret (an
  // update with resourceVersion, so two writers cannot both win), writes the
  // files and applies the webhook configurations with the caBundle. Returns
  // whether anything was rotated.
  Result<bool> RotateIfNeeded(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  CertSpec ServingSpec(std::chrono::system_clock::time_point now) const;

 private:
  Status WriteFiles(const std::string& cert_pem, const std::string& key_pem);

  kube::Client& client_;
  CertManagerOptions options_;
};

}  // namespace promsidecar::admission
