// One remote-write queue: takes batches from a SampleSource, encodes them,
// sends them through a Transport, and acknowledges each batch to the source
// only once it is done with: sent (2xx) or deliberately dropped (a 4xx the
// spec forbids retrying; counted). Retryable failures (5xx, 429 when enabled,
// network errors) are retried with backoff for as long as it takes, so a
// batch is never lost to an outage and batches are sent strictly in order
// (one request in flight), which keeps every series in timestamp order.
//
// Remote write 2.0 (SenderOptions::message = kV2), as its spec asks of a
// sender that also speaks 1.0: a 415 answer, or a 2xx without any
// X-Prometheus-Remote-Write-*-Written header (a 1.0 receiver that ignored the
// Content-Type and decoded nothing), switches this sender to 1.0 for the
// rest of its life and sends the same batch again as 1.0 — logged once,
// visible in stats().message. A 2xx whose headers confirm fewer items than
// were sent (a missing header counts as 0) is logged and counted. With 1.0,
// metadata goes out in requests of its own every metadata_send_interval.
//
// Threads: Run() on the sender's own thread; Stop() and stats() from any.
// Senders share nothing, so a dead endpoint stalls only its own sender.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "agent/remote_write/batch.h"
#include "agent/remote_write/clock.h"
#include "agent/remote_write/encoder.h"
#include "agent/remote_write/retry_policy.h"
#include "agent/remote_write/source.h"
#include "agent/remote_write/transport.h"

namespace promsidecar::remote_write {

struct SenderOptions {
  std::string name;  // for logs, e.g. the URL without credentials (RedactUrl)
  RetryOptions retry;
  MessageType message = MessageType::kV1;  // protobuf_message
  // metadata_config: whether metadata is sent (2.0: per series in every
  // request; 1.0: every interval, at most this many families per request).
  bool send_metadata = true;
  std::chrono::milliseconds metadata_send_interval{std::chrono::minutes(1)};
  size_t metadata_max_per_send = 500;
  // How long one NextBatch call may wait; bounds how late Stop() is noticed
  // while idle.
  std::chrono::milliseconds poll_interval{250};
};

// Counters, named after Prometheus's prometheus_remote_storage_* metrics.
struct SenderStats {
  uint64_t samples_sent = 0;     // float samples acknowledged by a 2xx
  uint64_t histograms_sent = 0;  // native histogram samples acknowledged by a 2xx
  uint64_t exemplars_sent = 0;   // exemplars acknowledged by a 2xx
  uint64_t metadata_sent = 0;    // 1.0 metadata entries acknowledged by a 2xx
  uint64_t metadata_failed = 0;  // 1.0 metadata requests that failed (sent again next interval)
  uint64_t samples_failed = 0;   // items dropped after a non-retryable answer
  uint64_t samples_retried = 0;  // items per attempt that must be retried
  // 2.0: items a 2xx answer's Written headers did not confirm.
  uint64_t written_unconfirmed = 0;
  MessageType message = MessageType::kV1;  // what the sender speaks now (2.0 may have fallen back)
  uint64_t batches_sent = 0;
  uint64_t batches_failed = 0;
  uint64_t bytes_sent = 0;             // compressed request bytes acknowledged by a 2xx
  int64_t last_send_timestamp_ms = 0;  // wall clock of the last 2xx, 0 if none
  uint64_t pending_samples = 0;        // items in the batch being sent or retried
};

class Sender {
 public:
  // `uniform01` draws the backoff jitter; default: a seeded PRNG.
  Sender(SenderOptions options, SampleSource& source, Transport& transport, Clock& clock,
         std::function<double()> uniform01 = {});
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // Sends until stopped. After Stop(), keeps sending what the source still
  // holds until the flush deadline, then returns; a batch not sent by then
  // is not acknowledged and will be read again after a restart.
  void Run();

  // Asks Run() to finish by `flush_deadline`; wakes a sender waiting out a
  // backoff. A later call may only bring the deadline closer.
  void Stop(std::chrono::steady_clock::time_point flush_deadline);

  SenderStats stats() const;

 private:
  // Sends batch_ until done (true) or until the stop deadline forbids
  // another attempt (false).
  bool SendBatch();
  // Encodes batch_ in the current message type; returns the body.
  std::string_view Encode();
  // 2.0 cannot be used with this endpoint: 1.0 from now on, logged once.
  void FallBackToV1(const std::string& why);
  // 2.0 2xx: whether the Written headers confirm what was sent.
  void CheckWritten(const HttpResult& result);
  // 1.0: the families' metadata in requests of their own (one attempt; a
  // failure waits for the next interval).
  void SendMetadata();
  bool Stopping(std::chrono::steady_clock::time_point* flush_deadline) const;

  SenderOptions options_;
  SampleSource& source_;
  Transport& transport_;
  Clock& clock_;
  Backoff backoff_;
  Encoder encoder_;
  EncoderV2 encoder_v2_;
  std::atomic<MessageType> message_;
  std::chrono::steady_clock::time_point next_metadata_;
  Batch batch_;
  Wakeup wakeup_;

  mutable std::mutex stop_mu_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point flush_deadline_;

  std::atomic<uint64_t> samples_sent_{0}, samples_failed_{0}, samples_retried_{0};
  std::atomic<uint64_t> histograms_sent_{0}, exemplars_sent_{0}, metadata_sent_{0}, metadata_failed_{0};
  std::atomic<uint64_t> written_unconfirmed_{0};
  std::atomic<uint64_t> batches_sent_{0}, batches_failed_{0}, bytes_sent_{0}, pending_samples_{0};
  std::atomic<int64_t> last_send_ms_{0};
};

}  // namespace promsidecar::remote_write
