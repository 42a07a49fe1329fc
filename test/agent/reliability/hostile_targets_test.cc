// The real agent against targets that misbehave (hostile_target.h): for each,
// the scrape fails with up=0 and a reason in the log, the agent keeps
// scraping at its interval, and its peak memory stays under a safety bound.
//
// The bound (kMemoryBoundBytes, 200 MiB of VmHWM) is a safety bound, not a
// performance threshold: without a body cap the 1 GiB and gzip-bomb cases
// take gigabytes. The peak seen is printed so docs/reliability.md can quote
// it. Each case runs twice: with `body_size_limit: 1MB` in the job and with
// no limit configured (then the agent's default cap must protect it).
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "../e2e/agent_process.h"
#include "hostile_target.h"
#include "testing/receiver.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

using std::chrono::seconds;

constexpr uint64_t kMemoryBoundBytes = 200ull << 20;

// VmHWM (peak resident set) of `pid` in bytes, or 0 when unreadable.
uint64_t PeakRss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

struct Case {
  Hostility how;
  bool explicit_limit;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(HostilityName(info.param.how)) +
         (info.param.explicit_limit ? "_limit_1MB" : "_default_limit");
}

class HostileTargets : public ::testing::TestWithParam<Case> {};

TEST_P(HostileTargets, ScrapeFailsWithReasonMemoryStaysBoundedAndScrapingContinues) {
  const Case c = GetParam();
  TempDir dir;
  CountingReceiver receiver;
  HostileTarget target(c.how);
  AgentProcess agent(
      dir.path(),
      OneJobConfig(target.Address(), receiver.Url(),
                   {.scrape_interval = "3s",
                    .scrape_timeout = "2s",
                    .job_name = "hostile",
                    .job_extra = c.explicit_limit ? "    body_size_limit: 1MB\n" : "",
                    .queue_config = "{batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 1s}"}));
  const pid_t pid = agent.process().pid();
  const std::string metrics_url = agent.MetricsUrl();

  // Four scrape attempts: the first can be slow to start; the following
  // ones show the loop is not stuck behind a hostile answer.
  ASSERT_TRUE(PollUntil(seconds(90), [&] { return target.connections() >= 4; }))
      << "the agent stopped scraping after " << target.connections() << " attempts\n"
      << agent.Log();
  uint64_t peak = PeakRss(pid);
  ASSERT_TRUE(agent.process().Running()) << "the agent died\n" << agent.Log();

  // up=0 with a reason, in the log and in /metrics.
  std::regex failed("scrape failed.*err=");
  EXPECT_TRUE(std::regex_search(agent.Log(), failed)) << agent.Log();
  std::string metrics;
  EXPECT_TRUE(PollUntil(seconds(30), [&] {
    metrics = HttpGetBody(metrics_url);
    return metrics.find("promsidecar_agent_target_up{job=\"hostile\",instance=\"" + target.Address() +
                        "\"} 0") != std::string::npos;
  })) << metrics;
  // And `up` 0 reaches the receiver.
  EXPECT_TRUE(PollUntil(seconds(30), [&] {
    for (const auto& s : receiver.SamplesOf("up")) {
      if (s.value == 0) return true;
    }
    return false;
  }));
  EXPECT_LT(peak, kMemoryBoundBytes) << "peak RSS " << (peak >> 20) << " MiB\n" << agent.Log();
  std::printf("[ %s ] agent VmHWM %llu MiB after %llu scrape attempts; target sent %llu MiB\n",
              CaseName(::testing::TestParamInfo<Case>(c, 0)).c_str(),
              static_cast<unsigned long long>(peak >> 20),
              static_cast<unsigned long long>(target.connections()),
              static_cast<unsigned long long>(target.bytes_sent() >> 20));
  // The reason, for the record.
  std::smatch m;
  std::string log = agent.Log();
  std::regex reason("scrape failed[^\\n]*err=(\"[^\"]*\"|\\S+)");
  if (std::regex_search(log, m, reason)) std::printf("    reason: %s\n", m[1].str().c_str());
  EXPECT_EQ(agent.process().Stop(), 0) << agent.Log();
}

INSTANTIATE_TEST_SUITE_P(
    Reliability, HostileTargets,
    ::testing::Values(Case{Hostility::kNeverAnswers, false}, Case{Hostility::kOneBytePerSecond, false},
                      Case{Hostility::kOneGiB, false}, Case{Hostility::kOneGiB, true},
                      Case{Hostility::kGzipBomb, false}, Case{Hostility::kGzipBomb, true},
                      Case{Hostility::kTenMillionSeries, false}, Case{Hostility::kTenMillionSeries, true},
                      Case{Hostility::kClosesMidBody, false}),
    CaseName);

}  // namespace
}  // namespace promsidecar::testing
