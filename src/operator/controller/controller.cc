#include "operator/controller/controller.h"

#include <algorithm>
#include <ctime>

#include "common/log/log.h"
#include "operator/api/well_known.h"
#include "operator/controller/json_access.h"
#include "operator/render/render.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;

kube::Resource Nodes() {
  return {"", "v1", "nodes", false};
}
kube::Resource LimitRanges() {
  return {"", "v1", "limitranges", true};
}

std::string Now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

using detail::At;
using detail::Str;

api::Labels LabelsOf(const json& obj) {
  api::Labels out;
  const json& labels = At(At(obj, "metadata"), "labels");
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) {
      if (v.is_string()) out[k] = v.get<std::string>();
    }
  }
  return out;
}

std::string LabelValueFor(const std::string& ns, const std::string& name) {
  api::Agent a;
  a.namespace_ = ns;
  a.name = name;
  return a.LabelValue();
}

bool PodActive(const json& pod) {
  if (!At(At(pod, "metadata"), "deletionTimestamp").is_null()) return false;
  const std::string phase = Str(At(pod, "status"), "phase");
  return phase != "Succeeded" && phase != "Failed";
}

// Seconds since an RFC 3339 timestamp; a large value when unreadable.
int64_t AgeSeconds(const std::string& ts) {
  std::tm tm{};
  if (ts.empty() || strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return INT64_MAX;
  return static_cast<int64_t>(std::time(nullptr) - timegm(&tm));
}

bool HasFinalizer(const json& obj) {
  const json& f = At(At(obj, "metadata"), "finalizers");
  if (!f.is_array()) return false;
  return std::find(f.begin(), f.end(), json(kFinalizer)) != f.end();
}

std::vector<std::string> StringList(const json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

}  // namespace

bool NamespaceAdmitted(const api::Agent& agent, const std::string& ns, const api::Labels& labels) {
  if (!agent.sidecar.namespace_selector) return ns == agent.namespace_;
  return api::Matches(*agent.sidecar.namespace_selector, labels);
}

bool PodOutdated(const json& pod, const inject::ClusterFacts& facts) {
  return CheckInjectedPod(pod, facts).drift != PodDrift::kCurrent;
}

json StatusJson(const AgentStatus& status, const json& old_status, const std::string& now) {
  json conditions = json::array();
  for (const auto& c : status.conditions) {
    std::string transition = now;
    const json& old = At(old_status, "conditions");
    if (old.is_array()) {
      for (const auto& oc : old) {
        if (Str(oc, "type") == c.type && Str(oc, "status") == c.status &&
            !Str(oc, "lastTransitionTime").empty()) {
          transition = Str(oc, "lastTransitionTime");
        }
      }
    }
    conditions.push_back({{"type", c.type},
                          {"status", c.status},
                          {"reason", c.reason},
                          {"message", c.message},
                          {"observedGeneration", status.observed_generation},
                          {"lastTransitionTime", transition}});
  }
  return {{"observedGeneration", status.observed_generation},
          {"injectedPods", status.injected_pods},
          {"outdatedPods", status.outdated_pods},
          {"uninjectedPods", status.uninjected_pods},
          {"namespaces", status.namespaces},
          {"renderedNamespaces", status.rendered_namespaces},
          {"conditions", conditions}};
}

bool StatusEquivalent(const json& a, const json& b) {
  auto strip = [](json s) {
    if (s.is_object() && s.contains("conditions") && s["conditions"].is_array()) {
      for (auto& c : s["conditions"]) {
        if (c.is_object()) c.erase("lastTransitionTime");
      }
    }
    return s;
  };
  return strip(a) == strip(b);
}

Controller::Controller(kube::Client& client, Options options, metrics::Registry* registry)
    : client_(client),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>()),
      restart_limiter_(options_.max_restarts_per_minute),
      restarted_owners_(options_.min_restart_interval),
      in_place_limiter_(options_.max_in_place_per_minute) {
  agents_resource_ = {options_.api_group.group, api::kAgentVersion, api::kAgentPlural, true};
  static metrics::Registry unused;
  metrics::Registry& r = registry != nullptr ? *registry : unused;
  metrics_->reconciles = &r.AddCounter("promsidecar_operator_reconciles_total", "Agent reconciles run.");
  metrics_->errors =
      &r.AddCounter("promsidecar_operator_reconcile_errors_total", "Agent reconciles that failed.");
  metrics_->secret_writes = &r.AddCounter("promsidecar_operator_rendered_secret_writes_total",
                                          "Rendered Secrets created, updated or deleted.");
  metrics_->api_calls = &r.AddCounterFamily("promsidecar_operator_api_calls_total",
                                            "Kubernetes API calls by verb, resource and outcome.",
                                            {"verb", "resource", "outcome"});
  metrics_->uninjected = &r.AddGaugeFamily(
      "promsidecar_operator_uninjected_pods",
      "Pods the agent should serve that have no sidecar (created while the webhook was unreachable), "
      "as of the last repair report.",
      {"agent"});
  metrics_->repair_runs = &r.AddCounterFamily("promsidecar_operator_repair_runs_total",
                                              "Repair reports run, by outcome (ok, error).", {"outcome"});
  metrics_->owner_restarts = &r.AddCounterFamily(
      "promsidecar_operator_owner_restarts_total",
      "Workloads restarted (restartedAt) so that their pods get the current sidecar, by reason (repair, "
      "rollout) and outcome (restarted, forbidden, error).",
      {"reason", "outcome"});
  metrics_->in_place = &r.AddCounterFamily(
      "promsidecar_operator_in_place_upgrades_total",
      "Agent containers upgraded in place (updateStrategy InPlace), by outcome: patched, confirmed (the "
      "container status shows the new image), failed, forbidden, unconfirmed (no confirmation in time).",
      {"outcome"});
  r.AddCallbackGauge("promsidecar_operator_in_place_upgrades_pending",
                     "In-place upgrades patched and not yet confirmed by the container status.", [this] {
                       std::lock_guard<std::mutex> lock(mu_);
                       return static_cast<double>(pending_upgrades_.size());
                     });
  r.AddCallbackGauge("promsidecar_operator_queue_depth", "Agent keys waiting to be reconciled.",
                     [this] { return static_cast<double>(queue_.Len()); });
  r.AddCallbackGauge("promsidecar_operator_leading", "1 while this replica is the leader.",
                     [this] { return leading_.load() ? 1.0 : 0.0; });
  r.AddCollector([this] {
    auto mirror = [this](const kube::Informer* inf, const std::string& resource) {
      if (inf == nullptr) return;
      metrics_->api_calls->With({"list", resource, "informer"}).SetTotal(static_cast<double>(inf->lists()));
      metrics_->api_calls->With({"watch", resource, "informer"})
          .SetTotal(static_cast<double>(inf->watches()));
    };
    // Informers of one resource in several namespaces add up.
    double al = 0, aw = 0, sl = 0, sw = 0, cl = 0, cw = 0;
    for (const auto& i : agent_informers_) al += double(i->lists()), aw += double(i->watches());
    for (const auto& [ns, i] : secret_informers_) sl += double(i->lists()), sw += double(i->watches());
    for (const auto& [ns, i] : config_map_informers_) cl += double(i->lists()), cw += double(i->watches());
    metrics_->api_calls->With({"list", agents_resource_.plural, "informer"}).SetTotal(al);
    metrics_->api_calls->With({"watch", agents_resource_.plural, "informer"}).SetTotal(aw);
    metrics_->api_calls->With({"list", "secrets", "informer"}).SetTotal(sl);
    metrics_->api_calls->With({"watch", "secrets", "informer"}).SetTotal(sw);
    metrics_->api_calls->With({"list", "configmaps", "informer"}).SetTotal(cl);
    metrics_->api_calls->With({"watch", "configmaps", "informer"}).SetTotal(cw);
    mirror(pods_.get(), "pods");
    mirror(namespaces_.get(), "namespaces");
    mirror(nodes_.get(), "nodes");
    mirror(limit_ranges_.get(), "limitranges");
  });

  for (const auto& ns : options_.agent_namespaces) {
    agent_informers_.push_back(std::make_unique<kube::Informer>(
        client_, kube::InformerOptions{.resource = agents_resource_, .ns = ns},
        kube::InformerHandlers{.on_add = [this](const json& o) { queue_.Add(kube::ObjectKey(o)); },
                               .on_update =
                                   [this](const json& old_o, const json& o) {
                                     // Our own status writes change only status: nothing to do.
                                     const auto deleting = [](const json& x) {
                                       return At(At(x, "metadata"), "deletionTimestamp");
                                     };
                                     if (At(old_o, "spec") == At(o, "spec") &&
                                         deleting(old_o) == deleting(o) &&
                                         HasFinalizer(old_o) == HasFinalizer(o)) {
                                       return;
                                     }
                                     queue_.Add(kube::ObjectKey(o));
                                   },
                               .on_delete = [this](const json& o) { queue_.Add(kube::ObjectKey(o)); }}));
    auto on_ref = [this, ns](const json&) { EnqueueAgentsInNamespace(ns); };
    kube::InformerHandlers ref_handlers{.on_add = on_ref,
                                        .on_update = [on_ref](const json&, const json& o) { on_ref(o); },
                                        .on_delete = on_ref};
    secret_informers_[ns] = std::make_unique<kube::Informer>(
        client_, kube::InformerOptions{.resource = kube::resources::Secrets(), .ns = ns}, ref_handlers);
    config_map_informers_[ns] = std::make_unique<kube::Informer>(
        client_, kube::InformerOptions{.resource = kube::resources::ConfigMaps(), .ns = ns}, ref_handlers);
  }
  pods_ = std::make_unique<kube::Informer>(
      client_,
      kube::InformerOptions{.resource = kube::resources::Pods(), .label_selector = api::kInjectionLabel},
      kube::InformerHandlers{.on_add =
                                 [this](const json& p) {
                                   EnqueueForPod(p);
                                   MaybePodEvent(p);
                                 },
                             .on_update =
                                 [this](const json& old_p, const json& p) {
                                   CheckPendingUpgrade(p);
                                   if (LabelsOf(old_p) != LabelsOf(p) || PodActive(old_p) != PodActive(p) ||
                                       At(At(old_p, "metadata"), "annotations") !=
                                           At(At(p, "metadata"), "annotations")) {
                                     EnqueueForPod(old_p);
                                     EnqueueForPod(p);
                                   }
                                 },
                             .on_delete =
                                 [this](const json& p) {
                                   {
                                     std::lock_guard<std::mutex> lock(mu_);
                                     pending_upgrades_.erase(Str(At(p, "metadata"), "uid"));
                                   }
                                   EnqueueForPod(p);
                                 }});
  namespaces_ = std::make_unique<kube::Informer>(
      client_, kube::InformerOptions{.resource = kube::resources::Namespaces()},
      kube::InformerHandlers{.on_update = [this](const json& old_n, const json& n) {
        if (LabelsOf(old_n) != LabelsOf(n)) EnqueueAll();
      }});
  nodes_ = std::make_unique<kube::Informer>(
      client_, kube::InformerOptions{.resource = Nodes()},
      kube::InformerHandlers{.on_add = [this](const json&) { EnqueueAll(); },
                             .on_update =
                                 [this](const json& old_n, const json& n) {
                                   auto v = [](const json& x) {
                                     return Str(At(At(x, "status"), "nodeInfo"), "kubeletVersion");
                                   };
                                   if (v(old_n) != v(n)) EnqueueAll();
                                 },
                             .on_delete = [this](const json&) { EnqueueAll(); }});
  auto all = [this](const json&) { EnqueueAll(); };
  limit_ranges_ = std::make_unique<kube::Informer>(
      client_, kube::InformerOptions{.resource = LimitRanges()},
      kube::InformerHandlers{
          .on_add = all, .on_update = [all](const json&, const json& o) { all(o); }, .on_delete = all});
}

Controller::~Controller() {
  Stop();
}

void Controller::Start() {
  if (auto v = client_.GetPath("/version"); v.ok()) {
    apiserver_version_ = Str(*v, "gitVersion");
  } else {
    log::Warn("cannot read the API server version; native sidecars are treated as unavailable",
              {{"error", v.message()}});
  }
  for (auto& i : agent_informers_) i->Start();
  for (auto& [ns, i] : secret_informers_) i->Start();
  for (auto& [ns, i] : config_map_informers_) i->Start();
  pods_->Start();
  namespaces_->Start();
  nodes_->Start();
  limit_ranges_->Start();
  last_resync_ = std::chrono::steady_clock::now();
  worker_ = std::thread([this] { Worker(); });
  repair_thread_ = std::thread([this] { RepairLoop(); });
}

bool Controller::Synced() const {
  for (const auto& i : agent_informers_) {
    if (!i->HasSynced()) return false;
  }
  for (const auto& [ns, i] : secret_informers_) {
    if (!i->HasSynced()) return false;
  }
  for (const auto& [ns, i] : config_map_informers_) {
    if (!i->HasSynced()) return false;
  }
  return pods_->HasSynced() && namespaces_->HasSynced() && nodes_->HasSynced() && limit_ranges_->HasSynced();
}

bool Controller::WaitForSync(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!Synced()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void Controller::SetLeading(bool leading) {
  const bool was = leading_.exchange(leading);
  if (leading && !was) {
    log::Info("leading: reconciling every agent");
    {
      std::lock_guard<std::mutex> lock(mu_);
      known_.clear();  // another replica may have written meanwhile
    }
    EnqueueAll();
    repair_due_ = true;  // a new leader reports at once, not one interval later
    // Pods injected or skipped while no replica led: their events (names are
    // deterministic, so a repeat is an AlreadyExists, never a duplicate).
    for (const auto& pod : pods_->List()) MaybePodEvent(pod);
  }
}

void Controller::Stop() {
  if (stop_.exchange(true)) return;
  queue_.ShutDown();
  if (worker_.joinable()) worker_.join();
  if (repair_thread_.joinable()) repair_thread_.join();
  for (auto& i : agent_informers_) i->Stop();
  for (auto& [ns, i] : secret_informers_) i->Stop();
  for (auto& [ns, i] : config_map_informers_) i->Stop();
  if (pods_) pods_->Stop();
  if (namespaces_) namespaces_->Stop();
  if (nodes_) nodes_->Stop();
  if (limit_ranges_) limit_ranges_->Stop();
}

void Controller::EnqueueAgentsInNamespace(const std::string& ns) {
  for (const auto& i : agent_informers_) {
    for (const auto& o : i->List()) {
      if (kube::Namespace(o) == ns) queue_.Add(kube::ObjectKey(o));
    }
  }
}

void Controller::EnqueueAll() {
  for (const auto& i : agent_informers_) {
    for (const auto& o : i->List()) queue_.Add(kube::ObjectKey(o));
  }
}

void Controller::EnqueueForPod(const json& pod) {
  const auto labels = LabelsOf(pod);
  auto it = labels.find(api::kAgentLabel);
  if (it == labels.end()) return;
  for (const auto& i : agent_informers_) {
    for (const auto& o : i->List()) {
      if (LabelValueFor(kube::Namespace(o), kube::Name(o)) == it->second) queue_.Add(kube::ObjectKey(o));
    }
  }
}

void Controller::MaybePodEvent(const json& pod) {
  if (!leading_.load()) return;
  const json& md = At(pod, "metadata");
  if (AgeSeconds(Str(md, "creationTimestamp")) > options_.pod_event_max_age.count()) return;
  const auto labels = LabelsOf(pod);
  auto it = labels.find(api::kInjectionLabel);
  if (it == labels.end()) return;
  const std::string uid = Str(md, "uid");
  const std::string suffix = "." + uid.substr(0, std::min<size_t>(8, uid.size()));
  json involved = {{"apiVersion", "v1"},
                   {"kind", "Pod"},
                   {"name", Str(md, "name")},
                   {"namespace", Str(md, "namespace")},
                   {"uid", uid}};
  if (it->second == "injected") {
    auto agent = labels.count(api::kAgentLabel) ? labels.at(api::kAgentLabel) : std::string();
    EmitEvent(involved, "Normal", "Injected", "promsidecar agent injected (agent " + agent + ")",
              Str(md, "name") + suffix + ".injected");
  } else if (it->second == "skipped") {
    const std::string reason = Str(At(md, "annotations"), api::kSkipReasonAnnotation);
    EmitEvent(involved, "Warning", "InjectionSkipped",
              "promsidecar agent not injected: " + (reason.empty() ? std::string("no reason given") : reason),
              Str(md, "name") + suffix + ".skipped");
  }
}

void Controller::CountCall(const std::string& verb, const std::string& resource, bool ok) {
  metrics_->api_calls->With({verb, resource, ok ? "ok" : "error"}).Inc();
}

void Controller::EmitEvent(const json& involved, const std::string& type, const std::string& reason,
                           const std::string& message, const std::string& name_hint) {
  const std::string now = Now();
  const std::string ns = Str(involved, "namespace");
  std::string name = name_hint;
  if (name.empty()) {
    char buf[32];
    std::snprintf(
        buf, sizeof buf, "%llx",
        static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count()));
    name = Str(involved, "name") + "." + buf;
  }
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"involvedObject", involved},
                {"type", type},
                {"reason", reason},
                {"message", message},
                {"source", {{"component", kComponent}}},
                {"reportingComponent", kComponent},
                {"firstTimestamp", now},
                {"lastTimestamp", now},
                {"count", 1}};
  auto r = client_.Create(kube::resources::Events(), ns, event);
  CountCall("create", "events", r.ok() || kube::IsAlreadyExists(r.error()));
  if (!r.ok() && !kube::IsAlreadyExists(r.error())) {
    log::Warn("cannot create event",
              {{"reason", reason}, {"object", ns + "/" + Str(involved, "name")}, {"error", r.message()}});
  }
}

kube::Informer* Controller::SecretsIn(const std::string& ns) {
  auto it = secret_informers_.find(ns);
  return it == secret_informers_.end() ? nullptr : it->second.get();
}

kube::Informer* Controller::ConfigMapsIn(const std::string& ns) {
  auto it = config_map_informers_.find(ns);
  return it == config_map_informers_.end() ? nullptr : it->second.get();
}

inject::ClusterFacts Controller::FactsFor(const std::string& ns) const {
  inject::ClusterFacts facts = BaseFacts();
  AddNamespaceFacts(ns, &facts);
  return facts;
}

inject::ClusterFacts Controller::BaseFacts() const {
  inject::ClusterFacts facts;
  facts.settings = options_.settings;
  facts.apiserver_version = apiserver_version_;
  for (const auto& i : agent_informers_) {
    for (const auto& o : i->List()) {
      if (auto a = api::ParseAgent(o); a.ok()) facts.agents.push_back(std::move(*a));
    }
  }
  for (const auto& n : nodes_->List()) {
    facts.node_kubelet_versions.push_back(Str(At(At(n, "status"), "nodeInfo"), "kubeletVersion"));
  }
  return facts;
}

void Controller::AddNamespaceFacts(const std::string& ns, inject::ClusterFacts* facts) const {
  facts->namespace_labels.clear();
  facts->limit_ranges.clear();
  if (auto n = namespaces_->Get("", ns)) facts->namespace_labels = LabelsOf(*n);
  for (const auto& lr : limit_ranges_->List()) {
    if (kube::Namespace(lr) == ns) facts->limit_ranges.push_back(lr);
  }
}

void Controller::Worker() {
  while (!stop_.load()) {
    if (leading_.load() && std::chrono::steady_clock::now() - last_resync_ > options_.resync_period) {
      last_resync_ = std::chrono::steady_clock::now();
      {
        std::lock_guard<std::mutex> lock(mu_);
        known_.clear();
      }
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
    Status s = Reconcile(*key);
    metrics_->reconciles->Inc();
    if (s.ok()) {
      queue_.Forget(*key);
    } else {
      metrics_->errors->Inc();
      log::Warn("reconcile failed; retrying",
                {{"agent", *key}, {"error", s.message()}, {"retry", queue_.Failures(*key) + 1}});
      queue_.AddRateLimited(*key);
    }
    queue_.Done(*key);
  }
}

Status Controller::DeleteSecret(const std::string& ns, const std::string& name) {
  auto r = client_.Delete(kube::resources::Secrets(), ns, name);
  const bool ok = r.ok() || kube::IsNotFound(r.error());
  CountCall("delete", "secrets", ok);
  if (!ok) return MakeError("deleting Secret " + ns + "/" + name + ": " + r.message());
  if (r.ok()) {
    metrics_->secret_writes->Inc();
    log::Info("deleted rendered Secret", {{"namespace", ns}, {"name", name}});
  }
  return {};
}

Status Controller::EnsureSecret(const std::string& key, const api::Agent& agent, const json& desired,
                                const std::string& hash, bool* wrote) {
  *wrote = false;
  const std::string ns = kube::Namespace(desired);
  const std::string name = kube::Name(desired);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto a = known_.find(key);
    if (a != known_.end()) {
      auto n = a->second.find(ns);
      if (n != a->second.end() && n->second == hash) return {};
    }
  }
  auto current = client_.Get(kube::resources::Secrets(), ns, name);
  CountCall("get", "secrets", current.ok() || kube::IsNotFound(current.error()));
  if (!current.ok()) {
    if (!kube::IsNotFound(current.error()))
      return MakeError("reading Secret " + ns + "/" + name + ": " + current.message());
    auto created = client_.Create(kube::resources::Secrets(), ns, desired);
    CountCall("create", "secrets", created.ok());
    if (!created.ok()) return MakeError("creating Secret " + ns + "/" + name + ": " + created.message());
    *wrote = true;
  } else {
    const json& md = At(*current, "metadata");
    if (Str(At(md, "labels"), api::kAgentLabel) != agent.LabelValue()) {
      return MakeError("Secret " + ns + "/" + name +
                       " exists and was not rendered by promsidecar-operator for " + agent.Ref() +
                       " (rename or delete it)");
    }
    const bool same = Str(At(md, "annotations"), render::kDataHashAnnotation) == hash &&
                      render::SecretData(*current) == render::SecretData(desired) &&
                      At(md, "labels") == At(At(desired, "metadata"), "labels");
    if (!same) {
      json update = desired;
      update["metadata"]["resourceVersion"] = kube::ResourceVersion(*current);
      auto updated = client_.Update(kube::resources::Secrets(), update);
      CountCall("update", "secrets", updated.ok());
      if (!updated.ok()) return MakeError("updating Secret " + ns + "/" + name + ": " + updated.message());
      *wrote = true;
    }
  }
  if (*wrote) {
    metrics_->secret_writes->Inc();
    log::Info("rendered Secret written", {{"agent", agent.Ref()}, {"namespace", ns}, {"hash", hash}});
  }
  std::lock_guard<std::mutex> lock(mu_);
  known_[key][ns] = hash;
  return {};
}

Status Controller::Finalize(const api::Agent& agent, const json& object) {
  const std::string key = agent.namespace_ + "/" + agent.name;
  if (!HasFinalizer(object)) return {};
  std::set<std::string> namespaces;
  for (const auto& ns : StringList(At(At(object, "status"), "renderedNamespaces"))) namespaces.insert(ns);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [ns, h] : known_[key]) namespaces.insert(ns);
  }
  for (const auto& ns : namespaces) {
    if (Status s = DeleteSecret(ns, api::SharedConfigSecretName(agent)); !s) return s;
  }
  json updated = object;
  json kept = json::array();
  for (const auto& f : updated["metadata"]["finalizers"]) {
    if (f != kFinalizer) kept.push_back(f);
  }
  updated["metadata"]["finalizers"] = kept;
  auto r = client_.Update(agents_resource_, updated);
  CountCall("update", agents_resource_.plural, r.ok());
  if (!r.ok() && !kube::IsNotFound(r.error())) {
    return MakeError("removing the finalizer of " + agent.Ref() + ": " + r.message());
  }
  std::lock_guard<std::mutex> lock(mu_);
  known_.erase(key);
  log::Info("agent deleted: rendered Secrets removed",
            {{"agent", agent.Ref()}, {"namespaces", static_cast<int64_t>(namespaces.size())}});
  return {};
}

Status Controller::Reconcile(const std::string& key) {
  const auto slash = key.find('/');
  if (slash == std::string::npos) return MakeError("bad key " + key);
  const std::string agent_ns = key.substr(0, slash);
  const std::string agent_name = key.substr(slash + 1);
  std::optional<json> object;
  for (const auto& i : agent_informers_) {
    if (!object) object = i->Get(agent_ns, agent_name);
  }
  if (!object) {
    std::lock_guard<std::mutex> lock(mu_);
    known_.erase(key);
    return {};
  }
  auto parsed = api::ParseAgent(*object);
  if (!parsed) {
    log::Warn("cannot read agent; not reconciled", {{"agent", key}, {"error", parsed.message()}});
    return {};
  }
  const api::Agent& agent = *parsed;
  if (!agent.is_sidecar()) return {};  // other modes belong to prometheus-operator
  if (!At(At(*object, "metadata"), "deletionTimestamp").is_null()) return Finalize(agent, *object);

  if (!HasFinalizer(*object)) {
    json updated = *object;
    if (!updated["metadata"]["finalizers"].is_array()) updated["metadata"]["finalizers"] = json::array();
    updated["metadata"]["finalizers"].push_back(kFinalizer);
    auto r = client_.Update(agents_resource_, updated);
    CountCall("update", agents_resource_.plural, r.ok());
    if (!r.ok()) return MakeError("adding the finalizer to " + agent.Ref() + ": " + r.message());
    object = *r;
  }

  // Pods injected by this agent, by namespace; only admitted namespaces count.
  std::map<std::string, std::vector<json>> pods_by_ns;
  const std::string label_value = agent.LabelValue();
  for (const auto& pod : pods_->List()) {
    const auto labels = LabelsOf(pod);
    auto a = labels.find(api::kAgentLabel);
    auto i = labels.find(api::kInjectionLabel);
    if (a == labels.end() || a->second != label_value || i == labels.end() || i->second != "injected")
      continue;
    if (!PodActive(pod)) continue;
    pods_by_ns[kube::Namespace(pod)].push_back(pod);
  }
  AgentStatus status;
  status.observed_generation = agent.generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto u = uninjected_.find(key);
    status.uninjected_pods = u == uninjected_.end() ? 0 : u->second;
  }
  std::vector<OutdatedPod> outdated;
  std::set<std::string> desired;
  for (const auto& [ns, pods] : pods_by_ns) {
    api::Labels ns_labels;
    bool terminating = false;
    if (auto n = namespaces_->Get("", ns)) {
      ns_labels = LabelsOf(*n);
      terminating = !At(At(*n, "metadata"), "deletionTimestamp").is_null();
    }
    // A namespace being deleted refuses new objects; its pods are going away.
    if (terminating) continue;
    if (!NamespaceAdmitted(agent, ns, ns_labels)) {
      log::Debug("pods carry the agent's label in a namespace it does not admit; no Secret rendered",
                 {{"agent", agent.Ref()}, {"namespace", ns}});
      continue;
    }
    desired.insert(ns);
    const auto facts = FactsFor(ns);
    for (const auto& pod : pods) {
      ++status.injected_pods;
      PodCheck check = CheckInjectedPod(pod, facts);
      if (check.drift == PodDrift::kCurrent) continue;
      ++status.outdated_pods;
      outdated.push_back({pod, std::move(check)});
    }
  }

  render::ReferencedObjects refs;
  if (kube::Informer* secrets = SecretsIn(agent.namespace_)) {
    for (const auto& name : render::ReferencedSecretNames(agent)) {
      if (auto s = secrets->Get(agent.namespace_, name)) refs.secrets[name] = render::SecretData(*s);
    }
  }
  if (kube::Informer* cms = ConfigMapsIn(agent.namespace_)) {
    for (const auto& name : render::ReferencedConfigMapNames(agent)) {
      if (auto c = cms->Get(agent.namespace_, name)) refs.config_maps[name] = render::ConfigMapData(*c);
    }
  }
  const json& old_status = At(*object, "status");
  std::set<std::string> previous;
  for (const auto& ns : StringList(At(old_status, "renderedNamespaces"))) previous.insert(ns);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [ns, h] : known_[key]) previous.insert(ns);
  }

  auto rendered = render::RenderSharedConfig(agent, refs, "");
  std::set<std::string> rendered_into;
  std::vector<std::string> written;
  // One namespace that refuses the write must not keep the others stale:
  // the first failure is returned (and retried) after every namespace had its turn.
  Status write_failure;
  if (rendered.ok()) {
    for (const auto& ns : desired) {
      render::RenderedSecret r = *rendered;
      r.namespace_ = ns;
      bool wrote = false;
      if (Status s = EnsureSecret(key, agent, render::SecretObject(agent, r), r.data_hash, &wrote); !s) {
        log::Warn("cannot write the rendered Secret; other namespaces go on",
                  {{"agent", agent.Ref()}, {"namespace", ns}, {"error", s.message()}});
        if (write_failure.ok()) write_failure = s;
        if (previous.count(ns)) rendered_into.insert(ns);
        continue;
      }
      rendered_into.insert(ns);
      if (wrote) written.push_back(ns);
    }
  } else {
    // Keep the last good Secrets where they are still needed.
    for (const auto& ns : desired) {
      if (previous.count(ns)) rendered_into.insert(ns);
    }
  }
  for (const auto& ns : previous) {
    if (desired.count(ns)) continue;
    if (Status s = DeleteSecret(ns, api::SharedConfigSecretName(agent)); !s) return s;
    std::lock_guard<std::mutex> lock(mu_);
    known_[key].erase(ns);
  }
  status.rendered_namespaces.assign(rendered_into.begin(), rendered_into.end());
  status.namespaces = static_cast<int>(desired.size());

  const json involved = {{"apiVersion", Str(*object, "apiVersion")},
                         {"kind", api::kAgentKind},
                         {"name", agent.name},
                         {"namespace", agent.namespace_},
                         {"uid", Str(At(*object, "metadata"), "uid")}};
  if (rendered.ok()) {
    status.conditions.push_back(
        {"Reconciled", "True", "ConfigRendered",
         "config rendered into " + std::to_string(rendered_into.size()) + " namespace(s)"});
    status.conditions.push_back({"Available", "True", "SecretsCurrent",
                                 std::to_string(status.injected_pods) + " injected pod(s) in " +
                                     std::to_string(rendered_into.size()) +
                                     " namespace(s) have the current config"});
    if (!written.empty()) {
      std::string list;
      for (const auto& ns : written) list += (list.empty() ? "" : ", ") + ns;
      EmitEvent(involved, "Normal", "ConfigRendered", "shared config written to namespace(s): " + list);
    }
  } else {
    status.conditions.push_back({"Reconciled", "False", "ConfigRenderFailed", rendered.message()});
    status.conditions.push_back({"Available", "False", "ConfigRenderFailed", rendered.message()});
    // One event per distinct failure, not one per reconcile.
    bool same_failure = false;
    const json& conds = At(old_status, "conditions");
    if (conds.is_array()) {
      for (const auto& c : conds) {
        if (Str(c, "type") == "Reconciled" && Str(c, "reason") == "ConfigRenderFailed" &&
            Str(c, "message") == rendered.message()) {
          same_failure = true;
        }
      }
    }
    if (!same_failure) EmitEvent(involved, "Warning", "ConfigRenderFailed", rendered.message());
  }

  json new_status = StatusJson(status, old_status, Now());
  if (!StatusEquivalent(new_status, old_status)) {
    json updated = *object;
    updated["status"] = new_status;
    auto r = client_.UpdateStatus(agents_resource_, updated);
    CountCall("update", agents_resource_.plural + "/status", r.ok());
    if (!r.ok()) return MakeError("writing the status of " + agent.Ref() + ": " + r.message());
  }
  if (!outdated.empty() && !agent.paused) ApplyUpdateStrategy(key, agent, involved, outdated);
  return write_failure;
}

}  // namespace promsidecar::controller
