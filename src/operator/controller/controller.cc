#include "operator/controller/controller.h"

#include <algorithm>

#include "common/log/log.h"
#include "common/util/json_access.h"
#include "common/util/time.h"
#include "operator/api/well_known.h"
#include "operator/render/render.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;
using util::StringList;
using Steady = std::chrono::steady_clock;

// Per-namespace keys: "<agent ns>/<agent name>@<namespace>" ('@' is in no
// Kubernetes name).
std::string NamespaceKey(const std::string& agent_key, const std::string& ns) {
  return agent_key + "@" + ns;
}

bool SpecChanged(const cache::AgentObject& a, const cache::AgentObject& b) {
  // Our own status writes change only the status: nothing to do then.
  return a.generation != b.generation || a.deleting != b.deleting || a.finalizers != b.finalizers ||
         a.parse_error != b.parse_error;
}

}  // namespace

struct Controller::Metrics {
  metrics::Counter* reconciles = nullptr;
  metrics::Counter* secret_writes = nullptr;
  metrics::Counter* status_writes = nullptr;
  metrics::Family<metrics::Gauge>* uninjected = nullptr;
  metrics::Family<metrics::Counter>* repair_runs = nullptr;
  metrics::Family<metrics::Counter>* owner_restarts = nullptr;
  metrics::Family<metrics::Counter>* in_place = nullptr;

  static std::unique_ptr<Metrics> Register(metrics::Registry& r) {
    auto m = std::make_unique<Metrics>();
    m->reconciles =
        &r.AddCounter("promsidecar_operator_reconciles_total", "Reconciles run (agent and namespace keys).");
    m->secret_writes = &r.AddCounter("promsidecar_operator_rendered_secret_writes_total",
                                     "Rendered Secrets created, updated or deleted.");
    m->status_writes =
        &r.AddCounter("promsidecar_operator_status_writes_total", "PrometheusAgent status writes.");
    m->uninjected = &r.AddGaugeFamily(
        "promsidecar_operator_uninjected_pods",
        "Pods the agent should serve that have no sidecar (created while the webhook was unreachable), "
        "as of the last repair report.",
        {"agent"});
    m->repair_runs = &r.AddCounterFamily("promsidecar_operator_repair_runs_total",
                                         "Repair reports run, by outcome (ok, error).", {"outcome"});
    m->owner_restarts = &r.AddCounterFamily(
        "promsidecar_operator_owner_restarts_total",
        "Workloads restarted (restartedAt) so that their pods get the current sidecar, by reason (repair, "
        "rollout) and outcome (restarted, forbidden, error).",
        {"reason", "outcome"});
    m->in_place = &r.AddCounterFamily(
        "promsidecar_operator_in_place_upgrades_total",
        "Agent containers upgraded in place (updateStrategy InPlace), by outcome: patched, confirmed (the "
        "container status shows the new image), failed, forbidden, unconfirmed (no confirmation in time).",
        {"outcome"});
    return m;
  }
};

namespace {
metrics::Registry& OrUnused(metrics::Registry* r) {
  static metrics::Registry unused;
  return r != nullptr ? *r : unused;
}
}  // namespace

RestarterOptions Controller::RestarterOptionsWithGate() {
  RestarterOptions o = options_.restarts;
  if (webhook_readiness_) o.webhook_reachable = [this] { return webhook_readiness_->Reachable(); };
  return o;
}

Controller::Controller(kube::Client& client, cache::ClusterCache& cache, Options options,
                       metrics::Registry* registry, metrics::Family<metrics::Counter>* api_calls)
    : client_(client),
      cache_(cache),
      options_(std::move(options)),
      metrics_(Metrics::Register(OrUnused(registry))),
      agent_series_(OrUnused(registry)),
      calls_(api_calls),
      event_sink_(client, calls_),
      events_(event_sink_, options_.events),
      fanout_(client, calls_, metrics_->secret_writes),
      webhook_readiness_(options_.webhook_service
                             ? std::make_unique<WebhookReadiness>(client, calls_, *options_.webhook_service)
                             : nullptr),
      restarter_(client, calls_, events_, metrics_->owner_restarts, RestarterOptionsWithGate()),
      upgrader_(client, calls_, events_, restarter_, metrics_->in_place, options_.upgrades),
      repairer_(cache, events_, restarter_, options_.repair_enabled, metrics_->uninjected,
                metrics_->repair_runs) {
  agents_resource_ = {options_.api_group.group, api::kAgentVersion, api::kAgentPlural, true};
  metrics::Registry& r = OrUnused(registry);
  r.AddCallbackGauge("promsidecar_operator_in_place_upgrades_pending",
                     "In-place upgrades patched and not yet confirmed by the container status.",
                     [this] { return static_cast<double>(upgrader_.PendingCount()); });
  r.AddCallbackGauge("promsidecar_operator_queue_depth", "Keys waiting to be reconciled.",
                     [this] { return static_cast<double>(queue_.Len()); });
  r.AddCallbackGauge("promsidecar_operator_leading", "1 while this replica is the leader.",
                     [this] { return leading_.load() ? 1.0 : 0.0; });
  r.AddCallbackGauge("promsidecar_operator_events_tracked", "Aggregated Events the recorder remembers.",
                     [this] { return static_cast<double>(events_.Tracked()); });
  r.AddCallbackGauge("promsidecar_operator_api_write_throttle_seconds",
                     "Seconds API writes have waited for the client-side token bucket (--api.write-qps).",
                     [this] { return client_.WriteThrottleSeconds(); });

  cache_.Subscribe(cache::CacheHandlers{
      .on_pod = [this](const auto& o, const auto& n) { OnPod(o, n); },
      .on_agent = [this](const auto& o, const auto& n) { OnAgent(o, n); },
      .on_namespace =
          [this](const cache::ObjectPtr<cache::NamespaceMeta>& o,
                 const cache::ObjectPtr<cache::NamespaceMeta>& n) {
            if (o && n && (o->labels != n->labels || o->terminating != n->terminating)) EnqueueAll();
          },
      .on_nodes = [this] { EnqueueAll(); },
      .on_limit_ranges = [this](const std::string&) { EnqueueAll(); },
      .on_reference =
          [this](const std::string& kind, const std::string& ns, const std::string& name) {
            for (const auto& a : *cache_.Agents()) {
              if (a.namespace_ != ns) continue;
              const auto names =
                  kind == "Secret" ? render::ReferencedSecretNames(a) : render::ReferencedConfigMapNames(a);
              if (std::find(names.begin(), names.end(), name) != names.end()) queue_.Add(a.Ref());
            }
          }});
}

Controller::~Controller() {
  Stop();
}

void Controller::Start() {
  last_resync_ = Steady::now();
  worker_ = std::thread([this] { Worker(); });
  loop_ = std::thread([this] { Loop(); });
}

void Controller::Stop() {
  if (stop_.exchange(true)) return;
  queue_.ShutDown();
  if (worker_.joinable()) worker_.join();
  if (loop_.joinable()) loop_.join();
  events_.Flush();  // what was recorded before a graceful stop
}

void Controller::SetLeading(bool leading) {
  const bool was = leading_.exchange(leading);
  if (leading && !was) {
    log::Info("leading: reconciling every agent");
    fanout_.ForgetAll();  // another replica may have written meanwhile
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_status_.clear();
    }
    EnqueueAll();
    repair_due_ = true;  // a new leader reports at once, not one interval later
  }
}

void Controller::EnqueueAll() {
  for (const auto& a : *cache_.Agents()) queue_.Add(a.Ref());
}

std::string Controller::AgentForLabel(std::string_view label) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = agent_by_label_.find(label);
  return it == agent_by_label_.end() ? std::string() : it->second;
}

void Controller::ScheduleStatus(const std::string& key) {
  // The whole agent once the status may be written again: changes until then
  // are coalesced into that one reconcile (its counts read every pod).
  std::chrono::milliseconds wait{0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = last_status_.find(key);
    if (it != last_status_.end()) {
      const auto since = Steady::now() - it->second;
      if (since < options_.status_interval) {
        wait = std::chrono::duration_cast<std::chrono::milliseconds>(options_.status_interval - since);
      }
    }
  }
  queue_.AddAfter(key, std::max(wait, std::chrono::milliseconds(1000)));
}

void Controller::OnAgent(const cache::ObjectPtr<cache::AgentObject>& old_agent,
                         const cache::ObjectPtr<cache::AgentObject>& new_agent) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    agent_by_label_.clear();
    for (const auto& a : *cache_.Agents()) agent_by_label_[a.LabelValue()] = a.Ref();
  }
  if (!old_agent || !new_agent) {
    // A new or deleted agent can change which agent other pods would get.
    EnqueueAll();
    if (old_agent && !new_agent) {
      const std::string key = old_agent->Key();
      fanout_.Forget(key);
      std::lock_guard<std::mutex> lock(mu_);
      renders_.erase(key);
      last_status_.erase(key);
    }
    if (new_agent) queue_.Add(new_agent->Key());
    return;
  }
  if (SpecChanged(*old_agent, *new_agent)) queue_.Add(new_agent->Key());
}

void Controller::OnPod(const cache::ObjectPtr<cache::PodMeta>& old_pod,
                       const cache::ObjectPtr<cache::PodMeta>& new_pod) {
  if (!new_pod && old_pod) upgrader_.Forget(old_pod->uid);
  if (new_pod && old_pod && upgrader_.IsPending(new_pod->uid)) {
    // Its container status may confirm an in-place upgrade: read it (on the worker).
    queue_.Add("pod:" + new_pod->Ref());
  }
  // A pod the webhook skipped: a Warning on its workload, counted.
  if (new_pod && new_pod->injection == cache::Injection::kSkipped &&
      (!old_pod || old_pod->injection != cache::Injection::kSkipped) && leading_.load()) {
    const auto age =
        std::chrono::system_clock::now().time_since_epoch() - std::chrono::seconds(new_pod->created_unix);
    if (new_pod->created_unix > 0 && age < options_.pod_event_max_age) {
      const ObjectRef target = EventTargetOf(*new_pod);
      const std::string reason(new_pod->skip_reason.empty() ? "no reason given" : new_pod->skip_reason);
      events_.Record(
          target, "Warning", "InjectionSkipped", "Inject",
          (target.kind == "Pod" ? std::string("the pod") : "pods of " + target.kind + " " + target.name) +
              " opted in but got no promsidecar agent: " + reason,
          target.kind == "Pod" ? std::nullopt
                               : std::optional<ObjectRef>(ObjectRef{"v1", "Pod", std::string(new_pod->ns),
                                                                    new_pod->name, new_pod->uid}));
    }
  }
  // Settle the namespace's Secret of the agent(s) concerned.
  auto relevant = [](const cache::ObjectPtr<cache::PodMeta>& p) { return p && !p->agent_label.empty(); };
  auto state = [](const cache::PodMeta& p) {
    return std::tuple(p.agent_label, p.injection, p.deleting, p.injected_hash, p.agent_version,
                      p.grace_seconds, p.agent_selector, p.native_override);
  };
  if (relevant(old_pod) && relevant(new_pod) && state(*old_pod) == state(*new_pod)) return;
  for (const auto& p : {old_pod, new_pod}) {
    if (!relevant(p)) continue;
    const std::string key = AgentForLabel(p->agent_label);
    if (key.empty()) continue;
    queue_.Add(NamespaceKey(key, std::string(p->ns)));
    ScheduleStatus(key);
  }
}

void Controller::Worker() {
  while (!stop_.load()) {
    if (leading_.load() && Steady::now() - last_resync_ > options_.resync_period) {
      last_resync_ = Steady::now();
      fanout_.ForgetAll();
      checkers_.clear();  // namespaces gone meanwhile leave with it
      EnqueueAll();
    }
    if (!leading_.load() || !Synced()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    auto key = queue_.Get(std::chrono::milliseconds(500));
    if (!key) continue;
    if (!leading_.load()) {
      queue_.Done(*key);
      queue_.Add(*key);  // keep it for when we lead again
      continue;
    }
    Outcome out;
    if (key->starts_with("pod:")) {
      const auto slash = key->find('/');
      upgrader_.CheckPending(key->substr(4, slash - 4), key->substr(slash + 1));
    } else if (const auto at = key->find('@'); at != std::string::npos) {
      out = ReconcileNamespace(key->substr(0, at), key->substr(at + 1));
    } else {
      out = ReconcileAgent(*key);
    }
    metrics_->reconciles->Inc();
    if (out.status.ok()) {
      queue_.Forget(*key);
    } else {
      agent_series_.CountError(*key, out.stage);
      log::Warn("reconcile failed; retrying", {{"key", *key},
                                               {"stage", std::string(StageName(out.stage))},
                                               {"error", out.status.message()},
                                               {"retry", queue_.Failures(*key) + 1}});
      queue_.AddRateLimited(*key);
    }
    queue_.Done(*key);
  }
}

void Controller::Loop() {
  auto next_repair = Steady::now();
  while (!stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!leading_.load()) continue;
    events_.Flush();
    if (!Synced()) continue;
    upgrader_.ExpirePending();
    const auto now = Steady::now();
    if (repair_due_.exchange(false)) next_repair = now;
    if (now < next_repair) continue;
    const auto report = repairer_.Run(options_.settings, [this] { return leading_.load() && !stop_.load(); });
    for (const auto& agent : report.changed_agents) queue_.Add(agent);  // its status.uninjectedPods
    next_repair = Steady::now() + options_.repair_interval;
    // Owners left over by the restart rate limit are taken up once it allows.
    if (report.left_over) {
      const auto wait = restarter_.WaitTime();
      if (wait < options_.repair_interval) next_repair = Steady::now() + wait;
    }
  }
}

std::shared_ptr<const render::RenderedSecret> Controller::Render(const cache::AgentObject& object,
                                                                 std::string* error) {
  const api::Agent& agent = object.agent;
  const std::string key = object.Key();
  // What the rendering depends on: the agent's version and its references'.
  const auto secret_versions =
      cache_.SecretVersions(agent.namespace_).value_or(std::map<std::string, std::string>());
  const auto cm_versions =
      cache_.ConfigMapVersions(agent.namespace_).value_or(std::map<std::string, std::string>());
  std::string fingerprint = object.resource_version;
  std::vector<std::tuple<std::string, std::string, std::string>> refs;  // kind, name, rv ("" absent)
  for (const auto& name : render::ReferencedSecretNames(agent)) {
    auto it = secret_versions.find(name);
    refs.emplace_back("Secret", name, it == secret_versions.end() ? "" : it->second);
  }
  for (const auto& name : render::ReferencedConfigMapNames(agent)) {
    auto it = cm_versions.find(name);
    refs.emplace_back("ConfigMap", name, it == cm_versions.end() ? "" : it->second);
  }
  for (const auto& [kind, name, rv] : refs) fingerprint += "|" + kind + "/" + name + "@" + rv;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = renders_.find(key);
    if (it != renders_.end() && it->second.fingerprint == fingerprint) {
      *error = it->second.error;
      return it->second.rendered;
    }
  }
  // Read the data of the references that changed: one GET each (the cache
  // keeps their metadata only).
  render::ReferencedObjects objects;
  for (const auto& [kind, name, rv] : refs) {
    if (rv.empty()) continue;  // absent: the renderer says which reference is missing
    const std::string ref_key = kind + "/" + agent.namespace_ + "/" + name;
    std::map<std::string, std::string> data;
    bool have = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = references_.find(ref_key);
      if (it != references_.end() && it->second.first == rv) {
        data = it->second.second;
        have = true;
      }
    }
    if (!have) {
      const bool secret = kind == "Secret";
      auto got = client_.Get(secret ? kube::resources::Secrets() : kube::resources::ConfigMaps(),
                             agent.namespace_, name);
      calls_.Count("get", secret ? "secrets" : "configmaps", got.ok() || kube::IsNotFound(got.error()));
      if (!got.ok()) {
        if (!kube::IsNotFound(got.error())) {
          *error = "reading " + kind + " " + agent.namespace_ + "/" + name + ": " + got.message();
          return nullptr;  // not cached: retried
        }
        continue;
      }
      data = secret ? render::SecretData(*got) : render::ConfigMapData(*got);
      std::lock_guard<std::mutex> lock(mu_);
      references_[ref_key] = {kube::ResourceVersion(*got), data};
    }
    (kind == "Secret" ? objects.secrets : objects.config_maps)[name] = std::move(data);
  }
  auto rendered = render::RenderSharedConfig(agent, objects, "");
  RenderCache entry{fingerprint, nullptr, ""};
  if (rendered.ok()) {
    entry.rendered = std::make_shared<const render::RenderedSecret>(std::move(*rendered));
  } else {
    entry.error = rendered.message();
  }
  *error = entry.error;
  std::lock_guard<std::mutex> lock(mu_);
  renders_[key] = entry;
  return entry.rendered;
}

PlanInput Controller::Gather(const cache::ObjectPtr<cache::AgentObject>& object, const std::string& only_ns,
                             std::vector<OutdatedPod>* outdated) {
  PlanInput in;
  in.agent = object;
  in.whole = only_ns.empty();
  in.now = util::FormatRfc3339(std::chrono::system_clock::now());
  const api::Agent& agent = object->agent;
  const std::string key = object->Key();
  const std::string label = agent.LabelValue();
  in.rendered = Render(*object, &in.render_error);
  in.uninjected_pods = repairer_.Uninjected(key);
  std::set<std::string> namespaces;
  if (in.whole) {
    for (const auto& [ns, n] : cache_.NamespacesOfAgent(label)) namespaces.insert(ns);
    for (const auto& ns : fanout_.KnownPresent(key)) namespaces.insert(ns);
    for (const auto& ns : StringList(util::At(object->status, "renderedNamespaces"))) namespaces.insert(ns);
  } else {
    namespaces.insert(only_ns);
  }
  for (const auto& ns : namespaces) {
    NamespaceFacts f;
    f.name = ns;
    if (auto n = cache_.Namespace(ns)) {
      f.labels = n->labels;
      f.terminating = n->terminating;
    } else {
      f.exists = false;
    }
    f.secret_hash = fanout_.Known(key, ns);
    PodChecker* checker = nullptr;
    for (const auto& pod : cache_.Pods(ns)) {
      if (pod->agent_label != label || pod->injection != cache::Injection::kInjected || !pod->Active())
        continue;
      ++f.injected_pods;
      if (!in.whole) break;  // one is enough to want the Secret
      if (!checker) checker = &CheckerFor(ns);
      const PodCheck check = checker->Check(*pod);
      if (check.drift == PodDrift::kCurrent) continue;
      ++f.outdated_pods;
      // Not injectable any more (paused, namespace no longer admitted...):
      // counted, but a restart would not bring the sidecar back.
      if (check.drift == PodDrift::kOutdated && check.agent == agent.Ref() && outdated) {
        outdated->push_back({pod, check.want_hash});
      }
    }
    in.namespaces.push_back(std::move(f));
  }
  return in;
}

PodChecker& Controller::CheckerFor(const std::string& ns) {
  // Decide's answers hold while its inputs do: the shared agent list and
  // kubelet versions (replaced, never changed, so compared by pointer), the
  // namespace's labels and LimitRanges.
  inject::ClusterFacts facts = cache::FactsFor(cache_, ns, options_.settings);
  auto& slot = checkers_[ns];
  if (slot) {
    const inject::ClusterFacts& had = slot->facts();
    const bool same = &had.agents.get() == &facts.agents.get() &&
                      had.node_kubelet_versions == facts.node_kubelet_versions &&
                      had.namespace_labels == facts.namespace_labels &&
                      had.limit_ranges == facts.limit_ranges &&
                      had.apiserver_version == facts.apiserver_version;
    if (same) return *slot;
  }
  slot = std::make_unique<PodChecker>(std::move(facts));
  return *slot;
}

Controller::Outcome Controller::Execute(const cache::AgentObject& object, const Plan& plan, bool whole) {
  const api::Agent& agent = object.agent;
  const std::string key = object.Key();
  const ObjectRef regarding{object.api_version, api::kAgentKind, agent.namespace_, agent.name, agent.uid};
  if (plan.finalizer == Plan::Finalizer::kAdd) {
    json finalizers = object.finalizers;
    finalizers.push_back(kFinalizer);
    // Guarded by the resourceVersion: a concurrent change of the list fails
    // (and is retried) instead of being overwritten.
    auto r = client_.Patch(
        agents_resource_, agent.namespace_, agent.name, kube::PatchType::kMerge,
        {{"metadata", {{"finalizers", finalizers}, {"resourceVersion", object.resource_version}}}});
    calls_.Count("patch", agents_resource_.plural, r.ok());
    if (!r.ok()) {
      return {MakeError("adding the finalizer to " + agent.Ref() + ": " + r.message()),
              ReconcileStage::kFinalizer};
    }
  }
  Status failure;
  if (!plan.ensure.empty() && plan.secret) {
    failure = fanout_.Ensure(key, agent, *plan.secret, plan.secret_hash, plan.ensure, nullptr);
  }
  if (Status s = fanout_.Remove(key, agent, plan.remove); !s && failure.ok()) failure = s;
  for (const auto& e : plan.events) events_.Record(regarding, e.type, e.reason, "Render", e.note);
  if (!failure.ok()) {
    events_.Record(regarding, "Warning", "SecretWriteFailed", "Render", failure.message());
    return {failure, ReconcileStage::kSecrets};
  }
  if (plan.finalizer == Plan::Finalizer::kRemove) {
    json kept = json::array();
    for (const auto& f : object.finalizers) {
      if (f != kFinalizer) kept.push_back(f);
    }
    auto r =
        client_.Patch(agents_resource_, agent.namespace_, agent.name, kube::PatchType::kMerge,
                      {{"metadata", {{"finalizers", kept}, {"resourceVersion", object.resource_version}}}});
    calls_.Count("patch", agents_resource_.plural, r.ok());
    if (!r.ok() && !kube::IsNotFound(r.error())) {
      return {MakeError("removing the finalizer of " + agent.Ref() + ": " + r.message()),
              ReconcileStage::kFinalizer};
    }
    fanout_.Forget(key);
    log::Info("agent deleted: rendered Secrets removed",
              {{"agent", agent.Ref()}, {"namespaces", static_cast<int64_t>(plan.remove.size())}});
    return {};
  }
  if (whole && plan.status) {
    const auto now = Steady::now();
    std::chrono::milliseconds wait{0};
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = last_status_.find(key);
      if (it != last_status_.end() && now - it->second < options_.status_interval) {
        wait = std::chrono::duration_cast<std::chrono::milliseconds>(options_.status_interval -
                                                                     (now - it->second));
      }
    }
    if (wait.count() > 0) {
      queue_.AddAfter(key, wait);  // coalesced with whatever changes until then
    } else {
      auto r = client_.Patch(agents_resource_, agent.namespace_, agent.name, kube::PatchType::kMerge,
                             {{"status", *plan.status}}, {.subresource = "status"});
      calls_.Count("patch", agents_resource_.plural + "/status", r.ok());
      if (!r.ok()) {
        return {MakeError("writing the status of " + agent.Ref() + ": " + r.message()),
                ReconcileStage::kStatus};
      }
      metrics_->status_writes->Inc();
      std::lock_guard<std::mutex> lock(mu_);
      last_status_[key] = now;
    }
  }
  return {};
}

Controller::Outcome Controller::ReconcileAgent(const std::string& key) {
  const auto slash = key.find('/');
  if (slash == std::string::npos) return {MakeError("bad key " + key), ReconcileStage::kKey};
  const auto object = cache_.Agent(key.substr(0, slash), key.substr(slash + 1));
  if (!object) {  // deleted: its finalizer ran first
    agent_series_.Forget(key);
    return {};
  }
  if (!object->ok()) {
    log::Warn("cannot read agent; not reconciled", {{"agent", key}, {"error", object->parse_error}});
    return {};
  }
  if (!object->agent.is_sidecar()) {  // other modes belong to prometheus-operator
    agent_series_.Forget(key);
    return {};
  }
  std::vector<OutdatedPod> outdated;
  const PlanInput in = Gather(object, "", &outdated);
  const Plan plan = PlanAgent(in);
  // Set before the writes: what the status counts, whether it is written or not.
  agent_series_.SetOutdated(key, plan.outdated_by_namespace);
  if (Outcome out = Execute(*object, plan, true); !out.status) return out;
  if (object->deleting || outdated.empty()) return {};
  const auto kubelets = cache_.KubeletVersions();
  const auto come_back = upgrader_.Apply(
      *object, outdated,
      [this](const std::string& ns) { return cache::FactsFor(cache_, ns, options_.settings); }, *kubelets,
      [this] { return leading_.load() && !stop_.load(); });
  if (come_back) queue_.AddAfter(key, *come_back);
  return {};
}

Controller::Outcome Controller::ReconcileNamespace(const std::string& key, const std::string& ns) {
  const auto slash = key.find('/');
  if (slash == std::string::npos) return {MakeError("bad key " + key), ReconcileStage::kKey};
  const auto object = cache_.Agent(key.substr(0, slash), key.substr(slash + 1));
  if (!object || !object->ok() || !object->agent.is_sidecar() || object->deleting) return {};
  const Plan plan = PlanAgent(Gather(object, ns, nullptr));
  return Execute(*object, plan, false);
}

}  // namespace promsidecar::controller
