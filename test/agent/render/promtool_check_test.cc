// Every golden rendering is accepted by the Prometheus it was rendered for:
// `promtool check config --agent` from Debian's prometheus package (2.42) on
// the 2.x files, and from a Prometheus 3.x promtool built from the Go module
// proxy (scripts/build-promtool3, version pinned in test/tools/promtool3/go.mod)
// on the 3.x files. Neither check skips: a missing promtool fails the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "render_cases.h"
#include "testing/subprocess.h"

namespace promsidecar::render {
namespace {

using promsidecar::testing::RunCommand;

std::vector<std::filesystem::path> Goldens(const std::string& suffix) {
  std::vector<std::filesystem::path> out;
  for (const auto& name : testing::CaseNames()) {
    for (const auto& v : testing::kVersions) {
      if (v.suffix == suffix) out.push_back(testing::GoldenPath(name, v));
    }
  }
  return out;
}

TEST(PromtoolCheck, Debian242AcceptsEvery2xRendering) {
  const std::string promtool = "/usr/bin/promtool";
  ASSERT_EQ(access(promtool.c_str(), X_OK), 0) << promtool << " missing: apt-get install prometheus";
  auto version = RunCommand({promtool, "--version"});
  ASSERT_NE(version.output.find("2.42"), std::string::npos) << version.output;
  auto files = Goldens("prometheus-2.42");
  ASSERT_GE(files.size(), 5u);
  for (const auto& file : files) {
    auto r = RunCommand({promtool, "check", "config", "--agent", file.string()});
    EXPECT_EQ(r.exit_code, 0) << file << ":\n" << r.output;
  }
  // The check discriminates: the 3.x rendering of a config with global
  // limits uses fields 2.42 does not know.
  auto r = RunCommand({promtool, "check", "config", "--agent",
                       testing::GoldenPath("sidecar_full", testing::kVersions[1]).string()});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not found"), std::string::npos) << r.output;
}

TEST(PromtoolCheck, Prometheus3AcceptsEvery3xRendering) {
  auto built = RunCommand({std::string(PROMSIDECAR_SOURCE_DIR) + "/scripts/build-promtool3"}, "",
                          std::chrono::minutes(45));
  ASSERT_EQ(built.exit_code, 0) << "scripts/build-promtool3 failed:\n" << built.output;
  // The script prints the binary's path as its last line.
  std::string out = built.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  std::string promtool = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
  ASSERT_EQ(access(promtool.c_str(), X_OK), 0) << "not an executable: " << promtool;
  auto version = RunCommand({promtool, "--version"});
  ASSERT_NE(version.output.find("version 3."), std::string::npos) << version.output;
  auto files = Goldens("prometheus-3");
  ASSERT_GE(files.size(), 5u);
  for (const auto& file : files) {
    auto r = RunCommand({promtool, "check", "config", "--agent", file.string()});
    EXPECT_EQ(r.exit_code, 0) << file << ":\n" << r.output;
  }
  // The check discriminates: a broken value in an otherwise good rendering fails.
  promsidecar::testing::TempDir tmp;
  std::string bad = testing::Slurp(testing::GoldenPath("minimal", testing::kVersions[1]));
  auto at = bad.find("PrometheusText0.0.4");
  ASSERT_NE(at, std::string::npos);
  bad.replace(at, 19, "NoSuchProtocol");
  promsidecar::testing::WriteFile(tmp.Join("bad.yml"), bad);
  auto r = RunCommand({promtool, "check", "config", "--agent", tmp.Join("bad.yml")});
  EXPECT_NE(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace promsidecar::render
