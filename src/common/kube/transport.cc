#include "common/kube/transport.h"

namespace promsidecar::kube {

TransportImpl::TransportImpl(http::ClientOptions options, size_t max_idle)
    : options_(std::move(options)), max_idle_(max_idle) {}

Result<http::Response> TransportImpl::Do(const http::Request& request, http::FailureKind* failure) {
  std::unique_ptr<http::Client> client;
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      client = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!client) client = std::make_unique<http::Client>(options_);
  auto result = client->Do(request, failure);
  std::lock_guard lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(client));
  return result;
}

}  // namespace promsidecar::kube
