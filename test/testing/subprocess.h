// Test-side process handling: start a program with arguments (no shell), its
// output in a log file; poll, signal, wait. Used by every integration test
// that runs a real program (the agent, Prometheus, kubectl).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

// The tests that start programs give them a TempDir to work in.
#include "testing/temp_dir.h"

namespace promsidecar::testing {

struct ProcessOptions {
  std::vector<std::string> argv;           // argv[0] is the program (PATH is searched)
  std::map<std::string, std::string> env;  // added to (or overriding) the test's environment
  std::string cwd;                         // empty: inherit
  std::string log_file;                    // stdout+stderr; empty: /dev/null
};

class Subprocess {
 public:
  explicit Subprocess(ProcessOptions options);
  ~Subprocess();  // SIGKILLs and reaps a still-running child
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int sig);
  // Waits up to `timeout` for exit; the exit status (WEXITSTATUS, or 128+signal).
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`; returns the exit status.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  std::string Log() const;  // the log file's content so far (for failure messages)
  const std::string& log_file() const { return options_.log_file; }

 private:
  ProcessOptions options_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr interleaved
};
// Runs a program to completion (no shell) with optional stdin; kills it after `timeout`.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                         std::chrono::milliseconds timeout = std::chrono::seconds(120),
                         const std::map<std::string, std::string>& env = {});

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Calls `fn` until it returns true or `deadline` passes; returns the last result.
bool PollUntil(std::chrono::milliseconds deadline, const std::function<bool()>& fn,
               std::chrono::milliseconds every = std::chrono::milliseconds(200));

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);

}  // namespace promsidecar::testing
