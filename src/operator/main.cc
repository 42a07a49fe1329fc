// promsidecar-operator: wiring only; the commands live in operator/cli.
#include <iostream>

#include "operator/cli/cli.h"

int main(int argc, char** argv) {
  return promsidecar::cli::Main(argc, argv, std::cout, std::cerr);
}
