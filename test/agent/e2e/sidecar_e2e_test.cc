// The agent in sidecar mode, end to end: files laid out and swapped the way
// the kubelet does it (timestamped dir, `..data` symlink renamed over), the
// shared config appearing after the start, annotation changes, and the
// agent's own health series. Waits poll with generous deadlines.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <map>

#include "agent_process.h"
#include "pod_files.h"
#include "testing/receiver.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

using std::chrono::seconds;

std::vector<double> Values(const std::vector<ReceivedSample>& samples) {
  std::vector<double> v;
  for (const auto& s : samples) {
    if (!std::isnan(s.value)) v.push_back(s.value);
  }
  return v;
}

class SidecarE2E : public ::testing::Test {
 protected:
  void WritePod(const std::map<std::string, std::string>& annotations) {
    files_.WritePod(annotations, {{"app.kubernetes.io/name", "shop"}});
  }
  void WriteShared(const std::string& yaml) { files_.WriteShared(yaml); }
  std::map<std::string, std::string> Annotations(int port) { return ScrapeAnnotations(port); }
  std::unique_ptr<Subprocess> StartAgent(const std::vector<std::string>& extra_args = {}) {
    ProcessOptions p;
    p.argv = {AgentBinary(),
              "--config.file=" + files_.shared_file(),
              "--pod.annotations-file=" + files_.annotations_file(),
              "--pod.labels-file=" + files_.labels_file(),
              "--wal.dir=" + dir_.Join("wal"),
              "--web.listen-address=127.0.0.1:0",
              "--log.level=debug"};
    for (const auto& a : extra_args) p.argv.push_back(a);
    p.env = {{"POD_NAME", "shop-7d4b9c8f6-x2x9k"},
             {"POD_NAMESPACE", "team-a"},
             {"POD_UID", "uid-1"},
             {"POD_IP", "127.0.0.1"}};
    p.log_file = dir_.Join("agent.log");
    return std::make_unique<Subprocess>(p);
  }
  std::string Shared(const std::string& url) {
    return "global:\n  scrape_interval: 1s\n  external_labels: {cluster: c1}\nsidecar:\n  "
           "min_scrape_interval: 1s\n"
           "remote_write:\n  - url: " +
           url + "\n    queue_config: {batch_send_deadline: 500ms, min_backoff: 100ms}\n";
  }
  std::string Log() { return ReadFile(dir_.Join("agent.log")); }

  TempDir dir_;
  PodFiles files_{dir_.path()};
  MetricsTarget target_;
  CountingReceiver receiver_;
};

TEST_F(SidecarE2E, SharedConfigAppearingLaterLosesNoScrapeAndAnnotationsReconfigureWithoutRestart) {
  WritePod(Annotations(target_.port()));
  auto agent = StartAgent();
  // No shared config yet: the agent scrapes into its WAL.
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return target_.scrapes() >= 3; })) << Log();
  EXPECT_EQ(receiver_.requests(), 0u);
  WriteShared(Shared(receiver_.Url()));
  // Sending starts, and the first scrapes (before the file existed) arrive too.
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    auto v = Values(receiver_.SamplesOf("test_scrapes_total"));
    return !v.empty() && v.front() == 1 && v.size() >= 4;
  })) << Log();
  auto series = receiver_.Series();
  bool labelled = false;
  for (const auto& [key, samples] : series) {
    if (key.find("__name__=\"test_scrapes_total\"") == std::string::npos) continue;
    labelled = key.find("job=\"shop\"") != std::string::npos &&
               key.find("namespace=\"team-a\"") != std::string::npos &&
               key.find("pod=\"shop-7d4b9c8f6-x2x9k\"") != std::string::npos &&
               key.find("instance=\"shop-7d4b9c8f6-x2x9k:" + std::to_string(target_.port()) + "\"") !=
                   std::string::npos &&
               key.find("cluster=\"c1\"") != std::string::npos;
  }
  EXPECT_TRUE(labelled) << "series labels wrong; got series:\n"
                        << [&] {
                             std::string all;
                             for (const auto& [k, v] : series) all += k + "\n";
                             return all;
                           }();

  // The agent's own health series, with the pod's labels.
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    for (const auto& [key, samples] : receiver_.Series()) {
      if (key.find("__name__=\"promsidecar_agent_scraping_enabled\"") != std::string::npos &&
          key.find("job=\"promsidecar-agent\"") != std::string::npos &&
          key.find("pod=\"shop-7d4b9c8f6-x2x9k\"") != std::string::npos) {
        return true;
      }
    }
    return false;
  })) << "no self-monitoring series";

  // Move the scrape to another target through the annotations: no restart.
  MetricsTarget second;
  second.SetPage([](uint64_t n) { return "second_target_scrapes_total " + std::to_string(n) + "\n"; });
  pid_t pid = agent->pid();
  WritePod(Annotations(second.port()));
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(receiver_.SamplesOf("second_target_scrapes_total")).size() >= 2;
  })) << Log();
  EXPECT_TRUE(agent->Running());
  EXPECT_EQ(agent->pid(), pid);
  // The old target's series got a stale marker.
  ASSERT_TRUE(PollUntil(seconds(30), [&] {
    auto s = receiver_.SamplesOf("test_scrapes_total");
    uint64_t bits = 0;
    if (!s.empty()) std::memcpy(&bits, &s.back().value, sizeof bits);
    return bits == 0x7ff0000000000002ULL;
  })) << "no stale marker for the target that went away";

  // An invalid shared config is refused; the running one keeps sending.
  WriteShared("global: {scrape_interval: banana}\n");
  ASSERT_TRUE(PollUntil(seconds(30), [&] {
    return Log().find("config reload rejected") != std::string::npos;
  })) << Log();
  size_t n = Values(receiver_.SamplesOf("second_target_scrapes_total")).size();
  EXPECT_TRUE(PollUntil(seconds(30), [&] {
    return Values(receiver_.SamplesOf("second_target_scrapes_total")).size() > n + 2;
  })) << "the running config stopped";
  EXPECT_EQ(agent->Stop(seconds(20)), 0) << Log();
}

bool IsStaleMarker(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits == 0x7ff0000000000002ULL;
}

// The samples of every series whose key contains all of `parts`.
std::vector<ReceivedSample> SamplesMatching(const CountingReceiver& r,
                                            const std::vector<std::string>& parts) {
  std::vector<ReceivedSample> out;
  for (const auto& [key, samples] : r.Series()) {
    bool all = true;
    for (const auto& p : parts) all = all && key.find(p) != std::string::npos;
    if (all) out.insert(out.end(), samples.begin(), samples.end());
  }
  return out;
}

// An in-place upgrade (or any restart of the agent container alone): the app
// keeps serving, so SIGTERM writes no staleness markers and the restarted
// agent continues the same series from the same WAL.
TEST_F(SidecarE2E, SigtermWhileTheAppAnswersWritesNoStaleMarkers) {
  WritePod(Annotations(target_.port()));
  WriteShared(Shared(receiver_.Url()));
  auto agent = StartAgent();
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(receiver_.SamplesOf("test_scrapes_total")).size() >= 2;
  })) << Log();
  EXPECT_EQ(agent->Stop(seconds(20)), 0) << Log();
  EXPECT_NE(Log().find("the pod's targets still answer"), std::string::npos) << Log();
  for (const auto& [key, samples] : receiver_.Series()) {
    for (const auto& s : samples) EXPECT_FALSE(IsStaleMarker(s.value)) << "stale marker at SIGTERM: " << key;
  }
  size_t before = Values(receiver_.SamplesOf("test_scrapes_total")).size();
  agent = StartAgent();
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(receiver_.SamplesOf("test_scrapes_total")).size() >= before + 2;
  })) << Log();
  EXPECT_EQ(agent->Stop(seconds(20)), 0) << Log();
}

// Pod deletion with a native sidecar: the kubelet stops the app first, so at
// SIGTERM nothing answers; every series of the pod — the app's, `up` and the
// agent's own — ends with a staleness marker, sent before the agent exits.
TEST_F(SidecarE2E, SigtermAfterTheAppExitedMarksThePodsSeriesStale) {
  auto app = std::make_unique<MetricsTarget>();
  WritePod(Annotations(app->port()));
  WriteShared(Shared(receiver_.Url()));
  auto agent = StartAgent();
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(receiver_.SamplesOf("test_scrapes_total")).size() >= 2 &&
           !SamplesMatching(receiver_, {"job=\"promsidecar-agent\""}).empty();
  })) << Log();
  app.reset();
  EXPECT_EQ(agent->Stop(seconds(20)), 0) << Log();
  EXPECT_NE(Log().find("no target of the pod answers"), std::string::npos) << Log();
  for (const std::vector<std::string>& series :
       {std::vector<std::string>{"__name__=\"test_scrapes_total\""},
        std::vector<std::string>{"__name__=\"up\"", "job=\"shop\""},
        std::vector<std::string>{"__name__=\"promsidecar_agent_build_info\""}}) {
    auto s = SamplesMatching(receiver_, series);
    ASSERT_FALSE(s.empty()) << series[0];
    EXPECT_TRUE(IsStaleMarker(s.back().value)) << series[0] << " does not end with a stale marker";
  }
}

// A regular (non-native) sidecar gets SIGTERM together with the app, which
// may still answer for a moment: --shutdown.probe-window keeps asking, and
// the markers are written once the app is gone.
TEST_F(SidecarE2E, RegularSidecarProbeWindowSeesTheAppGoAway) {
  auto app = std::make_unique<MetricsTarget>();
  WritePod(Annotations(app->port()));
  WriteShared(Shared(receiver_.Url()));
  auto agent = StartAgent({"--shutdown.probe-window=8s", "--shutdown.grace=15s"});
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    return Values(receiver_.SamplesOf("test_scrapes_total")).size() >= 2;
  })) << Log();
  agent->Signal(SIGTERM);
  // The agent has stopped scraping and probes: the app still answers, so it
  // keeps probing (a connection, never a request the app would count as a
  // scrape) and does not exit.
  ASSERT_TRUE(PollUntil(seconds(30), [&] {
    return Log().find("probing the pod's targets") != std::string::npos;
  })) << Log();
  const uint64_t scrapes = app->scrapes();
  EXPECT_FALSE(agent->Wait(seconds(2)).has_value()) << "exited while the app still answered\n" << Log();
  EXPECT_EQ(app->scrapes(), scrapes) << "the shutdown probe sent the app a request";
  app.reset();
  auto status = agent->Wait(seconds(30));
  ASSERT_TRUE(status.has_value()) << Log();
  EXPECT_EQ(*status, 0) << Log();
  auto s = receiver_.SamplesOf("test_scrapes_total");
  ASSERT_FALSE(s.empty());
  EXPECT_TRUE(IsStaleMarker(s.back().value)) << Log();
}

TEST_F(SidecarE2E, InvalidAnnotationsAreReportedNotFatal) {
  auto a = Annotations(target_.port());
  a["prometheus.operator.io/scrape-timeout"] = "banana";
  a["prometheus.operator.io/port"] = std::to_string(target_.port()) + ",70000";
  WritePod(a);
  WriteShared(Shared(receiver_.Url()));
  auto agent = StartAgent();
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return !receiver_.SamplesOf("test_scrapes_total").empty(); }))
      << Log();
  std::string log = Log();
  EXPECT_NE(log.find("annotation=prometheus.operator.io/scrape-timeout"), std::string::npos) << log;
  EXPECT_NE(log.find("annotation=prometheus.operator.io/port"), std::string::npos) << log;
  ASSERT_TRUE(PollUntil(seconds(60), [&] {
    for (const auto& [key, samples] : receiver_.Series()) {
      if (key.find("promsidecar_agent_annotation_problems") != std::string::npos &&
          key.find("prometheus.operator.io/port") != std::string::npos && !samples.empty() &&
          samples.back().value == 1) {
        return true;
      }
    }
    return false;
  })) << "annotation problems not reported in the self-monitoring series";
  EXPECT_EQ(agent->Stop(seconds(20)), 0);
}

}  // namespace
}  // namespace promsidecar::testing
