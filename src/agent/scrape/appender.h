// Where a scrape's samples go. One scrape is one transaction: everything of it
// (samples, stale markers, synthetic series) is committed at once or not at
// all. The real implementation writes the WAL; tests use an in-memory one.
#pragma once

#include <cstdint>

#include "agent/model/histogram.h"
#include "agent/model/labels.h"
#include "common/util/result.h"

namespace promsidecar::scrape {

using SeriesRef = uint64_t;

class Appender {
 public:
  virtual ~Appender() = default;
  // Starts a transaction; it ends with exactly one Commit (a Rollback may
  // come before it). A shared appender serializes transactions here.
  virtual void Begin() {}
  // Bumped when the store forgot series (refs of long-inactive series): every
  // cached ref must then be looked up again.
  virtual uint64_t ForgetEpoch() const { return 0; }
  // Declares a new series in this transaction and returns its ref; `labels`
  // are canonical. A ref stays valid after Commit; after Rollback, refs
  // created in the transaction are forgotten.
  virtual SeriesRef AddSeries(const model::Labels& labels) = 0;
  virtual void Append(SeriesRef ref, int64_t timestamp_ms, double value) = 0;
  // A native histogram sample of `ref`.
  virtual void AppendHistogram(SeriesRef ref, int64_t timestamp_ms, const model::Histogram& histogram) = 0;
  // An exemplar of `ref` (labels canonical, timestamp set).
  virtual void AppendExemplar(SeriesRef ref, const model::Exemplar& exemplar) = 0;
  // The metric metadata of `ref` from now on (called when it changes).
  virtual void SetMetadata(SeriesRef ref, const model::Metadata& metadata) = 0;
  // Makes the transaction durable (the WAL acknowledges it). On error the
  // transaction is discarded as by Rollback.
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
};

}  // namespace promsidecar::scrape
