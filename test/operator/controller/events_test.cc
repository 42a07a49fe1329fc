// The Event recorder over a fake API: occurrences aggregate into one
// events.k8s.io Event per object and reason, whose series.count rises at a
// bounded rate; an Event another leader wrote is continued; failures are
// retried later, never in a loop.
#include "operator/controller/events.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace promsidecar::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class FakeSink : public EventSink {
 public:
  Result<json, kube::ApiError> Create(const std::string& ns, const json& event) override {
    calls.push_back("create " + event["metadata"]["name"].get<std::string>());
    if (fail_next) return Fail(500, "InternalError");
    const std::string key = ns + "/" + event["metadata"]["name"].get<std::string>();
    if (stored.count(key)) return Fail(409, "AlreadyExists");
    stored[key] = event;
    return event;
  }
  Result<json, kube::ApiError> Get(const std::string& ns, const std::string& name) override {
    calls.push_back("get " + name);
    auto it = stored.find(ns + "/" + name);
    if (it == stored.end()) return Fail(404, "NotFound");
    return it->second;
  }
  Result<json, kube::ApiError> Patch(const std::string& ns, const std::string& name,
                                     const json& patch) override {
    calls.push_back("patch " + name + " " + patch.dump());
    auto it = stored.find(ns + "/" + name);
    if (it == stored.end()) return Fail(404, "NotFound");
    it->second.merge_patch(patch);
    return it->second;
  }
  static kube::ApiError Fail(int code, const std::string& reason) {
    return kube::ApiErrorFromResponse(
        code, json{{"kind", "Status"}, {"code", code}, {"reason", reason}}.dump(), "");
  }
  std::vector<std::string> calls;
  std::map<std::string, json> stored;
  bool fail_next = false;
};

const ObjectRef kReplicaSet{"apps/v1", "ReplicaSet", "team-a", "web-7c5d", "rs-uid"};

struct Clock {
  EventRecorder::Clock::time_point now =
      EventRecorder::Clock::time_point{} + std::chrono::hours(24 * 365 * 56);
};

TEST(EventRecorder, FiveHundredPodsOneEventWhoseCountRises) {
  FakeSink sink;
  Clock clock;
  EventRecorder recorder(sink, {.reporting_instance = "op-1"}, [&] { return clock.now; });
  for (int i = 0; i < 500; ++i) {
    recorder.Record(kReplicaSet, "Warning", "NotInjected", "Inject", "pods have no sidecar",
                    ObjectRef{"v1", "Pod", "team-a", "web-7c5d-" + std::to_string(i), ""});
  }
  EXPECT_TRUE(sink.calls.empty()) << "Record only counts";
  EXPECT_EQ(recorder.Flush(), 1);
  ASSERT_EQ(sink.stored.size(), 1u);
  const json& e = sink.stored.begin()->second;
  EXPECT_EQ(e["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(e["series"]["count"], 500);
  EXPECT_EQ(e["regarding"]["kind"], "ReplicaSet");
  EXPECT_EQ(e["regarding"]["name"], "web-7c5d");
  EXPECT_EQ(e["related"]["name"], "web-7c5d-0") << "the first pod";
  EXPECT_EQ(e["reportingController"], "promsidecar.io/operator");
  EXPECT_EQ(e["reportingInstance"], "op-1");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_FALSE(e.contains("count")) << "events.k8s.io/v1 refuses the deprecated fields on create";

  // More occurrences: nothing written until the series interval has passed.
  for (int i = 0; i < 10; ++i) recorder.Record(kReplicaSet, "Warning", "NotInjected", "Inject", "x");
  clock.now += 10s;
  EXPECT_EQ(recorder.Flush(), 0);
  clock.now += 25s;
  EXPECT_EQ(recorder.Flush(), 1);
  EXPECT_EQ(sink.stored.begin()->second["series"]["count"], 510);
  EXPECT_EQ(sink.stored.begin()->second["note"], "pods have no sidecar") << "notes are immutable";
  EXPECT_EQ(recorder.Flush(), 0) << "nothing new";
  EXPECT_EQ(recorder.Tracked(), 1u);
}

TEST(EventRecorder, OneOccurrenceHasNoSeries) {
  FakeSink sink;
  Clock clock;
  EventRecorder recorder(sink, {}, [&] { return clock.now; });
  recorder.Record(kReplicaSet, "Warning", "InjectionSkipped", "Inject", "HostNetwork");
  recorder.Record({"v1", "Pod", "team-a", "bare", "p-uid"}, "Warning", "InjectionSkipped", "Inject", "x");
  EXPECT_EQ(recorder.Flush(), 2);
  for (const auto& [key, e] : sink.stored) EXPECT_FALSE(e.contains("series")) << key;
}

TEST(EventRecorder, ContinuesTheCountOfAnEventAnotherLeaderWrote) {
  FakeSink sink;
  Clock clock;
  const std::string name = EventRecorder::EventName(kReplicaSet, "NotInjected");
  sink.stored["team-a/" + name] = {{"metadata", {{"name", name}}},
                                   {"series", {{"count", 7}, {"lastObservedTime", "x"}}}};
  EventRecorder recorder(sink, {}, [&] { return clock.now; });
  recorder.Record(kReplicaSet, "Warning", "NotInjected", "Inject", "x");
  recorder.Record(kReplicaSet, "Warning", "NotInjected", "Inject", "x");
  recorder.Flush();
  EXPECT_EQ(sink.stored["team-a/" + name]["series"]["count"], 9);
  EXPECT_EQ(sink.calls.size(), 3u) << "create (exists), get, patch";
}

TEST(EventRecorder, AFailedWriteIsRetriedOneIntervalLaterNotInALoop) {
  FakeSink sink;
  Clock clock;
  EventRecorder recorder(sink, {.series_interval = 30s}, [&] { return clock.now; });
  sink.fail_next = true;
  recorder.Record(kReplicaSet, "Warning", "NotInjected", "Inject", "x");
  recorder.Flush();
  sink.fail_next = false;
  for (int i = 0; i < 5; ++i) {
    clock.now += 1s;
    recorder.Flush();
  }
  EXPECT_EQ(sink.calls.size(), 1u) << "one attempt in the first 30 s";
  clock.now += 30s;
  recorder.Flush();
  EXPECT_EQ(sink.stored.size(), 1u);
}

TEST(EventRecorder, AnExpiredEventStartsAgain) {
  FakeSink sink;
  Clock clock;
  EventRecorder recorder(sink, {.series_interval = 30s}, [&] { return clock.now; });
  recorder.Record(kReplicaSet, "Warning", "NotInjected", "Inject", "x");
  recorder.Flush();
  sink.stored.clear();  // the API server dropped it (an hour's TTL)
  clock.now += 31s;
  recorder.Record(kReplicaSet, "Warning", "NotInjected", "Inject", "x");
  recorder.Record(kReplicaSet, "Warning", "NotInjected", "Inject", "x");
  recorder.Flush();  // the patch finds nothing
  clock.now += 1s;
  recorder.Flush();  // created again with what was pending
  ASSERT_EQ(sink.stored.size(), 1u);
  EXPECT_EQ(sink.stored.begin()->second["series"]["count"], 2);
}

TEST(EventRecorder, BoundedAndForgetful) {
  FakeSink sink;
  Clock clock;
  EventRecorder recorder(sink, {.forget_after = 3600s, .max_tracked = 3}, [&] { return clock.now; });
  for (int i = 0; i < 5; ++i) {
    recorder.Record({"v1", "Pod", "team-a", "p" + std::to_string(i), ""}, "Warning", "InjectionSkipped",
                    "Inject", "x");
  }
  EXPECT_EQ(recorder.Tracked(), 3u);
  EXPECT_EQ(recorder.Dropped(), 2u);
  recorder.Flush();
  clock.now += 3601s;
  recorder.Flush();
  EXPECT_EQ(recorder.Tracked(), 0u) << "written and idle for an hour: forgotten";
}

TEST(EventRecorder, NamesAreDeterministicDnsSubdomains) {
  const std::string a = EventRecorder::EventName(kReplicaSet, "NotInjected");
  EXPECT_EQ(a, EventRecorder::EventName(kReplicaSet, "NotInjected"));
  EXPECT_NE(a, EventRecorder::EventName(kReplicaSet, "InjectionSkipped"));
  EXPECT_TRUE(a.starts_with("web-7c5d."));
  // Pinned: a new name would orphan the Events already in clusters.
  EXPECT_EQ(a, "web-7c5d.fb7574069d10c4f0");
  const ObjectRef long_name{"v1", "Pod", "ns", std::string(253, 'a'), ""};
  EXPECT_LE(EventRecorder::EventName(long_name, "X").size(), 253u);
}

}  // namespace
}  // namespace promsidecar::controller
