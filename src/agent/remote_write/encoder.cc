#include "agent/remote_write/encoder.h"

#include <snappy.h>

#include <algorithm>
#include <bit>
#include <cstdint>

#include "agent/remote_write/proto_writer.h"

namespace promsidecar::remote_write {
namespace {

using wire::DoubleField;
using wire::MessageField;
using wire::StringField;
using wire::VarintField;

// Appends a length-delimited field whose body `body(sink)` writes, sized
// first so it is written in one pass into space reserved once.
template <typename Body>
void AppendMessage(std::string& out, uint32_t field, Body&& body) {
  wire::SizeCounter c;
  body(c);
  const size_t size = c.size();
  const size_t start = out.size();
  out.resize(start + wire::VarintSize((static_cast<uint64_t>(field) << 3) | wire::kLen) +
             wire::VarintSize(size) + size);
  wire::Writer w(out.data() + start);
  wire::Tag(w, field, wire::kLen);
  w.Varint(size);
  body(w);
}

std::string_view Compress(const std::string& proto, std::string& compressed) {
  size_t max = snappy::MaxCompressedLength(proto.size());
  // Grow only: resize() would zero-fill on every request otherwise.
  if (compressed.size() < max) compressed.resize(max);
  size_t len = 0;
  snappy::RawCompress(proto.data(), proto.size(), compressed.data(), &len);
  return std::string_view(compressed.data(), len);
}

// Sample: value = 1 (double), timestamp = 2 (int64); 2.0 adds start_timestamp = 3.
template <typename Sink>
void SampleBody(Sink& s, const model::Sample& sample) {
  DoubleField(s, 1, sample.value);
  VarintField(s, 2, static_cast<uint64_t>(sample.timestamp_ms));
}

}  // namespace

// ---------------------------------------------------------------- 1.0

void Encoder::Begin() {
  proto_.clear();
  series_ = 0;
}

void Encoder::AddSeries(const model::Labels& labels, std::span<const model::Sample> samples,
                        std::span<const model::HistogramSample> histograms,
                        std::span<const model::Exemplar> exemplars) {
  // TimeSeries: labels = 1, samples = 2, exemplars = 3, histograms = 4.
  AppendMessage(proto_, 1, [&](auto& s) {
    for (const auto& l : labels) {
      MessageField(s, 1, [&l](auto& m) {
        StringField(m, 1, l.name);
        StringField(m, 2, l.value);
      });
    }
    for (const auto& sample : samples) MessageField(s, 2, [&sample](auto& m) { SampleBody(m, sample); });
    for (const auto& e : exemplars) {
      MessageField(s, 3, [&e](auto& m) {
        for (const auto& l : e.labels) {
          MessageField(m, 1, [&l](auto& lm) {
            StringField(lm, 1, l.name);
            StringField(lm, 2, l.value);
          });
        }
        DoubleField(m, 2, e.value);
        VarintField(m, 3, static_cast<uint64_t>(e.timestamp_ms));
      });
    }
    for (const auto& h : histograms) MessageField(s, 4, [&h](auto& m) { wire::HistogramBody(m, h); });
  });
  ++series_;
}

void Encoder::AddMetadata(std::span<const std::shared_ptr<const model::Metadata>> metadata) {
  // MetricMetadata: type = 1 (the 1.0 enum numbers types as model::MetricType
  // does), metric_family_name = 2, help = 4, unit = 5.
  for (const auto& m : metadata) {
    AppendMessage(proto_, 3, [&m](auto& s) {
      VarintField(s, 1, static_cast<uint64_t>(m->type));
      StringField(s, 2, m->family);
      StringField(s, 4, m->help);
      StringField(s, 5, m->unit);
    });
  }
}

std::string_view Encoder::Compress() {
  return remote_write::Compress(proto_, compressed_);
}

// ---------------------------------------------------------------- 2.0

void EncoderV2::Begin() {
  chunk_ = 0;
  chunk_used_ = 0;
  symbol_ids_.clear();
  symbols_.clear();
  series_bytes_.clear();
  proto_.clear();
  series_ = 0;
  Symbol("");  // the spec: symbols[0] is the empty string
}

std::string_view EncoderV2::Intern(std::string_view s) {
  constexpr size_t kChunk = 64 << 10;
  while (chunk_ < chunks_.size() && chunk_sizes_[chunk_] - chunk_used_ < s.size()) {
    ++chunk_;
    chunk_used_ = 0;
  }
  if (chunk_ == chunks_.size()) {
    const size_t size = std::max(kChunk, s.size());
    chunks_.push_back(std::make_unique<char[]>(size));
    chunk_sizes_.push_back(size);
    chunk_used_ = 0;
  }
  char* p = chunks_[chunk_].get() + chunk_used_;
  s.copy(p, s.size());
  chunk_used_ += s.size();
  return std::string_view(p, s.size());
}

uint32_t EncoderV2::Symbol(std::string_view s) {
  if (auto it = symbol_ids_.find(s); it != symbol_ids_.end()) return it->second;
  const std::string_view stored = Intern(s);
  const auto id = static_cast<uint32_t>(symbols_.size());
  symbol_ids_.emplace(stored, id);
  symbols_.push_back(stored);
  return id;
}

void EncoderV2::LabelRefs(const model::Labels& labels, std::vector<uint32_t>& out) {
  out.clear();
  for (const auto& l : labels) {
    out.push_back(Symbol(l.name));
    out.push_back(Symbol(l.value));
  }
}

void EncoderV2::TimeSeries(const std::vector<uint32_t>& refs, const model::Metadata* metadata,
                           std::span<const model::Sample> samples,
                           std::span<const model::HistogramSample> histograms,
                           std::span<const model::Exemplar> exemplars) {
  // Exemplar label refs, interned before writing (the writer runs twice).
  exemplar_refs_.clear();
  for (const auto& e : exemplars) {
    for (const auto& l : e.labels) {
      exemplar_refs_.push_back(Symbol(l.name));
      exemplar_refs_.push_back(Symbol(l.value));
    }
  }
  uint32_t help = 0, unit = 0;
  if (metadata != nullptr) {
    help = Symbol(metadata->help);
    unit = Symbol(metadata->unit);
  }
  // TimeSeries: labels_refs = 1, samples = 2, histograms = 3, exemplars = 4, metadata = 5.
  AppendMessage(series_bytes_, 5, [&](auto& s) {
    wire::PackedUint32(s, 1, refs);
    for (const auto& sample : samples) MessageField(s, 2, [&sample](auto& m) { SampleBody(m, sample); });
    for (const auto& h : histograms) MessageField(s, 3, [&h](auto& m) { wire::HistogramBody(m, h); });
    size_t next = 0;
    for (const auto& e : exemplars) {
      const size_t n = e.labels.size() * 2;
      std::span<const uint32_t> er(exemplar_refs_.data() + next, n);
      next += n;
      MessageField(s, 4, [&e, er](auto& m) {
        wire::PackedUint32(m, 1, er);
        DoubleField(m, 2, e.value);
        VarintField(m, 3, static_cast<uint64_t>(e.timestamp_ms));
      });
    }
    if (metadata != nullptr) {
      // Metadata: type = 1, help_ref = 3, unit_ref = 4. Always written (the
      // receiver tells "unknown" from "absent" by nothing else).
      MessageField(s, 5, [&](auto& m) {
        VarintField(m, 1, static_cast<uint64_t>(metadata->type));
        VarintField(m, 3, help);
        VarintField(m, 4, unit);
      });
    }
  });
  ++series_;
}

void EncoderV2::AddSeries(const model::Labels& labels, const model::Metadata* metadata,
                          std::span<const model::Sample> samples,
                          std::span<const model::HistogramSample> histograms,
                          std::span<const model::Exemplar> exemplars) {
  LabelRefs(labels, refs_);
  if (samples.empty() || histograms.empty()) {
    TimeSeries(refs_, metadata, samples, histograms, exemplars);
    return;
  }
  // Both kinds (a histogram series and its float staleness marker): one
  // TimeSeries each, the exemplars with the histograms.
  TimeSeries(refs_, metadata, samples, {}, {});
  TimeSeries(refs_, metadata, {}, histograms, exemplars);
}

std::string_view EncoderV2::Compress() {
  proto_.clear();
  // Request: symbols = 4 (repeated string, "" included), timeseries = 5.
  wire::SizeCounter c;
  for (std::string_view s : symbols_) {
    wire::Tag(c, 4, wire::kLen);
    c.Varint(s.size());
    c.Add(s.size());
  }
  proto_.resize(c.size());
  wire::Writer w(proto_.data());
  for (std::string_view s : symbols_) {
    wire::Tag(w, 4, wire::kLen);
    w.Varint(s.size());
    w.Bytes(s);
  }
  proto_ += series_bytes_;
  return remote_write::Compress(proto_, compressed_);
}

}  // namespace promsidecar::remote_write
