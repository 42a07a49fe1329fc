// The protobuf wire format, written by hand for the remote-write encoders.
// Every function takes a Sink: a SizeCounter (to learn the length of a nested
// message before writing its length prefix) or a Writer (into space reserved
// exactly). Only what the encoders need; internal to remote_write.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "agent/model/histogram.h"

namespace promsidecar::remote_write::wire {

enum WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2 };

inline size_t VarintSize(uint64_t v) {
  // 7 payload bits per byte; bit_width(0) is 0 but 0 still takes one byte.
  return v < 0x80 ? 1 : (static_cast<size_t>(std::bit_width(v)) + 6) / 7;
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

class SizeCounter {
 public:
  void Byte(uint8_t) { ++n_; }
  void Varint(uint64_t v) { n_ += VarintSize(v); }
  void Fixed64(uint64_t) { n_ += 8; }
  void Bytes(std::string_view s) { n_ += s.size(); }
  void Add(size_t n) { n_ += n; }
  size_t size() const { return n_; }

 private:
  size_t n_ = 0;
};

// Writes into a region the caller sized with a SizeCounter.
class Writer {
 public:
  explicit Writer(char* p) : p_(p) {}
  char* pos() const { return p_; }
  void Byte(uint8_t b) { *p_++ = static_cast<char>(b); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      *p_++ = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<char>(v);
  }
  void Fixed64(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      *p_++ = static_cast<char>(v & 0xff);
      v >>= 8;
    }
  }
  void Bytes(std::string_view s) {
    s.copy(p_, s.size());
    p_ += s.size();
  }

 private:
  char* p_;
};

template <typename Sink>
void Tag(Sink& s, uint32_t field, WireType type) {
  s.Varint((static_cast<uint64_t>(field) << 3) | type);
}

// Scalars, omitted at their default as proto3 does unless `always` (a oneof
// member, whose presence carries meaning).
template <typename Sink>
void VarintField(Sink& s, uint32_t field, uint64_t v, bool always = false) {
  if (v == 0 && !always) return;
  Tag(s, field, kVarint);
  s.Varint(v);
}
template <typename Sink>
void DoubleField(Sink& s, uint32_t field, double v, bool always = false) {
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  if (bits == 0 && !always) return;  // +0.0 only: -0.0 and NaNs keep their bits
  Tag(s, field, kFixed64);
  s.Fixed64(bits);
}
template <typename Sink>
void StringField(Sink& s, uint32_t field, std::string_view v) {
  if (v.empty()) return;
  Tag(s, field, kLen);
  s.Varint(v.size());
  s.Bytes(v);
}

// A nested message: `body(sink)` writes its fields; called twice for a
// Writer (once to size it), once for a SizeCounter.
template <typename Sink, typename Body>
void MessageField(Sink& s, uint32_t field, Body&& body) {
  SizeCounter c;
  body(c);
  Tag(s, field, kLen);
  s.Varint(c.size());
  if constexpr (std::is_same_v<Sink, SizeCounter>) {
    s.Add(c.size());
  } else {
    body(s);
  }
}

// Packed repeated scalars (one length-delimited field), omitted when empty.
template <typename Sink>
void PackedSint64(Sink& s, uint32_t field, std::span<const int64_t> values) {
  if (values.empty()) return;
  size_t n = 0;
  for (int64_t v : values) n += VarintSize(ZigZag(v));
  Tag(s, field, kLen);
  s.Varint(n);
  for (int64_t v : values) s.Varint(ZigZag(v));
}
template <typename Sink>
void PackedDouble(Sink& s, uint32_t field, std::span<const double> values) {
  if (values.empty()) return;
  Tag(s, field, kLen);
  s.Varint(values.size() * 8);
  for (double v : values) s.Fixed64(std::bit_cast<uint64_t>(v));
}
template <typename Sink>
void PackedUint32(Sink& s, uint32_t field, std::span<const uint32_t> values) {
  if (values.empty()) return;
  size_t n = 0;
  for (uint32_t v : values) n += VarintSize(v);
  Tag(s, field, kLen);
  s.Varint(n);
  for (uint32_t v : values) s.Varint(v);
}

// A native histogram: the same field numbers in remote write 1.0 (prompb)
// and 2.0. The count and zero count are oneofs: the member that matches the
// histogram's kind is always written, even at 0, since receivers tell
// integer from float histograms by which member is set. start_timestamp is
// 2.0 only (0: not written).
template <typename Sink>
void HistogramBody(Sink& s, const model::HistogramSample& hs, int64_t start_timestamp_ms = 0) {
  const model::Histogram& h = hs.histogram;
  if (h.is_float) {
    DoubleField(s, 2, h.count_float, /*always=*/true);
  } else {
    VarintField(s, 1, h.count_int, /*always=*/true);
  }
  DoubleField(s, 3, h.sum);
  VarintField(s, 4, ZigZag(h.schema));
  DoubleField(s, 5, h.zero_threshold);
  if (h.is_float) {
    DoubleField(s, 7, h.zero_count_float, /*always=*/true);
  } else {
    VarintField(s, 6, h.zero_count_int, /*always=*/true);
  }
  auto spans = [&s](uint32_t field, const std::vector<model::BucketSpan>& list) {
    for (const auto& span : list) {
      MessageField(s, field, [&span](auto& m) {
        VarintField(m, 1, ZigZag(span.offset));
        VarintField(m, 2, span.length);
      });
    }
  };
  spans(8, h.negative_spans);
  PackedSint64(s, 9, h.negative_deltas);
  PackedDouble(s, 10, h.negative_counts);
  spans(11, h.positive_spans);
  PackedSint64(s, 12, h.positive_deltas);
  PackedDouble(s, 13, h.positive_counts);
  VarintField(s, 14, static_cast<uint64_t>(h.reset_hint));
  VarintField(s, 15, static_cast<uint64_t>(hs.timestamp_ms));
  PackedDouble(s, 16, h.custom_values);
  VarintField(s, 17, static_cast<uint64_t>(start_timestamp_ms));
}

}  // namespace promsidecar::remote_write::wire
