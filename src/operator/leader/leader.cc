#include "operator/leader/leader.h"

#include <ctime>

#include "common/log/log.h"

namespace promsidecar::leader {
namespace {

using nlohmann::json;

// metav1.MicroTime.
std::string MicroNow() {
  const auto now = std::chrono::system_clock::now();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(us % 1000000));
  return out;
}

std::string Str(const json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

kube::Resource Leases() {
  return {"coordination.k8s.io", "v1", "leases", true};
}

bool LeaseExpired(std::chrono::steady_clock::time_point observed, std::chrono::steady_clock::time_point now,
                  std::chrono::seconds lease_duration) {
  return now - observed > lease_duration;
}

LeaderElector::LeaderElector(kube::Client& client, LeaseOptions options, std::function<void(bool)> on_change)
    : client_(client), options_(std::move(options)), on_change_(std::move(on_change)) {}

LeaderElector::~LeaderElector() {
  Stop();
}

void LeaderElector::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LeaderElector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_.exchange(true)) return;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (leading_.load()) {
    Release();
    SetLeading(false);
  }
}

void LeaderElector::SetLeading(bool leading) {
  if (leading_.exchange(leading) != leading) {
    log::Info(leading ? "became the leader" : "stopped leading",
              {{"lease", options_.ns + "/" + options_.name}, {"identity", options_.identity}});
    if (on_change_) on_change_(leading);
  }
}

bool LeaderElector::TryAcquireOrRenew() {
  const auto now = std::chrono::steady_clock::now();
  const std::string stamp = MicroNow();
  auto current = client_.Get(Leases(), options_.ns, options_.name);
  if (!current.ok()) {
    if (!kube::IsNotFound(current.error())) {
      log::Warn("cannot read the leader lease", {{"error", current.message()}});
      return false;
    }
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", options_.name}, {"namespace", options_.ns}}},
                  {"spec",
                   {{"holderIdentity", options_.identity},
                    {"leaseDurationSeconds", options_.lease_duration.count()},
                    {"acquireTime", stamp},
                    {"renewTime", stamp},
                    {"leaseTransitions", 0}}}};
    auto created = client_.Create(Leases(), options_.ns, lease);
    if (!created.ok()) return false;  // someone else was faster
    observed_record_ = created->value("spec", json::object()).dump();
    observed_at_ = now;
    return true;
  }
  json lease = *current;
  json& spec = lease["spec"];
  if (!spec.is_object()) spec = json::object();
  const std::string holder = Str(spec, "holderIdentity");
  const std::string record = spec.dump();
  if (record != observed_record_) {
    observed_record_ = record;
    observed_at_ = now;
  }
  int64_t duration = spec.value("leaseDurationSeconds", int64_t{0});
  if (duration <= 0) duration = options_.lease_duration.count();
  if (holder != options_.identity) {
    if (!holder.empty() && !LeaseExpired(observed_at_, now, std::chrono::seconds(duration))) return false;
    spec["holderIdentity"] = options_.identity;
    spec["acquireTime"] = stamp;
    spec["leaseTransitions"] = spec.value("leaseTransitions", int64_t{0}) + 1;
  }
  spec["renewTime"] = stamp;
  spec["leaseDurationSeconds"] = options_.lease_duration.count();
  auto updated = client_.Update(Leases(), lease);
  if (!updated.ok()) {
    if (!kube::IsConflict(updated.error()))
      log::Warn("cannot write the leader lease", {{"error", updated.message()}});
    return false;
  }
  observed_record_ = updated->value("spec", json::object()).dump();
  observed_at_ = now;
  return true;
}

void LeaderElector::Release() {
  auto current = client_.Get(Leases(), options_.ns, options_.name);
  if (!current.ok()) return;
  json lease = *current;
  if (Str(lease["spec"], "holderIdentity") != options_.identity) return;
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = MicroNow();
  auto r = client_.Update(Leases(), lease);
  if (r.ok()) {
    log::Info("released the leader lease", {{"identity", options_.identity}});
  } else {
    log::Warn("cannot release the leader lease", {{"error", r.message()}});
  }
}

void LeaderElector::Run() {
  while (!stop_.load()) {
    const bool held = TryAcquireOrRenew();
    const auto now = std::chrono::steady_clock::now();
    if (held) {
      last_renew_ = now;
      SetLeading(true);
    } else if (leading_.load() && now - last_renew_ > options_.renew_deadline) {
      SetLeading(false);
    } else if (leading_.load()) {
      // Keep leading until the renew deadline; someone else may hold it now.
      auto current = client_.Get(Leases(), options_.ns, options_.name);
      if (current.ok() && Str((*current)["spec"], "holderIdentity") != options_.identity) SetLeading(false);
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, options_.retry_period, [this] { return stop_.load(); });
  }
}

}  // namespace promsidecar::leader
