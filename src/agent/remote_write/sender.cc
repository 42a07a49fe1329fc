#include "agent/remote_write/sender.h"

#include <algorithm>
#include <memory>
#include <random>
#include <span>
#include <utility>

#include "common/log/log.h"

namespace promsidecar::remote_write {

using std::chrono::milliseconds;
using SteadyPoint = std::chrono::steady_clock::time_point;

namespace {
std::function<double()> DefaultUniform01() {
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
}
}  // namespace

Sender::Sender(SenderOptions options, SampleSource& source, Transport& transport, Clock& clock,
               std::function<double()> uniform01)
    : options_(std::move(options)),
      source_(source),
      transport_(transport),
      clock_(clock),
      backoff_(options_.retry.min_backoff, options_.retry.max_backoff,
               uniform01 ? std::move(uniform01) : DefaultUniform01()) {}

void Sender::Stop(SteadyPoint flush_deadline) {
  {
    std::lock_guard lock(stop_mu_);
    flush_deadline_ = stopping_ ? std::min(flush_deadline_, flush_deadline) : flush_deadline;
    stopping_ = true;
  }
  wakeup_.Notify();
}

bool Sender::Stopping(SteadyPoint* flush_deadline) const {
  std::lock_guard lock(stop_mu_);
  if (flush_deadline) *flush_deadline = flush_deadline_;
  return stopping_;
}

SenderStats Sender::stats() const {
  SenderStats s;
  s.samples_sent = samples_sent_.load();
  s.samples_failed = samples_failed_.load();
  s.samples_retried = samples_retried_.load();
  s.batches_sent = batches_sent_.load();
  s.batches_failed = batches_failed_.load();
  s.bytes_sent = bytes_sent_.load();
  s.last_send_timestamp_ms = last_send_ms_.load();
  s.pending_samples = pending_samples_.load();
  return s;
}

void Sender::Run() {
  while (true) {
    SteadyPoint flush_deadline;
    bool stopping = Stopping(&flush_deadline);
    SteadyPoint now = clock_.Now();
    if (stopping && now >= flush_deadline) return;
    SteadyPoint deadline = now + options_.poll_interval;
    if (stopping) deadline = std::min(deadline, flush_deadline);
    if (!source_.NextBatch(batch_, deadline, stopping)) {
      if (stopping) return;  // drained
      continue;
    }
    if (batch_.empty()) {
      source_.Ack(batch_.end);  // everything read was dropped before sending
      continue;
    }
    if (!SendBatch()) return;
  }
}

bool Sender::SendBatch() {
  encoder_.Begin();
  std::span<const model::Sample> all(batch_.samples);
  for (const auto& s : batch_.series) encoder_.AddSeries(*s.labels, all.subspan(s.first, s.count));
  const std::string_view body = encoder_.Compress();
  const uint64_t n = batch_.samples.size();
  pending_samples_.store(n);

  while (true) {
    Request request{body, milliseconds(0)};
    SteadyPoint flush_deadline;
    if (Stopping(&flush_deadline)) {
      auto left = std::chrono::duration_cast<milliseconds>(flush_deadline - clock_.Now());
      if (left.count() <= 0) return false;
      request.timeout = left;
    }

    auto result = transport_.Post(request);
    Decision d = Classify(result, options_.retry, clock_.WallNow());
    switch (d.outcome) {
      case Outcome::kOk:
        samples_sent_ += n;
        batches_sent_ += 1;
        bytes_sent_ += body.size();
        last_send_ms_.store(
            std::chrono::duration_cast<milliseconds>(clock_.WallNow().time_since_epoch()).count());
        backoff_.Reset();
        pending_samples_.store(0);
        source_.Ack(batch_.end);
        return true;
      case Outcome::kDrop:
        samples_failed_ += n;
        batches_failed_ += 1;
        // The spec: do not interpret the receiver's message, log it as is.
        log::Error("remote write request rejected; dropping its samples", {{"remote", options_.name},
                                                                           {"status", result->status},
                                                                           {"samples", n},
                                                                           {"response", result->body}});
        pending_samples_.store(0);
        source_.Ack(batch_.end);
        return true;
      case Outcome::kRetry: break;
    }

    samples_retried_ += n;
    milliseconds delay = RetryDelay(d, options_.retry, backoff_);
    if (result.ok()) {
      log::Warn("remote write request failed; retrying",
                {{"remote", options_.name},
                 {"status", result->status},
                 {"retry_in_ms", static_cast<int64_t>(delay.count())},
                 {"response", result->body}});
    } else {
      log::Warn("remote write request failed; retrying",
                {{"remote", options_.name},
                 {"error", result.message()},
                 {"retry_in_ms", static_cast<int64_t>(delay.count())}});
    }
    const SteadyPoint wake_at = clock_.Now() + delay;
    while (clock_.Now() < wake_at) {
      if (Stopping(&flush_deadline)) {
        if (wake_at > flush_deadline) return false;  // the next try would miss the deadline
        // Stop() woke us but there is time for the next try: sleep out the
        // backoff. A Stop() racing with this Reset() only brings the deadline
        // closer, which the second look catches.
        wakeup_.Reset();
        if (Stopping(&flush_deadline) && wake_at > flush_deadline) return false;
      }
      clock_.SleepUntil(wake_at, wakeup_);
    }
  }
}

}  // namespace promsidecar::remote_write
