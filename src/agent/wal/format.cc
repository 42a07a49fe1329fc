#include "agent/wal/format.h"

#include <bit>
#include <cstring>

#include "agent/wal/crc32c.h"

namespace promsidecar::wal {
namespace {

void PutLe16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}
void PutLe32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutLe64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint16_t GetLe16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
uint32_t GetLe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) | (static_cast<uint32_t>(u[3]) << 24);
}
uint64_t GetLe64(const char* p) {
  return static_cast<uint64_t>(GetLe32(p)) | (static_cast<uint64_t>(GetLe32(p + 4)) << 32);
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

bool GetString(std::string_view in, size_t* pos, std::string* out) {
  uint64_t len;
  if (!GetUvarint(in, pos, &len)) return false;
  if (len > in.size() - *pos) return false;
  out->assign(in.data() + *pos, static_cast<size_t>(len));
  *pos += static_cast<size_t>(len);
  return true;
}

Error Truncated(std::string_view what) {
  return MakeError("WAL record: " + std::string(what) + " is truncated or malformed");
}

Result<Record> DecodeSeries(std::string_view in) {
  size_t pos = 0;
  uint64_t count;
  if (!GetUvarint(in, &pos, &count)) return Truncated("series count");
  // Each series takes at least 2 bytes: bounds the allocation by the input.
  if (count > (in.size() - pos) / 2) return Truncated("series count");
  SeriesRecord rec;
  rec.series.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    RefSeries s;
    uint64_t nlabels;
    if (!GetUvarint(in, &pos, &s.ref) || !GetUvarint(in, &pos, &nlabels)) return Truncated("series");
    if (nlabels > (in.size() - pos) / 2) return Truncated("label count");
    s.labels.resize(static_cast<size_t>(nlabels));
    for (auto& l : s.labels) {
      if (!GetString(in, &pos, &l.name) || !GetString(in, &pos, &l.value)) return Truncated("label");
    }
    rec.series.push_back(std::move(s));
  }
  if (pos != in.size()) return MakeError("WAL record: series record has trailing bytes");
  return Record(std::move(rec));
}

Result<Record> DecodeSamples(std::string_view in) {
  size_t pos = 0;
  uint64_t count, base;
  if (!GetUvarint(in, &pos, &count) || !GetUvarint(in, &pos, &base)) return Truncated("samples header");
  // Each sample takes at least 10 bytes.
  if (count > (in.size() - pos) / 10) return Truncated("samples count");
  SamplesRecord rec;
  rec.samples.resize(static_cast<size_t>(count));
  int64_t base_ts = UnZigZag(base);
  uint64_t ref = 0;
  for (auto& s : rec.samples) {
    uint64_t dref, dts;
    if (!GetUvarint(in, &pos, &dref) || !GetUvarint(in, &pos, &dts)) return Truncated("sample");
    if (in.size() - pos < 8) return Truncated("sample value");
    // Wrapping arithmetic on purpose: the encoder wrote the two's-complement difference.
    ref += static_cast<uint64_t>(UnZigZag(dref));
    s.ref = ref;
    s.timestamp_ms =
        static_cast<int64_t>(static_cast<uint64_t>(base_ts) + static_cast<uint64_t>(UnZigZag(dts)));
    s.value = std::bit_cast<double>(GetLe64(in.data() + pos));
    pos += 8;
  }
  if (pos != in.size()) return MakeError("WAL record: samples record has trailing bytes");
  return Record(std::move(rec));
}

}  // namespace

void PutUvarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool GetUvarint(std::string_view in, size_t* pos, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= in.size()) return false;
    auto byte = static_cast<unsigned char>(in[(*pos)++]);
    if (shift == 63 && byte > 1) return false;  // overflows 64 bits
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;
}

std::string EncodeSegmentHeader(uint32_t index) {
  std::string out(kSegmentMagic);
  PutLe16(out, kFormatVersion);
  PutLe16(out, static_cast<uint16_t>(kSegmentHeaderSize));
  PutLe32(out, index);
  PutLe32(out, Crc32c(out));
  return out;
}

Result<SegmentHeader> DecodeSegmentHeader(std::string_view bytes) {
  if (bytes.size() < kSegmentHeaderSize) return MakeError("WAL segment header is truncated");
  if (bytes.substr(0, 4) != kSegmentMagic) return MakeError("not a WAL segment (bad magic)");
  if (Crc32c(bytes.substr(0, 12)) != GetLe32(bytes.data() + 12)) {
    return MakeError("WAL segment header checksum mismatch");
  }
  if (GetLe16(bytes.data() + 6) != kSegmentHeaderSize)
    return MakeError("WAL segment header has an unknown size");
  SegmentHeader h;
  h.version = GetLe16(bytes.data() + 4);
  h.index = GetLe32(bytes.data() + 8);
  return h;
}

Frame ParseFrame(std::string_view bytes) {
  Frame f;
  if (bytes.size() < kFrameHeaderSize) {
    f.status = FrameStatus::kIncomplete;
    return f;
  }
  f.payload_length = GetLe32(bytes.data());
  uint32_t stored_crc = GetLe32(bytes.data() + 4);
  f.type = static_cast<uint8_t>(bytes[8]);
  if (f.payload_length > kMaxPayloadSize) {
    f.status = FrameStatus::kCorrupt;
    return f;
  }
  if (bytes.size() - kFrameHeaderSize < f.payload_length) {
    f.status = FrameStatus::kIncomplete;
    return f;
  }
  f.payload = bytes.substr(kFrameHeaderSize, f.payload_length);
  uint32_t crc = Crc32cExtend(0, bytes.data(), 4);
  crc = Crc32cExtend(crc, bytes.data() + 8, 1 + f.payload.size());
  if (crc != stored_crc) {
    f.status = FrameStatus::kCorrupt;
    return f;
  }
  f.status = FrameStatus::kOk;
  f.size = kFrameHeaderSize + f.payload.size();
  return f;
}

void AppendFrame(std::string& out, RecordType type, std::string_view payload) {
  size_t start = out.size();
  PutLe32(out, static_cast<uint32_t>(payload.size()));
  PutLe32(out, 0);  // CRC, patched below
  out.push_back(static_cast<char>(type));
  out.append(payload);
  uint32_t crc = Crc32cExtend(0, out.data() + start, 4);
  crc = Crc32cExtend(crc, out.data() + start + 8, 1 + payload.size());
  for (int i = 0; i < 4; ++i) out[start + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
}

void EncodeSeriesPayload(std::string& out, std::span<const SeriesView> series) {
  PutUvarint(out, series.size());
  for (const auto& s : series) {
    PutUvarint(out, s.ref);
    PutUvarint(out, s.labels->size());
    for (const auto& l : *s.labels) {
      PutUvarint(out, l.name.size());
      out.append(l.name);
      PutUvarint(out, l.value.size());
      out.append(l.value);
    }
  }
}

void EncodeSamplesPayload(std::string& out, std::span<const RefSample> samples) {
  PutUvarint(out, samples.size());
  int64_t base = samples.empty() ? 0 : samples.front().timestamp_ms;
  PutUvarint(out, ZigZag(base));
  uint64_t prev_ref = 0;
  for (const auto& s : samples) {
    PutUvarint(out, ZigZag(static_cast<int64_t>(s.ref - prev_ref)));
    prev_ref = s.ref;
    PutUvarint(out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(s.timestamp_ms) -
                                                static_cast<uint64_t>(base))));
    PutLe64(out, std::bit_cast<uint64_t>(s.value));
  }
}

Result<Record> DecodePayload(uint8_t type, std::string_view payload) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::kSeries: return DecodeSeries(payload);
    case RecordType::kSamples: return DecodeSamples(payload);
  }
  return MakeError("WAL record: unknown record type " + std::to_string(type));
}

Result<Record> DecodeRecord(std::string_view bytes) {
  Frame f = ParseFrame(bytes);
  if (f.status == FrameStatus::kIncomplete) return MakeError("WAL record: frame is truncated (torn write)");
  if (f.status == FrameStatus::kCorrupt) return MakeError("WAL record: frame checksum or length is invalid");
  if (f.size != bytes.size()) return MakeError("WAL record: bytes follow the frame");
  return DecodePayload(f.type, f.payload);
}

}  // namespace promsidecar::wal
