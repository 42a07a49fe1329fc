// A throwaway CA with a server and a client certificate, written as PEM files
// into a directory, for TLS tests against a local server.
#pragma once

#include <string>

namespace promsidecar::remote_write::testing {

struct TestPki {
  std::string ca_cert;
  std::string server_cert, server_key;  // SANs: DNS:promsidecar.test, DNS:localhost
  std::string client_cert, client_key;
};

// Creates the files under `dir`; aborts the test binary on OpenSSL failure.
TestPki MakeTestPki(const std::string& dir);

}  // namespace promsidecar::remote_write::testing
