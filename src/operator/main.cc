// promsidecar-operator: wiring only; the commands live in operator/cli.
#include <iostream>
#include <string_view>

#include "operator/cli/cli.h"
#include "operator/cli/run.h"

int main(int argc, char** argv) {
  // `run` is the long-running operator; it links the controller, so it lives
  // outside the pure inject/explain command library.
  if (argc > 1 && std::string_view(argv[1]) == "run") {
    return promsidecar::cli::RunCommand(argc - 1, argv + 1, std::cout, std::cerr);
  }
  return promsidecar::cli::Main(argc, argv, std::cout, std::cerr);
}
