// An in-memory Appender for tests: records committed series and samples.
#pragma once

#include <map>
#include <vector>

#include "agent/scrape/appender.h"

namespace promsidecar::scrape {

class MemoryAppender : public Appender {
 public:
  struct Row {
    SeriesRef ref;
    int64_t ts;
    double value;
  };
  SeriesRef AddSeries(const model::Labels& labels) override {
    SeriesRef ref = next_ref_++;
    pending_series_[ref] = labels;
    return ref;
  }
  void Append(SeriesRef ref, int64_t ts, double value) override { pending_.push_back({ref, ts, value}); }
  void AppendHistogram(SeriesRef ref, int64_t ts, const model::Histogram& h) override {
    pending_histograms_.push_back({ref, ts, h});
  }
  void AppendExemplar(SeriesRef ref, const model::Exemplar& e) override {
    pending_exemplars_.push_back({ref, e});
  }
  void SetMetadata(SeriesRef ref, const model::Metadata& m) override {
    pending_metadata_.emplace_back(ref, m);
  }
  Status Commit() override {
    if (fail_next_commit_) {
      fail_next_commit_ = false;
      Rollback();
      return MakeError("disk full");
    }
    for (auto& [ref, labels] : pending_series_) series_[ref] = labels;
    for (const Row& r : pending_) {
      if (!series_.contains(r.ref)) {
        RecordUnknownRef(r.ref);
      }
      rows_.push_back(r);
    }
    for (const auto& h : pending_histograms_) {
      if (!series_.contains(h.ref)) RecordUnknownRef(h.ref);
      histograms_.push_back(h);
    }
    for (const auto& e : pending_exemplars_) {
      if (!series_.contains(e.ref)) RecordUnknownRef(e.ref);
      exemplars_.push_back(e);
    }
    for (const auto& [ref, m] : pending_metadata_) {
      if (!series_.contains(ref)) RecordUnknownRef(ref);
      metadata_[ref] = m;
      ++metadata_updates_;
    }
    pending_series_.clear();
    pending_.clear();
    pending_histograms_.clear();
    pending_exemplars_.clear();
    pending_metadata_.clear();
    ++commits_;
    return {};
  }
  void Rollback() override {
    pending_series_.clear();
    pending_.clear();
    pending_histograms_.clear();
    pending_exemplars_.clear();
    pending_metadata_.clear();
    ++rollbacks_;
  }

  // Committed samples of the series whose labels print as `labels`.
  std::vector<Row> Of(const model::Labels& labels) const {
    std::vector<Row> out;
    for (const Row& r : rows_) {
      if (series_.at(r.ref) == labels) out.push_back(r);
    }
    return out;
  }
  // The committed value of metric `name` in the last commit containing it.
  const model::Labels& LabelsOf(SeriesRef ref) const { return series_.at(ref); }

  struct HistogramRow {
    SeriesRef ref;
    int64_t ts;
    model::Histogram h;
  };
  struct ExemplarRow {
    SeriesRef ref;
    model::Exemplar e;
  };
  std::vector<HistogramRow> histograms_, pending_histograms_;
  std::vector<ExemplarRow> exemplars_, pending_exemplars_;
  std::map<SeriesRef, model::Metadata> metadata_;
  std::vector<std::pair<SeriesRef, model::Metadata>> pending_metadata_;
  size_t metadata_updates_ = 0;
  std::map<SeriesRef, model::Labels> series_;
  std::map<SeriesRef, model::Labels> pending_series_;
  std::vector<Row> rows_;
  std::vector<Row> pending_;
  SeriesRef next_ref_ = 1;
  int commits_ = 0;
  int rollbacks_ = 0;
  bool fail_next_commit_ = false;
  std::vector<SeriesRef> unknown_refs_;

 private:
  void RecordUnknownRef(SeriesRef ref) { unknown_refs_.push_back(ref); }
};

}  // namespace promsidecar::scrape
