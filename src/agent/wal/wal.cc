#include "agent/wal/wal.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <unordered_set>

#include "common/log/log.h"

namespace promsidecar::wal {
namespace {

constexpr std::string_view kSegmentSuffix = ".seg";
constexpr std::string_view kSnapshotName = "series.snap";
constexpr std::string_view kPositionsDirName = "positions";
constexpr std::string_view kPositionMagic = "promsidecar-wal-position 1\n";
constexpr size_t kSeriesPerRecord = 1024;
constexpr size_t kAnnouncePerRecord = 1024;
constexpr uint64_t kMinSegmentSize = 1024;

std::string SegmentName(uint32_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%010u", index);
  return std::string(buf) + std::string(kSegmentSuffix);
}

std::optional<uint32_t> ParseSegmentName(std::string_view name) {
  if (name.size() != 10 + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return std::nullopt;
  uint32_t index = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + 10, index);
  if (ec != std::errc() || p != name.data() + 10) return std::nullopt;
  return index;
}

bool IsValidReaderName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.' || name.ends_with(".tmp")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Error BadReaderName(std::string_view name) {
  return MakeError("WAL reader name \"" + std::string(name) +
                   "\" is invalid: use 1-128 letters, digits, '.', '_' or '-' (not starting with '.', not "
                   "ending in .tmp)");
}

std::string EncodePosition(Position p) {
  return std::string(kPositionMagic) + "segment=" + std::to_string(p.segment) +
         " offset=" + std::to_string(p.offset) + "\n";
}

Result<Position> DecodePosition(std::string_view text) {
  Error bad = MakeError("malformed WAL position file (want \"" + std::string(kPositionMagic.substr(0, 26)) +
                        "\" then \"segment=N offset=N\")");
  if (!text.starts_with(kPositionMagic)) return bad;
  text.remove_prefix(kPositionMagic.size());
  Position p;
  auto take = [&text](std::string_view key, auto& out) {
    if (!text.starts_with(key)) return false;
    text.remove_prefix(key.size());
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc()) return false;
    text.remove_prefix(static_cast<size_t>(ptr - text.data()));
    return true;
  };
  if (!take("segment=", p.segment) || !take(" offset=", p.offset) || text != "\n") return bad;
  return p;
}

// Reads the frame at `offset` of a file whose good bytes end at `limit`.
struct FrameRead {
  FrameStatus status = FrameStatus::kCorrupt;
  uint8_t type = 0;
  std::string_view payload;  // into the caller's buffer
  uint64_t size = 0;
};

Result<FrameRead> ReadFrameAt(File& file, uint64_t offset, uint64_t limit, std::string& buf) {
  FrameRead out;
  uint64_t avail = limit > offset ? limit - offset : 0;
  size_t want = static_cast<size_t>(std::min<uint64_t>(avail, kFrameHeaderSize));
  buf.resize(kFrameHeaderSize);
  auto n = file.ReadAt(offset, buf.data(), want);
  if (!n) return n.error();
  Frame f = ParseFrame(std::string_view(buf.data(), *n));
  if (f.status == FrameStatus::kCorrupt || *n < kFrameHeaderSize) {
    out.status = f.status;
    return out;
  }
  uint64_t total = kFrameHeaderSize + static_cast<uint64_t>(f.payload_length);
  size_t have = static_cast<size_t>(std::min<uint64_t>(avail, total));
  buf.resize(have);
  if (have > kFrameHeaderSize) {
    auto m = file.ReadAt(offset + kFrameHeaderSize, buf.data() + kFrameHeaderSize, have - kFrameHeaderSize);
    if (!m) return m.error();
    buf.resize(kFrameHeaderSize + *m);
  }
  f = ParseFrame(buf);
  out.status = f.status;
  out.type = f.type;
  out.payload = f.payload;
  out.size = f.size;
  return out;
}

void AppendSeriesRecords(
    std::string& out, const std::vector<std::pair<uint64_t, std::shared_ptr<const model::Labels>>>& series) {
  std::vector<SeriesView> views;
  std::string payload;
  for (size_t i = 0; i < series.size(); i += kSeriesPerRecord) {
    views.clear();
    for (size_t j = i; j < std::min(series.size(), i + kSeriesPerRecord); ++j) {
      views.push_back({series[j].first, series[j].second.get()});
    }
    payload.clear();
    EncodeSeriesPayload(payload, views);
    AppendFrame(out, RecordType::kSeries, payload);
  }
}

void AppendMetadataRecords(std::string& out, const std::vector<RefMetadata>& metadata) {
  std::string payload;
  for (size_t i = 0; i < metadata.size(); i += kSeriesPerRecord) {
    size_t n = std::min(metadata.size() - i, kSeriesPerRecord);
    payload.clear();
    EncodeMetadataPayload(payload, std::span<const RefMetadata>(metadata).subspan(i, n));
    AppendFrame(out, RecordType::kMetadata, payload);
  }
}

size_t RecordCount(size_t items, size_t per_record) {
  return (items + per_record - 1) / per_record;
}

}  // namespace

Result<FsyncPolicy> ParseFsyncPolicy(std::string_view text) {
  if (text == "always") return FsyncPolicy::kAlways;
  if (text == "batch") return FsyncPolicy::kBatch;
  if (text == "never") return FsyncPolicy::kNever;
  return MakeError("WAL fsync policy \"" + std::string(text) + "\" is unknown: use always, batch or never");
}

std::string_view FsyncPolicyName(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::kAlways: return "always";
    case FsyncPolicy::kBatch: return "batch";
    case FsyncPolicy::kNever: return "never";
  }
  return "unknown";
}

// ---------------------------------------------------------------- Open/replay

Wal::Wal(Options options) : opts_(std::move(options)) {
  fs_ = opts_.fs != nullptr ? opts_.fs : &DefaultFileSystem();
  last_sync_ = Now();
}

Result<std::unique_ptr<Wal>> Wal::Open(Options options) {
  if (options.dir.empty()) return MakeError("WAL options: dir is empty; set the WAL directory");
  if (options.segment_size < kMinSegmentSize) {
    return MakeError("WAL options: segment_size " + std::to_string(options.segment_size) +
                     " is below the minimum " + std::to_string(kMinSegmentSize) + " bytes; raise it");
  }
  if (options.max_size != 0 && options.max_size < 2 * options.segment_size) {
    return MakeError("WAL options: max_size " + std::to_string(options.max_size) +
                     " must be at least twice segment_size (" + std::to_string(options.segment_size) +
                     "); raise --wal.max-size or lower the segment size");
  }
  if (options.max_samples_per_record == 0) options.max_samples_per_record = 1;
  while (options.dir.size() > 1 && options.dir.back() == '/') options.dir.pop_back();
  std::unique_ptr<Wal> wal(new Wal(std::move(options)));
  if (Status st = wal->Replay(); !st) return st.error();
  return wal;
}

Wal::~Wal() {
  if (opts_.fsync != FsyncPolicy::kNever) {
    if (Status st = SyncHead(); !st) log::Warn("WAL sync at close failed", {{"error", st.message()}});
  }
}

std::chrono::steady_clock::time_point Wal::Now() const {
  return opts_.clock ? opts_.clock() : std::chrono::steady_clock::now();
}

std::string Wal::SegmentPath(uint32_t index) const {
  return opts_.dir + "/" + SegmentName(index);
}

std::string Wal::PositionsDir() const {
  return opts_.dir + "/" + std::string(kPositionsDirName);
}

Position Wal::FirstPosition() const {
  return Position{segments_.front().index, kSegmentHeaderSize};
}

Status Wal::Replay() {
  auto start = std::chrono::steady_clock::now();
  if (Status st = fs_->MakeDirs(PositionsDir()); !st) return st;
  auto names = fs_->List(opts_.dir);
  if (!names) return names.error();
  std::vector<uint32_t> indices;
  for (const auto& name : *names) {
    if (name.ends_with(".tmp")) {
      (void)fs_->Remove(opts_.dir + "/" + name);  // an interrupted atomic write
    } else if (auto index = ParseSegmentName(name)) {
      indices.push_back(*index);
    }
  }
  std::sort(indices.begin(), indices.end());

  uint64_t max_ref = 0;
  if (Status st = LoadSnapshot(); !st) return st;
  for (const auto& [ref, e] : series_) max_ref = std::max(max_ref, ref);

  std::string buf;
  for (size_t i = 0; i < indices.size(); ++i) {
    const uint32_t index = indices[i];
    const bool last = i + 1 == indices.size();
    const std::string path = SegmentPath(index);
    auto file = fs_->OpenForRead(path);
    if (!file) return file.error();
    auto size = (*file)->Size();
    if (!size) return size.error();
    Segment seg{index, *size, kSegmentHeaderSize, 0};

    buf.resize(kSegmentHeaderSize);
    auto n = (*file)->ReadAt(0, buf.data(), kSegmentHeaderSize);
    if (!n) return n.error();
    auto header = DecodeSegmentHeader(std::string_view(buf.data(), *n));
    if (header && header->version > kFormatVersion) {
      return MakeError("WAL segment " + path + " has format version " + std::to_string(header->version) +
                       ", newer than this agent reads (" + std::to_string(kFormatVersion) +
                       "): run a newer agent, or delete the WAL directory to start empty");
    }
    if (!header || header->index != index) {
      std::string why =
          header ? "its header names segment " + std::to_string(header->index) : header.message();
      if (last && !header) {
        // A crash right after creating the file: nothing was ever acknowledged in it.
        log::Warn("WAL replay: removing a head segment with an incomplete header",
                  {{"segment", path}, {"error", why}});
        if (*size > 0) {
          replay_.torn_tails_truncated++;
          replay_.bytes_truncated += *size;
        }
        file->reset();
        if (Status st = fs_->Remove(path); !st) return st;
        continue;
      }
      log::Warn("WAL replay: skipping a segment with a bad header", {{"segment", path}, {"error", why}});
      replay_.corrupt_records++;
      segments_.push_back(seg);
      continue;
    }

    uint64_t offset = kSegmentHeaderSize;
    bool bad = false;
    FrameStatus bad_status = FrameStatus::kOk;
    std::string bad_reason;
    while (offset < *size) {
      auto frame = ReadFrameAt(**file, offset, *size, buf);
      if (!frame) return frame.error();
      if (frame->status != FrameStatus::kOk) {
        bad = true;
        bad_status = frame->status;
        bad_reason = frame->status == FrameStatus::kIncomplete ? "incomplete record" : "checksum mismatch";
        break;
      }
      auto record = DecodePayload(frame->type, frame->payload);
      if (!record) {
        bad = true;
        bad_status = FrameStatus::kCorrupt;
        bad_reason = record.message();
        break;
      }
      replay_.records++;
      // A sample, histogram or exemplar keeps its series alive until this segment.
      auto use = [&](uint64_t ref) {
        max_ref = std::max(max_ref, ref);
        auto it = series_.find(ref);
        if (it == series_.end()) {
          replay_.unknown_refs++;
        } else {
          it->second.last_used = std::max(it->second.last_used, index);
        }
      };
      if (auto* s = std::get_if<SeriesRecord>(&*record)) {
        for (auto& rs : s->series) {
          max_ref = std::max(max_ref, rs.ref);
          auto [it, inserted] = series_.try_emplace(rs.ref);
          if (inserted) {
            it->second.labels = std::make_shared<const model::Labels>(std::move(rs.labels));
            it->second.defined_at = Position{index, offset};
            it->second.written = true;
          }
          it->second.last_used = std::max(it->second.last_used, index);
        }
      } else if (auto* samples = std::get_if<SamplesRecord>(&*record)) {
        for (const auto& s : samples->samples) use(s.ref);
        seg.samples += samples->samples.size();
        replay_.samples += samples->samples.size();
      } else if (auto* histograms = std::get_if<HistogramsRecord>(&*record)) {
        for (const auto& h : histograms->histograms) use(h.ref);
        seg.samples += histograms->histograms.size();
        replay_.samples += histograms->histograms.size();
      } else if (auto* exemplars = std::get_if<ExemplarsRecord>(&*record)) {
        for (const auto& e : exemplars->exemplars) use(e.ref);
      } else {
        for (auto& m : std::get<MetadataRecord>(*record).metadata) {
          if (auto it = series_.find(m.ref); it != series_.end()) {
            it->second.metadata = std::make_shared<const model::Metadata>(std::move(m.metadata));
          }
        }
      }
      offset += frame->size;
    }
    seg.readable_size = offset;
    if (bad && last) {
      log::Warn("WAL replay: truncating a torn tail",
                {{"segment", path}, {"offset", offset}, {"bytes", *size - offset}, {"reason", bad_reason}});
      replay_.torn_tails_truncated++;
      replay_.bytes_truncated += *size - offset;
      if (bad_status == FrameStatus::kCorrupt) replay_.corrupt_records++;
      file->reset();
      auto wfile = fs_->OpenForWrite(path, /*truncate=*/false);
      if (!wfile) return wfile.error();
      if (Status st = (*wfile)->Truncate(offset); !st) return st;
      if (Status st = (*wfile)->Sync(); !st) return st;
      seg.file_size = offset;
    } else if (bad) {
      log::Warn("WAL replay: corrupt record in a sealed segment; skipping the rest of the segment",
                {{"segment", path}, {"offset", offset}, {"reason", bad_reason}});
      replay_.corrupt_records++;
    }
    segments_.push_back(seg);
  }
  replay_.segments = segments_.size();
  next_ref_ = max_ref + 1;

  if (Status st = StartHead(); !st) return st;
  if (Status st = LoadPositions(); !st) return st;

  replay_.series = series_.size();
  replay_.next_ref = next_ref_;
  replay_.duration =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  metrics_.torn_tails_truncated = replay_.torn_tails_truncated;
  metrics_.corrupt_records = replay_.corrupt_records;
  log::Info("WAL replayed", {{"dir", opts_.dir},
                             {"segments", replay_.segments},
                             {"records", replay_.records},
                             {"series", replay_.series},
                             {"samples", replay_.samples},
                             {"torn_tails_truncated", replay_.torn_tails_truncated},
                             {"corrupt_records", replay_.corrupt_records},
                             {"duration_ms", static_cast<int64_t>(replay_.duration.count())}});
  return {};
}

Status Wal::LoadSnapshot() {
  const std::string path = opts_.dir + "/" + std::string(kSnapshotName);
  auto names = fs_->List(opts_.dir);
  if (!names) return names.error();
  if (std::find(names->begin(), names->end(), kSnapshotName) == names->end()) return {};
  auto data = ReadWholeFile(*fs_, path);
  if (!data) return data.error();
  snapshot_size_ = data->size();
  std::string_view rest = *data;
  auto header = DecodeSegmentHeader(rest);
  if (header && header->version > kFormatVersion) {
    return MakeError("WAL series snapshot " + path + " has format version " +
                     std::to_string(header->version) +
                     ", newer than this agent reads: run a newer agent, or delete the WAL directory");
  }
  if (!header) {
    log::Warn("WAL replay: ignoring a series snapshot with a bad header",
              {{"file", path}, {"error", header.message()}});
    replay_.corrupt_records++;
    return {};
  }
  rest.remove_prefix(kSegmentHeaderSize);
  while (!rest.empty()) {
    Frame f = ParseFrame(rest);
    Result<Record> record = f.status == FrameStatus::kOk ? DecodePayload(f.type, f.payload)
                                                         : Result<Record>(MakeError("bad frame"));
    if (!record || (!std::holds_alternative<SeriesRecord>(*record) &&
                    !std::holds_alternative<MetadataRecord>(*record))) {
      // Written atomically, so this is damage on disk: keep what was readable.
      log::Warn("WAL replay: corrupt record in the series snapshot", {{"file", path}});
      replay_.corrupt_records++;
      break;
    }
    if (auto* series = std::get_if<SeriesRecord>(&*record)) {
      for (auto& rs : series->series) {
        auto& e = series_[rs.ref];
        e.labels = std::make_shared<const model::Labels>(std::move(rs.labels));
        e.written = true;
      }
    } else {
      for (auto& m : std::get<MetadataRecord>(*record).metadata) {
        if (auto it = series_.find(m.ref); it != series_.end()) {
          it->second.metadata = std::make_shared<const model::Metadata>(std::move(m.metadata));
        }
      }
    }
    rest.remove_prefix(f.size);
  }
  return {};
}

Status Wal::LoadPositions() {
  auto names = fs_->List(PositionsDir());
  if (!names) return names.error();
  for (const auto& name : *names) {
    if (name.ends_with(".tmp")) {
      (void)fs_->Remove(PositionsDir() + "/" + name);
      continue;
    }
    if (!IsValidReaderName(name)) continue;
    auto text = ReadWholeFile(*fs_, PositionsDir() + "/" + name);
    if (!text) return text.error();
    auto pos = DecodePosition(*text);
    Position p = FirstPosition();
    if (pos) {
      p = std::max(*pos, p);
      p.offset = std::max<uint64_t>(p.offset, kSegmentHeaderSize);
    } else {
      log::Warn("WAL: unreadable reader position; the reader restarts at the oldest segment",
                {{"reader", name}, {"error", pos.message()}});
    }
    readers_[name] = ReaderState{p, p, 0, false};
  }
  return {};
}

Status Wal::StartHead() {
  const uint32_t index = segments_.empty() ? 1 : segments_.back().index + 1;
  const std::string path = SegmentPath(index);
  auto file = fs_->OpenForWrite(path, /*truncate=*/true);
  if (!file) return file.error();
  Status st = (*file)->WriteAt(0, EncodeSegmentHeader(index));
  if (st && opts_.fsync != FsyncPolicy::kNever) {
    st = (*file)->Sync();
    if (st) st = fs_->SyncDir(opts_.dir);
  }
  if (!st) {
    file->reset();
    (void)fs_->Remove(path);
    return st;
  }
  head_file_ = std::move(*file);
  head_dirty_ = false;
  std::lock_guard lock(mu_);
  segments_.push_back(Segment{index, kSegmentHeaderSize, kSegmentHeaderSize, 0});
  return {};
}

// ---------------------------------------------------------------- Appender

uint64_t Wal::AppendSeries(const model::Labels& labels) {
  const uint64_t ref = next_ref_++;
  auto shared = std::make_shared<const model::Labels>(labels);
  {
    std::lock_guard lock(mu_);
    auto& e = series_[ref];
    e.labels = shared;
    e.last_used = segments_.back().index + 1;
  }
  current_.series.emplace_back(ref, std::move(shared));
  return ref;
}

Status Wal::Touch(uint64_t ref) {
  // Lock-free on purpose: only this (appender) thread mutates the table.
  auto it = series_.find(ref);
  if (it == series_.end()) {
    return MakeError("WAL append: series ref " + std::to_string(ref) +
                     " is unknown (never appended, or forgotten after its segments were deleted); append the "
                     "series again with AppendSeries");
  }
  // The batch lands in the head or, after a roll, the segment after it.
  it->second.last_used = std::max(it->second.last_used, segments_.back().index + 1);
  return {};
}

Status Wal::AppendSample(uint64_t ref, int64_t timestamp_ms, double value) {
  if (Status st = Touch(ref); !st) return st;
  current_.samples.push_back(RefSample{ref, timestamp_ms, value});
  return {};
}

Status Wal::AppendHistogram(uint64_t ref, int64_t timestamp_ms, const model::Histogram& histogram) {
  if (Status st = Touch(ref); !st) return st;
  current_.histograms.push_back(RefHistogram{ref, timestamp_ms, histogram});
  return {};
}

Status Wal::AppendExemplar(uint64_t ref, const model::Exemplar& exemplar) {
  if (Status st = Touch(ref); !st) return st;
  current_.exemplars.push_back(RefExemplar{ref, exemplar});
  return {};
}

Status Wal::SetMetadata(uint64_t ref, const model::Metadata& metadata) {
  if (!series_.contains(ref)) {
    return MakeError("WAL metadata: series ref " + std::to_string(ref) +
                     " is unknown; append the series with AppendSeries first");
  }
  // The table takes it once written (PublishWrite), so a rollback leaves no trace.
  current_.metadata.emplace_back(ref, std::make_shared<const model::Metadata>(metadata));
  return {};
}

Status Wal::AppendSamples(std::span<const RefSample> samples) {
  for (const auto& s : samples) {
    if (Status st = AppendSample(s.ref, s.timestamp_ms, s.value); !st) return st;
  }
  return {};
}

void Wal::Rollback() {
  if (!current_.series.empty()) {
    std::lock_guard lock(mu_);
    for (const auto& [ref, labels] : current_.series) series_.erase(ref);
  }
  current_ = Batch{};
}

void Wal::EncodeBatch(Batch& b) const {
  // Definitions first (series, then their metadata), then the data that uses them.
  AppendSeriesRecords(b.series_bytes, b.series);
  if (!b.metadata.empty()) {
    std::vector<RefMetadata> metadata;
    metadata.reserve(b.metadata.size());
    for (const auto& [ref, m] : b.metadata) metadata.push_back(RefMetadata{ref, *m});
    AppendMetadataRecords(b.series_bytes, metadata);
  }
  std::string payload;
  const size_t per = opts_.max_samples_per_record;
  for (size_t i = 0; i < b.samples.size(); i += per) {
    payload.clear();
    EncodeSamplesPayload(
        payload, std::span<const RefSample>(b.samples).subspan(i, std::min(per, b.samples.size() - i)));
    AppendFrame(b.samples_bytes, RecordType::kSamples, payload);
    b.samples_record_count++;
  }
  for (size_t i = 0; i < b.histograms.size(); i += per) {
    payload.clear();
    EncodeHistogramsPayload(
        payload,
        std::span<const RefHistogram>(b.histograms).subspan(i, std::min(per, b.histograms.size() - i)));
    AppendFrame(b.samples_bytes, RecordType::kHistograms, payload);
    b.samples_record_count++;
  }
  for (size_t i = 0; i < b.exemplars.size(); i += per) {
    payload.clear();
    EncodeExemplarsPayload(
        payload, std::span<const RefExemplar>(b.exemplars).subspan(i, std::min(per, b.exemplars.size() - i)));
    AppendFrame(b.samples_bytes, RecordType::kExemplars, payload);
    b.samples_record_count++;
  }
  b.sample_count = b.samples.size() + b.histograms.size();
}

namespace {
// What a pending batch holds in memory: its encoded bytes plus the decoded
// data kept for bookkeeping (histograms counted by their encoded share).
uint64_t BatchMemory(const std::string& a, const std::string& b, size_t samples, size_t others) {
  return a.size() + b.size() + samples * sizeof(RefSample) + others * sizeof(RefHistogram);
}
void DropData(auto& b) {
  b.samples_bytes.clear();
  b.samples.clear();
  b.histograms.clear();
  b.exemplars.clear();
  b.sample_count = 0;
  b.samples_record_count = 0;
}
}  // namespace

void Wal::EnforcePendingBound() {
  uint64_t dropped = 0;
  for (auto& b : pending_) {
    if (pending_bytes_ <= opts_.max_pending_bytes) break;
    if (b.sample_count == 0 && b.exemplars.empty()) continue;
    pending_bytes_ -=
        BatchMemory({}, b.samples_bytes, b.samples.size(), b.histograms.size() + b.exemplars.size());
    dropped += b.sample_count;
    DropData(b);
  }
  std::lock_guard lock(mu_);
  metrics_.samples_dropped_pending += dropped;
  metrics_.pending_bytes = pending_bytes_;
  if (dropped > 0) {
    log::Warn("WAL: failed commits exceed the memory bound; dropped their samples",
              {{"samples", dropped}, {"max_pending_bytes", opts_.max_pending_bytes}});
  }
}

Status Wal::Commit() {
  if (!current_.series.empty() || !current_.samples.empty() || !current_.histograms.empty() ||
      !current_.exemplars.empty() || !current_.metadata.empty()) {
    EncodeBatch(current_);
    current_.assumed_segment = segments_.back().index + 1;
    pending_bytes_ += BatchMemory(current_.series_bytes, current_.samples_bytes, current_.samples.size(),
                                  current_.histograms.size() + current_.exemplars.size());
    pending_.push_back(std::move(current_));
    current_ = Batch{};
    EnforcePendingBound();
  }
  Status st;
  if (!pending_.empty()) st = WritePending();
  if (st && opts_.fsync == FsyncPolicy::kBatch && head_dirty_ && Now() - last_sync_ >= opts_.fsync_interval) {
    st = SyncHead();
  }
  if (Status t = Truncate(); !t) log::Warn("WAL truncation failed; will retry", {{"error", t.message()}});
  return st;
}

Status Wal::WritePending() {
  uint64_t bytes = 0;
  for (const auto& b : pending_) bytes += b.series_bytes.size() + b.samples_bytes.size();
  if (opts_.max_size != 0 && bytes + 2 * kSegmentHeaderSize + snapshot_size_ > opts_.max_size) {
    uint64_t dropped = 0;
    pending_bytes_ = 0;
    for (auto& b : pending_) {
      dropped += b.sample_count;
      DropData(b);
      pending_bytes_ += BatchMemory(b.series_bytes, {}, 0, 0);
    }
    {
      std::lock_guard lock(mu_);
      metrics_.samples_dropped_pending += dropped;
      metrics_.pending_bytes = pending_bytes_;
    }
    return MakeError("WAL commit of " + std::to_string(bytes) + " bytes does not fit in max_size " +
                     std::to_string(opts_.max_size) + "; dropped its " + std::to_string(dropped) +
                     " samples: raise --wal.max-size");
  }

  auto fail = [this](const Status& st, std::string_view what) {
    std::lock_guard lock(mu_);
    metrics_.write_errors++;
    metrics_.pending_bytes = pending_bytes_;
    return MakeError("WAL " + std::string(what) + " failed: " + st.message() + "; " +
                     std::to_string(pending_bytes_) + " bytes kept in memory and retried at the next commit");
  };

  if (!head_file_) {
    if (Status st = StartHead(); !st) return fail(st, "starting a segment");
  }
  if (segments_.back().file_size > kSegmentHeaderSize &&
      segments_.back().file_size + bytes > opts_.segment_size) {
    if (Status st = RollHead(); !st) return fail(st, "sealing a segment");
  }
  if (Status st = MakeRoom(bytes); !st) return fail(st, "making room under max_size");

  std::string buf;
  buf.reserve(bytes);
  for (const auto& b : pending_) {
    buf += b.series_bytes;
    buf += b.samples_bytes;
  }
  const uint64_t offset = segments_.back().file_size;
  Status st = head_file_->WriteAt(offset, buf);
  if (st && opts_.fsync == FsyncPolicy::kAlways) {
    st = head_file_->Sync();
    if (st) {
      std::lock_guard lock(mu_);
      metrics_.fsyncs++;
    }
  }
  if (!st) {
    // Never leave a torn record that later good records would follow.
    if (Status t = head_file_->Truncate(offset); !t) {
      log::Warn("WAL: cannot truncate a failed write; sealing the segment at its last good record",
                {{"segment", SegmentPath(segments_.back().index)}, {"error", t.message()}});
      head_file_.reset();
    }
    return fail(st, "write");
  }
  if (opts_.fsync == FsyncPolicy::kAlways) {
    last_sync_ = Now();
  } else {
    head_dirty_ = true;
  }
  PublishWrite(offset, buf.size());
  pending_.clear();
  pending_bytes_ = 0;
  return {};
}

void Wal::PublishWrite(uint64_t offset, uint64_t size) {
  std::lock_guard lock(mu_);
  Segment& h = head();
  uint64_t cursor = offset;
  for (auto& b : pending_) {
    for (const auto& [ref, labels] : b.series) {
      auto it = series_.find(ref);
      if (it == series_.end()) continue;
      it->second.written = true;
      it->second.defined_at = Position{h.index, cursor};
      it->second.last_used = std::max(it->second.last_used, h.index);
    }
    for (const auto& [ref, m] : b.metadata) {
      if (auto it = series_.find(ref); it != series_.end()) it->second.metadata = m;
    }
    // Rare: failures pushed the batch past the segment AppendSample assumed.
    if (h.index > b.assumed_segment) {
      auto bump = [&](uint64_t ref) {
        if (auto it = series_.find(ref); it != series_.end()) {
          it->second.last_used = std::max(it->second.last_used, h.index);
        }
      };
      for (const auto& s : b.samples) bump(s.ref);
      for (const auto& x : b.histograms) bump(x.ref);
      for (const auto& x : b.exemplars) bump(x.ref);
    }
    cursor += b.series_bytes.size() + b.samples_bytes.size();
    metrics_.records_written += RecordCount(b.series.size(), kSeriesPerRecord) +
                                RecordCount(b.metadata.size(), kSeriesPerRecord) + b.samples_record_count;
    metrics_.series_written += b.series.size();
    metrics_.samples_written += b.sample_count;
    h.samples += b.sample_count;
  }
  h.file_size += size;
  h.readable_size += size;
  metrics_.commits++;
  metrics_.bytes_written += size;
  metrics_.pending_bytes = 0;
  data_cv_.notify_all();
}

Status Wal::SyncHead() {
  if (!head_file_ || !head_dirty_) return {};
  Status st = head_file_->Sync();
  std::lock_guard lock(mu_);
  if (!st) {
    metrics_.write_errors++;
    return MakeError("WAL fsync failed: " + st.message());
  }
  metrics_.fsyncs++;
  head_dirty_ = false;
  last_sync_ = Now();
  return {};
}

Status Wal::Sync() {
  if (head_file_) head_dirty_ = true;
  return SyncHead();
}

Status Wal::RollHead() {
  if (opts_.fsync != FsyncPolicy::kNever) {
    if (Status st = SyncHead(); !st) return st;
  }
  head_file_.reset();
  return StartHead();
}

// ---------------------------------------------------------------- Truncation

Status Wal::Truncate() {
  uint32_t keep_from;
  {
    std::lock_guard lock(mu_);
    if (readers_.empty()) return {};
    keep_from = segments_.back().index;
    for (const auto& [name, r] : readers_) keep_from = std::min(keep_from, r.saved.segment);
  }
  if (keep_from <= segments_.front().index) return {};
  return DeleteSegmentsBefore(keep_from, /*size_bound=*/false);
}

Status Wal::MakeRoom(uint64_t bytes) {
  if (opts_.max_size == 0) return {};
  while (true) {
    uint64_t disk = snapshot_size_;
    for (const auto& s : segments_) disk += s.file_size;
    if (disk + bytes + kSegmentHeaderSize <= opts_.max_size) return {};
    if (segments_.size() >= 2) {
      if (Status st = DeleteSegmentsBefore(segments_[1].index, /*size_bound=*/true); !st) return st;
    } else if (segments_.back().file_size > kSegmentHeaderSize) {
      if (Status st = RollHead(); !st) return st;
    } else {
      return {};
    }
  }
}

Result<uint64_t> Wal::CountSamples(const Segment& seg, uint64_t from_offset) {
  auto file = fs_->OpenForRead(SegmentPath(seg.index));
  if (!file) return file.error();
  std::string buf;
  uint64_t count = 0;
  uint64_t offset = std::max<uint64_t>(from_offset, kSegmentHeaderSize);
  while (offset < seg.readable_size) {
    auto frame = ReadFrameAt(**file, offset, seg.readable_size, buf);
    if (!frame) return frame.error();
    if (frame->status != FrameStatus::kOk) break;
    if (frame->type == static_cast<uint8_t>(RecordType::kSamples) ||
        frame->type == static_cast<uint8_t>(RecordType::kHistograms)) {
      size_t pos = 0;
      uint64_t n = 0;
      if (GetUvarint(frame->payload, &pos, &n)) count += n;
    }
    offset += frame->size;
  }
  return count;
}

void Wal::CollectSeriesBefore(Position pos,
                              std::vector<std::pair<uint64_t, std::shared_ptr<const model::Labels>>>& out,
                              std::vector<RefMetadata>& metadata, Position from) const {
  size_t start = out.size();
  size_t mstart = metadata.size();
  for (const auto& [ref, e] : series_) {
    if (e.written && e.defined_at >= from && e.defined_at < pos) {
      out.emplace_back(ref, e.labels);
      if (e.metadata) metadata.push_back(RefMetadata{ref, *e.metadata});
    }
  }
  std::sort(out.begin() + static_cast<ptrdiff_t>(start), out.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::sort(metadata.begin() + static_cast<ptrdiff_t>(mstart), metadata.end(),
            [](const auto& a, const auto& b) { return a.ref < b.ref; });
}

Status Wal::DeleteSegmentsBefore(uint32_t first, bool size_bound) {
  // The segment list is only mutated by this (appender) thread: read it unlocked.
  size_t n = 0;
  while (n + 1 < segments_.size() && segments_[n].index < first) ++n;
  if (n == 0) return {};
  const uint32_t new_first = segments_[n].index;
  const Position new_first_pos{new_first, kSegmentHeaderSize};

  // Series a retained or pending record still uses survive; those defined in
  // the deleted segments go to the snapshot first, so a crash in between
  // leaves both (harmless duplicates) rather than neither.
  std::unordered_set<uint64_t> pinned;
  for (const auto& b : pending_) {
    for (const auto& s : b.samples) pinned.insert(s.ref);
    for (const auto& h : b.histograms) pinned.insert(h.ref);
    for (const auto& e : b.exemplars) pinned.insert(e.ref);
  }
  std::vector<uint64_t> forgotten;
  std::string snapshot = EncodeSegmentHeader(new_first);
  std::vector<std::pair<uint64_t, std::shared_ptr<const model::Labels>>> keep;
  std::vector<RefMetadata> keep_metadata;
  for (const auto& [ref, e] : series_) {
    if (!e.written) continue;
    if (e.last_used < new_first && !pinned.contains(ref)) {
      forgotten.push_back(ref);
    } else if (e.defined_at < new_first_pos) {
      keep.emplace_back(ref, e.labels);
      if (e.metadata) keep_metadata.push_back(RefMetadata{ref, *e.metadata});
    }
  }
  std::sort(keep.begin(), keep.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::sort(keep_metadata.begin(), keep_metadata.end(),
            [](const auto& a, const auto& b) { return a.ref < b.ref; });
  AppendSeriesRecords(snapshot, keep);
  AppendMetadataRecords(snapshot, keep_metadata);
  if (Status st = WriteFileAtomic(*fs_, opts_.dir, std::string(kSnapshotName), snapshot, Durable()); !st) {
    {
      std::lock_guard lock(mu_);
      metrics_.write_errors++;
    }
    if (!size_bound) return MakeError("WAL series snapshot: " + st.message());
    // The disk bound must win: series stay in memory, a restart may lose some labels.
    log::Warn("WAL: series snapshot failed; dropping segments anyway to honour max_size",
              {{"error", st.message()}});
  }

  std::vector<uint32_t> deleted;
  for (size_t i = 0; i < n; ++i) deleted.push_back(segments_[i].index);
  uint64_t dropped_samples = 0;
  {
    std::lock_guard lock(mu_);
    if (size_bound) {
      for (size_t i = 0; i < n; ++i) dropped_samples += segments_[i].samples;
    }
    for (auto& [name, r] : readers_) {
      Position p = r.open ? std::max(r.read, r.saved) : r.saved;
      if (p < new_first_pos && size_bound) {
        uint64_t lost = 0;
        for (size_t i = 0; i < n; ++i) {
          const Segment& s = segments_[i];
          if (s.index < p.segment) continue;
          if (s.index == p.segment) {
            auto c = CountSamples(s, p.offset);
            lost += c ? *c : s.samples;
          } else {
            lost += s.samples;
          }
        }
        r.samples_dropped += lost;
        if (lost > 0) {
          log::Warn("WAL: max_size dropped samples a reader had not read",
                    {{"reader", name}, {"samples", lost}, {"max_size", opts_.max_size}});
        }
      }
      r.saved = std::max(r.saved, new_first_pos);
      r.read = std::max(r.read, new_first_pos);
    }
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(n));
    for (uint64_t ref : forgotten) series_.erase(ref);
    snapshot_size_ = snapshot.size();
    if (size_bound) {
      metrics_.segments_dropped_size_bound += n;
      metrics_.samples_dropped_size_bound += dropped_samples;
    } else {
      metrics_.segments_truncated += n;
    }
  }
  // Readers re-check the segment list under mu_ before opening a file, so
  // unlinking outside the lock is safe; an already open descriptor stays valid.
  for (uint32_t index : deleted) {
    if (Status st = fs_->Remove(SegmentPath(index)); !st) {
      log::Warn("WAL: cannot remove a deleted segment's file", {{"error", st.message()}});
    }
  }
  if (!forgotten.empty() && opts_.on_series_forgotten) opts_.on_series_forgotten(forgotten);
  return {};
}

// ---------------------------------------------------------------- Readers

Result<std::unique_ptr<Reader>> Wal::OpenReader(std::string_view name) {
  if (!IsValidReaderName(name)) return BadReaderName(name);
  Position start;
  bool persist = false;
  std::unique_ptr<Reader> reader;
  {
    std::lock_guard lock(mu_);
    auto it = readers_.find(name);
    if (it == readers_.end()) {
      Position first = FirstPosition();
      it = readers_.emplace(std::string(name), ReaderState{first, first, 0, false}).first;
      persist = true;
    }
    if (it->second.open) {
      return MakeError("WAL reader \"" + std::string(name) + "\" is already open; close it first");
    }
    start = std::max(it->second.saved, FirstPosition());
    it->second.open = true;
    it->second.read = start;
    reader.reset(new Reader(this, std::string(name), start));
    CollectSeriesBefore(start, reader->to_announce_, reader->to_announce_metadata_);
  }
  if (persist) {
    // Registered durably at once, so a restart keeps its segments even before its first checkpoint.
    if (Status st =
            WriteFileAtomic(*fs_, PositionsDir(), std::string(name), EncodePosition(start), Durable());
        !st) {
      std::lock_guard lock(mu_);
      readers_.erase(std::string(name));
      reader->wal_ = nullptr;
      return st.error();
    }
  }
  return reader;
}

Status Wal::SaveCheckpoint(std::string_view name, Position pos) {
  if (!IsValidReaderName(name)) return BadReaderName(name);
  Position effective;
  {
    std::lock_guard lock(mu_);
    auto it = readers_.find(name);
    if (it == readers_.end()) {
      return MakeError("WAL reader \"" + std::string(name) +
                       "\" is not registered; open it with OpenReader first");
    }
    pos.offset = std::max<uint64_t>(pos.offset, kSegmentHeaderSize);
    // Positions only move forward: truncation may already have used the newer one.
    effective = std::max({pos, it->second.saved, FirstPosition()});
  }
  if (Status st =
          WriteFileAtomic(*fs_, PositionsDir(), std::string(name), EncodePosition(effective), Durable());
      !st) {
    return MakeError("WAL reader \"" + std::string(name) + "\": saving its position failed: " + st.message());
  }
  std::lock_guard lock(mu_);
  if (auto it = readers_.find(name); it != readers_.end())
    it->second.saved = std::max(it->second.saved, effective);
  return {};
}

Status Wal::UnregisterReader(std::string_view name) {
  if (!IsValidReaderName(name)) return BadReaderName(name);
  {
    std::lock_guard lock(mu_);
    auto it = readers_.find(name);
    if (it == readers_.end()) return {};
    if (it->second.open) {
      return MakeError("WAL reader \"" + std::string(name) + "\" is open; destroy it before unregistering");
    }
    readers_.erase(it);
  }
  if (Status st = fs_->Remove(PositionsDir() + "/" + std::string(name)); !st) return st;
  return Durable() ? fs_->SyncDir(PositionsDir()) : Status{};
}

std::vector<std::string> Wal::RegisteredReaders() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, r] : readers_) names.push_back(name);
  return names;
}

void Wal::NotifyReaders() {
  std::lock_guard lock(mu_);
  wake_seq_++;
  data_cv_.notify_all();
}

Metrics Wal::GetMetrics() const {
  std::lock_guard lock(mu_);
  Metrics m = metrics_;
  m.bytes_on_disk = snapshot_size_;
  for (const auto& s : segments_) m.bytes_on_disk += s.file_size;
  m.segments = segments_.size();
  m.series_live = series_.size();
  for (const auto& [name, r] : readers_) {
    m.readers[name] = ReaderMetrics{r.saved, r.read, r.samples_dropped, r.open};
  }
  return m;
}

Reader::Reader(Wal* wal, std::string name, Position start) : wal_(wal), name_(std::move(name)), pos_(start) {}

Reader::~Reader() {
  if (wal_ == nullptr) return;
  std::lock_guard lock(wal_->mu_);
  if (auto it = wal_->readers_.find(name_); it != wal_->readers_.end()) it->second.open = false;
}

void Reader::CloseFile() {
  file_.reset();
}

Status Reader::SaveCheckpoint(Position pos) {
  return wal_->SaveCheckpoint(name_, pos);
}

bool Reader::WaitForData(std::chrono::milliseconds timeout) {
  if (announce_next_ < to_announce_.size() || !to_announce_metadata_.empty()) return true;
  std::unique_lock lock(wal_->mu_);
  const uint64_t seq = wal_->wake_seq_;
  auto has_data = [this] {
    const auto& last = wal_->segments_.back();
    return pos_ < wal_->FirstPosition() || pos_ < Position{last.index, last.readable_size};
  };
  wal_->data_cv_.wait_for(lock, timeout, [&] { return has_data() || wal_->wake_seq_ != seq; });
  return has_data();
}

Result<std::optional<Entry>> Reader::Next() {
  while (true) {
    if (announce_next_ < to_announce_.size()) {
      SeriesRecord rec;
      size_t end = std::min(to_announce_.size(), announce_next_ + kAnnouncePerRecord);
      for (; announce_next_ < end; ++announce_next_) {
        rec.series.push_back(
            RefSeries{to_announce_[announce_next_].first, *to_announce_[announce_next_].second});
      }
      if (announce_next_ == to_announce_.size()) {
        to_announce_.clear();
        announce_next_ = 0;
      }
      return std::optional<Entry>(Entry{Record(std::move(rec)), pos_});
    }
    if (!to_announce_metadata_.empty()) {
      // After every series of the announcement, their metadata in one record.
      MetadataRecord rec;
      rec.metadata = std::move(to_announce_metadata_);
      to_announce_metadata_.clear();
      return std::optional<Entry>(Entry{Record(std::move(rec)), pos_});
    }

    uint64_t limit = 0;
    {
      std::lock_guard lock(wal_->mu_);
      auto& state = wal_->readers_[name_];
      const auto& segs = wal_->segments_;
      const Position first = wal_->FirstPosition();
      if (pos_ < first) {
        // Truncated or dropped by max_size underneath us: skip ahead, and
        // re-announce the series a later samples record may use.
        pos_ = first;
        CloseFile();
        wal_->CollectSeriesBefore(pos_, to_announce_, to_announce_metadata_);
        state.read = pos_;
        continue;
      }
      auto it = std::lower_bound(segs.begin(), segs.end(), pos_.segment,
                                 [](const Wal::Segment& s, uint32_t index) { return s.index < index; });
      if (it == segs.end()) return std::optional<Entry>();
      if (it->index != pos_.segment || pos_.offset < kSegmentHeaderSize) {
        pos_ = Position{it->index, kSegmentHeaderSize};
      }
      if (pos_.offset >= it->readable_size) {
        if (std::next(it) == segs.end()) return std::optional<Entry>();
        pos_ = Position{std::next(it)->index, kSegmentHeaderSize};
        state.read = pos_;
        continue;
      }
      limit = it->readable_size;
      if (!file_ || file_segment_ != pos_.segment) {
        auto f = wal_->fs_->OpenForRead(wal_->SegmentPath(pos_.segment));
        if (!f) return f.error();
        file_ = std::move(*f);
        file_segment_ = pos_.segment;
      }
    }

    auto frame = ReadFrameAt(*file_, pos_.offset, limit, buf_);
    if (!frame) return frame.error();
    std::optional<Result<Record>> record;
    if (frame->status == FrameStatus::kOk) record.emplace(DecodePayload(frame->type, frame->payload));

    std::lock_guard lock(wal_->mu_);
    if (pos_ < wal_->FirstPosition()) continue;  // deleted while we read: the loop skips ahead
    auto& state = wal_->readers_[name_];
    if (!record || !*record) {
      wal_->metrics_.corrupt_records++;
      log::Warn("WAL reader: corrupt record; skipping the rest of the segment",
                {{"reader", name_}, {"segment", wal_->SegmentPath(pos_.segment)}, {"offset", pos_.offset}});
      Position skipped_to{pos_.segment, limit};
      wal_->CollectSeriesBefore(skipped_to, to_announce_, to_announce_metadata_, pos_);
      pos_ = skipped_to;
      state.read = pos_;
      continue;
    }
    pos_.offset += frame->size;
    state.read = pos_;
    return std::optional<Entry>(Entry{std::move(**record), pos_});
  }
}

}  // namespace promsidecar::wal
