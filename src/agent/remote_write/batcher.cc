#include "agent/remote_write/batcher.h"

#include <algorithm>
#include <string>
#include <utility>

namespace promsidecar::remote_write {
namespace {

// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF): a protobuf
// string must be valid UTF-8 and receivers may reject the request otherwise.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

}  // namespace

std::optional<std::string> ValidateLabels(const model::Labels& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto& l = labels[i];
    if (!model::IsValidLabelName(l.name)) return "invalid label name \"" + l.name + "\"";
    if (l.value.empty()) return "empty value for label " + l.name;
    if (i > 0 && labels[i - 1].name == l.name) return "duplicate label name " + l.name;
    if (i > 0 && labels[i - 1].name > l.name) return "labels not sorted by name at " + l.name;
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

void Batcher::RemoveSeries(SeriesRef ref) {
  auto it = series_.find(ref);
  if (it == series_.end()) return;
  if (it->second.pending == 0) {
    series_.erase(it);
    return;
  }
  it->second.remove_after_take = true;
  deferred_removals_.push_back(ref);
}

void Batcher::Append(SeriesRef ref, const model::Sample& sample, SteadyTime now) {
  auto it = series_.find(ref);
  if (it == series_.end()) {
    ++stats_.samples_unknown_series;
    return;
  }
  Entry& e = it->second;
  if (!e.labels) {
    ++(e.invalid ? stats_.samples_invalid : stats_.samples_dropped_relabel);
    return;
  }
  if (pending_.empty()) first_pending_ = now;
  ++e.pending;
  pending_.push_back(Pending{&e, sample});
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
  // Counting sort by series in order of first appearance: stable, so each
  // series keeps its samples' arrival order.
  for (const auto& p : pending_) {
    Entry* e = p.entry;
    if (e->batch_index == kNoIndex) {
      e->batch_index = static_cast<uint32_t>(take_order_.size());
      take_order_.push_back(e);
    }
  }
  out.series.resize(take_order_.size());
  uint32_t offset = 0;
  for (size_t i = 0; i < take_order_.size(); ++i) {
    Entry* e = take_order_[i];
    // A redefinition after Append may have dropped the series meanwhile.
    uint32_t n = e->labels ? e->pending : 0;
    if (!e->labels) (e->invalid ? stats_.samples_invalid : stats_.samples_dropped_relabel) += e->pending;
    out.series[i] = Batch::Series{e->labels, offset, 0};
    offset += n;
  }
  out.samples.resize(offset);
  for (const auto& p : pending_) {
    auto& s = out.series[p.entry->batch_index];
    if (s.labels) out.samples[s.first + s.count++] = p.sample;
  }
  for (Entry* e : take_order_) {
    e->batch_index = kNoIndex;
    e->pending = 0;
  }
  std::erase_if(out.series, [](const Batch::Series& s) { return !s.labels; });
  pending_.clear();
  first_pending_.reset();
  out.end = position_;

  for (SeriesRef ref : deferred_removals_) {
    auto it = series_.find(ref);
    if (it != series_.end() && it->second.remove_after_take) series_.erase(it);
  }
  deferred_removals_.clear();
}

}  // namespace promsidecar::remote_write
