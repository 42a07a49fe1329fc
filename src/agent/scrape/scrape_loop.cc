#include "agent/scrape/scrape_loop.h"

#include "agent/scrape/offset.h"
#include "agent/textparse/content_type.h"

namespace promsidecar::scrape {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HttpFetcher::HttpFetcher(const http::TlsOptions& tls) : client_(http::ClientOptions{.tls = tls}) {}

Result<FetchResult> HttpFetcher::Fetch(const ScrapeTarget& target, uint64_t max_body_bytes) {
  http::Request req;
  req.url = target.url;
  req.timeout = target.timeout;
  req.decode_gzip = true;
  req.max_body_bytes = max_body_bytes;
  req.headers.Add("Accept", target.accept);
  // Tells the target how long it has, as Prometheus does.
  req.headers.Add("X-Prometheus-Scrape-Timeout-Seconds",
                  std::to_string(static_cast<double>(target.timeout.count()) / 1000.0));
  if (target.authorization) {
    if (std::string auth = target.authorization(); !auth.empty()) req.headers.Add("Authorization", auth);
  }
  http::FailureKind kind = http::FailureKind::kNone;
  auto resp = client_.Do(req, &kind);
  if (!resp.ok()) {
    if (kind == http::FailureKind::kBodyTooLarge) {
      return MakeError("body_size_limit exceeded: the response is larger than " +
                       std::to_string(max_body_bytes) + " bytes" +
                       (max_body_bytes == kDefaultBodySizeLimit
                            ? " (the default; set body_size_limit to change it)"
                            : ""));
    }
    return resp.error();
  }
  if (resp->status < 200 || resp->status > 299) {
    return MakeError("server returned HTTP status " + std::to_string(resp->status));
  }
  FetchResult out;
  out.body = std::move(resp->body);
  out.content_type = resp->headers.Get("Content-Type").value_or("");
  return out;
}

HttpProber::HttpProber(const http::TlsOptions& tls) : client_(http::ClientOptions{.tls = tls}) {}

bool HttpProber::Answers(const ScrapeTarget& target, std::chrono::milliseconds timeout) {
  // A connection (with its TLS handshake) is the answer: no request, so the
  // app renders no extra page and counts no scrape that is never stored.
  http::Request req;
  req.url = target.url;
  req.timeout = timeout;
  req.connect_only = true;
  return client_.Do(req).ok();
}

ScrapeLoop::ScrapeLoop(ScrapeTarget target, std::unique_ptr<Fetcher> fetcher,
                       std::unique_ptr<Appender> appender, LoopObserver observer, Clock now_ms)
    : target_(std::move(target)),
      fetcher_(std::move(fetcher)),
      appender_(std::move(appender)),
      observer_(std::move(observer)),
      now_ms_(now_ms ? std::move(now_ms) : Clock(WallMs)),
      state_(target_.settings) {}

ScrapeLoop::~ScrapeLoop() {
  Stop(false);
}

void ScrapeLoop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ScrapeLoop::Stop(bool mark_stale) {
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (mark_stale) MarkStale();
}

void ScrapeLoop::MarkStale() {
  std::lock_guard<std::mutex> lock(mu_);
  (void)state_.Drop(now_ms_(), *appender_);
}

ScrapeReport ScrapeLoop::ScrapeOnce() {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t start_ms = now_ms_();
  auto t0 = std::chrono::steady_clock::now();
  uint64_t limit = target_.settings.limits.body_size_limit;
  if (limit == 0) limit = kDefaultBodySizeLimit;  // 0 would mean unlimited to the client
  auto fetched = fetcher_->Fetch(target_, limit);
  double duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ScrapeReport report;
  if (!fetched.ok()) {
    report = state_.Fail(fetched.message(), start_ms, duration, *appender_);
  } else {
    auto format = textparse::FormatForContentType(fetched->content_type, target_.fallback_protocol).format;
    report = state_.Process(fetched->body, format, start_ms, duration, *appender_);
  }
  if (observer_.on_scrape) observer_.on_scrape(target_, report);
  return report;
}

void ScrapeLoop::Run() {
  while (true) {
    auto delay = DelayToNextSlot(target_.identity_hash, target_.interval, now_ms_());
    {
      std::unique_lock<std::mutex> lock(wait_mu_);
      if (wake_.wait_for(lock, delay, [this] { return stop_; })) return;
    }
    ScrapeOnce();
    // Never scrape twice in one slot, even when the scrape was instant.
    std::unique_lock<std::mutex> lock(wait_mu_);
    if (wake_.wait_for(lock, std::chrono::milliseconds(1), [this] { return stop_; })) return;
  }
}

}  // namespace promsidecar::scrape
