// Tells the agent when one of its input files (config file, annotations file,
// labels file) may hold new content, following how the kubelet updates
// Secret, ConfigMap and downwardAPI volumes (pkg/volume/util AtomicWriter):
//
//   dir/..2026_11_25_10_00_00.123456789/config.yaml   the new content, written first
//   dir/..data_tmp -> ..2026_11_25_10_00_00.123456789 then this symlink,
//   rename(..data_tmp, ..data)                         then the atomic swap
//   dir/config.yaml -> ..data/config.yaml              user-visible, created once
//
// The watcher puts an inotify watch on each file's *directory* (never on the
// file: the kubelet never writes the user-visible path) and reacts to:
//   - `..data` appearing (IN_MOVED_TO / IN_CREATE): the swap is complete, so
//     every watched file of that directory is re-read;
//   - the watched name itself being closed after writing (IN_CLOSE_WRITE),
//     renamed over (IN_MOVED_TO), created as a symlink (IN_CREATE), or deleted
//     or renamed away (IN_DELETE / IN_MOVED_FROM): for setups without the
//     kubelet (a plain file edited in place or replaced by rename).
// Writes into the kubelet's new timestamped directory cause no event here (the
// watch is not recursive), and a plain file is re-read only once it was closed
// after writing, so a half-written file is never reported. A regular file that
// is created (IN_CREATE) is read only after its IN_CLOSE_WRITE.
//
// Bursts are coalesced: the callback runs `debounce` after the last relevant
// event (at most `max_delay` after the first). Only files whose content hash
// (SHA-256) differs from the last report are listed, so a no-op update (same
// content swapped in again) calls nothing.
//
// A directory that does not exist yet (a Secret volume that appears later) is
// looked for every `poll_interval`; once it exists it is watched and its files
// read. A directory that is deleted goes back to being polled for. A file that
// disappears is reported in ChangeSet::missing; the caller keeps its last good
// config.
//
// Threading: Start() spawns one thread; the callback runs on it, one call at a
// time. Stop() (also run by the destructor) wakes the thread through an eventfd
// and joins it; it must not be called from inside the callback.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/util/result.h"

namespace promsidecar::reload {

struct ChangeSet {
  // Files (as given to the watcher) that exist and whose content differs from
  // the last report (or from Start(), for the first one), including files that
  // appeared.
  std::vector<std::string> changed;
  // Every watched file that does not exist (or cannot be read) now. The
  // callback also runs when this set differs from the last report.
  std::vector<std::string> missing;
  bool Contains(const std::string& file) const;
};

struct FileWatcherOptions {
  std::chrono::milliseconds debounce{100};
  std::chrono::milliseconds max_delay{1000};      // a never-ending burst still reports
  std::chrono::milliseconds poll_interval{1000};  // for directories that do not exist yet
};

class FileWatcher {
 public:
  using Callback = std::function<void(const ChangeSet&)>;

  // `files` are paths as the caller knows them (relative to the working
  // directory or absolute); duplicates are ignored.
  FileWatcher(std::vector<std::string> files, Callback on_change, FileWatcherOptions options = {});
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Records every file's current content as the baseline (no callback for it)
  // and starts watching. Read your files *after* Start(): a change in between
  // is then reported, at worst as a harmless no-op reload. Fails only when
  // the kernel refuses inotify or eventfd (the error says which and why).
  Status Start();
  // Prompt (does not wait for a debounce or poll interval). Idempotent; a
  // stopped watcher cannot be started again.
  void Stop();

 private:
  using Clock = std::chrono::steady_clock;
  using Digest = std::array<unsigned char, 32>;
  struct Dir {
    std::string path;
    std::map<std::string, std::string> names;  // basename -> the file as given
    int wd = -1;                               // -1: not watched (does not exist yet)
  };

  void Run();
  void TryWatchMissingDirs();
  void HandleEvents();
  void MarkDir(Dir& dir);
  void Flush();
  Dir* DirOfWd(int wd);

  std::vector<std::string> files_;
  Callback on_change_;
  FileWatcherOptions options_;
  std::vector<Dir> dirs_;
  std::map<std::string, std::optional<Digest>> last_;  // file -> hash; nullopt: missing
  std::set<std::string> dirty_;
  std::set<std::string> awaiting_close_;  // created regular files: read after IN_CLOSE_WRITE
  std::optional<Clock::time_point> first_event_;
  std::optional<Clock::time_point> last_event_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace promsidecar::reload
