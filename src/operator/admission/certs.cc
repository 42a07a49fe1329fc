#include "operator/admission/certs.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/kube/config.h"
#include "common/kube/errors.h"
#include "common/log/log.h"
#include "common/util/base64.h"
#include "operator/admission/review.h"

namespace promsidecar::admission {

using nlohmann::json;

namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Free>;

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return MakeError("encoding a private key failed");
  }
  return BioString(bio.get());
}

Result<std::string> CertPem(X509* cert) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return MakeError("encoding a certificate failed");
  return BioString(bio.get());
}

Ptr<X509> ParseCert(const std::string& pem) {
  Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Ptr<X509>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

Ptr<EVP_PKEY> ParseKey(const std::string& pem) {
  Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Ptr<EVP_PKEY>(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

bool AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// A certificate for `key`, signed by issuer_key (self-signed when issuer is null).
Result<Ptr<X509>> MakeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  Ptr<X509> cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return MakeError("no randomness for a certificate serial");
  serial[0] &= 0x7f;
  Ptr<BIGNUM> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), std::chrono::system_clock::to_time_t(spec.not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), std::chrono::system_clock::to_time_t(spec.not_after));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509* issuer_cert = issuer ? issuer : cert.get();
  bool ok = AddExt(cert.get(), issuer_cert, NID_subject_key_identifier, "hash");
  if (ca) {
    ok = ok && AddExt(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         AddExt(cert.get(), issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    std::string san;
    for (const auto& d : spec.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
    for (const auto& ip : spec.ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
    ok = ok && AddExt(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:FALSE") &&
         AddExt(cert.get(), issuer_cert, NID_key_usage, "critical,digitalSignature") &&
         AddExt(cert.get(), issuer_cert, NID_ext_key_usage, "serverAuth") &&
         AddExt(cert.get(), issuer_cert, NID_authority_key_identifier, "keyid:always") &&
         (san.empty() || AddExt(cert.get(), issuer_cert, NID_subject_alt_name, san));
  }
  if (!ok) return MakeError("building certificate extensions for \"" + spec.common_name + "\" failed");
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) {
    return MakeError("signing the certificate for \"" + spec.common_name + "\" failed");
  }
  return cert;
}

Result<CertPair> Generate(const CertSpec& spec, const CertPair* ca_pair) {
  Ptr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return MakeError("generating an ECDSA P-256 key failed");
  Ptr<X509> ca_cert;
  Ptr<EVP_PKEY> ca_key;
  if (ca_pair) {
    ca_cert = ParseCert(ca_pair->cert_pem);
    ca_key = ParseKey(ca_pair->key_pem);
    if (!ca_cert || !ca_key) return MakeError("the CA certificate or key does not parse");
  }
  auto cert =
      MakeCert(spec, key.get(), ca_cert.get(), ca_pair ? ca_key.get() : key.get(), ca_pair == nullptr);
  if (!cert.ok()) return MakeError(cert.message());
  auto cert_pem = CertPem(cert->get());
  auto key_pem = KeyPem(key.get());
  if (!cert_pem.ok()) return MakeError(cert_pem.message());
  if (!key_pem.ok()) return MakeError(key_pem.message());
  return CertPair{*cert_pem, *key_pem};
}

}  // namespace

Result<CertPair> GenerateCa(const CertSpec& spec) {
  return Generate(spec, nullptr);
}

Result<CertPair> IssueServingCert(const CertPair& ca, const CertSpec& spec) {
  return Generate(spec, &ca);
}

Result<std::chrono::system_clock::time_point> CertificateNotAfter(const std::string& pem) {
  auto cert = ParseCert(pem);
  if (!cert) return MakeError("the certificate does not parse as PEM");
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) return MakeError("unreadable notAfter");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

bool CertificateCovers(const std::string& pem, const CertSpec& spec) {
  auto cert = ParseCert(pem);
  if (!cert) return false;
  for (const auto& d : spec.dns_names) {
    if (X509_check_host(cert.get(), d.c_str(), d.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) != 1)
      return false;
  }
  for (const auto& ip : spec.ip_addresses) {
    if (X509_check_ip_asc(cert.get(), ip.c_str(), 0) != 1) return false;
  }
  return true;
}

CertManager::CertManager(kube::Client& client, CertManagerOptions options)
    : client_(client), options_(std::move(options)) {}

CertSpec CertManager::ServingSpec(std::chrono::system_clock::time_point now) const {
  const std::string svc = options_.service_name + "." + options_.service_namespace;
  return CertSpec{.common_name = svc + ".svc",
                  .dns_names = {options_.service_name, svc, svc + ".svc", svc + ".svc.cluster.local"},
                  .ip_addresses = options_.ip_addresses,
                  // Tolerates clocks a little behind ours.
                  .not_before = now - std::chrono::hours(1),
                  .not_after = now + options_.cert_validity};
}

Status CertManager::WriteFiles(const std::string& cert_pem, const std::string& key_pem) {
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  // Key first, then certificate: the server reloads on either change and
  // keeps the old pair while they do not match.
  for (auto [name, content] : {std::pair{"tls.key", &key_pem}, std::pair{"tls.crt", &cert_pem}}) {
    const std::string path = options_.dir + "/" + name;
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << *content;
      if (!out) return MakeError("writing " + tmp + " failed");
    }
    std::filesystem::permissions(
        tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
    std::filesystem::rename(tmp, path, ec);
    if (ec) return MakeError("renaming " + tmp + ": " + ec.message());
  }
  return {};
}

namespace {

std::string SecretValue(const json& secret, const char* key) {
  if (!secret.is_object() || !secret.contains("data") || !secret["data"].is_object()) return "";
  const json& data = secret.value("data", json::object());
  if (!data.contains(key) || !data[key].is_string()) return "";
  auto decoded = kube::DecodeBase64(data[key].get<std::string>());
  return decoded.ok() ? *decoded : "";
}

}  // namespace

Status CertManager::SyncFromSecret() {
  auto secret = client_.Get(kube::resources::Secrets(), options_.secret_namespace, options_.secret_name);
  if (!secret.ok())
    return MakeError("reading Secret " + options_.secret_namespace + "/" + options_.secret_name + ": " +
                     secret.message());
  const std::string crt = SecretValue(*secret, kTlsCertKey);
  const std::string key = SecretValue(*secret, kTlsKeyKey);
  if (crt.empty() || key.empty()) {
    return MakeError("Secret " + options_.secret_namespace + "/" + options_.secret_name +
                     " lacks tls.crt/tls.key");
  }
  return WriteFiles(crt, key);
}

Result<bool> CertManager::RotateIfNeeded(std::chrono::system_clock::time_point now) {
  auto existing = client_.Get(kube::resources::Secrets(), options_.secret_namespace, options_.secret_name);
  if (!existing.ok() && !kube::IsNotFound(existing.error())) {
    return MakeError("reading Secret " + options_.secret_namespace + "/" + options_.secret_name + ": " +
                     existing.message());
  }
  json secret = existing.ok() ? *existing : json();
  CertPair ca{SecretValue(secret, kCaCertKey), SecretValue(secret, kCaKeyKey)};
  CertPair serving{SecretValue(secret, kTlsCertKey), SecretValue(secret, kTlsKeyKey)};
  const CertSpec spec = ServingSpec(now);

  auto expiring = [&](const std::string& pem) {
    auto not_after = CertificateNotAfter(pem);
    return !not_after.ok() || *not_after - options_.renew_before <= now;
  };
  bool rotated = false;
  const std::string old_ca_pem = ca.cert_pem;
  // The CA outlives the serving certificates it signs.
  if (ca.cert_pem.empty() || ca.key_pem.empty() || expiring(ca.cert_pem) ||
      *CertificateNotAfter(ca.cert_pem) < spec.not_after) {
    auto fresh = GenerateCa({.common_name = options_.service_name + "-webhook-ca",
                             .not_before = now - std::chrono::hours(1),
                             .not_after = now + std::max(options_.ca_validity, options_.cert_validity * 2)});
    if (!fresh.ok()) return MakeError(fresh.message());
    ca = *fresh;
    serving = {};
    rotated = true;
  }
  if (serving.cert_pem.empty() || serving.key_pem.empty() || expiring(serving.cert_pem) ||
      !CertificateCovers(serving.cert_pem, spec)) {
    auto fresh = IssueServingCert(ca, spec);
    if (!fresh.ok()) return MakeError(fresh.message());
    serving = *fresh;
    rotated = true;
  }
  // The caBundle first: while replicas still serve the old pair, the
  // apiserver must trust both the old and the new CA.
  std::string bundle = ca.cert_pem;
  if (!old_ca_pem.empty() && old_ca_pem != ca.cert_pem) {
    auto old_not_after = CertificateNotAfter(old_ca_pem);
    if (old_not_after.ok() && *old_not_after > now) bundle += old_ca_pem;
  }
  if (options_.webhooks) {
    if (auto applied = options_.webhooks->SetCaBundle(bundle); !applied.ok())
      return MakeError(applied.message());
  }
  if (rotated) {
    json object = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"type", "kubernetes.io/tls"},
                   {"metadata",
                    {{"name", options_.secret_name},
                     {"namespace", options_.secret_namespace},
                     {"labels", {{"app.kubernetes.io/managed-by", kFieldManager}}}}},
                   {"data",
                    {{kCaCertKey, EncodeBase64(ca.cert_pem)},
                     {kCaKeyKey, EncodeBase64(ca.key_pem)},
                     {kTlsCertKey, EncodeBase64(serving.cert_pem)},
                     {kTlsKeyKey, EncodeBase64(serving.key_pem)}}}};
    // Create, or update against the version read: a concurrent writer makes
    // this fail with Conflict instead of both winning.
    if (existing.ok()) {
      object["metadata"]["resourceVersion"] = kube::ResourceVersion(secret);
      auto updated = client_.Update(kube::resources::Secrets(), object, {.field_manager = kFieldManager});
      if (!updated.ok())
        return MakeError("updating Secret " + options_.secret_name + ": " + updated.message());
    } else {
      auto created = client_.Create(kube::resources::Secrets(), options_.secret_namespace, object,
                                    {.field_manager = kFieldManager});
      if (!created.ok())
        return MakeError("creating Secret " + options_.secret_name + ": " + created.message());
    }
    log::Info("webhook serving certificate rotated", {{"secret", options_.secret_name}});
  }
  if (auto written = WriteFiles(serving.cert_pem, serving.key_pem); !written.ok())
    return MakeError(written.message());
  return rotated;
}

}  // namespace promsidecar::admission
