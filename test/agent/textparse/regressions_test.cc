// Replays every file in test/testdata/textparse/regressions (crash and
// invariant-violation inputs found by fuzzing, in the fuzz target's format:
// first byte picks the format) through the same invariant checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "textparse_invariants.h"

namespace promsidecar::textparse {
namespace {

TEST(Regressions, EveryRecordedInputKeepsTheInvariants) {
  const auto dir = std::filesystem::path(PROMSIDECAR_TESTDATA) / "textparse" / "regressions";
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename().string().starts_with(".")) continue;
    if (entry.path().extension() == ".md") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string data = ss.str();
    ++files;
    EXPECT_EQ(testing::CheckParserInvariants(testing::FuzzBody(data), testing::FuzzFormat(data)), "")
        << entry.path();
  }
  EXPECT_GT(files, 0u) << "no regression inputs in " << dir;
}

}  // namespace
}  // namespace promsidecar::textparse
