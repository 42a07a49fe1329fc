// `promsidecar-agent check metrics`: what is wrong with an exposition page,
// as promtool check metrics does it. Pure: string in, problems out.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/textparse/parser.h"

namespace promsidecar::textparse {

enum class Severity {
  kError,  // the page cannot be parsed: a scrape of it fails
  kLint,   // parses, but breaks a convention or the OpenMetrics spec
};

struct Problem {
  size_t line = 0;
  Severity severity = Severity::kLint;
  std::string message;  // without the line prefix
  friend bool operator==(const Problem&, const Problem&) = default;
};

// Every problem found, ordered by line. Parsing stops at the first error, so
// there is at most one kError and it is the last problem reported from the
// parse; lint problems after that line are not looked for.
std::vector<Problem> CheckMetrics(std::string_view input, Format format);

// A CLI exits 1 exactly when this is true: the page does not parse.
bool HasErrors(std::span<const Problem> problems);

// "line 3: error: ..." / "line 7: lint: ...".
std::string ToString(const Problem& problem);

}  // namespace promsidecar::textparse
