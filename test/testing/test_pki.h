// Throwaway certificates for tests, made with the OpenSSL API (no openssl CLI,
// no fixed paths): a CA that issues serving and client certificates as PEM,
// and the same as files for servers and clients configured by file name.
// The one test PKI of the project (unit and integration tests).
// Test-only: failures throw std::runtime_error, which GoogleTest reports.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace promsidecar::testing {

struct PemPair {
  std::string cert_pem;
  std::string key_pem;
};

struct LeafSpec {
  std::string common_name;
  std::vector<std::string> organizations;  // O=, e.g. "system:masters"
  std::vector<std::string> ip_sans;        // e.g. "127.0.0.1"
  std::vector<std::string> dns_sans;       // e.g. "localhost"
  bool server = true;                      // serverAuth, else clientAuth
};

// An ECDSA P-256 CA valid from an hour ago for a day.
class TestCa {
 public:
  explicit TestCa(const std::string& common_name = "promsidecar test CA");
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& cert_pem() const { return cert_pem_; }
  // A new key and a certificate for it signed by this CA.
  PemPair Issue(const LeafSpec& spec) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::string cert_pem_;
};

// A new CA with one serving certificate (CN promsidecar.test, SANs
// DNS:promsidecar.test and DNS:localhost) and one client certificate (CN
// promsidecar-agent), written as PEM files under `dir`.
struct PkiFiles {
  std::string ca_cert;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
};
PkiFiles WritePkiFiles(const std::string& dir);

// A fresh private directory under $TMPDIR (or /tmp); removed by the caller
// (RemoveTree) or left for the OS.
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& path);
// Writes `content` to `path` atomically (temp file + rename), so a reader sees
// the old or the new file, never half of one.
void WriteFileAtomically(const std::string& path, const std::string& content);
std::string ReadFileOrDie(const std::string& path);

}  // namespace promsidecar::testing
