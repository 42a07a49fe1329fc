// One remote-write queue: takes batches from a SampleSource, encodes them,
// sends them through a Transport, and acknowledges each batch to the source
// only once it is done with: sent (2xx) or deliberately dropped (a 4xx the
// spec forbids retrying; counted). Retryable failures (5xx, 429 when enabled,
// network errors) are retried with backoff for as long as it takes, so a
// batch is never lost to an outage and batches are sent strictly in order
// (one request in flight), which keeps every series in timestamp order.
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
  // How long one NextBatch call may wait; bounds how late Stop() is noticed
  // while idle.
  std::chrono::milliseconds poll_interval{250};
};

// Counters, named after Prometheus's prometheus_remote_storage_* metrics.
struct SenderStats {
  uint64_t samples_sent = 0;     // acknowledged by a 2xx
  uint64_t samples_failed = 0;   // dropped after a non-retryable answer
  uint64_t samples_retried = 0;  // per attempt that must be retried
  uint64_t batches_sent = 0;
  uint64_t batches_failed = 0;
  uint64_t bytes_sent = 0;             // compressed request bytes acknowledged by a 2xx
  int64_t last_send_timestamp_ms = 0;  // wall clock of the last 2xx, 0 if none
  uint64_t pending_samples = 0;        // in the batch being sent or retried
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
  bool Stopping(std::chrono::steady_clock::time_point* flush_deadline) const;

  SenderOptions options_;
  SampleSource& source_;
  Transport& transport_;
  Clock& clock_;
  Backoff backoff_;
  Encoder encoder_;
  Batch batch_;
  Wakeup wakeup_;

  mutable std::mutex stop_mu_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point flush_deadline_;

  std::atomic<uint64_t> samples_sent_{0}, samples_failed_{0}, samples_retried_{0};
  std::atomic<uint64_t> batches_sent_{0}, batches_failed_{0}, bytes_sent_{0}, pending_samples_{0};
  std::atomic<int64_t> last_send_ms_{0};
};

}  // namespace promsidecar::remote_write
