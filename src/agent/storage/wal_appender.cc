#include "agent/storage/wal_appender.h"

namespace promsidecar::storage {

WalAppender::~WalAppender() {
  if (lock_.owns_lock()) shared_.wal()->Rollback();
}

void WalAppender::Begin() {
  lock_ = std::unique_lock<std::mutex>(shared_.mu());
}

scrape::SeriesRef WalAppender::AddSeries(const model::Labels& labels) {
  if (!lock_.owns_lock()) Begin();
  return shared_.wal()->AppendSeries(labels);
}

void WalAppender::Append(scrape::SeriesRef ref, int64_t timestamp_ms, double value) {
  if (!lock_.owns_lock()) Begin();
  if (!shared_.wal()->AppendSample(ref, timestamp_ms, value).ok()) {
    shared_.rejected_samples.fetch_add(1, std::memory_order_relaxed);
  }
}

void WalAppender::AppendHistogram(scrape::SeriesRef ref, int64_t timestamp_ms,
                                  const model::Histogram& histogram) {
  if (!lock_.owns_lock()) Begin();
  if (!shared_.wal()->AppendHistogram(ref, timestamp_ms, histogram).ok()) {
    shared_.rejected_samples.fetch_add(1, std::memory_order_relaxed);
  }
}

void WalAppender::AppendExemplar(scrape::SeriesRef ref, const model::Exemplar& exemplar) {
  if (!lock_.owns_lock()) Begin();
  if (!shared_.wal()->AppendExemplar(ref, exemplar).ok()) {
    shared_.rejected_samples.fetch_add(1, std::memory_order_relaxed);
  }
}

void WalAppender::SetMetadata(scrape::SeriesRef ref, const model::Metadata& metadata) {
  if (!lock_.owns_lock()) Begin();
  if (!shared_.wal()->SetMetadata(ref, metadata).ok()) {
    shared_.rejected_samples.fetch_add(1, std::memory_order_relaxed);
  }
}

Status WalAppender::Commit() {
  if (!lock_.owns_lock()) Begin();
  Status s = shared_.wal()->Commit();
  if (!s.ok()) shared_.failed_commits.fetch_add(1, std::memory_order_relaxed);
  lock_.unlock();
  return s;
}

void WalAppender::Rollback() {
  if (!lock_.owns_lock()) Begin();
  shared_.wal()->Rollback();
}

}  // namespace promsidecar::storage
