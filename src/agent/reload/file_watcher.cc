#include "agent/reload/file_watcher.h"

#include <openssl/evp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace promsidecar::reload {
namespace {

constexpr uint32_t kDirMask = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// The name the kubelet's AtomicWriter renames over to publish a new payload.
constexpr std::string_view kDataDir = "..data";

std::optional<std::array<unsigned char, 32>> HashFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return std::nullopt;
  std::string bytes = std::move(content).str();
  std::array<unsigned char, 32> digest{};
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1)
    return std::nullopt;
  return digest;
}

}  // namespace

bool ChangeSet::Contains(const std::string& file) const {
  return std::find(changed.begin(), changed.end(), file) != changed.end();
}

FileWatcher::FileWatcher(std::vector<std::string> files, Callback on_change, FileWatcherOptions options)
    : on_change_(std::move(on_change)), options_(options) {
  for (auto& file : files) {
    if (std::find(files_.begin(), files_.end(), file) != files_.end()) continue;
    std::filesystem::path p(file);
    std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
    auto it = std::find_if(dirs_.begin(), dirs_.end(), [&](const Dir& d) { return d.path == dir; });
    if (it == dirs_.end()) {
      dirs_.push_back(Dir{dir, {}, -1});
      it = dirs_.end() - 1;
    }
    it->names.emplace(p.filename().string(), file);
    files_.push_back(std::move(file));
  }
}

FileWatcher::~FileWatcher() {
  Stop();
}

Status FileWatcher::Start() {
  if (inotify_fd_ >= 0 || stop_) return MakeError("file watcher: Start() called twice or after Stop()");
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    return MakeError(std::string("file watcher: inotify_init1 failed: ") + std::strerror(errno) +
                     " (raise fs.inotify.max_user_instances)");
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    int err = errno;
    close(inotify_fd_);
    inotify_fd_ = -1;
    return MakeError(std::string("file watcher: eventfd failed: ") + std::strerror(err));
  }
  // Watch first, then take the baseline: an update in between is seen as an
  // event and compared with the baseline, so it is never lost.
  TryWatchMissingDirs();
  dirty_.clear();
  first_event_.reset();
  last_event_.reset();
  for (const auto& file : files_) last_[file] = HashFile(file);
  thread_ = std::thread([this] { Run(); });
  return {};
}

void FileWatcher::Stop() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  if (thread_.joinable()) return;  // called from the callback: the thread closes nothing itself
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  inotify_fd_ = wake_fd_ = -1;
}

void FileWatcher::MarkDir(Dir& dir) {
  for (const auto& [name, file] : dir.names) dirty_.insert(file);
}

void FileWatcher::TryWatchMissingDirs() {
  for (auto& dir : dirs_) {
    if (dir.wd >= 0) continue;
    int wd = inotify_add_watch(inotify_fd_, dir.path.c_str(), kDirMask);
    if (wd < 0) continue;  // not there yet (or not a directory): polled again later
    dir.wd = wd;
    MarkDir(dir);
    auto now = Clock::now();
    if (!first_event_) first_event_ = now;
    last_event_ = now;
  }
}

FileWatcher::Dir* FileWatcher::DirOfWd(int wd) {
  for (auto& dir : dirs_) {
    if (dir.wd == wd) return &dir;
  }
  return nullptr;
}

void FileWatcher::HandleEvents() {
  alignas(inotify_event) char buf[16384];
  bool relevant = false;
  for (;;) {
    ssize_t n = read(inotify_fd_, buf, sizeof(buf));
    if (n <= 0) break;  // EAGAIN: drained
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {  // events were lost: re-read everything
        for (auto& dir : dirs_) MarkDir(dir);
        relevant = true;
        continue;
      }
      Dir* dir = DirOfWd(ev->wd);
      if (dir == nullptr) continue;
      if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        // The directory is gone (volume torn down, or renamed away): its
        // files are missing now; look for the directory again by polling.
        if (ev->mask & IN_MOVE_SELF) inotify_rm_watch(inotify_fd_, dir->wd);
        dir->wd = -1;
        MarkDir(*dir);
        relevant = true;
        continue;
      }
      std::string name = ev->len > 0 ? std::string(ev->name) : std::string();
      if (name == kDataDir) {
        if (ev->mask & (IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM)) {
          MarkDir(*dir);
          relevant = true;
        }
        continue;
      }
      auto named = dir->names.find(name);
      if (named == dir->names.end()) continue;
      const std::string& file = named->second;
      if (ev->mask & IN_CREATE) {
        struct stat st {};
        if (lstat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
          awaiting_close_.insert(file);  // being written: read it after IN_CLOSE_WRITE
          continue;
        }
      }
      if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)) awaiting_close_.erase(file);
      dirty_.insert(file);
      relevant = true;
    }
  }
  if (relevant) {
    auto now = Clock::now();
    if (!first_event_) first_event_ = now;
    last_event_ = now;
  }
}

void FileWatcher::Flush() {
  std::set<std::string> was_missing;
  for (const auto& [file, digest] : last_) {
    if (!digest) was_missing.insert(file);
  }
  ChangeSet changes;
  for (const auto& file : dirty_) {
    if (awaiting_close_.contains(file)) continue;
    auto digest = HashFile(file);
    auto& last = last_[file];
    if (digest && digest != last) changes.changed.push_back(file);
    last = digest;
  }
  std::erase_if(dirty_, [&](const std::string& f) { return !awaiting_close_.contains(f); });
  first_event_.reset();
  last_event_.reset();
  std::set<std::string> missing;
  for (const auto& file : files_) {
    if (!last_[file]) {
      missing.insert(file);
      changes.missing.push_back(file);
    }
  }
  // Report in the caller's order.
  std::vector<std::string> ordered;
  for (const auto& file : files_) {
    if (changes.Contains(file)) ordered.push_back(file);
  }
  changes.changed = std::move(ordered);
  if (changes.changed.empty() && missing == was_missing) return;
  if (on_change_) on_change_(changes);
}

void FileWatcher::Run() {
  auto next_poll = Clock::now() + options_.poll_interval;
  while (!stop_) {
    auto now = Clock::now();
    std::optional<Clock::time_point> wake;
    if (last_event_) wake = std::min(*last_event_ + options_.debounce, *first_event_ + options_.max_delay);
    bool polling = std::any_of(dirs_.begin(), dirs_.end(), [](const Dir& d) { return d.wd < 0; });
    if (polling) wake = wake ? std::min(*wake, next_poll) : next_poll;
    int timeout_ms = -1;
    if (wake) {
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(*wake - now).count();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(ms, 0, 60'000));
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = poll(fds, 2, timeout_ms);
    if (stop_) break;
    if (rc < 0 && errno != EINTR) break;
    if (rc > 0 && (fds[0].revents & POLLIN)) HandleEvents();
    now = Clock::now();
    if (polling && now >= next_poll) {
      TryWatchMissingDirs();
      next_poll = now + options_.poll_interval;
    }
    if (last_event_ &&
        now >= std::min(*last_event_ + options_.debounce, *first_event_ + options_.max_delay)) {
      Flush();
    }
  }
}

}  // namespace promsidecar::reload
