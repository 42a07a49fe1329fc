// promsidecar-operator: wiring only; the commands live in operator/cli.
#include <iostream>
#include <string_view>

#include "operator/cli/cli.h"
#include "operator/cli/run.h"

// What --version prints and promsidecar_operator_build_info says: the project
// version (PROMSIDECAR_VERSION in the top CMakeLists.txt), read by this file alone.
#ifndef PROMSIDECAR_VERSION
#define PROMSIDECAR_VERSION "dev"
#endif

int main(int argc, char** argv) {
  // `run` is the long-running operator; it links the controller, so it lives
  // outside the pure inject/explain command library.
  if (argc > 1 && std::string_view(argv[1]) == "run") {
    return promsidecar::cli::RunCommand(argc - 1, argv + 1, std::cout, std::cerr, PROMSIDECAR_VERSION);
  }
  return promsidecar::cli::Main(argc, argv, std::cout, std::cerr, PROMSIDECAR_VERSION);
}
