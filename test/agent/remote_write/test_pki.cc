#include "test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>

namespace promsidecar::remote_write::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "test PKI: %s failed\n", what);
    std::abort();
  }
}

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr, "extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A self-signed CA when issuer is null, else a leaf signed by issuer.
X509* MakeCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, long serial,
               const char* san = nullptr, const char* eku = nullptr) {
  X509* cert = X509_new();
  Check(cert != nullptr, "X509_new");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* signer = issuer ? issuer : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(signer));
  if (!issuer) {
    AddExt(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    AddExt(cert, cert, NID_subject_key_identifier, "hash");
  } else {
    AddExt(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(cert, signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    if (san) AddExt(cert, signer, NID_subject_alt_name, san);
    if (eku) AddExt(cert, signer, NID_ext_key_usage, eku);
  }
  Check(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

void WriteCert(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  Check(f != nullptr, "open cert file");
  Check(PEM_write_X509(f, cert) == 1, "PEM_write_X509");
  std::fclose(f);
}

void WriteKey(const std::string& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  Check(f != nullptr, "open key file");
  Check(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM_write_PrivateKey");
  std::fclose(f);
}

}  // namespace

TestPki MakeTestPki(const std::string& dir) {
  TestPki p{dir + "/ca.crt", dir + "/server.crt", dir + "/server.key", dir + "/client.crt",
            dir + "/client.key"};
  EVP_PKEY* ca_key = EVP_EC_gen("P-256");
  EVP_PKEY* server_key = EVP_EC_gen("P-256");
  EVP_PKEY* client_key = EVP_EC_gen("P-256");
  Check(ca_key && server_key && client_key, "EVP_EC_gen");

  X509* ca = MakeCert(ca_key, "promsidecar test CA", nullptr, nullptr, 1);

  X509* server = MakeCert(server_key, "promsidecar.test", ca, ca_key, 2, "DNS:promsidecar.test,DNS:localhost",
                          "serverAuth");
  X509* client = MakeCert(client_key, "promsidecar-agent", ca, ca_key, 3, nullptr, "clientAuth");

  WriteCert(p.ca_cert, ca);
  WriteCert(p.server_cert, server);
  WriteKey(p.server_key, server_key);
  WriteCert(p.client_cert, client);
  WriteKey(p.client_key, client_key);

  X509_free(ca);
  X509_free(server);
  X509_free(client);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(server_key);
  EVP_PKEY_free(client_key);
  return p;
}

}  // namespace promsidecar::remote_write::testing
