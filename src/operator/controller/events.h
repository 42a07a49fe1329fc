// Kubernetes Events, the polite way: events.k8s.io/v1, aggregated and rate
// limited. Every occurrence of one reason about one object (a workload, a
// bare pod, an agent) counts into a single Event whose series.count rises,
// so a Deployment with 500 pods that missed their sidecar gets one Event,
// not 500. The operator records only problems (Warning) and the few actions
// it takes on users' workloads (Normal: restarts, in-place upgrades); never
// routine success.
//
// Record() only counts, in memory; Flush() (the controller calls it about
// once a second) writes: a new Event at once, a rising count at most every
// series_interval per Event. An Event that already exists (another leader
// wrote it) is read once and its count continued. Bounded: at most
// max_tracked Events are remembered; keys idle for forget_after are dropped.
//
// Thread-safety: Record and Flush may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"
#include "common/kube/errors.h"
#include "operator/controller/api_calls.h"

namespace promsidecar::controller {

// An ObjectReference (regarding / related).
struct ObjectRef {
  std::string api_version, kind, ns, name, uid;
  nlohmann::json Json() const;
};

// The API calls the recorder makes (a seam for tests).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual Result<nlohmann::json, kube::ApiError> Create(const std::string& ns,
                                                        const nlohmann::json& event) = 0;
  virtual Result<nlohmann::json, kube::ApiError> Get(const std::string& ns, const std::string& name) = 0;
  // A JSON merge patch.
  virtual Result<nlohmann::json, kube::ApiError> Patch(const std::string& ns, const std::string& name,
                                                       const nlohmann::json& patch) = 0;
};

// The sink of a running operator: events.k8s.io/v1 through the client.
class KubeEventSink : public EventSink {
 public:
  KubeEventSink(kube::Client& client, ApiCalls& calls) : client_(client), calls_(calls) {}
  Result<nlohmann::json, kube::ApiError> Create(const std::string& ns, const nlohmann::json& event) override;
  Result<nlohmann::json, kube::ApiError> Get(const std::string& ns, const std::string& name) override;
  Result<nlohmann::json, kube::ApiError> Patch(const std::string& ns, const std::string& name,
                                               const nlohmann::json& patch) override;

 private:
  kube::Client& client_;
  ApiCalls& calls_;
};

struct EventRecorderOptions {
  std::string reporting_controller = "promsidecar.io/operator";
  std::string reporting_instance;  // this replica (at most 128 characters)
  std::chrono::seconds series_interval{30};
  std::chrono::seconds forget_after{3600};
  size_t max_tracked = 10'000;
};

class EventRecorder {
 public:
  using Clock = std::chrono::system_clock;
  EventRecorder(
      EventSink& sink, EventRecorderOptions options,
      std::function<Clock::time_point()> now = [] { return Clock::now(); });

  // One occurrence. `action` is machine-readable (Inject, Render, Repair,
  // Upgrade, Restart); the note of the first occurrence is kept (Events'
  // notes are immutable).
  void Record(const ObjectRef& regarding, const std::string& type, const std::string& reason,
              const std::string& action, const std::string& note,
              const std::optional<ObjectRef>& related = {});
  // Writes what is due. Returns the number of API writes it made.
  int Flush();

  // The Event's name for an object and reason: deterministic, so a new
  // leader continues the same Event.
  static std::string EventName(const ObjectRef& regarding, const std::string& reason);
  size_t Tracked() const;
  uint64_t Dropped() const;

 private:
  struct Entry {
    ObjectRef regarding;
    std::optional<ObjectRef> related;
    std::string type, reason, action, note;
    int64_t count = 0;    // occurrences recorded by this process
    int64_t written = 0;  // of those, already in the cluster
    int64_t base = 0;     // the count the Event had when this process found it
    bool created = false;
    Clock::time_point first, last, last_write;
    Clock::time_point retry_at;  // after a failed write: not before this
  };
  bool Write(const std::string& name, Entry& e, Clock::time_point now);
  void Failed(Entry& e, Clock::time_point now, const char* what, const kube::ApiError& error);

  EventSink& sink_;
  EventRecorderOptions options_;
  std::function<Clock::time_point()> now_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by namespace/name of the Event
  uint64_t dropped_ = 0;
};

}  // namespace promsidecar::controller
