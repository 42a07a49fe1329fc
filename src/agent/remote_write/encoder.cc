#include "agent/remote_write/encoder.h"

#include <snappy.h>

#include <bit>
#include <cstdint>

namespace promsidecar::remote_write {
namespace {

// Wire types and tags (field_number << 3 | wire_type) of the 1.0 schema.
constexpr uint8_t kTagTimeSeries = (1 << 3) | 2;  // WriteRequest.timeseries
constexpr uint8_t kTagLabel = (1 << 3) | 2;       // TimeSeries.labels
constexpr uint8_t kTagSample = (2 << 3) | 2;      // TimeSeries.samples
constexpr uint8_t kTagName = (1 << 3) | 2;        // Label.name
constexpr uint8_t kTagValue = (2 << 3) | 2;       // Label.value
constexpr uint8_t kTagDouble = (1 << 3) | 1;      // Sample.value, fixed64
constexpr uint8_t kTagTimestamp = (2 << 3) | 0;   // Sample.timestamp, varint

size_t VarintSize(uint64_t v) {
  // 7 payload bits per byte; bit_width(0) is 0 but 0 still takes one byte.
  return v < 0x80 ? 1 : (static_cast<size_t>(std::bit_width(v)) + 6) / 7;
}

size_t StringFieldSize(std::string_view s) {
  return s.empty() ? 0 : 1 + VarintSize(s.size()) + s.size();
}

size_t LabelSize(const model::Label& l) {
  return StringFieldSize(l.name) + StringFieldSize(l.value);
}

size_t SampleSize(const model::Sample& s) {
  size_t n = 0;
  if (std::bit_cast<uint64_t>(s.value) != 0) n += 1 + 8;
  if (s.timestamp_ms != 0) n += 1 + VarintSize(static_cast<uint64_t>(s.timestamp_ms));
  return n;
}

// Writes into a pre-sized region; the caller reserved exactly enough room.
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
  void StringField(uint8_t tag, std::string_view s) {
    if (s.empty()) return;
    Byte(tag);
    Varint(s.size());
    Bytes(s);
  }

 private:
  char* p_;
};

}  // namespace

void Encoder::Begin() {
  proto_.clear();
  series_ = 0;
}

void Encoder::AddSeries(const model::Labels& labels, std::span<const model::Sample> samples) {
  // Length-delimited messages need their size up front: measure, then write
  // in one pass into space reserved once.
  size_t body = 0;
  for (const auto& l : labels) {
    size_t n = LabelSize(l);
    body += 1 + VarintSize(n) + n;
  }
  for (const auto& s : samples) {
    size_t n = SampleSize(s);
    body += 1 + VarintSize(n) + n;
  }
  size_t total = 1 + VarintSize(body) + body;

  size_t start = proto_.size();
  proto_.resize(start + total);
  Writer w(proto_.data() + start);
  w.Byte(kTagTimeSeries);
  w.Varint(body);
  for (const auto& l : labels) {
    w.Byte(kTagLabel);
    w.Varint(LabelSize(l));
    w.StringField(kTagName, l.name);
    w.StringField(kTagValue, l.value);
  }
  for (const auto& s : samples) {
    w.Byte(kTagSample);
    w.Varint(SampleSize(s));
    uint64_t bits = std::bit_cast<uint64_t>(s.value);
    if (bits != 0) {
      w.Byte(kTagDouble);
      w.Fixed64(bits);
    }
    if (s.timestamp_ms != 0) {
      w.Byte(kTagTimestamp);
      w.Varint(static_cast<uint64_t>(s.timestamp_ms));
    }
  }
  ++series_;
}

std::string_view Encoder::Compress() {
  size_t max = snappy::MaxCompressedLength(proto_.size());
  // Grow only: resize() would zero-fill on every request otherwise.
  if (compressed_.size() < max) compressed_.resize(max);
  size_t len = 0;
  snappy::RawCompress(proto_.data(), proto_.size(), compressed_.data(), &len);
  return std::string_view(compressed_.data(), len);
}

}  // namespace promsidecar::remote_write
