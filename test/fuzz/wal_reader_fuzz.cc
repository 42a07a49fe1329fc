// Fuzzes the WAL's record decoder, the code that reads bytes from disk after
// a crash, bit rot or a hostile volume. The input is read three ways: as one
// record (DecodeRecord), as a bare payload (type byte + payload, past the
// CRC) and as a segment (header, then frames the way replay walks them). Beyond "no crash, no UB", it checks
// that whatever decodes re-encodes to something that decodes to the same record, for every record type
// (series, samples, native histograms, exemplars, metadata).
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "agent/wal/format.h"

namespace {

using namespace promsidecar::wal;

[[noreturn]] void Broken(const char* what) {
  std::fprintf(stderr, "WAL decoder invariant broken: %s\n", what);
  std::abort();
}

std::string Reencode(const Record& r) {
  std::string payload, out;
  if (const auto* s = std::get_if<SeriesRecord>(&r)) {
    std::vector<SeriesView> views;
    for (const auto& x : s->series) views.push_back({x.ref, &x.labels});
    EncodeSeriesPayload(payload, views);
    AppendFrame(out, RecordType::kSeries, payload);
  } else if (const auto* h = std::get_if<HistogramsRecord>(&r)) {
    EncodeHistogramsPayload(payload, h->histograms);
    AppendFrame(out, RecordType::kHistograms, payload);
  } else if (const auto* e = std::get_if<ExemplarsRecord>(&r)) {
    EncodeExemplarsPayload(payload, e->exemplars);
    AppendFrame(out, RecordType::kExemplars, payload);
  } else if (const auto* m = std::get_if<MetadataRecord>(&r)) {
    EncodeMetadataPayload(payload, m->metadata);
    AppendFrame(out, RecordType::kMetadata, payload);
  } else {
    EncodeSamplesPayload(payload, std::get<SamplesRecord>(r).samples);
    AppendFrame(out, RecordType::kSamples, payload);
  }
  return out;
}

bool SameRecord(const Record& a, const Record& b) {
  if (a.index() != b.index()) return false;
  if (const auto* s = std::get_if<SeriesRecord>(&a)) return s->series == std::get<SeriesRecord>(b).series;
  if (const auto* x = std::get_if<SamplesRecord>(&a)) {
    const auto& y = std::get<SamplesRecord>(b).samples;
    if (x->samples.size() != y.size()) return false;
    for (size_t i = 0; i < y.size(); ++i) {
      if (x->samples[i].ref != y[i].ref || x->samples[i].timestamp_ms != y[i].timestamp_ms ||
          std::bit_cast<uint64_t>(x->samples[i].value) != std::bit_cast<uint64_t>(y[i].value)) {
        return false;
      }
    }
    return true;
  }
  // Histograms, exemplars, metadata: the encoding is deterministic and keeps
  // every bit of every double, so equal bytes mean equal records (NaNs too).
  return Reencode(a) == Reencode(b);
}

void CheckRecord(const Record& r) {
  auto again = DecodeRecord(Reencode(r));
  if (!again.ok()) Broken("a decoded record does not decode after re-encoding");
  if (!SameRecord(r, *again)) Broken("re-encoding changed a record");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto r = DecodeRecord(input); r.ok()) CheckRecord(*r);

  // The payload decoder behind the CRC, which random bytes rarely pass: the
  // first byte is the record type, the rest the payload.
  if (!input.empty()) {
    if (auto r = DecodePayload(static_cast<uint8_t>(input[0]), input.substr(1)); r.ok()) CheckRecord(*r);
  }

  if (DecodeSegmentHeader(input).ok()) {
    std::string_view rest = input.substr(kSegmentHeaderSize);
    while (!rest.empty()) {
      Frame f = ParseFrame(rest);
      if (f.status != FrameStatus::kOk) break;
      if (f.size == 0 || f.size > rest.size()) Broken("a frame does not advance or overruns its input");
      if (auto r = DecodePayload(f.type, f.payload); r.ok()) CheckRecord(*r);
      rest.remove_prefix(f.size);
    }
  }
  return 0;
}
