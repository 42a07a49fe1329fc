// Fuzzes the agent's config loader (config::ParseConfig) on arbitrary YAML.
// Beyond "no crash, no UB": the outcome is a config exactly when there are no
// errors; every error starts with `<file>:<line>: ` where the line is a real
// line of the input (1 .. lines+1); and parsing is deterministic (the same
// text gives the same outcome), since the agent re-parses on every reload and
// compares configs.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/config/config.h"

namespace {

[[noreturn]] void Broken(const std::string& what) {
  std::fprintf(stderr, "config loader invariant broken: %s\n", what.c_str());
  std::abort();
}

// Where the error says it is: the line number after "fuzz.yml:", or 0.
long LineOfError(const std::string& error) {
  constexpr std::string_view kFile = "fuzz.yml:";
  if (error.rfind(kFile, 0) != 0) return 0;
  size_t pos = kFile.size();
  long line = 0;
  size_t digits = 0;
  while (pos < error.size() && error[pos] >= '0' && error[pos] <= '9' && digits < 12) {
    line = line * 10 + (error[pos] - '0');
    ++pos;
    ++digits;
  }
  if (digits == 0 || error.compare(pos, 2, ": ") != 0) return 0;
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace promsidecar::config;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // Relative *_file paths resolve against this (non-existent) directory, so
  // the fuzzer never reads real files.
  const std::string filename = "fuzz.yml";
  ParseOutcome out = ParseConfig(text, filename);
  if (out.config.has_value() == !out.errors.empty()) {
    Broken(out.config ? "a config came back together with errors" : "no config and no error");
  }
  long lines = static_cast<long>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const auto& e : out.errors) {
    long line = LineOfError(e);
    if (line < 1 || line > lines + 1) {
      Broken("error does not name a line of the input (" + std::to_string(lines) + " lines): " + e);
    }
  }
  ParseOutcome again = ParseConfig(text, filename);
  if (again.errors != out.errors || again.config != out.config) Broken("two parses of the same text differ");
  return 0;
}
