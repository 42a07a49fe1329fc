// Test double for the kubelet's atomic volume update (pkg/volume/util
// AtomicWriter), step by step, so tests can stop between the steps.
#pragma once

#include <map>
#include <string>

namespace promsidecar::reload::testing {

class KubeletVolume {
 public:
  explicit KubeletVolume(std::string dir) : dir_(std::move(dir)) {}

  // Step 1: a new `..<timestamp>` directory holding `files`; returns its name.
  std::string WriteNewPayloadDir(const std::map<std::string, std::string>& files);
  // Steps 2-4: `..data_tmp` -> new dir, renamed over `..data`; user-visible
  // symlinks `name -> ..data/name` created where missing; the old dir removed.
  void Swap(const std::string& new_dir);
  // All steps.
  void Publish(const std::map<std::string, std::string>& files) { Swap(WriteNewPayloadDir(files)); }

  const std::string& dir() const { return dir_; }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
  std::string current_;  // the payload dir `..data` points to
  int sequence_ = 0;
};

}  // namespace promsidecar::reload::testing
