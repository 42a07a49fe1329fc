#include "agent/remote_write/batcher.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "common/util/utf8.h"

namespace promsidecar::remote_write {

std::optional<std::string> ValidateLabels(const model::Labels& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto& l = labels[i];
    if (!model::IsValidLabelName(l.name)) return "invalid label name \"" + l.name + "\"";
    if (l.value.empty()) return "empty value for label " + l.name;
    if (i > 0 && labels[i - 1].name == l.name) return "duplicate label name " + l.name;
    if (i > 0 && labels[i - 1].name > l.name) return "labels not sorted by name at " + l.name;
    // A protobuf string must be valid UTF-8; receivers may reject the request otherwise.
    if (!IsValidUtf8(l.value)) return "label " + l.name + " has a value that is not valid UTF-8";
    if (l.name == model::kMetricName && !model::IsValidMetricName(l.value)) {
      return "invalid metric name \"" + l.value + "\"";
    }
  }
  return std::nullopt;
}

void AddExternalLabels(model::Labels& labels, const model::Labels& external) {
  if (external.empty()) return;
  model::Labels merged;
  merged.reserve(labels.size() + external.size());
  auto a = labels.begin();
  auto b = external.begin();
  while (a != labels.end() || b != external.end()) {
    if (b == external.end() || (a != labels.end() && a->name < b->name)) {
      merged.push_back(std::move(*a++));
    } else if (a == labels.end() || b->name < a->name) {
      merged.push_back(*b++);
    } else {  // same name: the series' own value wins
      merged.push_back(std::move(*a++));
      ++b;
    }
  }
  labels = std::move(merged);
}

Batcher::Batcher(BatcherOptions options) : options_(std::move(options)) {
  if (options_.max_samples_per_send == 0) options_.max_samples_per_send = 1;
  pending_.reserve(options_.max_samples_per_send);
}

bool Batcher::SetSeries(SeriesRef ref, const model::Labels& labels) {
  Entry& e = series_[ref];
  e.remove_after_take = false;
  e.invalid = false;
  e.labels.reset();
  e.metadata.reset();  // a redefinition is followed by its metadata again

  model::Labels out = labels;
  AddExternalLabels(out, options_.external_labels);
  if (options_.relabel && !options_.relabel(out)) {
    ++stats_.series_dropped_relabel;
    return false;
  }
  if (out.empty() || ValidateLabels(out)) {
    e.invalid = true;
    ++stats_.series_invalid;
    return false;
  }
  e.labels = std::make_shared<const model::Labels>(std::move(out));
  return true;
}

void Batcher::SetMetadata(SeriesRef ref, const model::Metadata& metadata) {
  auto it = series_.find(ref);
  if (it == series_.end() || !options_.send_metadata) return;
  if (it->second.metadata && *it->second.metadata == metadata) return;
  it->second.metadata = std::make_shared<const model::Metadata>(metadata);
}

std::vector<std::shared_ptr<const model::Metadata>> Batcher::FamilyMetadata() const {
  std::map<std::string_view, std::shared_ptr<const model::Metadata>> by_family;
  for (const auto& [ref, e] : series_) {
    if (e.labels && e.metadata && !e.metadata->family.empty())
      by_family.emplace(e.metadata->family, e.metadata);
  }
  std::vector<std::shared_ptr<const model::Metadata>> out;
  out.reserve(by_family.size());
  for (auto& [name, m] : by_family) out.push_back(std::move(m));
  return out;
}

void Batcher::RemoveSeries(SeriesRef ref) {
  auto it = series_.find(ref);
  if (it == series_.end()) return;
  if (it->second.pending == 0 && it->second.held == 0) {
    series_.erase(it);
    return;
  }
  it->second.remove_after_take = true;
  deferred_removals_.push_back(ref);
}

Batcher::Entry* Batcher::Accept(SeriesRef ref, SteadyTime now) {
  auto it = series_.find(ref);
  if (it == series_.end()) {
    ++stats_.samples_unknown_series;
    return nullptr;
  }
  Entry& e = it->second;
  if (!e.labels) {
    ++(e.invalid ? stats_.samples_invalid : stats_.samples_dropped_relabel);
    return nullptr;
  }
  if (pending_.empty()) first_pending_ = now;
  ++e.pending;
  return &e;
}

void Batcher::Append(SeriesRef ref, const model::Sample& sample, SteadyTime now) {
  Entry* e = Accept(ref, now);
  if (e == nullptr) return;
  ++e->pending_samples;
  pending_.push_back(Pending{e, Kind::kSample, sample});
}

void Batcher::AppendHistogram(SeriesRef ref, model::HistogramSample&& histogram, SteadyTime now) {
  if (!options_.send_native_histograms) {
    ++stats_.histograms_not_sent;
    return;
  }
  Entry* e = Accept(ref, now);
  if (e == nullptr) return;
  ++e->pending_histograms;
  pending_.push_back(Pending{e, Kind::kHistogram, {static_cast<int64_t>(pending_histograms_.size()), 0}});
  pending_histograms_.push_back(std::move(histogram));
}

void Batcher::AppendExemplar(SeriesRef ref, model::Exemplar&& exemplar, SteadyTime now) {
  if (!options_.send_exemplars) return;  // as Prometheus: not sent, not counted
  Entry* e = Accept(ref, now);
  if (e == nullptr) return;
  pending_.push_back(Pending{e, Kind::kExemplar, {static_cast<int64_t>(pending_exemplars_.size()), 0}});
  pending_exemplars_.push_back(std::move(exemplar));
}

std::optional<SteadyTime> Batcher::FlushDeadline() const {
  if (!first_pending_) return std::nullopt;
  return *first_pending_ + options_.batch_send_deadline;
}

bool Batcher::ShouldFlush(SteadyTime now) const {
  if (pending_.empty()) return false;
  return Full() || now >= *FlushDeadline();
}

void Batcher::TakeBatch(Batch& out) {
  out.Clear();
  take_order_.clear();
  // Exemplars held back by the previous take come first (marked).
  if (!held_.empty()) {
    std::vector<Pending> merged;
    merged.reserve(held_.size() + pending_.size());
    for (auto& h : held_) {
      --h.entry->held;
      ++h.entry->pending;
      merged.push_back(Pending{
          h.entry, Kind::kExemplar, {static_cast<int64_t>(pending_exemplars_.size()), h.waited ? 1.0 : 0.0}});
      pending_exemplars_.push_back(std::move(h.exemplar));
    }
    merged.insert(merged.end(), pending_.begin(), pending_.end());
    pending_ = std::move(merged);
    held_.clear();
  }
  // Counting sort by series in order of first appearance: stable, so each
  // series keeps its items' arrival order.
  for (const auto& p : pending_) {
    Entry* e = p.entry;
    if (e->batch_index == kNoIndex) {
      e->batch_index = static_cast<uint32_t>(take_order_.size());
      take_order_.push_back(e);
    }
  }
  out.series.resize(take_order_.size());
  uint32_t samples = 0, histograms = 0, exemplars = 0;
  for (size_t i = 0; i < take_order_.size(); ++i) {
    Entry* e = take_order_[i];
    // A redefinition after Append may have dropped the series meanwhile.
    const bool send = e->labels != nullptr;
    if (!send) (e->invalid ? stats_.samples_invalid : stats_.samples_dropped_relabel) += e->pending;
    const uint32_t ns = send ? e->pending_samples : 0;
    const uint32_t nh = send ? e->pending_histograms : 0;
    uint32_t ne = send ? e->pending - e->pending_samples - e->pending_histograms : 0;
    // Exemplars travel with a sample of their series (remote write 2.0
    // refuses a series without samples or histograms); those whose sample
    // went out in the previous batch wait for the series' next one.
    e->hold_exemplars = ne > 0 && ns == 0 && nh == 0;
    if (e->hold_exemplars) ne = 0;
    out.series[i] = Batch::Series{e->labels, e->metadata, samples, 0, histograms, 0, exemplars, 0};
    samples += ns;
    histograms += nh;
    exemplars += ne;
  }
  out.samples.resize(samples);
  out.histograms.resize(histograms);
  out.exemplars.resize(exemplars);
  // A batch with samples or histograms: an exemplar held across it without
  // its series' sample is given up.
  const bool real = samples + histograms > 0;
  for (auto& p : pending_) {
    auto& s = out.series[p.entry->batch_index];
    if (!s.labels) continue;
    switch (p.kind) {
      case Kind::kSample: out.samples[s.first + s.count++] = p.sample; break;
      case Kind::kHistogram:
        out.histograms[s.histograms_first + s.histograms_count++] =
            std::move(pending_histograms_[static_cast<size_t>(p.sample.timestamp_ms)]);
        break;
      case Kind::kExemplar: {
        auto& ex = pending_exemplars_[static_cast<size_t>(p.sample.timestamp_ms)];
        if (p.entry->hold_exemplars) {
          if (p.sample.value != 0 && real) {
            ++stats_.exemplars_without_sample;  // its series had no sample in a whole batch more
          } else {
            ++p.entry->held;
            held_.push_back(Held{p.entry, std::move(ex), p.sample.value != 0 || real});
          }
          break;
        }
        out.exemplars[s.exemplars_first + s.exemplars_count++] = std::move(ex);
        break;
      }
    }
  }
  for (Entry* e : take_order_) {
    e->batch_index = kNoIndex;
    e->pending = e->pending_samples = e->pending_histograms = 0;
    e->hold_exemplars = false;
  }
  std::erase_if(out.series, [](const Batch::Series& s) {
    return !s.labels || (s.count == 0 && s.histograms_count == 0 && s.exemplars_count == 0);
  });
  pending_.clear();
  pending_histograms_.clear();
  pending_exemplars_.clear();
  first_pending_.reset();
  out.end = position_;

  std::vector<SeriesRef> still_pending;
  for (SeriesRef ref : deferred_removals_) {
    auto it = series_.find(ref);
    if (it == series_.end() || !it->second.remove_after_take) continue;
    if (it->second.held > 0) {
      still_pending.push_back(ref);  // a held exemplar still points at it
    } else {
      series_.erase(it);
    }
  }
  deferred_removals_ = std::move(still_pending);
}

}  // namespace promsidecar::remote_write
