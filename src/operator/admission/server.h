// The operator's admission endpoint: an HTTPS http::Server that decodes each
// AdmissionReview once, hands the request to a webhook function and encodes
// its answer with the request's UID.
//
//   AdmissionServer server({.http = {.listen_address = ":8443", .tls = ...}});
//   server.Register(kMutatePodPath, [&](const AdmissionRequest& r) { return pods.Handle(r); });
//   server.Start();
//
// HTTP status: 200 with an AdmissionReview for every decodable request
// (denials included); 400 with a one-line reason for a malformed body (not
// JSON, nested too deeply, not an AdmissionReview v1, no request or uid);
// 415 for a non-JSON Content-Type; 413 above options.http.max_body_bytes;
// 500 if a webhook throws. Nothing a client sends crashes the server.
#pragma once

#include <functional>
#include <string>

#include "common/http/server.h"
#include "common/metrics/metrics.h"
#include "common/util/result.h"
#include "operator/admission/review.h"
#include "operator/admission/webhooks.h"

namespace promsidecar::admission {

inline constexpr const char* kMutatePodPath = "/mutate-pod";
inline constexpr const char* kValidateAgentPath = "/validate-prometheusagent";

using WebhookFunction = std::function<AdmissionResponse(const AdmissionRequest&)>;

struct AdmissionServerOptions {
  http::ServerOptions http = DefaultHttpOptions();
  // Labels latency observations (optional); metrics.deadline_exceeded
  // counts for the server unless http.deadline_exceeded is set.
  WebhookMetrics metrics;

  // AdmissionReviews of pods carry the object and the old object: room for
  // two objects at etcd's size limit. The apiserver gives up after the
  // webhook's timeoutSeconds (5), so reads and writes time out soon after.
  static http::ServerOptions DefaultHttpOptions() {
    http::ServerOptions o;
    o.listen_address = ":8443";
    o.max_body_bytes = 8u << 20;
    o.read_timeout = std::chrono::milliseconds(10'000);
    o.write_timeout = std::chrono::milliseconds(10'000);
    o.worker_threads = 8;
    o.max_pending_connections = 256;
    // The API server keeps its webhook connections alive; closing one every
    // few requests would make it pay a TLS handshake (hundreds of µs of our
    // CPU) every few reviews. Closing now and then still spreads them over
    // the replicas.
    o.keep_alive_max_requests = 1000;
    // A review arrives whole in milliseconds; the API server has given up
    // long before a client trickling it is cut.
    o.request_deadline = std::chrono::milliseconds(10'000);
    o.name = "webhook";
    return o;
  }
};

class AdmissionServer {
 public:
  explicit AdmissionServer(AdmissionServerOptions options);
  ~AdmissionServer();  // Stop()s

  // Serves `webhook` at POST `path`. Call before Start(). `name` labels the
  // latency metric (defaults to the path without its slash).
  void Register(const std::string& path, WebhookFunction webhook, std::string name = "");

  Status Start();
  void Stop();
  int BoundPort() const { return server_.BoundPort(); }
  bool Running() const { return server_.Running(); }

 private:
  http::ServerResponse Serve(const std::string& name, const WebhookFunction& webhook,
                             const http::ServerRequest& request);

  AdmissionServerOptions options_;
  http::Server server_;
};

// One request through decode → webhook → encode, without sockets: what the
// server does per request (exposed for unit tests). Pure apart from `webhook`.
http::ServerResponse ServeAdmission(const WebhookFunction& webhook, const http::ServerRequest& request);

}  // namespace promsidecar::admission
