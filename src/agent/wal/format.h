// The WAL's on-disk format (docs/wal.md), as pure functions: segment headers,
// record frames and record payloads. No I/O here, so the decoder can be fed
// arbitrary bytes (unit tests, the fuzz target).
//
// Segment file: a 16-byte header, then records back to back.
//   header: "PSWL" | u16 format version | u16 header size (16) | u32 segment index | u32 CRC32C(bytes 0..11)
//   record: u32 payload length | u32 CRC32C(length bytes, type, payload) | u8 type | payload
// All integers little-endian.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent/model/histogram.h"
#include "agent/model/labels.h"
#include "common/util/result.h"

namespace promsidecar::wal {

inline constexpr std::string_view kSegmentMagic = "PSWL";
// The format this code writes. It reads every version from 1 up to this one.
// Version 2 added the histograms, exemplars and metadata records (types 3-5);
// version 1 segments hold series and samples only, and are still read.
inline constexpr uint16_t kFormatVersion = 2;
inline constexpr size_t kSegmentHeaderSize = 16;
inline constexpr size_t kFrameHeaderSize = 9;
// A frame announcing a larger payload is corrupt (the appender never writes one).
inline constexpr uint32_t kMaxPayloadSize = 64u << 20;

enum class RecordType : uint8_t { kSeries = 1, kSamples = 2, kHistograms = 3, kExemplars = 4, kMetadata = 5 };

struct RefSeries {
  uint64_t ref = 0;
  model::Labels labels;
  friend bool operator==(const RefSeries&, const RefSeries&) = default;
};

struct RefSample {
  uint64_t ref = 0;
  int64_t timestamp_ms = 0;
  double value = 0;
};

// A native histogram sample.
struct RefHistogram {
  uint64_t ref = 0;
  int64_t timestamp_ms = 0;
  model::Histogram histogram;
  friend bool operator==(const RefHistogram&, const RefHistogram&) = default;
};

struct RefExemplar {
  uint64_t ref = 0;
  model::Exemplar exemplar;
  friend bool operator==(const RefExemplar&, const RefExemplar&) = default;
};

// The metadata of a series from here on (it replaces what came before).
struct RefMetadata {
  uint64_t ref = 0;
  model::Metadata metadata;
  friend bool operator==(const RefMetadata&, const RefMetadata&) = default;
};

// A series record defines refs; every later record may use them.
struct SeriesRecord {
  std::vector<RefSeries> series;
};
struct SamplesRecord {
  std::vector<RefSample> samples;
};
struct HistogramsRecord {
  std::vector<RefHistogram> histograms;
};
struct ExemplarsRecord {
  std::vector<RefExemplar> exemplars;
};
struct MetadataRecord {
  std::vector<RefMetadata> metadata;
};
using Record = std::variant<SeriesRecord, SamplesRecord, HistogramsRecord, ExemplarsRecord, MetadataRecord>;

// --- Segment header ---
struct SegmentHeader {
  uint16_t version = 0;
  uint32_t index = 0;
};
std::string EncodeSegmentHeader(uint32_t index);
// Checks magic, size and CRC; the version is returned, not judged (the caller
// decides what to do with a newer one).
Result<SegmentHeader> DecodeSegmentHeader(std::string_view bytes);

// --- Frames ---
enum class FrameStatus {
  kOk,
  kIncomplete,  // the bytes end inside the frame: a torn tail when nothing follows
  kCorrupt,     // impossible length or CRC mismatch
};
struct Frame {
  FrameStatus status = FrameStatus::kCorrupt;
  uint8_t type = 0;
  std::string_view payload;     // points into the parsed bytes
  size_t size = 0;              // header + payload, when kOk
  uint32_t payload_length = 0;  // as announced by the header (when at least the header is present)
};
// Parses the frame at the start of `bytes` (which may hold more after it).
Frame ParseFrame(std::string_view bytes);
// Appends one framed record to `out`.
void AppendFrame(std::string& out, RecordType type, std::string_view payload);

// --- Payloads ---
// Series payload: uvarint count, then per series: uvarint ref, uvarint label
// count, then per label uvarint length + name bytes, uvarint length + value bytes.
struct SeriesView {
  uint64_t ref = 0;
  const model::Labels* labels = nullptr;
};
void EncodeSeriesPayload(std::string& out, std::span<const SeriesView> series);
// Samples payload: uvarint count, varint (zigzag) base timestamp, then per
// sample: varint ref delta to the previous ref (first: to 0), varint timestamp
// delta to the base, 8 bytes of the value's IEEE-754 bits (bit-exact: the
// stale-marker NaN survives).
void EncodeSamplesPayload(std::string& out, std::span<const RefSample> samples);
// Histograms payload: uvarint count, varint base timestamp, then per
// histogram: varint ref delta, varint timestamp delta (as for samples), u8
// flags (bit 0 float, bits 1-2 reset hint), varint schema, 8 bytes zero
// threshold, the counts (float: 8 bytes count and zero count; integer:
// uvarint each), 8 bytes sum, the positive then the negative side (uvarint
// span count, per span varint offset + uvarint length, then one bucket per
// spanned index: float 8 bytes, integer varint delta), uvarint custom bound
// count + 8 bytes each. Floats as IEEE-754 bits (bit-exact).
void EncodeHistogramsPayload(std::string& out, std::span<const RefHistogram> histograms);
// Exemplars payload: uvarint count, then per exemplar: uvarint ref, u8 has
// timestamp, varint timestamp, 8 bytes value, uvarint label count and the
// labels as in series records.
void EncodeExemplarsPayload(std::string& out, std::span<const RefExemplar> exemplars);
// Metadata payload: uvarint count, then per series: uvarint ref, u8 type,
// uvarint length + unit bytes, uvarint length + help bytes, uvarint length +
// family name bytes.
void EncodeMetadataPayload(std::string& out, std::span<const RefMetadata> metadata);

Result<Record> DecodePayload(uint8_t type, std::string_view payload);
// ParseFrame + DecodePayload of exactly one frame that fills `bytes`: the
// decoder's entry point for fuzzing.
Result<Record> DecodeRecord(std::string_view bytes);

// Helpers shared with the WAL's position files.
void PutUvarint(std::string& out, uint64_t v);
// Reads a uvarint at `*pos`, advancing it; false on truncation or overflow.
bool GetUvarint(std::string_view in, size_t* pos, uint64_t* v);

}  // namespace promsidecar::wal
