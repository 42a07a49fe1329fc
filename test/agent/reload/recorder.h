// Records every FileWatcher callback together with the content of each
// changed file as read *inside* the callback (what a reloading agent sees).
#pragma once

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "agent/reload/file_watcher.h"

namespace promsidecar::reload::testing {

struct Observed {
  ChangeSet changes;
  std::map<std::string, std::string> content;  // changed file -> content read in the callback
};

class Recorder {
 public:
  FileWatcher::Callback Callback() {
    return [this](const ChangeSet& changes) {
      Observed seen{changes, {}};
      for (const auto& file : changes.changed) {
        std::ifstream in(file, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        seen.content[file] = s.str();
      }
      std::lock_guard lock(mu_);
      calls_.push_back(std::move(seen));
      cv_.notify_all();
    };
  }

  // Waits (generous deadline) until at least `n` callbacks happened.
  bool WaitFor(size_t n, std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return calls_.size() >= n; });
  }
  std::vector<Observed> Calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  size_t Count() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Observed> calls_;
};

}  // namespace promsidecar::reload::testing
