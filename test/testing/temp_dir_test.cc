#include "testing/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace promsidecar::testing {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TempDir, IsFreshAndRemovedWithItsContent) {
  std::string path;
  {
    TempDir a, b;
    path = a.path();
    EXPECT_NE(a.path(), b.path());
    EXPECT_TRUE(fs::is_directory(a.path()));
    EXPECT_TRUE(fs::is_empty(a.path()));
    a.Write("sub/dir/file", "x");
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(TempDir, WriteCreatesParentsAndReplacesTheFile) {
  TempDir dir;
  const std::string path = dir.Write("pki/ca.crt", "first");
  EXPECT_EQ(path, dir.Join("pki/ca.crt"));
  EXPECT_EQ(Slurp(path), "first");
  EXPECT_EQ(dir.Write("pki/ca.crt", "2"), path);
  EXPECT_EQ(Slurp(path), "2") << "replaced, not appended to or left half-written";
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(TempDir, KeptWhenAskedTo) {
  std::string path;
  ::setenv("PROMSIDECAR_KEEP_TEMP", "1", 1);
  {
    TempDir dir;
    path = dir.path();
  }
  ::unsetenv("PROMSIDECAR_KEEP_TEMP");
  EXPECT_TRUE(fs::exists(path));
  fs::remove_all(path);
}

}  // namespace
}  // namespace promsidecar::testing
