// The watcher against the kubelet's atomic update sequence, reproduced step
// by step in temp dirs, and against plain (non-kubelet) file updates.
//
// "Nothing was called" is shown without sleeping for luck: after the action
// that must stay silent, a sentinel update of another file follows; callbacks
// are delivered in event order, so the first callback after the action must
// report only the sentinel.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/reload/file_watcher.h"
#include "kubelet_volume.h"
#include "recorder.h"
#include "testing/subprocess.h"

namespace promsidecar::reload {
namespace {

namespace fs = std::filesystem;
using promsidecar::testing::TempDir;
using testing::KubeletVolume;
using testing::Recorder;
using Files = std::vector<std::string>;

FileWatcherOptions Fast() {
  FileWatcherOptions o;
  o.debounce = std::chrono::milliseconds(50);
  o.poll_interval = std::chrono::milliseconds(100);
  return o;
}

void WritePlain(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

TEST(FileWatcher, KubeletSwapCallsOnceAfterTheSwapWithTheNewContent) {
  TempDir tmp;
  KubeletVolume vol(tmp.path());
  vol.Publish({{"config.yaml", "v1"}, {"annotations", "a1"}});
  Recorder rec;
  FileWatcher watcher({vol.Path("config.yaml"), vol.Path("annotations")}, rec.Callback(), Fast());
  ASSERT_TRUE(watcher.Start().ok());

  vol.Publish({{"config.yaml", "v2"}, {"annotations", "a1"}});
  ASSERT_TRUE(rec.WaitFor(1));
  // Sentinel: the next swap changes only the annotations.
  vol.Publish({{"config.yaml", "v2"}, {"annotations", "a2"}});
  ASSERT_TRUE(rec.WaitFor(2));
  watcher.Stop();

  auto calls = rec.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].changes.changed, Files{vol.Path("config.yaml")});
  EXPECT_EQ(calls[0].content.at(vol.Path("config.yaml")), "v2");
  EXPECT_TRUE(calls[0].changes.missing.empty());
  EXPECT_EQ(calls[1].changes.changed, Files{vol.Path("annotations")});
  EXPECT_EQ(calls[1].content.at(vol.Path("annotations")), "a2");
}

TEST(FileWatcher, NoOpSwapCallsNothing) {
  TempDir tmp;
  KubeletVolume vol(tmp.path());
  vol.Publish({{"config.yaml", "same"}, {"labels", "l1"}});
  Recorder rec;
  FileWatcher watcher({vol.Path("config.yaml"), vol.Path("labels")}, rec.Callback(), Fast());
  ASSERT_TRUE(watcher.Start().ok());

  vol.Publish({{"config.yaml", "same"}, {"labels", "l1"}});  // new dir, same bytes
  // Let the no-op swap's debounce window close on its own (so it is not just
  // merged into the sentinel's); the result does not depend on this pause.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  vol.Publish({{"config.yaml", "same"}, {"labels", "l2"}});
  ASSERT_TRUE(rec.WaitFor(1));
  auto calls = rec.Calls();
  EXPECT_EQ(calls[0].changes.changed, Files{vol.Path("labels")});
}

TEST(FileWatcher, HalfWrittenPayloadIsNeverSeenOnlyTheSwap) {
  TempDir tmp;
  KubeletVolume vol(tmp.path());
  vol.Publish({{"config.yaml", "old"}, {"labels", "l1"}});
  WritePlain(tmp.Join("extra"), "e1");
  Recorder rec;
  FileWatcher watcher({vol.Path("config.yaml"), vol.Path("labels"), tmp.Join("extra")}, rec.Callback(),
                      Fast());
  ASSERT_TRUE(watcher.Start().ok());

  // The kubelet writes the new payload dir first; half of the new config is
  // there but `..data` still points to the old one.
  std::string next = vol.WriteNewPayloadDir({{"config.yaml", "new-but-only-half"}, {"labels", "l1"}});
  // Sentinel: a plain file of the same directory changes; the watcher must
  // not report (or read) the unpublished config with it.
  WritePlain(tmp.Join("extra"), "e2");
  ASSERT_TRUE(rec.WaitFor(1));
  EXPECT_EQ(rec.Calls()[0].changes.changed, Files{tmp.Join("extra")});

  std::ofstream(fs::path(tmp.path()) / next / "config.yaml", std::ios::app) << "-written";
  vol.Swap(next);
  ASSERT_TRUE(rec.WaitFor(2));
  auto calls = rec.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].changes.changed, Files{vol.Path("config.yaml")});
  EXPECT_EQ(calls[1].content.at(vol.Path("config.yaml")), "new-but-only-half-written");
}

TEST(FileWatcher, PlainFileIsReadOnlyAfterItWasClosed) {
  TempDir tmp;
  WritePlain(tmp.Join("config.yaml"), "v1");
  WritePlain(tmp.Join("labels"), "l1");
  Recorder rec;
  FileWatcher watcher({tmp.Join("config.yaml"), tmp.Join("labels")}, rec.Callback(), Fast());
  ASSERT_TRUE(watcher.Start().ok());

  {
    std::ofstream out(tmp.Join("config.yaml"), std::ios::binary | std::ios::trunc);
    out << "v2-first-half" << std::flush;  // written, not closed
    WritePlain(tmp.Join("labels"), "l2");  // sentinel
    ASSERT_TRUE(rec.WaitFor(1));
    out << "-second-half";
  }  // closed: IN_CLOSE_WRITE
  ASSERT_TRUE(rec.WaitFor(2));
  auto calls = rec.Calls();
  EXPECT_EQ(calls[0].changes.changed, Files{tmp.Join("labels")});
  EXPECT_EQ(calls[1].changes.changed, Files{tmp.Join("config.yaml")});
  EXPECT_EQ(calls[1].content.at(tmp.Join("config.yaml")), "v2-first-half-second-half");
}

TEST(FileWatcher, PlainFileReplacedByRename) {
  TempDir tmp;
  WritePlain(tmp.Join("config.yaml"), "v1");
  Recorder rec;
  FileWatcher watcher({tmp.Join("config.yaml")}, rec.Callback(), Fast());
  ASSERT_TRUE(watcher.Start().ok());
  WritePlain(tmp.Join(".config.yaml.tmp"), "v2");
  fs::rename(tmp.Join(".config.yaml.tmp"), tmp.Join("config.yaml"));
  ASSERT_TRUE(rec.WaitFor(1));
  EXPECT_EQ(rec.Calls()[0].content.at(tmp.Join("config.yaml")), "v2");
}

TEST(FileWatcher, BurstOfSwapsIsCoalesced) {
  TempDir tmp;
  KubeletVolume vol(tmp.path());
  vol.Publish({{"config.yaml", "v0"}});
  Recorder rec;
  FileWatcherOptions options = Fast();
  options.debounce = std::chrono::seconds(2);  // far longer than five back-to-back swaps take
  options.max_delay = std::chrono::seconds(10);
  FileWatcher watcher({vol.Path("config.yaml")}, rec.Callback(), options);
  ASSERT_TRUE(watcher.Start().ok());
  for (int i = 1; i <= 5; ++i) vol.Publish({{"config.yaml", "v" + std::to_string(i)}});
  ASSERT_TRUE(rec.WaitFor(1));
  vol.Publish({{"config.yaml", "sentinel"}});
  ASSERT_TRUE(rec.WaitFor(2));
  auto calls = rec.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].content.at(vol.Path("config.yaml")), "v5");
  EXPECT_EQ(calls[1].content.at(vol.Path("config.yaml")), "sentinel");
}

TEST(FileWatcher, DirectoryThatAppearsLater) {
  TempDir tmp;
  std::string dir = tmp.Join("secret-volume");
  Recorder rec;
  FileWatcher watcher({dir + "/config.yaml"}, rec.Callback(), Fast());
  ASSERT_TRUE(watcher.Start().ok());  // the directory does not exist yet

  fs::create_directories(dir);
  KubeletVolume vol(dir);
  vol.Publish({{"config.yaml", "late"}});
  ASSERT_TRUE(rec.WaitFor(1));
  auto first = rec.Calls()[0];
  EXPECT_EQ(first.changes.changed, Files{dir + "/config.yaml"});
  EXPECT_EQ(first.content.at(dir + "/config.yaml"), "late");
  EXPECT_TRUE(first.changes.missing.empty());

  // Once found, the directory is watched: the next swap is seen too.
  vol.Publish({{"config.yaml", "later"}});
  ASSERT_TRUE(rec.WaitFor(2));
  EXPECT_EQ(rec.Calls()[1].content.at(dir + "/config.yaml"), "later");
}

TEST(FileWatcher, OptionalFileThatAppearsLaterInAWatchedDirectory) {
  TempDir tmp;
  KubeletVolume vol(tmp.path());
  vol.Publish({{"labels", "l1"}});
  Recorder rec;
  FileWatcher watcher({vol.Path("config.yaml"), vol.Path("labels")}, rec.Callback(), Fast());
  ASSERT_TRUE(watcher.Start().ok());
  vol.Publish({{"labels", "l1"}, {"config.yaml", "now-here"}});
  ASSERT_TRUE(rec.WaitFor(1));
  auto calls = rec.Calls();
  EXPECT_EQ(calls[0].changes.changed, Files{vol.Path("config.yaml")});
  EXPECT_TRUE(calls[0].changes.missing.empty());
}

TEST(FileWatcher, DeletedFileIsReportedMissingThenBack) {
  TempDir tmp;
  WritePlain(tmp.Join("config.yaml"), "v1");
  Recorder rec;
  FileWatcher watcher({tmp.Join("config.yaml")}, rec.Callback(), Fast());
  ASSERT_TRUE(watcher.Start().ok());
  fs::remove(tmp.Join("config.yaml"));
  ASSERT_TRUE(rec.WaitFor(1));
  WritePlain(tmp.Join("config.yaml"), "v1");  // same content as before, but it came back
  ASSERT_TRUE(rec.WaitFor(2));
  auto calls = rec.Calls();
  EXPECT_TRUE(calls[0].changes.changed.empty());
  EXPECT_EQ(calls[0].changes.missing, Files{tmp.Join("config.yaml")});
  EXPECT_EQ(calls[1].changes.changed, Files{tmp.Join("config.yaml")});
  EXPECT_TRUE(calls[1].changes.missing.empty());
}

TEST(FileWatcher, KubeletPayloadWithoutTheFileReportsItMissing) {
  TempDir tmp;
  KubeletVolume vol(tmp.path());
  vol.Publish({{"config.yaml", "v1"}, {"labels", "l1"}});
  Recorder rec;
  FileWatcher watcher({vol.Path("config.yaml"), vol.Path("labels")}, rec.Callback(), Fast());
  ASSERT_TRUE(watcher.Start().ok());
  // The Secret lost its key: the new payload has no config.yaml, so the
  // user-visible symlink dangles.
  vol.Publish({{"labels", "l1"}});
  ASSERT_TRUE(rec.WaitFor(1));
  auto calls = rec.Calls();
  EXPECT_TRUE(calls[0].changes.changed.empty());
  EXPECT_EQ(calls[0].changes.missing, Files{vol.Path("config.yaml")});
}

TEST(FileWatcher, DeletedDirectoryIsPolledForAgain) {
  TempDir tmp;
  std::string dir = tmp.Join("vol");
  fs::create_directories(dir);
  WritePlain(dir + "/config.yaml", "v1");
  Recorder rec;
  FileWatcher watcher({dir + "/config.yaml"}, rec.Callback(), Fast());
  ASSERT_TRUE(watcher.Start().ok());
  fs::remove_all(dir);
  ASSERT_TRUE(rec.WaitFor(1));
  EXPECT_EQ(rec.Calls()[0].changes.missing, Files{dir + "/config.yaml"});
  fs::create_directories(dir);
  WritePlain(dir + "/config.yaml", "v2");
  ASSERT_TRUE(rec.WaitFor(2));
  EXPECT_EQ(rec.Calls()[1].content.at(dir + "/config.yaml"), "v2");
}

TEST(FileWatcher, StopIsPromptEvenWithLongTimers) {
  TempDir tmp;
  FileWatcherOptions slow;
  slow.poll_interval = std::chrono::hours(1);
  slow.debounce = std::chrono::hours(1);
  slow.max_delay = std::chrono::hours(1);
  FileWatcher watcher({tmp.Join("missing/config.yaml")}, nullptr, slow);
  ASSERT_TRUE(watcher.Start().ok());
  WritePlain(tmp.Join("other"), "x");
  watcher.Stop();  // would block for an hour without the wake-up fd (ctest's timeout fails it)
  watcher.Stop();  // idempotent
}

TEST(FileWatcher, StartTwiceIsAnError) {
  TempDir tmp;
  FileWatcher watcher({tmp.Join("config.yaml")}, nullptr, Fast());
  ASSERT_TRUE(watcher.Start().ok());
  EXPECT_FALSE(watcher.Start().ok());
}

}  // namespace
}  // namespace promsidecar::reload
