#include "kubelet_volume.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace promsidecar::reload::testing {

namespace fs = std::filesystem;

std::string KubeletVolume::WriteNewPayloadDir(const std::map<std::string, std::string>& files) {
  // The kubelet's name shape: ..2026_11_25_10_00_00.123456789 (unique per test).
  char name[64];
  std::snprintf(name, sizeof(name), "..2026_11_25_10_00_%02d.%09d", sequence_ % 60, 123456789 + sequence_);
  ++sequence_;
  fs::create_directories(fs::path(dir_) / name);
  for (const auto& [file, content] : files) {
    std::ofstream out(fs::path(dir_) / name / file, std::ios::binary);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + file);
  }
  return name;
}

void KubeletVolume::Swap(const std::string& new_dir) {
  fs::path dir(dir_);
  fs::create_symlink(new_dir, dir / "..data_tmp");
  fs::rename(dir / "..data_tmp", dir / "..data");
  for (const auto& entry : fs::directory_iterator(dir / new_dir)) {
    auto visible = dir / entry.path().filename();
    if (!fs::is_symlink(fs::symlink_status(visible))) {
      fs::create_symlink(fs::path("..data") / entry.path().filename(), visible);
    }
  }
  if (!current_.empty()) fs::remove_all(dir / current_);
  current_ = new_dir;
}

}  // namespace promsidecar::reload::testing
