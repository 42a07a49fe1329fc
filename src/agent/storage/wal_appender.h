// The scrape side's view of the WAL: a scrape::Appender per scrape loop, all
// sharing one wal::Wal. The WAL has one appender thread and one open
// transaction, so a transaction holds the shared lock from Begin to Commit;
// fetching happens outside it, only the (short) processing of a body inside.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "agent/scrape/appender.h"
#include "agent/wal/wal.h"

namespace promsidecar::storage {

// Owned by the agent; outlives every WalAppender.
class SharedWal {
 public:
  explicit SharedWal(wal::Wal* wal) : wal_(wal) {}
  wal::Wal* wal() const { return wal_; }
  std::mutex& mu() { return mu_; }
  // Wire to wal::Options::on_series_forgotten (called inside Commit, lock held).
  void OnSeriesForgotten() { epoch_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t epoch() const { return epoch_.load(std::memory_order_relaxed); }
  // Samples, histograms, exemplars and metadata the WAL refused (unknown
  // ref); 0 in a healthy agent.
  std::atomic<uint64_t> rejected_samples{0};
  std::atomic<uint64_t> failed_commits{0};

 private:
  wal::Wal* wal_;
  std::mutex mu_;
  std::atomic<uint64_t> epoch_{0};
};

class WalAppender : public scrape::Appender {
 public:
  explicit WalAppender(SharedWal& shared) : shared_(shared) {}
  ~WalAppender() override;

  void Begin() override;
  uint64_t ForgetEpoch() const override { return shared_.epoch(); }
  scrape::SeriesRef AddSeries(const model::Labels& labels) override;
  void Append(scrape::SeriesRef ref, int64_t timestamp_ms, double value) override;
  void AppendHistogram(scrape::SeriesRef ref, int64_t timestamp_ms,
                       const model::Histogram& histogram) override;
  void AppendExemplar(scrape::SeriesRef ref, const model::Exemplar& exemplar) override;
  void SetMetadata(scrape::SeriesRef ref, const model::Metadata& metadata) override;
  Status Commit() override;
  void Rollback() override;

 private:
  SharedWal& shared_;
  std::unique_lock<std::mutex> lock_;
};

}  // namespace promsidecar::storage
