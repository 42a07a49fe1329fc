#include "agent/runtime/shutdown_staleness.h"

#include <gtest/gtest.h>

#include <vector>

namespace promsidecar::agent {
namespace {

using std::chrono::milliseconds;

// A fake clock advanced only by the decision's own sleeps, and a scripted
// sequence of probe rounds (the last one repeats).
struct Script {
  std::vector<ProbeRound> rounds;
  size_t next = 0;
  std::chrono::steady_clock::time_point t{};
  std::vector<milliseconds> slept;

  ShutdownStalenessDecision Run(const ShutdownStalenessOptions& o) {
    return DecideShutdownStaleness(
        o,
        [this] {
          ProbeRound r = rounds.empty() ? ProbeRound{} : rounds[std::min(next, rounds.size() - 1)];
          ++next;
          return r;
        },
        [this] { return t; },
        [this](milliseconds d) {
          slept.push_back(d);
          t += d;
        });
  }
};

struct Case {
  const char* name;
  StaleMarkersMode mode;
  bool sidecar;
  milliseconds window;
  std::vector<ProbeRound> rounds;
  bool want_mark;
  size_t want_rounds;
};

TEST(ShutdownStaleness, Table) {
  const Case cases[] = {
      // Standalone: like Prometheus, never at shutdown, and nothing is probed.
      {"standalone", StaleMarkersMode::kAuto, false, milliseconds(0), {{1, 0}}, false, 0},
      {"standalone-always", StaleMarkersMode::kAlways, false, milliseconds(0), {}, true, 0},
      {"sidecar-never", StaleMarkersMode::kNever, true, milliseconds(0), {{1, 0}}, false, 0},
      // Native sidecar, pod deleted: the apps have exited, nothing answers.
      {"pod-deleted", StaleMarkersMode::kAuto, true, milliseconds(0), {{2, 0}}, true, 1},
      // In-place upgrade / agent-only restart: the app answers.
      {"agent-restart", StaleMarkersMode::kAuto, true, milliseconds(0), {{2, 1}}, false, 1},
      {"one-of-two-answers", StaleMarkersMode::kAuto, true, milliseconds(0), {{2, 1}}, false, 1},
      // Regular sidecar: the app still answers at SIGTERM, then stops within the window.
      {"regular-app-stops-late",
       StaleMarkersMode::kAuto,
       true,
       milliseconds(1000),
       {{1, 1}, {1, 1}, {1, 0}},
       true,
       3},
      // Regular sidecar, only the agent restarts: answers for the whole window.
      {"regular-agent-restart", StaleMarkersMode::kAuto, true, milliseconds(1000), {{1, 1}}, false, 5},
      // No target (scraping off): no evidence, Prometheus's default.
      {"no-targets", StaleMarkersMode::kAuto, true, milliseconds(1000), {{0, 0}}, false, 1},
  };
  for (const auto& c : cases) {
    Script s;
    s.rounds = c.rounds;
    ShutdownStalenessOptions o;
    o.mode = c.mode;
    o.sidecar = c.sidecar;
    o.probe_window = c.window;
    o.probe_interval = milliseconds(250);
    auto d = s.Run(o);
    EXPECT_EQ(d.mark_stale, c.want_mark) << c.name << ": " << d.reason;
    EXPECT_EQ(d.rounds, c.want_rounds) << c.name;
    EXPECT_EQ(s.next, c.want_rounds) << c.name << ": probes run";
    EXPECT_FALSE(d.reason.empty()) << c.name;
    for (auto slept : s.slept) EXPECT_EQ(slept, milliseconds(250)) << c.name;
  }
}

TEST(ShutdownStaleness, PodGoneNeedsTargetsAndNoAnswer) {
  EXPECT_TRUE(PodGone({1, 0}));
  EXPECT_TRUE(PodGone({3, 0}));
  EXPECT_FALSE(PodGone({3, 1}));
  EXPECT_FALSE(PodGone({0, 0}));
}

TEST(ShutdownStaleness, ParseMode) {
  EXPECT_EQ(ParseStaleMarkersMode("auto").value(), StaleMarkersMode::kAuto);
  EXPECT_EQ(ParseStaleMarkersMode("always").value(), StaleMarkersMode::kAlways);
  EXPECT_EQ(ParseStaleMarkersMode("never").value(), StaleMarkersMode::kNever);
  auto bad = ParseStaleMarkersMode("sometimes");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("auto, always or never"), std::string::npos) << bad.message();
  for (auto m : {StaleMarkersMode::kAuto, StaleMarkersMode::kAlways, StaleMarkersMode::kNever}) {
    EXPECT_EQ(ParseStaleMarkersMode(ToString(m)).value(), m);
  }
}

}  // namespace
}  // namespace promsidecar::agent
