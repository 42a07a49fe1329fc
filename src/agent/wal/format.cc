#include "agent/wal/format.h"

#include <bit>
#include <climits>
#include <cstdint>
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

bool GetLabels(std::string_view in, size_t* pos, model::Labels* out) {
  uint64_t n;
  if (!GetUvarint(in, pos, &n) || n > (in.size() - *pos) / 2) return false;
  out->resize(static_cast<size_t>(n));
  for (auto& l : *out) {
    if (!GetString(in, pos, &l.name) || !GetString(in, pos, &l.value)) return false;
  }
  return true;
}

void PutLabels(std::string& out, const model::Labels& labels) {
  PutUvarint(out, labels.size());
  for (const auto& l : labels) {
    PutUvarint(out, l.name.size());
    out.append(l.name);
    PutUvarint(out, l.value.size());
    out.append(l.value);
  }
}

bool GetDouble(std::string_view in, size_t* pos, double* out) {
  if (in.size() - *pos < 8) return false;
  *out = std::bit_cast<double>(GetLe64(in.data() + *pos));
  *pos += 8;
  return true;
}

void PutDouble(std::string& out, double v) {
  PutLe64(out, std::bit_cast<uint64_t>(v));
}

// One side of a histogram: spans, then one bucket per spanned index.
void PutSide(std::string& out, const std::vector<model::BucketSpan>& spans,
             const std::vector<int64_t>& deltas, const std::vector<double>& counts, bool is_float) {
  PutUvarint(out, spans.size());
  for (const auto& s : spans) {
    PutUvarint(out, ZigZag(s.offset));
    PutUvarint(out, s.length);
  }
  if (is_float) {
    for (double c : counts) PutDouble(out, c);
  } else {
    for (int64_t d : deltas) PutUvarint(out, ZigZag(d));
  }
}

bool GetSide(std::string_view in, size_t* pos, std::vector<model::BucketSpan>* spans,
             std::vector<int64_t>* deltas, std::vector<double>* counts, bool is_float) {
  uint64_t n;
  if (!GetUvarint(in, pos, &n) || n > (in.size() - *pos) / 2) return false;
  spans->resize(static_cast<size_t>(n));
  uint64_t buckets = 0;
  for (auto& s : *spans) {
    uint64_t offset, length;
    if (!GetUvarint(in, pos, &offset) || !GetUvarint(in, pos, &length)) return false;
    int64_t o = UnZigZag(offset);
    if (o < INT32_MIN || o > INT32_MAX || length > UINT32_MAX) return false;
    s.offset = static_cast<int32_t>(o);
    s.length = static_cast<uint32_t>(length);
    buckets += length;
  }
  // Every bucket takes at least one byte: bounds the allocation by the input.
  if (buckets > in.size() - *pos) return false;
  if (is_float) {
    counts->resize(static_cast<size_t>(buckets));
    for (double& c : *counts) {
      if (!GetDouble(in, pos, &c)) return false;
    }
  } else {
    deltas->resize(static_cast<size_t>(buckets));
    for (int64_t& d : *deltas) {
      uint64_t v;
      if (!GetUvarint(in, pos, &v)) return false;
      d = UnZigZag(v);
    }
  }
  return true;
}

Result<Record> DecodeHistograms(std::string_view in) {
  size_t pos = 0;
  uint64_t count, base;
  if (!GetUvarint(in, &pos, &count) || !GetUvarint(in, &pos, &base)) return Truncated("histograms header");
  // Each histogram takes at least 24 bytes.
  if (count > (in.size() - pos) / 24) return Truncated("histograms count");
  HistogramsRecord rec;
  rec.histograms.resize(static_cast<size_t>(count));
  const int64_t base_ts = UnZigZag(base);
  uint64_t ref = 0;
  for (auto& r : rec.histograms) {
    uint64_t dref, dts, schema;
    if (!GetUvarint(in, &pos, &dref) || !GetUvarint(in, &pos, &dts)) return Truncated("histogram");
    ref += static_cast<uint64_t>(UnZigZag(dref));
    r.ref = ref;
    r.timestamp_ms =
        static_cast<int64_t>(static_cast<uint64_t>(base_ts) + static_cast<uint64_t>(UnZigZag(dts)));
    if (pos >= in.size()) return Truncated("histogram flags");
    const auto flags = static_cast<uint8_t>(in[pos++]);
    if (flags > 7) return MakeError("WAL record: histogram has unknown flags " + std::to_string(flags));
    model::Histogram& h = r.histogram;
    h.is_float = (flags & 1) != 0;
    h.reset_hint = static_cast<model::ResetHint>(flags >> 1);
    if (!GetUvarint(in, &pos, &schema)) return Truncated("histogram schema");
    int64_t sch = UnZigZag(schema);
    if (sch < INT32_MIN || sch > INT32_MAX) return Truncated("histogram schema");
    h.schema = static_cast<int32_t>(sch);
    if (!GetDouble(in, &pos, &h.zero_threshold)) return Truncated("histogram zero threshold");
    if (h.is_float) {
      if (!GetDouble(in, &pos, &h.count_float) || !GetDouble(in, &pos, &h.zero_count_float)) {
        return Truncated("histogram counts");
      }
    } else if (!GetUvarint(in, &pos, &h.count_int) || !GetUvarint(in, &pos, &h.zero_count_int)) {
      return Truncated("histogram counts");
    }
    if (!GetDouble(in, &pos, &h.sum)) return Truncated("histogram sum");
    if (!GetSide(in, &pos, &h.positive_spans, &h.positive_deltas, &h.positive_counts, h.is_float) ||
        !GetSide(in, &pos, &h.negative_spans, &h.negative_deltas, &h.negative_counts, h.is_float)) {
      return Truncated("histogram buckets");
    }
    uint64_t nbounds;
    if (!GetUvarint(in, &pos, &nbounds) || nbounds > (in.size() - pos) / 8)
      return Truncated("histogram bounds");
    h.custom_values.resize(static_cast<size_t>(nbounds));
    for (double& b : h.custom_values) GetDouble(in, &pos, &b);
  }
  if (pos != in.size()) return MakeError("WAL record: histograms record has trailing bytes");
  return Record(std::move(rec));
}

Result<Record> DecodeExemplars(std::string_view in) {
  size_t pos = 0;
  uint64_t count;
  if (!GetUvarint(in, &pos, &count)) return Truncated("exemplars count");
  // Each exemplar takes at least 12 bytes.
  if (count > (in.size() - pos) / 12) return Truncated("exemplars count");
  ExemplarsRecord rec;
  rec.exemplars.resize(static_cast<size_t>(count));
  for (auto& r : rec.exemplars) {
    uint64_t ts;
    if (!GetUvarint(in, &pos, &r.ref) || pos >= in.size()) return Truncated("exemplar");
    const auto has_ts = static_cast<uint8_t>(in[pos++]);
    if (has_ts > 1) return Truncated("exemplar");
    r.exemplar.has_timestamp = has_ts == 1;
    if (!GetUvarint(in, &pos, &ts) || !GetDouble(in, &pos, &r.exemplar.value) ||
        !GetLabels(in, &pos, &r.exemplar.labels)) {
      return Truncated("exemplar");
    }
    r.exemplar.timestamp_ms = UnZigZag(ts);
  }
  if (pos != in.size()) return MakeError("WAL record: exemplars record has trailing bytes");
  return Record(std::move(rec));
}

Result<Record> DecodeMetadata(std::string_view in) {
  size_t pos = 0;
  uint64_t count;
  if (!GetUvarint(in, &pos, &count) || count > (in.size() - pos) / 5) return Truncated("metadata count");
  MetadataRecord rec;
  rec.metadata.resize(static_cast<size_t>(count));
  for (auto& r : rec.metadata) {
    if (!GetUvarint(in, &pos, &r.ref) || pos >= in.size()) return Truncated("metadata");
    const auto type = static_cast<uint8_t>(in[pos++]);
    if (type > static_cast<uint8_t>(model::MetricType::kStateset)) return Truncated("metadata type");
    r.metadata.type = static_cast<model::MetricType>(type);
    if (!GetString(in, &pos, &r.metadata.unit) || !GetString(in, &pos, &r.metadata.help) ||
        !GetString(in, &pos, &r.metadata.family)) {
      return Truncated("metadata");
    }
  }
  if (pos != in.size()) return MakeError("WAL record: metadata record has trailing bytes");
  return Record(std::move(rec));
}

}  // namespace

void EncodeHistogramsPayload(std::string& out, std::span<const RefHistogram> histograms) {
  PutUvarint(out, histograms.size());
  int64_t base = histograms.empty() ? 0 : histograms.front().timestamp_ms;
  PutUvarint(out, ZigZag(base));
  uint64_t prev_ref = 0;
  for (const auto& r : histograms) {
    const model::Histogram& h = r.histogram;
    PutUvarint(out, ZigZag(static_cast<int64_t>(r.ref - prev_ref)));
    prev_ref = r.ref;
    PutUvarint(out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(r.timestamp_ms) -
                                                static_cast<uint64_t>(base))));
    out.push_back(static_cast<char>((h.is_float ? 1 : 0) | (static_cast<uint8_t>(h.reset_hint) << 1)));
    PutUvarint(out, ZigZag(h.schema));
    PutDouble(out, h.zero_threshold);
    if (h.is_float) {
      PutDouble(out, h.count_float);
      PutDouble(out, h.zero_count_float);
    } else {
      PutUvarint(out, h.count_int);
      PutUvarint(out, h.zero_count_int);
    }
    PutDouble(out, h.sum);
    PutSide(out, h.positive_spans, h.positive_deltas, h.positive_counts, h.is_float);
    PutSide(out, h.negative_spans, h.negative_deltas, h.negative_counts, h.is_float);
    PutUvarint(out, h.custom_values.size());
    for (double b : h.custom_values) PutDouble(out, b);
  }
}

void EncodeExemplarsPayload(std::string& out, std::span<const RefExemplar> exemplars) {
  PutUvarint(out, exemplars.size());
  for (const auto& r : exemplars) {
    PutUvarint(out, r.ref);
    out.push_back(r.exemplar.has_timestamp ? 1 : 0);
    PutUvarint(out, ZigZag(r.exemplar.timestamp_ms));
    PutDouble(out, r.exemplar.value);
    PutLabels(out, r.exemplar.labels);
  }
}

void EncodeMetadataPayload(std::string& out, std::span<const RefMetadata> metadata) {
  PutUvarint(out, metadata.size());
  for (const auto& r : metadata) {
    PutUvarint(out, r.ref);
    out.push_back(static_cast<char>(r.metadata.type));
    PutUvarint(out, r.metadata.unit.size());
    out.append(r.metadata.unit);
    PutUvarint(out, r.metadata.help.size());
    out.append(r.metadata.help);
    PutUvarint(out, r.metadata.family.size());
    out.append(r.metadata.family);
  }
}

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
    case RecordType::kHistograms: return DecodeHistograms(payload);
    case RecordType::kExemplars: return DecodeExemplars(payload);
    case RecordType::kMetadata: return DecodeMetadata(payload);
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
