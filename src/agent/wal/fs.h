// The WAL's filesystem seam: every file operation of the WAL goes through
// these two small interfaces, so tests can inject ENOSPC, EIO or short writes
// (test/agent/wal/fault_fs.h) and the WAL's recovery logic is exercised without
// filling a real disk.
//
// Errors are values whose message names the operation, the path and
// strerror(errno), e.g. "write /wal/0000000003.seg: No space left on device".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/result.h"

namespace promsidecar::wal {

// An open file. One owner at a time; not thread-safe by itself.
class File {
 public:
  virtual ~File() = default;
  // Writes all of `data` at `offset`. On error a prefix may have been written:
  // the caller truncates back.
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Reads up to `size` bytes at `offset` into `out`; fewer only at end of file.
  virtual Result<size_t> ReadAt(uint64_t offset, char* out, size_t size) = 0;
  // Makes written data durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Truncate(uint64_t size) = 0;
  virtual Result<uint64_t> Size() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Opens read-write, creating the file if missing; `truncate` empties it.
  virtual Result<std::unique_ptr<File>> OpenForWrite(const std::string& path, bool truncate) = 0;
  virtual Result<std::unique_ptr<File>> OpenForRead(const std::string& path) = 0;
  // Atomically replaces `to` (rename(2)).
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // Names of the entries of `dir` (no "." and ".."), in no particular order.
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  // mkdir -p.
  virtual Status MakeDirs(const std::string& dir) = 0;
  // fsync of the directory itself, so created, renamed and removed names are durable.
  virtual Status SyncDir(const std::string& dir) = 0;
};

// The real POSIX implementation.
class FileSystemImpl : public FileSystem {
 public:
  Result<std::unique_ptr<File>> OpenForWrite(const std::string& path, bool truncate) override;
  Result<std::unique_ptr<File>> OpenForRead(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Status MakeDirs(const std::string& dir) override;
  Status SyncDir(const std::string& dir) override;
};

// A process-wide FileSystemImpl (stateless, thread-safe).
FileSystem& DefaultFileSystem();

// Writes `contents` to dir/name atomically: a temp file renamed over it. With
// `durable`, the temp file is fsynced before and the directory after the rename.
Status WriteFileAtomic(FileSystem& fs, const std::string& dir, const std::string& name,
                       std::string_view contents, bool durable = true);

// Reads a whole (small) file.
Result<std::string> ReadWholeFile(FileSystem& fs, const std::string& path);

}  // namespace promsidecar::wal
