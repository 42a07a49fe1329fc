// `promsidecar-operator run`: the long-running operator (controller, leader
// election, health and metrics endpoints).
#pragma once

#include <iosfwd>
#include <string_view>

namespace promsidecar::cli {

// argv[0] is "run". Returns the process exit code: 0 after a graceful
// shutdown (SIGTERM/SIGINT), 1 on a start-up failure, 2 on bad flags.
// `version` (what --version prints) labels promsidecar_operator_build_info.
int RunCommand(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
               std::string_view version);

}  // namespace promsidecar::cli
