// The agent's write-ahead log: every scraped sample is written here before the
// scrape is acknowledged, and one reader per remote-write sender streams it
// back at its own durable position. The on-disk format and the durability of
// each fsync policy are described in docs/wal.md.
//
// Thread-safety (exactly):
//  * Appender methods (AppendSeries, AppendSample(s), Commit, Rollback, Sync)
//    are called from ONE thread at a time (the scrape side).
//  * Each Reader is used by one thread at a time; different Readers may run on
//    different threads concurrently with each other and with the appender.
//  * OpenReader, SaveCheckpoint, UnregisterReader, RegisteredReaders,
//    GetMetrics and NotifyReaders may be called from any thread.
//    SaveCheckpoint(name) must not race with UnregisterReader(name) or with
//    another SaveCheckpoint(name) (one sender thread per reader name).
//  * Every Reader must be destroyed before its Wal.
//
// Series refs: AppendSeries assigns a new ref; refs are never reused while a
// record mentioning them is retained. The WAL forgets a series once the
// segment after the last one mentioning it has been deleted (truncation or the
// size bound); Options::on_series_forgotten tells the scrape side, and
// AppendSample rejects unknown refs, so no sample reaches a reader whose series
// labels cannot be resolved.
#pragma once

#include <chrono>
#include <compare>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/model/labels.h"
#include "agent/wal/format.h"
#include "agent/wal/fs.h"
#include "common/util/result.h"

namespace promsidecar::wal {

enum class FsyncPolicy {
  kAlways,  // fsync at every Commit: an acknowledged scrape survives power loss
  kBatch,   // fsync at the first Commit >= fsync_interval after the last one, on segment seal, Sync(), close
  kNever,   // never fsync: survives a process crash (kill -9), not a power loss
};
// "always" | "batch" | "never".
Result<FsyncPolicy> ParseFsyncPolicy(std::string_view text);
std::string_view FsyncPolicyName(FsyncPolicy policy);

struct Options {
  std::string dir;                   // created if missing
  uint64_t segment_size = 1u << 20;  // a segment is sealed once the next commit would exceed it
  uint64_t max_size = 256ull << 20;  // total bytes on disk (segments + series snapshot); 0 = unbounded
  FsyncPolicy fsync = FsyncPolicy::kBatch;
  std::chrono::milliseconds fsync_interval{1000};  // kBatch only
  // Failed commits (ENOSPC, EIO) are kept in memory and written ahead of the
  // next commit; beyond this many bytes their samples are dropped (counted),
  // their series records kept.
  uint64_t max_pending_bytes = 16u << 20;
  size_t max_samples_per_record = 4096;
  FileSystem* fs = nullptr;                                      // nullptr: DefaultFileSystem()
  std::function<std::chrono::steady_clock::time_point()> clock;  // nullptr: steady_clock::now
  // Called on the appender thread (inside Commit) with the refs the WAL just
  // forgot; the scrape side drops them from its cache and appends the series
  // again if it sees them later.
  std::function<void(std::span<const uint64_t>)> on_series_forgotten;
};

// A place in the log: the byte offset of a record boundary in a segment.
struct Position {
  uint32_t segment = 0;
  uint64_t offset = 0;
  friend auto operator<=>(const Position&, const Position&) = default;
};

struct ReplayStats {
  uint64_t segments = 0;
  uint64_t records = 0;
  uint64_t series = 0;  // series known after replay (snapshot + segments)
  uint64_t samples = 0;
  uint64_t torn_tails_truncated = 0;
  uint64_t bytes_truncated = 0;
  uint64_t corrupt_records = 0;  // sealed segments: the rest of the segment is skipped
  uint64_t unknown_refs = 0;     // samples whose series record was lost to corruption
  uint64_t next_ref = 0;
  std::chrono::milliseconds duration{0};
};

struct ReaderMetrics {
  Position saved;                           // durable position (what truncation honours)
  Position read;                            // position after the last record returned by Next()
  uint64_t samples_dropped_size_bound = 0;  // samples this reader never saw because of max_size
  bool open = false;                        // a Reader object is attached
};

struct Metrics {
  uint64_t bytes_on_disk = 0;
  uint64_t segments = 0;
  uint64_t series_live = 0;
  uint64_t commits = 0;
  uint64_t records_written = 0;
  uint64_t series_written = 0;
  uint64_t samples_written = 0;
  uint64_t bytes_written = 0;
  uint64_t fsyncs = 0;
  uint64_t write_errors = 0;
  uint64_t pending_bytes = 0;            // failed commits waiting in memory
  uint64_t samples_dropped_pending = 0;  // over max_pending_bytes, or a commit larger than max_size
  uint64_t segments_truncated = 0;       // deleted after every reader passed them
  uint64_t segments_dropped_size_bound = 0;
  uint64_t samples_dropped_size_bound = 0;  // samples in segments dropped by max_size
  uint64_t torn_tails_truncated = 0;
  uint64_t corrupt_records = 0;  // found at replay or by readers
  std::map<std::string, ReaderMetrics> readers;
};

// One record returned by Reader::Next, and the position right after it: save
// that position once the record has been delivered.
struct Entry {
  Record record;
  Position end;
};

class Wal;

class Reader {
 public:
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  const std::string& name() const { return name_; }
  // The next record after the read position, following segments; nullopt when
  // caught up with the last commit. After opening, and after the size bound or
  // a corrupt segment made it skip, the reader first returns series records
  // for every live series defined before its position, so every ref of a later
  // samples record resolves. A ref may be defined more than once, always with
  // the same labels. Errors are I/O errors (retry later).
  Result<std::optional<Entry>> Next();
  // Waits until a commit has made data available past the read position, or
  // NotifyReaders(), or the timeout. True if Next() may return a record.
  bool WaitForData(std::chrono::milliseconds timeout);
  Position position() const { return pos_; }
  // Persists `pos` (an Entry::end) as this reader's durable position.
  Status SaveCheckpoint(Position pos);

 private:
  friend class Wal;
  Reader(Wal* wal, std::string name, Position start);
  void CloseFile();

  Wal* wal_;
  std::string name_;
  Position pos_;
  std::unique_ptr<File> file_;
  uint32_t file_segment_ = 0;
  // Series to return before reading on (after opening or skipping ahead).
  std::vector<std::pair<uint64_t, std::shared_ptr<const model::Labels>>> to_announce_;
  size_t announce_next_ = 0;
  // The metadata of those series, announced after them.
  std::vector<RefMetadata> to_announce_metadata_;
  std::string buf_;
};

class Wal {
 public:
  // Replays the directory: validates every record, truncates a torn tail,
  // rebuilds the series table and next ref, loads saved reader positions and
  // starts a new head segment. Fails only when the directory is unusable or
  // was written by a newer format version.
  static Result<std::unique_ptr<Wal>> Open(Options options);
  // Syncs (unless kNever) and closes.
  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  const ReplayStats& replay_stats() const { return replay_; }
  const Options& options() const { return opts_; }

  // --- Appender (one thread) ---
  // Buffers a series record and returns its new ref.
  uint64_t AppendSeries(const model::Labels& labels);
  // Buffers a sample; an error when `ref` is unknown (never appended, or forgotten).
  Status AppendSample(uint64_t ref, int64_t timestamp_ms, double value);
  Status AppendSamples(std::span<const RefSample> samples);
  // Buffers a native histogram sample; an error when `ref` is unknown.
  Status AppendHistogram(uint64_t ref, int64_t timestamp_ms, const model::Histogram& histogram);
  // Buffers an exemplar of `ref`; an error when `ref` is unknown.
  Status AppendExemplar(uint64_t ref, const model::Exemplar& exemplar);
  // Buffers the metadata of `ref` from here on; an error when `ref` is
  // unknown. The WAL keeps the latest metadata of every live series (in the
  // series snapshot too) and announces it to readers with the series.
  Status SetMetadata(uint64_t ref, const model::Metadata& metadata);
  // Writes everything buffered since the last Commit in one write at the end of
  // the head segment (series records first, then samples), fsyncs per policy,
  // wakes readers, and runs truncation and the size bound. On an error
  // (ENOSPC, EIO) the head is truncated back to its last good record, the
  // batch stays in memory (bounded by max_pending_bytes) and is written ahead of
  // the next commit: do not append it again. An empty Commit() is a cheap tick
  // that retries pending data, applies the batch fsync and truncates.
  Status Commit();
  // Drops everything buffered since the last Commit (its refs are burnt).
  void Rollback();
  // fsync of the head now (any policy).
  Status Sync();

  // --- Readers (any thread) ---
  // Registers `name` (letters, digits, '.', '_', '-'; at most 128) if needed
  // and opens it at its saved position, or at the oldest segment when it has
  // none. One open Reader per name.
  Result<std::unique_ptr<Reader>> OpenReader(std::string_view name);
  // Atomically persists `name`'s position (positions/<name>: temp + rename +
  // fsync dir). Truncation deletes segments below the lowest saved position.
  Status SaveCheckpoint(std::string_view name, Position pos);
  // Forgets `name` and its position file, so it no longer holds segments.
  // Its Reader, if open, must be destroyed first.
  Status UnregisterReader(std::string_view name);
  std::vector<std::string> RegisteredReaders() const;
  // Wakes every WaitForData (e.g. at shutdown).
  void NotifyReaders();
  Metrics GetMetrics() const;

 private:
  friend class Reader;

  struct Segment {
    uint32_t index = 0;
    uint64_t file_size = 0;      // bytes on disk
    uint64_t readable_size = 0;  // end of the last good record (readers stop here)
    uint64_t samples = 0;
  };
  struct SeriesEntry {
    std::shared_ptr<const model::Labels> labels;
    std::shared_ptr<const model::Metadata> metadata;  // null: none recorded
    Position defined_at;                              // {0,0}: from the series snapshot
    uint32_t last_used = 0;  // segment index (conservative upper bound while pending)
    bool written = false;
  };
  struct ReaderState {
    Position saved;
    Position read;
    uint64_t samples_dropped = 0;
    bool open = false;
  };
  struct Batch {
    std::vector<std::pair<uint64_t, std::shared_ptr<const model::Labels>>> series;
    std::vector<std::pair<uint64_t, std::shared_ptr<const model::Metadata>>> metadata;
    std::vector<RefSample> samples;
    std::vector<RefHistogram> histograms;
    std::vector<RefExemplar> exemplars;
    std::string series_bytes;
    std::string samples_bytes;
    uint64_t sample_count = 0;
    uint64_t samples_record_count = 0;
    uint32_t assumed_segment = 0;  // the last_used AppendSample gave its refs
  };

  explicit Wal(Options options);
  Status Replay();
  Status LoadSnapshot();
  Status LoadPositions();
  Status StartHead();
  void EncodeBatch(Batch& b) const;
  void EnforcePendingBound();
  Status WritePending();
  Status MakeRoom(uint64_t bytes);
  Status RollHead();
  Status SyncHead();
  void PublishWrite(uint64_t offset, uint64_t size);
  Status Truncate();
  // Deletes segments with index < `first` (never the head). `size_bound`:
  // readers behind lose samples and are counted; otherwise every reader is past.
  Status DeleteSegmentsBefore(uint32_t first, bool size_bound);
  Result<uint64_t> CountSamples(const Segment& seg, uint64_t from_offset);
  std::string SegmentPath(uint32_t index) const;
  std::string PositionsDir() const;
  Position FirstPosition() const;  // requires mu_
  Segment& head() { return segments_.back(); }
  // The live series defined in [from, pos), sorted by ref, and the metadata
  // of those that have some.
  void CollectSeriesBefore(Position pos,
                           std::vector<std::pair<uint64_t, std::shared_ptr<const model::Labels>>>& out,
                           std::vector<RefMetadata>& metadata,
                           Position from = Position{}) const;  // requires mu_
  // Marks `ref` as used by the batch being built (for truncation).
  Status Touch(uint64_t ref);
  std::chrono::steady_clock::time_point Now() const;
  // Position and snapshot files are fsynced unless the policy is kNever.
  bool Durable() const { return opts_.fsync != FsyncPolicy::kNever; }

  Options opts_;
  FileSystem* fs_;
  ReplayStats replay_;

  // Appender-thread state (no lock needed).
  Batch current_;
  std::deque<Batch> pending_;
  uint64_t pending_bytes_ = 0;
  uint64_t next_ref_ = 1;
  std::unique_ptr<File> head_file_;  // null when the head must be (re)started
  bool head_dirty_ = false;          // written since the last fsync
  std::chrono::steady_clock::time_point last_sync_;

  // Shared state. The series table is mutated only by the appender thread,
  // holding mu_; readers read it holding mu_; the appender reads it without.
  mutable std::mutex mu_;
  std::condition_variable data_cv_;
  uint64_t wake_seq_ = 0;
  std::vector<Segment> segments_;  // ascending; back() is the head
  uint64_t snapshot_size_ = 0;
  std::unordered_map<uint64_t, SeriesEntry> series_;
  std::map<std::string, ReaderState, std::less<>> readers_;
  Metrics metrics_;  // readers/bytes/segments filled in by GetMetrics
};

}  // namespace promsidecar::wal
