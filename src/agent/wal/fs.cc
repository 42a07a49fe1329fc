#include "agent/wal/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace promsidecar::wal {
namespace {

Error ErrnoError(std::string_view op, const std::string& path, int err) {
  std::string msg(op);
  msg += ' ';
  msg += path;
  msg += ": ";
  msg += std::strerror(err);
  return MakeError(std::move(msg));
}

class PosixFile : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Status WriteAt(uint64_t offset, std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return {};
  }

  Result<size_t> ReadAt(uint64_t offset, char* out, size_t size) override {
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pread(fd_, out + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("read", path_, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoError("fdatasync", path_, errno);
    return {};
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return ErrnoError("truncate", path_, errno);
    return {};
  }

  Result<uint64_t> Size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return ErrnoError("stat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  int fd_;
  std::string path_;
};

Result<std::unique_ptr<File>> OpenFile(const std::string& path, int flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoError("open", path, errno);
  return std::unique_ptr<File>(new PosixFile(fd, path));
}

}  // namespace

Result<std::unique_ptr<File>> FileSystemImpl::OpenForWrite(const std::string& path, bool truncate) {
  return OpenFile(path, O_RDWR | O_CREAT | (truncate ? O_TRUNC : 0));
}

Result<std::unique_ptr<File>> FileSystemImpl::OpenForRead(const std::string& path) {
  return OpenFile(path, O_RDONLY);
}

Status FileSystemImpl::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoError("rename", from + " to " + to, errno);
  return {};
}

Status FileSystemImpl::Remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove", path, errno);
  return {};
}

Result<std::vector<std::string>> FileSystemImpl::List(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("list", dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoError("list", dir, err);
  return names;
}

Status FileSystemImpl::MakeDirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    std::string prefix = dir.substr(0, i);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("mkdir", prefix, errno);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return ErrnoError("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) return MakeError("mkdir " + dir + ": exists and is not a directory");
  return {};
}

Status FileSystemImpl::SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync", dir, err);
  return {};
}

FileSystem& DefaultFileSystem() {
  static FileSystemImpl fs;
  return fs;
}

Status WriteFileAtomic(FileSystem& fs, const std::string& dir, const std::string& name,
                       std::string_view contents, bool durable) {
  std::string tmp = dir + "/" + name + ".tmp";
  std::string final_path = dir + "/" + name;
  {
    auto file = fs.OpenForWrite(tmp, /*truncate=*/true);
    if (!file) return file.error();
    Status st = (*file)->WriteAt(0, contents);
    if (st && durable) st = (*file)->Sync();
    if (!st) {
      (void)fs.Remove(tmp);
      return st;
    }
  }
  if (Status st = fs.Rename(tmp, final_path); !st) {
    (void)fs.Remove(tmp);
    return st;
  }
  return durable ? fs.SyncDir(dir) : Status{};
}

Result<std::string> ReadWholeFile(FileSystem& fs, const std::string& path) {
  auto file = fs.OpenForRead(path);
  if (!file) return file.error();
  std::string out;
  char buf[4096];
  uint64_t offset = 0;
  while (true) {
    auto n = (*file)->ReadAt(offset, buf, sizeof buf);
    if (!n) return n.error();
    if (*n == 0) break;
    out.append(buf, *n);
    offset += *n;
  }
  return out;
}

}  // namespace promsidecar::wal
