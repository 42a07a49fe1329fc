// The tests' one temporary directory: unit and integration tests alike.
#pragma once

#include <string>

namespace promsidecar::testing {

// A fresh directory under $TMPDIR (default /tmp), removed with everything in
// it on destruction unless the environment sets PROMSIDECAR_KEEP_TEMP=1 (to
// look at what a failed test left). Throws std::runtime_error when it cannot
// be created.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

  // Writes `content` to `name` (relative; missing parent directories are
  // created) and returns its full path. The file is replaced atomically
  // (written beside it, then renamed), as the kubelet swaps a mounted
  // Secret's files, so a reader sees the old content or the new, never half.
  // Throws std::runtime_error when the write fails.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

}  // namespace promsidecar::testing
