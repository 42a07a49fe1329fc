#include "agent/runtime/web.h"

#include "common/log/log.h"

namespace promsidecar::agent {

Web::Web(WebOptions options, metrics::Registry& registry, std::function<bool()> ready,
         metrics::Counter& bind_failures)
    : options_(std::move(options)), bind_failures_(bind_failures) {
  http::ServerOptions so;
  so.listen_address = options_.listen_address;
  so.name = "web";
  so.worker_threads = 2;
  server_ = std::make_unique<http::Server>(so);
  server_->Handle("GET", "/metrics", [&registry](const http::ServerRequest&) {
    http::ServerResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = registry.Render();
    return r;
  });
  const std::string program = options_.program;
  server_->Handle("GET", "/-/healthy", [program](const http::ServerRequest&) {
    return http::ServerResponse::Text(200, program + " is Healthy.\n");
  });
  server_->Handle("GET", "/-/ready", [program, ready = std::move(ready)](const http::ServerRequest&) {
    return ready() ? http::ServerResponse::Text(200, program + " is Ready.\n")
                   : http::ServerResponse::Text(503, "Service Unavailable\n");
  });
}

Web::~Web() {
  Stop();
}

void Web::Handle(std::string method, std::string path, http::Handler handler) {
  server_->Handle(std::move(method), std::move(path), std::move(handler));
}

void Web::Start() {
  if (Status s = server_->Start(); s.ok()) {
    log::Info("web server listening", {{"address", options_.listen_address}, {"port", server_->BoundPort()}});
    return;
  } else {
    bind_failures_.Inc();
    log::Error("cannot listen; the work goes on, retrying the bind",
               {{"address", options_.listen_address}, {"err", s.message()}});
  }
  retry_thread_ = std::thread([this] {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (cv_.wait_for(lock, options_.bind_retry, [this] { return stop_; })) return;
      }
      if (server_->Start().ok()) {
        log::Info("web server listening",
                  {{"address", options_.listen_address}, {"port", server_->BoundPort()}});
        return;
      }
      bind_failures_.Inc();
    }
  });
}

void Web::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (retry_thread_.joinable()) retry_thread_.join();
  if (server_) server_->Stop();
}

int Web::port() const {
  return server_ && server_->Running() ? server_->BoundPort() : 0;
}

}  // namespace promsidecar::agent
