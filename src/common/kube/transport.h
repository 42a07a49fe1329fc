// The seam between the Kubernetes client and the network: tests wrap or fake
// it to inject failures; production uses TransportImpl.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "common/http/client.h"
#include "common/util/result.h"

namespace promsidecar::kube {

class Transport {
 public:
  virtual ~Transport() = default;
  // Performs one HTTP exchange (no retries). Must be thread-safe.
  virtual Result<http::Response> Do(const http::Request& request, http::FailureKind* failure) = 0;
};

// A pool of http::Clients (each reuses its connections): concurrent calls each
// borrow an idle client or create one; at most `max_idle` are kept.
class TransportImpl : public Transport {
 public:
  explicit TransportImpl(http::ClientOptions options, size_t max_idle = 8);
  Result<http::Response> Do(const http::Request& request, http::FailureKind* failure) override;

 private:
  http::ClientOptions options_;
  size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<http::Client>> idle_;
};

}  // namespace promsidecar::kube
