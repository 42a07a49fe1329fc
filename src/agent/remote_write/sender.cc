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
               uniform01 ? std::move(uniform01) : DefaultUniform01()),
      message_(options_.message),
      next_metadata_(clock_.Now()) {}

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
  s.histograms_sent = histograms_sent_.load();
  s.exemplars_sent = exemplars_sent_.load();
  s.metadata_sent = metadata_sent_.load();
  s.metadata_failed = metadata_failed_.load();
  s.written_unconfirmed = written_unconfirmed_.load();
  s.message = message_.load();
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
    if (!stopping && options_.send_metadata && message_.load() == MessageType::kV1 && now >= next_metadata_) {
      SendMetadata();
      now = clock_.Now();
    }
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

std::string_view Sender::Encode() {
  std::span<const model::Sample> samples(batch_.samples);
  std::span<const model::HistogramSample> histograms(batch_.histograms);
  std::span<const model::Exemplar> exemplars(batch_.exemplars);
  if (message_.load() == MessageType::kV2) {
    encoder_v2_.Begin();
    for (const auto& s : batch_.series) {
      encoder_v2_.AddSeries(*s.labels, options_.send_metadata ? s.metadata.get() : nullptr,
                            samples.subspan(s.first, s.count),
                            histograms.subspan(s.histograms_first, s.histograms_count),
                            exemplars.subspan(s.exemplars_first, s.exemplars_count));
    }
    return encoder_v2_.Compress();
  }
  encoder_.Begin();
  for (const auto& s : batch_.series) {
    encoder_.AddSeries(*s.labels, samples.subspan(s.first, s.count),
                       histograms.subspan(s.histograms_first, s.histograms_count),
                       exemplars.subspan(s.exemplars_first, s.exemplars_count));
  }
  return encoder_.Compress();
}

void Sender::FallBackToV1(const std::string& why) {
  message_.store(MessageType::kV1);
  next_metadata_ = clock_.Now();  // 1.0 sends metadata on its own: start now
  log::Warn("remote write 2.0 is not accepted by this endpoint; sending remote write 1.0 from now on",
            {{"remote", options_.name}, {"reason", why}});
}

void Sender::CheckWritten(const HttpResult& result) {
  // A missing header means none of that kind was written (2.0 spec).
  const uint64_t samples = result.samples_written.value_or(0);
  const uint64_t histograms = result.histograms_written.value_or(0);
  const uint64_t exemplars = result.exemplars_written.value_or(0);
  uint64_t missing = 0;
  if (samples < batch_.samples.size()) missing += batch_.samples.size() - samples;
  if (histograms < batch_.histograms.size()) missing += batch_.histograms.size() - histograms;
  if (exemplars < batch_.exemplars.size()) missing += batch_.exemplars.size() - exemplars;
  if (missing == 0) return;
  written_unconfirmed_ += missing;
  log::Warn("remote write 2.0: the endpoint answered 2xx but confirmed fewer items than were sent",
            {{"remote", options_.name},
             {"samples_sent", static_cast<uint64_t>(batch_.samples.size())},
             {"samples_written", samples},
             {"histograms_sent", static_cast<uint64_t>(batch_.histograms.size())},
             {"histograms_written", histograms},
             {"exemplars_sent", static_cast<uint64_t>(batch_.exemplars.size())},
             {"exemplars_written", exemplars}});
}

void Sender::SendMetadata() {
  next_metadata_ = clock_.Now() + options_.metadata_send_interval;
  const auto families = source_.FamilyMetadata();
  const size_t per = std::max<size_t>(1, options_.metadata_max_per_send);
  for (size_t i = 0; i < families.size(); i += per) {
    std::span<const std::shared_ptr<const model::Metadata>> chunk(families.data() + i,
                                                                  std::min(per, families.size() - i));
    encoder_.Begin();
    encoder_.AddMetadata(chunk);
    auto result = transport_.Post(Request{encoder_.Compress(), milliseconds(0), MessageType::kV1});
    if (Classify(result, options_.retry, clock_.WallNow()).outcome != Outcome::kOk) {
      ++metadata_failed_;
      log::Warn("remote write: sending metadata failed; sending it again in the next interval",
                {{"remote", options_.name},
                 {"error", result.ok() ? "HTTP " + std::to_string(result->status) : result.message()}});
      return;
    }
    metadata_sent_ += chunk.size();
  }
}

bool Sender::SendBatch() {
  std::string_view body = Encode();
  const uint64_t n = batch_.items();
  pending_samples_.store(n);

  while (true) {
    const MessageType message = message_.load();
    Request request{body, milliseconds(0), message};
    SteadyPoint flush_deadline;
    if (Stopping(&flush_deadline)) {
      auto left = std::chrono::duration_cast<milliseconds>(flush_deadline - clock_.Now());
      if (left.count() <= 0) return false;
      request.timeout = left;
    }

    auto result = transport_.Post(request);
    if (message == MessageType::kV2 && result.ok()) {
      if (result->status == 415) {
        FallBackToV1("HTTP 415 Unsupported Media Type");
        body = Encode();
        continue;  // the same batch, now as 1.0: nothing was written
      }
      if (result->status >= 200 && result->status < 300 && !result->any_written_header()) {
        // The spec: assume 415 — a 1.0 receiver decoded a 2.0 body as an empty 1.0 request.
        FallBackToV1("2xx without X-Prometheus-Remote-Write-*-Written headers (a 1.0 receiver)");
        body = Encode();
        continue;
      }
      if (result->status >= 200 && result->status < 300) CheckWritten(*result);
    }
    Decision d = Classify(result, options_.retry, clock_.WallNow());
    switch (d.outcome) {
      case Outcome::kOk:
        samples_sent_ += batch_.samples.size();
        histograms_sent_ += batch_.histograms.size();
        exemplars_sent_ += batch_.exemplars.size();
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
