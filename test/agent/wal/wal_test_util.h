// Helpers shared by the WAL tests: read a whole reader, describe a scrape.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/wal/wal.h"

namespace promsidecar::wal::testing {

struct Collected {
  std::map<uint64_t, model::Labels> series;  // every series record seen
  std::vector<RefSample> samples;            // in log order
  std::vector<model::Labels> sample_labels;  // labels of each sample, resolved when read
  uint64_t unresolved = 0;                   // samples whose ref had no series record before them
  std::vector<Position> ends;                // end position of every record from the log (not announcements)
  std::vector<RefHistogram> histograms;      // in log order
  std::vector<RefExemplar> exemplars;        // in log order
  std::map<uint64_t, model::Metadata> metadata;  // the latest of every ref
  std::string error;
};

// Reads into `c` until caught up, or until `max_samples_records` samples
// records were read. A ref defined twice must carry the same labels.
inline void ReadInto(Reader& reader, Collected& c, size_t max_samples_records = SIZE_MAX) {
  size_t samples_records = 0;
  while (samples_records < max_samples_records) {
    auto e = reader.Next();
    if (!e.ok()) {
      c.error = e.message();
      return;
    }
    if (!e->has_value()) return;
    const Entry& entry = **e;
    if (auto* s = std::get_if<SeriesRecord>(&entry.record)) {
      for (const auto& rs : s->series) {
        auto [it, inserted] = c.series.emplace(rs.ref, rs.labels);
        EXPECT_EQ(it->second, rs.labels) << "ref " << rs.ref << " redefined with other labels";
      }
    } else if (auto* h = std::get_if<HistogramsRecord>(&entry.record)) {
      for (const auto& x : h->histograms) {
        if (!c.series.contains(x.ref)) c.unresolved++;
        c.histograms.push_back(x);
      }
    } else if (auto* ex = std::get_if<ExemplarsRecord>(&entry.record)) {
      for (const auto& x : ex->exemplars) {
        if (!c.series.contains(x.ref)) c.unresolved++;
        c.exemplars.push_back(x);
      }
    } else if (auto* m = std::get_if<MetadataRecord>(&entry.record)) {
      for (const auto& x : m->metadata) {
        if (!c.series.contains(x.ref)) c.unresolved++;
        c.metadata[x.ref] = x.metadata;
      }
    } else {
      ++samples_records;
      for (const auto& smp : std::get<SamplesRecord>(entry.record).samples) {
        auto it = c.series.find(smp.ref);
        if (it == c.series.end()) {
          c.unresolved++;
          c.sample_labels.push_back({});
        } else {
          c.sample_labels.push_back(it->second);
        }
        c.samples.push_back(smp);
      }
    }
    if (c.ends.empty() || c.ends.back() != entry.end) c.ends.push_back(entry.end);
  }
}

inline Collected ReadAll(Reader& reader) {
  Collected c;
  ReadInto(reader, c);
  return c;
}

inline bool SameBits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

inline model::Labels SeriesLabels(int i) {
  return model::Labels{{"__name__", "metric_" + std::to_string(i % 7)},
                       {"instance", "localhost:8080"},
                       {"series", std::to_string(i)}};
}

}  // namespace promsidecar::wal::testing
