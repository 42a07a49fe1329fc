// Replays the admission fuzz target's seed corpus
// (test/fuzz/corpus/fuzz_admission_review/) and every input fuzzing found
// (test/testdata/admission/regressions/) through the same invariant checks
// as the fuzz target, in the normal and the sanitizer build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "admission_invariants.h"

namespace promsidecar::admission {
namespace {

namespace fs = std::filesystem;

size_t ReplayDirectory(const fs::path& dir) {
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".md") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream data;
    data << in.rdbuf();
    ++files;
    EXPECT_EQ(CheckAdmissionInput(data.str()), "") << entry.path();
  }
  return files;
}

TEST(AdmissionFuzzInputs, EverySeedAndRecordedRegressionKeepsTheInvariants) {
  const fs::path testdata(PROMSIDECAR_TESTDATA);
  const fs::path seeds = testdata / ".." / "fuzz" / "corpus" / "fuzz_admission_review";
  EXPECT_GT(ReplayDirectory(seeds), 20u) << "seed corpus missing: " << seeds;
  ReplayDirectory(testdata / "admission" / "regressions");
}

}  // namespace
}  // namespace promsidecar::admission
