// A FileSystem that forwards to the real one and fails on demand, as a full
// or broken disk would: writes return ENOSPC (optionally after writing a
// prefix, like a short write), truncation or fsync fail with EIO.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "agent/wal/fs.h"

namespace promsidecar::wal::testing {

class FaultFileSystem : public FileSystem {
 public:
  std::atomic<bool> fail_writes{false};
  std::atomic<size_t> partial_write_bytes{0};  // bytes written before a failing write fails
  std::atomic<bool> fail_truncate{false};
  std::atomic<bool> fail_sync{false};
  std::atomic<int> writes{0};

  class FaultFile : public File {
   public:
    FaultFile(FaultFileSystem* fs, std::unique_ptr<File> f) : fs_(fs), f_(std::move(f)) {}
    Status WriteAt(uint64_t offset, std::string_view data) override {
      fs_->writes++;
      if (fs_->fail_writes) {
        size_t n = std::min(data.size(), fs_->partial_write_bytes.load());
        if (n > 0) (void)f_->WriteAt(offset, data.substr(0, n));
        return MakeError("write: No space left on device");
      }
      return f_->WriteAt(offset, data);
    }
    Result<size_t> ReadAt(uint64_t offset, char* out, size_t size) override {
      return f_->ReadAt(offset, out, size);
    }
    Status Sync() override {
      if (fs_->fail_sync) return MakeError("fdatasync: Input/output error");
      return f_->Sync();
    }
    Status Truncate(uint64_t size) override {
      if (fs_->fail_truncate) return MakeError("truncate: Input/output error");
      return f_->Truncate(size);
    }
    Result<uint64_t> Size() override { return f_->Size(); }

   private:
    FaultFileSystem* fs_;
    std::unique_ptr<File> f_;
  };

  Result<std::unique_ptr<File>> OpenForWrite(const std::string& path, bool truncate) override {
    auto f = real_.OpenForWrite(path, truncate);
    if (!f) return f;
    return std::unique_ptr<File>(new FaultFile(this, std::move(*f)));
  }
  Result<std::unique_ptr<File>> OpenForRead(const std::string& path) override {
    auto f = real_.OpenForRead(path);
    if (!f) return f;
    return std::unique_ptr<File>(new FaultFile(this, std::move(*f)));
  }
  Status Rename(const std::string& from, const std::string& to) override { return real_.Rename(from, to); }
  Status Remove(const std::string& path) override { return real_.Remove(path); }
  Result<std::vector<std::string>> List(const std::string& dir) override { return real_.List(dir); }
  Status MakeDirs(const std::string& dir) override { return real_.MakeDirs(dir); }
  Status SyncDir(const std::string& dir) override { return real_.SyncDir(dir); }

 private:
  FileSystemImpl real_;
};

}  // namespace promsidecar::wal::testing
