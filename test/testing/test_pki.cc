#include "testing/test_pki.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace promsidecar::testing {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::string detail;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    detail += std::string(" ") + buf;
  }
  throw std::runtime_error("test PKI: " + what + detail);
}

EVP_PKEY* NewKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) Fail("cannot generate an EC key");
  return key;
}

std::string KeyPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    Fail("key to PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string CertPem(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_X509(bio.get(), cert) != 1) Fail("certificate to PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) Fail("extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` with the common validity and a random serial.
X509* NewCert(EVP_PKEY* key, const std::string& cn, const std::vector<std::string>& orgs) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  for (const auto& o : orgs) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(o.c_str()),
                               -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  return cert;
}

}  // namespace

struct TestCa::State {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~State() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

TestCa::TestCa(const std::string& common_name) : state_(std::make_unique<State>()) {
  state_->key = NewKey();
  state_->cert = NewCert(state_->key, common_name, {});
  X509_set_issuer_name(state_->cert, X509_get_subject_name(state_->cert));
  AddExt(state_->cert, state_->cert, NID_basic_constraints, "critical,CA:TRUE");
  AddExt(state_->cert, state_->cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  AddExt(state_->cert, state_->cert, NID_subject_key_identifier, "hash");
  if (X509_sign(state_->cert, state_->key, EVP_sha256()) == 0) Fail("self-signing the CA");
  cert_pem_ = CertPem(state_->cert);
}

TestCa::~TestCa() = default;

PemPair TestCa::Issue(const LeafSpec& spec) const {
  EVP_PKEY* key = NewKey();
  X509* cert = NewCert(key, spec.common_name, spec.organizations);
  X509_set_issuer_name(cert, X509_get_subject_name(state_->cert));
  AddExt(cert, state_->cert, NID_basic_constraints, "critical,CA:FALSE");
  AddExt(cert, state_->cert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  AddExt(cert, state_->cert, NID_ext_key_usage, spec.server ? "serverAuth" : "clientAuth");
  AddExt(cert, state_->cert, NID_authority_key_identifier, "keyid");
  std::string sans;
  for (const auto& ip : spec.ip_sans) sans += (sans.empty() ? "" : ",") + std::string("IP:") + ip;
  for (const auto& dns : spec.dns_sans) sans += (sans.empty() ? "" : ",") + std::string("DNS:") + dns;
  if (!sans.empty()) AddExt(cert, state_->cert, NID_subject_alt_name, sans);
  if (X509_sign(cert, state_->key, EVP_sha256()) == 0) Fail("signing " + spec.common_name);
  PemPair out{CertPem(cert), KeyPem(key)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

PkiFiles WritePkiFiles(const std::string& dir) {
  PkiFiles files{dir + "/ca.crt", dir + "/server.crt", dir + "/server.key", dir + "/client.crt",
                 dir + "/client.key"};
  TestCa ca;
  PemPair server =
      ca.Issue({.common_name = "promsidecar.test", .dns_sans = {"promsidecar.test", "localhost"}});
  PemPair client = ca.Issue({.common_name = "promsidecar-agent", .server = false});
  WriteFileAtomically(files.ca_cert, ca.cert_pem());
  WriteFileAtomically(files.server_cert, server.cert_pem);
  WriteFileAtomically(files.server_key, server.key_pem);
  WriteFileAtomically(files.client_cert, client.cert_pem);
  WriteFileAtomically(files.client_key, client.key_pem);
  return files;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  return tmpl;
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

void WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace promsidecar::testing
