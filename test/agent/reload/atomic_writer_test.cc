// The watcher against the kubelet's own AtomicWriter
// (k8s.io/kubernetes/pkg/volume/util, via test/cluster/cmd/atomic-write built
// here with `go build`): every real swap is reported once, after it, with the
// new content; an unchanged payload reports nothing; a key dropped from the
// payload is reported missing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/reload/file_watcher.h"
#include "recorder.h"
#include "testing/subprocess.h"

namespace promsidecar::reload {
namespace {

using promsidecar::testing::RunCommand;
using promsidecar::testing::TempDir;
using testing::Recorder;
using Files = std::vector<std::string>;

class AtomicWriterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tools_ = new TempDir();
    auto built = RunCommand({"go", "-C", std::string(PROMSIDECAR_SOURCE_DIR) + "/test/cluster", "build", "-o",
                             tools_->Join("atomic-write"), "./cmd/atomic-write"},
                            "", std::chrono::minutes(15));
    build_output_ = built.output;
    built_ = built.exit_code == 0;
  }
  static void TearDownTestSuite() {
    delete tools_;
    tools_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(built_) << "go build ./cmd/atomic-write failed (is Go installed?):\n" << build_output_;
  }

  void Write(const std::map<std::string, std::string>& files) {
    auto r = RunCommand({tools_->Join("atomic-write"), "-dir", volume_.path(), nlohmann::json(files).dump()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  static TempDir* tools_;
  static bool built_;
  static std::string build_output_;
  TempDir volume_;
};
TempDir* AtomicWriterTest::tools_ = nullptr;
bool AtomicWriterTest::built_ = false;
std::string AtomicWriterTest::build_output_;

TEST_F(AtomicWriterTest, EverySwapOnceNoOpNothingDroppedKeyMissing) {
  const std::string config = volume_.Join("config.yaml");
  const std::string annotations = volume_.Join("annotations");
  Write({{"config.yaml", "v1"}, {"annotations", "a=\"1\""}});
  Recorder rec;
  FileWatcher watcher({config, annotations}, rec.Callback());
  ASSERT_TRUE(watcher.Start().ok());

  Write({{"config.yaml", "v2"}, {"annotations", "a=\"1\""}});
  ASSERT_TRUE(rec.WaitFor(1));
  Write({{"config.yaml", "v2"}, {"annotations", "a=\"1\""}});  // unchanged payload
  Write({{"config.yaml", "v2"}, {"annotations", "a=\"2\""}});  // sentinel
  ASSERT_TRUE(rec.WaitFor(2));
  Write({{"annotations", "a=\"2\""}});  // the Secret lost its config key
  ASSERT_TRUE(rec.WaitFor(3));
  Write({{"config.yaml", "v3"}, {"annotations", "a=\"2\""}});
  ASSERT_TRUE(rec.WaitFor(4));
  watcher.Stop();

  auto calls = rec.Calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].changes.changed, Files{config});
  EXPECT_EQ(calls[0].content.at(config), "v2");
  EXPECT_EQ(calls[1].changes.changed, Files{annotations});
  EXPECT_EQ(calls[1].content.at(annotations), "a=\"2\"");
  EXPECT_TRUE(calls[2].changes.changed.empty());
  EXPECT_EQ(calls[2].changes.missing, Files{config});
  EXPECT_EQ(calls[3].changes.changed, Files{config});
  EXPECT_EQ(calls[3].content.at(config), "v3");
  EXPECT_TRUE(calls[3].changes.missing.empty());
}

TEST_F(AtomicWriterTest, VolumePopulatedAfterStart) {
  // The watcher starts before the kubelet's first write (the directory
  // exists but is empty, as for an optional Secret that is created later).
  const std::string config = volume_.Join("config.yaml");
  Recorder rec;
  FileWatcher watcher({config}, rec.Callback());
  ASSERT_TRUE(watcher.Start().ok());
  Write({{"config.yaml", "first"}});
  ASSERT_TRUE(rec.WaitFor(1));
  EXPECT_EQ(rec.Calls()[0].changes.changed, Files{config});
  EXPECT_EQ(rec.Calls()[0].content.at(config), "first");
}

}  // namespace
}  // namespace promsidecar::reload
