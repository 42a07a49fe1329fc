#include "operator/admission/server.h"

#include <chrono>
#include <exception>
#include <utility>

#include "common/log/log.h"

namespace promsidecar::admission {

http::ServerResponse ServeAdmission(const WebhookFunction& webhook, const http::ServerRequest& request) {
  if (auto ct = request.Header("Content-Type"); ct && ct->find("json") == std::string::npos) {
    return http::ServerResponse::Text(415, "Content-Type must be application/json, got \"" + *ct + "\"\n");
  }
  auto decoded = DecodeAdmissionReview(request.body);
  if (!decoded.ok()) return http::ServerResponse::Text(400, decoded.message() + "\n");
  AdmissionResponse response;
  try {
    response = webhook(*decoded);
  } catch (const std::exception& e) {
    log::Error("admission webhook threw",
               {{"path", request.path}, {"uid", decoded->uid}, {"error", e.what()}});
    return http::ServerResponse::Text(500, "internal error\n");
  }
  http::ServerResponse answer =
      http::ServerResponse::Json(200, EncodeAdmissionReview(decoded->uid, response));
  // The API server accepts gzip, and httplib compresses "application/json"
  // (that exact type) when asked: a few KB over the cluster network are not
  // worth a zlib stream's setup (a quarter MB) per review. A charset parameter
  // is the same type to the API server and not compressed by httplib.
  answer.content_type = "application/json; charset=utf-8";
  return answer;
}

namespace {

AdmissionServerOptions CountingDeadlines(AdmissionServerOptions options) {
  if (!options.http.deadline_exceeded) options.http.deadline_exceeded = options.metrics.deadline_exceeded;
  return options;
}

}  // namespace

AdmissionServer::AdmissionServer(AdmissionServerOptions options)
    : options_(CountingDeadlines(std::move(options))), server_(options_.http) {}

AdmissionServer::~AdmissionServer() {
  Stop();
}

void AdmissionServer::Register(const std::string& path, WebhookFunction webhook, std::string name) {
  if (name.empty()) name = path.size() > 1 && path[0] == '/' ? path.substr(1) : path;
  server_.Handle("POST", path,
                 [this, name, webhook = std::move(webhook)](const http::ServerRequest& request) {
                   return Serve(name, webhook, request);
                 });
}

http::ServerResponse AdmissionServer::Serve(const std::string& name, const WebhookFunction& webhook,
                                            const http::ServerRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  http::ServerResponse response = ServeAdmission(webhook, request);
  if (options_.metrics.latency_seconds) {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    options_.metrics.latency_seconds->With({name, std::to_string(response.status)}).Observe(took.count());
  }
  if (response.status != 200) {
    log::Warn("malformed admission request",
              {{"webhook", name}, {"status", response.status}, {"remote", request.remote_address}});
  }
  return response;
}

Status AdmissionServer::Start() {
  return server_.Start();
}

void AdmissionServer::Stop() {
  server_.Stop();
}

}  // namespace promsidecar::admission
