#include "operator/inject/inject.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "common/util/hash.h"
#include "common/util/port_ref.h"
#include "common/util/units.h"
#include "operator/api/quantity.h"
#include "operator/api/security_context.h"
#include "operator/api/well_known.h"

namespace promsidecar::inject {
namespace {

using nlohmann::json;

constexpr int64_t kMi = int64_t{1} << 20;
// Room for the agent's logs and temporary files on top of the WAL's emptyDir.
constexpr int64_t kEphemeralHeadroom = 32 * kMi;
// Below these the agent cannot do its job: skip rather than inject a sidecar
// that OOMs or evicts the pod.
constexpr int64_t kMinMemoryLimit = 24 * kMi;
constexpr int64_t kMinWalEmptyDir = 16 * kMi;

const char* const kResourceNames[] = {"cpu", "memory", "ephemeral-storage"};

// ---------- small JSON helpers ----------

const json& Get(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string GetString(const json& obj, const char* key) {
  const json& v = Get(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

api::Labels StringMap(const json& obj) {
  api::Labels out;
  if (!obj.is_object()) return out;
  for (const auto& [k, v] : obj.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

// The hash of a JSON value's compact serialisation (json::dump()), fed to
// the hash as it is written instead of into a string first. The legacy basis
// keeps the injected-hash annotation of pods already in clusters (see
// common/util/hash.h).
class HashWriter final : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  void write_character(char c) override { h_.AddByte(static_cast<unsigned char>(c)); }
  void write_characters(const char* s, std::size_t length) override { h_.Add(std::string_view(s, length)); }
  uint64_t value() const { return h_.value(); }

 private:
  Fnv1a64 h_{kLegacyTruncatedFnv1a64Basis};
};

std::string HashHexOfDump(const json& value) {
  auto writer = std::make_shared<HashWriter>();
  nlohmann::detail::serializer<json> serializer(writer, ' ', json::error_handler_t::strict);
  serializer.dump(value, false, false, 0);
  return HashHex(writer->value());
}

// The tag of an image reference ("repo/x:v1.2" → "v1.2"), or its digest.
std::string ImageVersion(const std::string& image) {
  if (size_t at = image.find('@'); at != std::string::npos) return image.substr(at + 1);
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
    return image.substr(colon + 1);
  return "latest";
}

// ---------- the decision's vocabulary ----------

InjectionResult NotApplicable(std::string reason, std::string message) {
  InjectionResult r;
  r.outcome = Outcome::kNotApplicable;
  r.reason = std::move(reason);
  r.message = std::move(message);
  return r;
}

class PatchBuilder {
 public:
  // Values are moved in: a brace-initialised json would copy them again, and
  // the injected containers are most of a review's work.
  void Add(std::string path, json value) {
    json op = json::object();
    op["op"] = "add";
    op["path"] = std::move(path);
    op["value"] = std::move(value);
    ops_.push_back(std::move(op));
  }
  void Remove(const std::string& path) { ops_.push_back({{"op", "remove"}, {"path", path}}); }
  void Move(const std::string& from, const std::string& path) {
    ops_.push_back({{"op", "move"}, {"from", from}, {"path", path}});
  }
  // Sets keys of metadata.<field> (labels/annotations), creating the map when
  // absent; values already equal produce no operation.
  void SetMetadataMap(const json& pod, const char* field, const std::map<std::string, std::string>& values,
                      const std::vector<std::string>& remove = {}) {
    const json& existing = Get(Get(pod, "metadata"), field);
    if (!existing.is_object()) {
      if (values.empty()) return;
      json m = json::object();
      for (const auto& [k, v] : values) m[k] = v;
      Add(std::string("/metadata/") + field, m);
      return;
    }
    for (const auto& [k, v] : values) {
      auto it = existing.find(k);
      if (it != existing.end() && *it == v) continue;
      Add(std::string("/metadata/") + field + "/" + EscapeJsonPointer(k), v);
    }
    for (const std::string& k : remove) {
      if (existing.contains(k)) Remove(std::string("/metadata/") + field + "/" + EscapeJsonPointer(k));
    }
  }
  // Appends items to spec.<field>, creating the list when absent.
  void AppendList(const json& pod, const char* field, json::array_t items) {
    if (items.empty()) return;
    const json& existing = Get(Get(pod, "spec"), field);
    if (!existing.is_array()) {
      Add(std::string("/spec/") + field, json(std::move(items)));
      return;
    }
    for (json& item : items) Add(std::string("/spec/") + field + "/-", std::move(item));
  }
  json Build() { return std::move(ops_); }

 private:
  json ops_ = json::array();
};

InjectionResult Skip(const json& pod, std::string reason, std::string message,
                     const std::string& agent = "") {
  InjectionResult r;
  r.outcome = Outcome::kSkipped;
  r.reason = reason;
  r.message = message;
  r.agent = agent;
  r.warnings.push_back("promsidecar: metrics sidecar not injected (" + reason + "): " + message);
  PatchBuilder patch;
  if (!Get(pod, "metadata").is_object()) patch.Add("/metadata", json::object());
  patch.SetMetadataMap(pod, "labels", {{api::kInjectionLabel, "skipped"}});
  patch.SetMetadataMap(pod, "annotations", {{api::kSkipReasonAnnotation, reason + ": " + message}});
  r.patch = patch.Build();
  return r;
}

// ---------- agent selection ----------

struct Selection {
  const api::Agent* agent = nullptr;
  std::string reason;  // set when no agent was selected
  std::string message;
  std::vector<std::string> warnings;
};

Selection SelectAgent(const std::string& selector, const std::string& ns,
                      const std::vector<api::Agent>& agents) {
  Selection s;
  if (!selector.empty()) {
    std::string want_ns = ns;
    std::string want_name = selector;
    if (size_t slash = selector.find('/'); slash != std::string::npos) {
      want_ns = selector.substr(0, slash);
      want_name = selector.substr(slash + 1);
    }
    if (want_ns.empty() || want_name.empty() || want_name.find('/') != std::string::npos) {
      s.reason = "BadAgentSelector";
      s.message = std::string("annotation ") + api::kAgentSelectorAnnotation + " is \"" + selector +
                  "\"; use \"<namespace>/<name>\" or \"<name>\" of a PrometheusAgent";
      return s;
    }
    for (const api::Agent& a : agents) {
      if (a.namespace_ != want_ns || a.name != want_name) continue;
      if (!a.is_sidecar()) {
        s.reason = "AgentNotSidecar";
        s.message = "PrometheusAgent " + a.Ref() + " is in mode " +
                    (a.mode_text.empty() ? std::string("StatefulSet") : a.mode_text) + ", not Sidecar";
        return s;
      }
      s.agent = &a;
      return s;
    }
    s.reason = "AgentNotFound";
    s.message = "PrometheusAgent " + want_ns + "/" + want_name + " named by " +
                api::kAgentSelectorAnnotation + " does not exist";
    return s;
  }
  std::vector<const api::Agent*> local;
  std::vector<const api::Agent*> defaults;
  for (const api::Agent& a : agents) {
    if (!a.is_sidecar()) continue;
    if (a.namespace_ == ns) local.push_back(&a);
    if (a.sidecar.is_default) defaults.push_back(&a);
  }
  auto by_ref = [](const api::Agent* x, const api::Agent* y) { return x->Ref() < y->Ref(); };
  if (local.size() == 1) {
    s.agent = local[0];
    return s;
  }
  if (local.size() > 1) {
    std::sort(local.begin(), local.end(), by_ref);
    std::string names;
    for (const api::Agent* a : local) names += (names.empty() ? "" : ", ") + a->name;
    s.reason = "AmbiguousAgent";
    s.message = "namespace " + ns + " has " + std::to_string(local.size()) + " Sidecar PrometheusAgents (" +
                names + "); name one with the annotation " + api::kAgentSelectorAnnotation;
    return s;
  }
  if (defaults.empty()) {
    s.reason = "NoAgent";
    s.message =
        "no Sidecar PrometheusAgent in namespace " + ns + " and no cluster default (spec.sidecar.default)";
    return s;
  }
  std::sort(defaults.begin(), defaults.end(), by_ref);
  if (defaults.size() > 1) {
    s.warnings.push_back("promsidecar: " + std::to_string(defaults.size()) +
                         " PrometheusAgents claim spec.sidecar.default; using " + defaults[0]->Ref());
  }
  s.agent = defaults[0];
  return s;
}

bool Admits(const api::Agent& agent, const std::string& ns, const api::Labels& ns_labels) {
  if (!agent.sidecar.namespace_selector) return ns == agent.namespace_;
  api::Labels labels = ns_labels;
  labels.emplace("kubernetes.io/metadata.name", ns);  // the API server sets it on every namespace
  return api::Matches(*agent.sidecar.namespace_selector, labels);
}

// ---------- pod properties ----------

bool IsWindowsPod(const json& spec) {
  if (GetString(Get(spec, "nodeSelector"), "kubernetes.io/os") == "windows") return true;
  if (GetString(Get(spec, "os"), "name") == "windows") return true;
  const json& terms =
      Get(Get(Get(Get(spec, "affinity"), "nodeAffinity"), "requiredDuringSchedulingIgnoredDuringExecution"),
          "nodeSelectorTerms");
  if (!terms.is_array() || terms.empty()) return false;
  // Windows-only when every term requires kubernetes.io/os In [windows].
  for (const json& term : terms) {
    bool windows = false;
    for (const json& e :
         Get(term, "matchExpressions").is_array() ? Get(term, "matchExpressions") : json::array()) {
      if (GetString(e, "key") == "kubernetes.io/os" && GetString(e, "operator") == "In" &&
          Get(e, "values") == json::array({"windows"})) {
        windows = true;
      }
    }
    if (!windows) return false;
  }
  return true;
}

bool IsJobPod(const json& pod) {
  const json& meta = Get(pod, "metadata");
  const json& owners = Get(meta, "ownerReferences");
  if (owners.is_array()) {
    for (const json& o : owners) {
      std::string kind = GetString(o, "kind");
      if (kind == "Job" || kind == "CronJob") return true;
    }
  }
  const json& labels = Get(meta, "labels");
  return labels.is_object() &&
         (labels.contains("batch.kubernetes.io/job-name") || labels.contains("job-name"));
}

std::vector<std::string> ContainerNames(const json& spec) {
  std::vector<std::string> names;
  for (const char* field : {"initContainers", "containers", "ephemeralContainers"}) {
    const json& list = Get(spec, field);
    if (!list.is_array()) continue;
    for (const json& c : list) names.push_back(GetString(c, "name"));
  }
  return names;
}

bool AtLeast129(const std::string& version) {
  int major = 0;
  int minor = 0;
  if (!ParseKubeVersion(version, &major, &minor)) return false;
  return major > 1 || (major == 1 && minor >= 29);
}

// The named TCP ports the agent may scrape: those of the app containers and of
// native sidecars (init containers with restartPolicy Always, which keep
// running). A plain init container has exited before the first scrape.
std::vector<ports::NamedPort> ScrapeableNamedPorts(const json& spec) {
  std::vector<ports::NamedPort> out;
  for (const char* field : {"initContainers", "containers"}) {
    const json& list = Get(spec, field);
    if (!list.is_array()) continue;
    for (const json& c : list) {
      if (std::string_view(field) == "initContainers" && GetString(c, "restartPolicy") != "Always") continue;
      const json& container_ports = Get(c, "ports");
      if (!container_ports.is_array()) continue;
      for (const json& p : container_ports) {
        // The agent scrapes over TCP; a UDP or SCTP port of the same name is no target.
        if (const std::string protocol = GetString(p, "protocol"); !protocol.empty() && protocol != "TCP")
          continue;
        const json& number = Get(p, "containerPort");
        std::string name = GetString(p, "name");
        if (name.empty() || !number.is_number_integer()) continue;
        out.push_back({std::move(name), number.get<int>()});
      }
    }
  }
  return out;
}

// Checks the port names of the pod's scrape-port annotation against its
// containers. Only names: a bad number is the agent's to report, as it has
// always been. Returns a skip message when no port is left to scrape because
// of a name, and adds a warning for every name that does not resolve.
std::optional<std::string> CheckPortNames(const api::Labels& annotations, bool legacy,
                                          const std::vector<ports::NamedPort>& named,
                                          std::vector<std::string>* warnings) {
  std::string key = api::kPortAnnotation;
  auto it = annotations.find(key);
  if (it == annotations.end() && legacy) {
    key = api::kLegacyPortAnnotation;
    it = annotations.find(key);
  }
  if (it == annotations.end()) return std::nullopt;
  bool resolved = false;
  std::string first_problem;
  for (const std::string& part : ports::SplitPortList(it->second)) {
    ports::PortRef ref = ports::Resolve(part, named);
    if (ref.error == ports::PortError::kNone) resolved = true;
    if (ref.error != ports::PortError::kUnknownName && ref.error != ports::PortError::kAmbiguousName)
      continue;
    std::string what = "annotation " + key + ": " + ports::ShowPart(part) + " " + ref.problem;
    warnings->push_back("promsidecar: " + what + "; the agent skips that target");
    if (first_problem.empty()) first_problem = std::move(what);
  }
  if (resolved || first_problem.empty()) return std::nullopt;
  return first_problem + "; no port is left to scrape";
}

struct NativeDecision {
  bool native = false;
  std::string why;
};

NativeDecision DecideNative(const json& pod, const api::Agent& agent, const ClusterFacts& facts,
                            std::vector<std::string>* warnings) {
  std::string override_text =
      GetString(Get(Get(pod, "metadata"), "annotations"), api::kNativeSidecarAnnotation);
  api::NativeSidecarMode mode = agent.sidecar.native_sidecar;
  std::string source = "spec.sidecar.nativeSidecar of " + agent.Ref();
  if (override_text == "always" || override_text == "true") {
    mode = api::NativeSidecarMode::kAlways;
    source = std::string("pod annotation ") + api::kNativeSidecarAnnotation;
  } else if (override_text == "never" || override_text == "false") {
    mode = api::NativeSidecarMode::kNever;
    source = std::string("pod annotation ") + api::kNativeSidecarAnnotation;
  } else if (!override_text.empty() && override_text != "auto") {
    warnings->push_back(std::string("promsidecar: annotation ") + api::kNativeSidecarAnnotation + " is \"" +
                        override_text + "\"; expected always, never or auto; using the agent's setting");
  }
  if (mode == api::NativeSidecarMode::kAlways) return {true, source + " is always"};
  if (mode == api::NativeSidecarMode::kNever) return {false, source + " is never"};
  if (!AtLeast129(facts.apiserver_version)) {
    return {false, "the API server (" +
                       (facts.apiserver_version.empty() ? "unknown version" : facts.apiserver_version) +
                       ") is older than 1.29"};
  }
  for (const std::string& v : facts.node_kubelet_versions) {
    if (!AtLeast129(v)) return {false, "a Node's kubelet (" + v + ") is older than 1.29"};
  }
  return {true, "the API server and every kubelet are 1.29 or newer"};
}

// ---------- resources ----------

struct ResourceValues {
  std::map<std::string, int64_t> requests;  // milli-units
  std::map<std::string, int64_t> limits;
};

struct Constraints {
  std::map<std::string, int64_t> min, max;
  std::map<std::string, double> ratio;
  std::map<std::string, std::string> source;  // resource → LimitRange name, for messages
};

Constraints CollectConstraints(const std::vector<json>& limit_ranges, std::vector<std::string>* warnings) {
  Constraints c;
  for (const json& lr : limit_ranges) {
    std::string name = GetString(Get(lr, "metadata"), "name");
    const json& limits = Get(Get(lr, "spec"), "limits");
    if (!limits.is_array()) continue;
    for (const json& item : limits) {
      if (GetString(item, "type") != "Container") continue;
      for (const char* res : kResourceNames) {
        auto read = [&](const char* field) -> std::optional<int64_t> {
          const json& v = Get(Get(item, field), res);
          if (v.is_null()) return std::nullopt;
          auto q = api::ParseQuantityMilli(v.is_string() ? v.get<std::string>() : v.dump());
          if (!q) {
            warnings->push_back("promsidecar: LimitRange " + name + " has an unreadable " + field + "." +
                                res + "; ignored");
            return std::nullopt;
          }
          return *q;
        };
        if (auto v = read("max")) {
          if (!c.max.count(res) || *v < c.max[res]) c.max[res] = *v, c.source[res] = name;
        }
        if (auto v = read("min")) {
          if (!c.min.count(res) || *v > c.min[res]) c.min[res] = *v, c.source[res] = name;
        }
        if (auto v = read("maxLimitRequestRatio")) {
          double r = static_cast<double>(*v) / 1000.0;
          if (!c.ratio.count(res) || r < c.ratio[res]) c.ratio[res] = r, c.source[res] = name;
        }
      }
    }
  }
  return c;
}

// Clamps request and limit of each resource into the LimitRanges' bounds.
// Fails with the reason when no value satisfies them.
Status Clamp(const Constraints& c, ResourceValues* rv, std::vector<std::string>* changes) {
  for (const char* res : kResourceNames) {
    int64_t& req = rv->requests[res];
    int64_t& lim = rv->limits[res];
    const int64_t old_req = req;
    const int64_t old_lim = lim;
    auto src = [&]() {
      return c.source.count(res) ? "LimitRange " + c.source.at(res) : std::string("LimitRange");
    };
    auto fmt = [&](int64_t v) { return api::FormatQuantityMilli(res, v); };
    std::optional<int64_t> max = c.max.count(res) ? std::optional<int64_t>(c.max.at(res)) : std::nullopt;
    std::optional<int64_t> min = c.min.count(res) ? std::optional<int64_t>(c.min.at(res)) : std::nullopt;
    if (max && min && *min > *max) {
      return MakeError(src() + " allows " + res + " only between " + fmt(*min) + " and " + fmt(*max) +
                       ", which is empty");
    }
    if (max) {
      lim = std::min(lim, *max);
      req = std::min(req, lim);
    }
    if (min) {
      req = std::max(req, *min);
      lim = std::max(lim, req);
    }
    if (c.ratio.count(res)) {
      double ratio = c.ratio.at(res);
      if (ratio < 1.0) return MakeError(src() + " sets maxLimitRequestRatio for " + res + " below 1");
      // limit/request ≤ ratio: raise the request (never above the limit).
      auto need = static_cast<int64_t>(static_cast<double>(lim) / ratio);
      while (static_cast<double>(lim) > static_cast<double>(need) * ratio) ++need;
      req = std::min(lim, std::max(req, need));
    }
    if (req != old_req || lim != old_lim) {
      changes->push_back(res + std::string(" ") + fmt(old_req) + "/" + fmt(old_lim) + " → " + fmt(req) + "/" +
                         fmt(lim) + " (" + src() + ")");
    }
  }
  return {};
}

json ResourcesJson(const ResourceValues& rv) {
  json out = {{"requests", json::object()}, {"limits", json::object()}};
  for (const char* res : kResourceNames) {
    out["requests"][res] = api::FormatQuantityMilli(res, rv.requests.at(res));
    out["limits"][res] = api::FormatQuantityMilli(res, rv.limits.at(res));
  }
  return out;
}

// Defaults, then the agent's spec.sidecar.resources per key.
ResourceValues BaseResources(const json& overrides, int64_t cpu_req, int64_t cpu_lim, int64_t mem_req,
                             int64_t mem_lim, int64_t eph) {
  ResourceValues rv;
  rv.requests = {{"cpu", cpu_req}, {"memory", mem_req * 1000}, {"ephemeral-storage", eph * 1000}};
  rv.limits = {{"cpu", cpu_lim}, {"memory", mem_lim * 1000}, {"ephemeral-storage", eph * 1000}};
  if (!overrides.is_object()) return rv;
  for (const char* res : kResourceNames) {
    auto read = [&](const char* part) -> std::optional<int64_t> {
      const json& v = Get(Get(overrides, part), res);
      if (v.is_null()) return std::nullopt;
      auto q = api::ParseQuantityMilli(v.is_string() ? v.get<std::string>() : v.dump());
      return q ? std::optional<int64_t>(*q) : std::nullopt;
    };
    auto req = read("requests");
    auto lim = read("limits");
    if (req) rv.requests[res] = *req;
    if (lim) rv.limits[res] = *lim;
    if (req && !lim && rv.limits[res] < *req) rv.limits[res] = *req;
    if (lim && !req && rv.requests[res] > *lim) rv.requests[res] = *lim;
  }
  return rv;
}

// ---------- what is injected ----------

// The fixed parts of every injected container are built once and copied:
// building them from initializer lists costs several times a copy.
json DownwardEnv() {
  static const json kEnv = [] {
    json env = json::array();
    for (const auto& [name, path] :
         std::vector<std::pair<const char*, const char*>>{{"POD_NAME", "metadata.name"},
                                                          {"POD_NAMESPACE", "metadata.namespace"},
                                                          {"POD_UID", "metadata.uid"},
                                                          {"POD_IP", "status.podIP"},
                                                          {"NODE_NAME", "spec.nodeName"}}) {
      env.push_back(
          {{"name", name}, {"valueFrom", {{"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", path}}}}}});
    }
    return env;
  }();
  return kEnv;
}

json Mount(const char* volume, const char* path, bool read_only) {
  json m = {{"name", volume}, {"mountPath", path}};
  if (read_only) m["readOnly"] = true;
  return m;
}

// The pod's terminationGracePeriodSeconds (the Kubernetes default when unset).
int64_t GracePeriodSeconds(const json& spec) {
  const json& v = Get(spec, "terminationGracePeriodSeconds");
  return v.is_number_integer() ? v.get<int64_t>() : 30;
}

std::string ShutdownGrace(const json& spec) {
  const int64_t tgps = GracePeriodSeconds(spec);
  // Leave the kubelet a margin to collect the container after the agent's flush.
  int64_t grace = tgps > 10 ? tgps - 5 : std::max<int64_t>(1, tgps / 2);
  return units::FormatDuration(std::chrono::seconds(grace));
}

// Where a native sidecar goes: right behind the last mesh init container.
size_t NativeInsertIndex(const json& init_containers, const std::vector<std::string>& mesh) {
  size_t index = 0;
  if (!init_containers.is_array()) return 0;
  for (size_t i = 0; i < init_containers.size(); ++i) {
    std::string name = GetString(init_containers[i], "name");
    if (std::find(mesh.begin(), mesh.end(), name) != mesh.end()) index = i + 1;
  }
  return index;
}

bool IsOurContainer(const std::string& name) {
  return name == api::kAgentContainerName || name == api::kPrometheusContainerName;
}

// Reinvocation: move our native sidecars behind mesh init containers that a
// later webhook inserted in front of them.
json ReorderPatch(const json& pod, const std::vector<std::string>& mesh) {
  json patch = json::array();
  const json& init = Get(Get(pod, "spec"), "initContainers");
  if (!init.is_array()) return patch;
  std::vector<std::string> names;
  for (const json& c : init) names.push_back(GetString(c, "name"));
  std::vector<std::string> ours;
  for (const std::string& n : names) {
    if (IsOurContainer(n)) ours.push_back(n);
  }
  if (ours.empty()) return patch;
  auto last_mesh = [&]() -> long {
    long idx = -1;
    for (size_t i = 0; i < names.size(); ++i) {
      if (std::find(mesh.begin(), mesh.end(), names[i]) != mesh.end()) idx = static_cast<long>(i);
    }
    return idx;
  };
  long first_ours = static_cast<long>(std::find(names.begin(), names.end(), ours[0]) - names.begin());
  if (last_mesh() < first_ours) return patch;
  for (const std::string& n : ours) {
    long from = static_cast<long>(std::find(names.begin(), names.end(), n) - names.begin());
    names.erase(names.begin() + from);
    long to = last_mesh() + 1;
    // Keep our containers together and in their original order.
    while (to < static_cast<long>(names.size()) && IsOurContainer(names[to])) ++to;
    names.insert(names.begin() + to, n);
    if (from != to) {
      patch.push_back({{"op", "move"},
                       {"from", "/spec/initContainers/" + std::to_string(from)},
                       {"path", "/spec/initContainers/" + std::to_string(to)}});
    }
  }
  return patch;
}

std::string PrometheusImage(const api::Agent& agent, const OperatorSettings& settings, std::string* version) {
  *version = !agent.version.empty() ? agent.version
             : !agent.image.empty() ? ImageVersion(agent.image)
                                    : settings.prometheus_default_version;
  if (!agent.image.empty()) return agent.image;
  std::string v = *version;
  if (!v.empty() && v[0] != 'v') v = "v" + v;
  return settings.prometheus_image_repository + ":" + v;
}

// Prometheus 3 spells agent mode --agent; 2.x needs the feature flag.
bool PrometheusMajorAtLeast3(const std::string& version, const std::string& fallback, bool* known) {
  int major = 0;
  int minor = 0;
  *known = ParseKubeVersion(version, &major, &minor);
  if (!*known) ParseKubeVersion(fallback, &major, &minor);
  return major >= 3;
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kNotApplicable: return "NotApplicable";
    case Outcome::kInjected: return "Injected";
    case Outcome::kSkipped: return "Skipped";
    case Outcome::kAlreadyInjected: return "AlreadyInjected";
  }
  return "Unknown";
}

std::string EscapeJsonPointer(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

bool ParseKubeVersion(std::string_view text, int* major, int* minor) {
  size_t i = 0;
  if (i < text.size() && (text[i] == 'v' || text[i] == 'V')) ++i;
  auto number = [&](int* out) {
    size_t start = i;
    int n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 6)
      n = n * 10 + (text[i++] - '0');
    *out = n;
    return i > start;
  };
  if (!number(major)) return false;
  if (i >= text.size() || text[i] != '.') return false;
  ++i;
  return number(minor);
}

InjectionResult Decide(const json& pod, const std::string& pod_namespace, const ClusterFacts& facts) {
  const OperatorSettings& settings = facts.settings;
  if (!pod.is_object() || !Get(pod, "spec").is_object()) {
    return NotApplicable("InvalidPod", "the object is not a pod with a spec");
  }
  const json& meta = Get(pod, "metadata");
  const json& spec = Get(pod, "spec");
  std::string ns = !pod_namespace.empty() ? pod_namespace : GetString(meta, "namespace");
  if (ns.empty()) ns = "default";

  // The same filters as the webhook configuration, for API servers that
  // ignore matchConditions: return at once.
  const auto& excluded = settings.excluded_namespaces;
  if (ns == settings.operator_namespace ||
      std::find(excluded.begin(), excluded.end(), ns) != excluded.end()) {
    return NotApplicable("NamespaceExcluded", "namespace " + ns + " is never injected");
  }
  if (!settings.namespace_opt_in_label.empty()) {
    std::string key = settings.namespace_opt_in_label;
    std::string value;
    bool has_value = false;
    if (size_t eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    auto it = facts.namespace_labels.find(key);
    if (it == facts.namespace_labels.end() || (has_value && it->second != value)) {
      return NotApplicable("NamespaceExcluded",
                           "namespace " + ns + " lacks the opt-in label " + settings.namespace_opt_in_label);
    }
  }
  api::Labels annotations = StringMap(Get(meta, "annotations"));
  bool opted_in = annotations.count(api::kScrapeAnnotation) && annotations[api::kScrapeAnnotation] == "true";
  bool legacy_only = !opted_in && annotations.count(api::kLegacyScrapeAnnotation) &&
                     annotations[api::kLegacyScrapeAnnotation] == "true";
  if (!opted_in && !legacy_only) {
    return NotApplicable("NotOptedIn",
                         std::string("the pod does not set ") + api::kScrapeAnnotation + ": \"true\"");
  }

  if (annotations.count(api::kStatusAnnotation)) {
    InjectionResult r;
    r.outcome = Outcome::kAlreadyInjected;
    r.message =
        "the pod already carries the sidecar (annotation " + std::string(api::kStatusAnnotation) + ")";
    r.patch = ReorderPatch(pod, settings.mesh_init_containers);
    if (!r.patch.empty()) r.message += "; moving it behind service-mesh init containers added since";
    r.agent = StringMap(Get(meta, "labels"))[api::kAgentLabel];
    return r;
  }

  // Selection. A pod that opted in only through prometheus.io/scrape belongs
  // to us only if the chosen agent honours legacy annotations: otherwise it
  // is some other Prometheus's pod and we stay silent.
  Selection sel = SelectAgent(
      annotations.count(api::kAgentSelectorAnnotation) ? annotations[api::kAgentSelectorAnnotation] : "", ns,
      facts.agents.get());
  if (!sel.agent) {
    if (legacy_only)
      return NotApplicable("NotOptedIn", "prometheus.io/scrape without an agent that honours it");
    InjectionResult r = Skip(pod, sel.reason, sel.message);
    r.warnings.insert(r.warnings.end(), sel.warnings.begin(), sel.warnings.end());
    return r;
  }
  const api::Agent& agent = *sel.agent;
  if (!Admits(agent, ns, facts.namespace_labels)) {
    if (legacy_only)
      return NotApplicable("NotOptedIn", "prometheus.io/scrape without an agent that honours it");
    return Skip(
        pod, "NamespaceNotAdmitted",
        "PrometheusAgent " + agent.Ref() + " does not admit namespace " + ns +
            " (spec.sidecar.namespaceSelector" +
            (agent.sidecar.namespace_selector ? std::string("") : " is unset: only its own namespace") + ")",
        agent.Ref());
  }
  if (legacy_only && !agent.sidecar.legacy_annotations) {
    return NotApplicable("NotOptedIn",
                         "PrometheusAgent " + agent.Ref() + " does not honour prometheus.io/* annotations");
  }
  std::vector<std::string> warnings = sel.warnings;
  if (agent.paused) {
    return Skip(pod, "AgentPaused", "PrometheusAgent " + agent.Ref() + " is paused (spec.paused)",
                agent.Ref());
  }
  if (Get(spec, "hostNetwork") == true) {
    return Skip(pod, "HostNetwork",
                "the pod uses hostNetwork: the agent would share the node's network and port space",
                agent.Ref());
  }
  if (IsWindowsPod(spec)) {
    return Skip(pod, "Windows", "the pod runs on Windows nodes; the agent is built for Linux only",
                agent.Ref());
  }
  for (const std::string& name : ContainerNames(spec)) {
    if (IsOurContainer(name)) {
      return Skip(pod, "NameCollision",
                  "the pod already has a container named " + name + " that the operator did not inject",
                  agent.Ref());
    }
  }
  if (const json& vols = Get(spec, "volumes"); vols.is_array()) {
    for (const json& v : vols) {
      std::string name = GetString(v, "name");
      if (api::IsInjectedVolumeName(name)) {
        return Skip(pod, "NameCollision", "the pod already has a volume named " + name, agent.Ref());
      }
    }
  }
  const std::vector<ports::NamedPort> named_ports = ScrapeableNamedPorts(spec);
  if (auto unresolved =
          CheckPortNames(annotations, agent.sidecar.legacy_annotations, named_ports, &warnings)) {
    return Skip(pod, "UnresolvedPortName", *unresolved, agent.Ref());
  }
  NativeDecision native = DecideNative(pod, agent, facts, &warnings);
  if (!native.native && IsJobPod(pod)) {
    return Skip(pod, "JobWithoutNativeSidecar",
                "the pod belongs to a Job and native sidecars are unavailable (" + native.why +
                    "): a regular sidecar container would keep the Job from ever completing",
                agent.Ref());
  }

  // Sizes: the emptyDir holds the WAL plus headroom, and the agent keeps its
  // WAL at ~75% of it, since exceeding sizeLimit evicts the whole pod.
  const bool prometheus_engine = agent.sidecar.engine == api::SidecarEngine::kPrometheus;
  int64_t wal_budget =
      static_cast<int64_t>(agent.sidecar.wal_size_limit_bytes.value_or(settings.default_wal_size_limit));
  int64_t wal_dir = ((wal_budget * 4 / 3) + kMi - 1) / kMi * kMi;

  Constraints constraints = CollectConstraints(facts.limit_ranges, &warnings);
  std::vector<std::string> changes;
  ResourceValues main_res =
      prometheus_engine
          ? BaseResources(agent.sidecar.resources, 10, 200, 64 * kMi, 256 * kMi, wal_dir + kEphemeralHeadroom)
          : BaseResources(agent.sidecar.resources, 5, 50, 16 * kMi, 64 * kMi, wal_dir + kEphemeralHeadroom);
  if (Status st = Clamp(constraints, &main_res, &changes); !st) {
    return Skip(pod, "LimitRange", "no agent resources fit: " + st.message(), agent.Ref());
  }
  if (main_res.limits["memory"] < kMinMemoryLimit * 1000) {
    return Skip(pod, "LimitRange",
                "the namespace's LimitRange caps the agent's memory at " +
                    api::FormatBytesMilli(main_res.limits["memory"]) + ", below the 24Mi it needs",
                agent.Ref());
  }
  // An ephemeral-storage cap shrinks the WAL rather than the headroom.
  int64_t eph_limit = main_res.limits["ephemeral-storage"] / 1000;
  if (eph_limit < wal_dir + kEphemeralHeadroom) {
    wal_dir = (eph_limit - kEphemeralHeadroom) / kMi * kMi;
    if (wal_dir < kMinWalEmptyDir) {
      return Skip(pod, "LimitRange",
                  "the namespace's LimitRange caps ephemeral-storage at " +
                      api::FormatBytesMilli(eph_limit * 1000) +
                      ", too small for a WAL of at least 16Mi plus 32Mi for logs",
                  agent.Ref());
    }
    changes.push_back("WAL emptyDir shrunk to " + api::FormatBytesMilli(wal_dir * 1000));
  }
  int64_t wal_max = wal_dir * 3 / 4 / kMi * kMi;
  ResourceValues renderer_res = BaseResources(json(), 5, 50, 16 * kMi, 32 * kMi, kEphemeralHeadroom);
  if (prometheus_engine) {
    if (Status st = Clamp(constraints, &renderer_res, &changes); !st) {
      return Skip(pod, "LimitRange", "no renderer resources fit: " + st.message(), agent.Ref());
    }
  }
  if (!changes.empty()) {
    std::string list;
    for (const std::string& c : changes) list += (list.empty() ? "" : "; ") + c;
    warnings.push_back("promsidecar: agent resources adjusted to the namespace's LimitRange: " + list);
  }

  // Volumes.
  std::vector<json> volumes;
  volumes.push_back(
      {{"name", api::kPodInfoVolumeName},
       {"downwardAPI",
        {{"items",
          {{{"path", "annotations"},
            {"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.annotations"}}}},
           {{"path", "labels"}, {"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.labels"}}}}}}}}});
  volumes.push_back({{"name", api::kSharedConfigVolumeName},
                     {"secret", {{"secretName", api::SharedConfigSecretName(agent)}, {"optional", true}}}});
  volumes.push_back(
      {{"name", api::kWalVolumeName}, {"emptyDir", {{"sizeLimit", api::FormatBytesMilli(wal_dir * 1000)}}}});
  volumes.push_back(
      {{"name", api::kNoTokenVolumeName}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "1Ki"}}}});
  if (prometheus_engine) {
    volumes.push_back(
        {{"name", api::kRenderedVolumeName}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "4Mi"}}}});
  }
  // Remote-write tokens of the pod's own ServiceAccount: the kubelet requests
  // them for the audience and rewrites the file before they expire.
  const std::vector<api::ProjectedTokenVolume> tokens = api::ProjectedTokenVolumes(agent);
  for (const api::ProjectedTokenVolume& t : tokens) {
    volumes.push_back({{"name", t.volume_name},
                       {"projected",
                        {{"sources",
                          {{{"serviceAccountToken",
                             {{"audience", t.audience},
                              {"expirationSeconds", t.expiration_seconds},
                              {"path", api::kProjectedTokenFile}}}}}}}}});
  }

  // Containers.
  const std::string agent_image = !agent.sidecar.image.empty() ? agent.sidecar.image : settings.agent_image;
  const std::string pull_policy = !agent.image_pull_policy.empty() ? agent.image_pull_policy : "IfNotPresent";
  const std::string port = std::to_string(settings.agent_port);
  const std::string grace = ShutdownGrace(spec);
  json agent_container = {
      {"name", api::kAgentContainerName},
      {"image", agent_image},
      {"imagePullPolicy", pull_policy},
      {"command", {"promsidecar-agent"}},
      {"ports", {{{"name", "promsidecar"}, {"containerPort", settings.agent_port}, {"protocol", "TCP"}}}},
      {"terminationMessagePolicy", "FallbackToLogsOnError"},
  };
  // Assigned, not brace-initialised: a json initializer list copies its values.
  agent_container["env"] = DownwardEnv();
  agent_container["securityContext"] = api::SidecarSecurityContext(agent.sidecar.security_context);
  std::vector<json> containers;
  std::string prometheus_version;
  if (!prometheus_engine) {
    agent_container["args"] = {
        std::string("--config.file=") + api::kSharedConfigDir + "/" + api::kSharedConfigKey,
        std::string("--pod.annotations-file=") + api::kPodInfoDir + "/annotations",
        std::string("--pod.labels-file=") + api::kPodInfoDir + "/labels",
        std::string("--wal.dir=") + api::kWalDir,
        "--wal.max-size=" + units::FormatBytes(static_cast<uint64_t>(wal_max)),
        "--web.listen-address=:" + port,
        "--shutdown.grace=" + grace};
    agent_container["resources"] = ResourcesJson(main_res);
    agent_container["volumeMounts"] = {Mount(api::kPodInfoVolumeName, api::kPodInfoDir, true),
                                       Mount(api::kSharedConfigVolumeName, api::kSharedConfigDir, true),
                                       Mount(api::kWalVolumeName, api::kWalDir, false),
                                       Mount(api::kNoTokenVolumeName, api::kServiceAccountDir, true)};
    containers.push_back(std::move(agent_container));
  } else {
    const std::string prom_port = std::to_string(settings.prometheus_port);
    const std::string rendered = std::string(api::kRenderedDir) + "/prometheus.yml";
    agent_container["args"] = {
        "--render-prometheus-config=" + rendered,
        "--reload-url=http://127.0.0.1:" + prom_port + "/-/reload",
        std::string("--config.file=") + api::kSharedConfigDir + "/" + api::kSharedConfigKey,
        std::string("--pod.annotations-file=") + api::kPodInfoDir + "/annotations",
        std::string("--pod.labels-file=") + api::kPodInfoDir + "/labels",
        "--web.listen-address=:" + port,
        "--shutdown.grace=" + grace};
    agent_container["resources"] = ResourcesJson(renderer_res);
    agent_container["volumeMounts"] = {Mount(api::kPodInfoVolumeName, api::kPodInfoDir, true),
                                       Mount(api::kSharedConfigVolumeName, api::kSharedConfigDir, true),
                                       Mount(api::kRenderedVolumeName, api::kRenderedDir, false),
                                       Mount(api::kNoTokenVolumeName, api::kServiceAccountDir, true)};
    std::string prom_image = PrometheusImage(agent, settings, &prometheus_version);
    bool known = false;
    bool v3 = PrometheusMajorAtLeast3(prometheus_version, settings.prometheus_default_version, &known);
    if (!known) {
      warnings.push_back("promsidecar: cannot read a Prometheus version from \"" + prometheus_version +
                         "\"; assuming " + settings.prometheus_default_version +
                         " for its flags (set spec.version)");
    }
    // The renderer writes only fields this version accepts.
    agent_container["args"].push_back("--prometheus.version=" +
                                      (known ? prometheus_version : settings.prometheus_default_version));
    json prom = {
        {"name", api::kPrometheusContainerName},
        {"image", prom_image},
        {"imagePullPolicy", pull_policy},
        {"args",
         {"--config.file=" + rendered, v3 ? "--agent" : "--enable-feature=agent",
          std::string("--storage.agent.path=") + api::kWalDir, "--web.listen-address=127.0.0.1:" + prom_port,
          "--web.enable-lifecycle"}},
        {"resources", ResourcesJson(main_res)},
        {"securityContext", api::SidecarSecurityContext(agent.sidecar.security_context)},
        {"terminationMessagePolicy", "FallbackToLogsOnError"},
        {"volumeMounts",
         {Mount(api::kRenderedVolumeName, api::kRenderedDir, true),
          Mount(api::kSharedConfigVolumeName, api::kSharedConfigDir, true),
          Mount(api::kWalVolumeName, api::kWalDir, false),
          Mount(api::kNoTokenVolumeName, api::kServiceAccountDir, true)}},
    };
    // The renderer first: Prometheus needs the file it writes.
    containers.push_back(std::move(agent_container));
    containers.push_back(std::move(prom));
  }
  // spec.logLevel/logFormat: both the agent and Prometheus take these flags
  // with the same values; unset, each keeps its own default.
  for (json& c : containers) {
    if (!agent.log_level.empty()) c["args"].push_back("--log.level=" + agent.log_level);
    if (!agent.log_format.empty()) c["args"].push_back("--log.format=" + agent.log_format);
  }
  // Only the container that sends gets the tokens: the agent, or Prometheus
  // for engine: prometheus (where the agent only renders the config and never
  // opens them). The app containers never see them.
  const std::string sender = prometheus_engine ? api::kPrometheusContainerName : api::kAgentContainerName;
  for (json& c : containers) {
    if (c["name"] != sender) continue;
    for (const api::ProjectedTokenVolume& t : tokens) {
      c["volumeMounts"].push_back(Mount(t.volume_name.c_str(), t.dir.c_str(), true));
    }
  }
  if (native.native) {
    for (json& c : containers) c["restartPolicy"] = "Always";
  }

  // Port clash with the app: the agent survives a failed bind, but say so.
  for (const char* field : {"containers", "initContainers"}) {
    const json& list = Get(spec, field);
    if (!list.is_array()) continue;
    for (const json& c : list) {
      const json& ports = Get(c, "ports");
      if (!ports.is_array()) continue;
      for (const json& p : ports) {
        if (Get(p, "containerPort") == settings.agent_port ||
            (prometheus_engine && Get(p, "containerPort") == settings.prometheus_port)) {
          warnings.push_back("promsidecar: container " + GetString(c, "name") + " declares port " +
                             Get(p, "containerPort").dump() +
                             ", which the sidecar also uses; its HTTP endpoint will be unavailable");
        }
      }
    }
  }

  InjectionResult r;
  r.outcome = Outcome::kInjected;
  r.agent = agent.Ref();
  r.native_sidecar = native.native;
  // The hash of exactly what is injected. Built by moving the lists in and
  // out again: copying them would cost as much as building them.
  {
    json fragment = json::object();
    fragment["containers"] =
        json::array_t(std::make_move_iterator(containers.begin()), std::make_move_iterator(containers.end()));
    fragment["volumes"] =
        json::array_t(std::make_move_iterator(volumes.begin()), std::make_move_iterator(volumes.end()));
    r.fragment_hash = HashHexOfDump(fragment);
    containers = std::move(fragment["containers"].get_ref<json::array_t&>());
    volumes = std::move(fragment["volumes"].get_ref<json::array_t&>());
  }
  r.message = "injected PrometheusAgent " + agent.Ref() + " as a " +
              (native.native ? std::string("native sidecar (init container with restartPolicy Always)")
                             : std::string("regular container")) +
              " because " + native.why;
  if (legacy_only) {
    warnings.push_back("promsidecar: injected because of prometheus.io/scrape (legacy annotations of " +
                       agent.Ref() + "); prefer prometheus.operator.io/scrape");
  }

  PatchBuilder patch;
  if (!meta.is_object()) patch.Add("/metadata", json::object());
  patch.SetMetadataMap(pod, "labels",
                       {{api::kAgentLabel, agent.LabelValue()}, {api::kInjectionLabel, "injected"}});
  std::map<std::string, std::string> new_annotations{
      {api::kStatusAnnotation, "injected"},
      {api::kAgentVersionAnnotation, ImageVersion(agent_image)},
      {api::kInjectedHashAnnotation, r.fragment_hash},
      // The pod's own input to the hash, so what would be injected now can be
      // told from the pod's metadata (the controller never reads specs).
      {api::kInjectionClassAnnotation,
       "terminationGracePeriodSeconds=" + std::to_string(GracePeriodSeconds(spec))},
  };
  if (prometheus_engine) new_annotations[api::kPrometheusVersionAnnotation] = prometheus_version;
  if (!named_ports.empty())
    new_annotations[api::kContainerPortsAnnotation] = ports::FormatNamedPorts(named_ports);
  const json& app_containers = Get(spec, "containers");
  if (!native.native && !annotations.count(api::kDefaultContainerAnnotation) && app_containers.is_array() &&
      !app_containers.empty()) {
    // kubectl logs/exec keep defaulting to the app, not to us.
    new_annotations[api::kDefaultContainerAnnotation] = GetString(app_containers[0], "name");
  }
  patch.SetMetadataMap(pod, "annotations", new_annotations, {api::kSkipReasonAnnotation});

  if (native.native) {
    const json& init = Get(spec, "initContainers");
    if (!init.is_array()) {
      patch.Add("/spec/initContainers", json(std::move(containers)));
    } else {
      size_t index = NativeInsertIndex(init, settings.mesh_init_containers);
      for (json& c : containers) patch.Add("/spec/initContainers/" + std::to_string(index++), std::move(c));
    }
  } else {
    patch.AppendList(pod, "containers", std::move(containers));
  }
  patch.AppendList(pod, "volumes", std::move(volumes));
  std::vector<json> pull_secrets;
  std::set<std::string> existing_secrets;
  if (const json& ips = Get(spec, "imagePullSecrets"); ips.is_array()) {
    for (const json& s : ips) existing_secrets.insert(GetString(s, "name"));
  }
  for (const std::string& s : agent.image_pull_secrets) {
    if (existing_secrets.insert(s).second) pull_secrets.push_back({{"name", s}});
  }
  patch.AppendList(pod, "imagePullSecrets", std::move(pull_secrets));
  r.patch = patch.Build();
  r.warnings = std::move(warnings);
  return r;
}

json StripInjection(const json& pod) {
  json out = pod;
  if (!out.is_object()) return out;
  if (out.contains("metadata") && out["metadata"].is_object()) {
    json& meta = out["metadata"];
    for (const char* field : {"labels", "annotations"}) {
      if (!meta.contains(field) || !meta[field].is_object()) continue;
      for (const char* key :
           {api::kAgentLabel, api::kInjectionLabel, api::kStatusAnnotation, api::kSkipReasonAnnotation,
            api::kAgentVersionAnnotation, api::kPrometheusVersionAnnotation, api::kInjectedHashAnnotation,
            api::kInjectionClassAnnotation, api::kContainerPortsAnnotation}) {
        meta[field].erase(key);
      }
    }
  }
  if (!out.contains("spec") || !out["spec"].is_object()) return out;
  json& spec = out["spec"];
  auto remove_named = [&](const char* field, const std::set<std::string>& names) {
    if (!spec.contains(field) || !spec[field].is_array()) return;
    json kept = json::array();
    for (const json& item : spec[field]) {
      if (!item.is_object() || !names.count(item.value("name", ""))) kept.push_back(item);
    }
    spec[field] = std::move(kept);
  };
  const std::set<std::string> containers{api::kAgentContainerName, api::kPrometheusContainerName};
  remove_named("containers", containers);
  remove_named("initContainers", containers);
  if (spec.contains("volumes") && spec["volumes"].is_array()) {
    json kept = json::array();
    for (const json& v : spec["volumes"]) {
      if (!api::IsInjectedVolumeName(GetString(v, "name"))) kept.push_back(v);
    }
    spec["volumes"] = std::move(kept);
  }
  return out;
}

Result<ClusterFacts> ParseClusterFacts(const json& j) {
  ClusterFacts f;
  if (!j.is_object()) return MakeError("cluster facts must be a JSON object");
  try {
    f.apiserver_version = j.value("apiserverVersion", "");
    if (j.contains("nodeKubeletVersions"))
      f.node_kubelet_versions = j["nodeKubeletVersions"].get<std::vector<std::string>>();
    if (j.contains("namespaceLabels")) f.namespace_labels = j["namespaceLabels"].get<api::Labels>();
    if (j.contains("limitRanges")) f.limit_ranges = j["limitRanges"].get<std::vector<json>>();
    const json& s = Get(j, "settings");
    if (s.is_object()) {
      OperatorSettings& o = f.settings;
      o.agent_image = s.value("agentImage", o.agent_image);
      o.prometheus_image_repository = s.value("prometheusImageRepository", o.prometheus_image_repository);
      o.prometheus_default_version = s.value("prometheusDefaultVersion", o.prometheus_default_version);
      o.operator_namespace = s.value("operatorNamespace", o.operator_namespace);
      o.excluded_namespaces = s.value("excludedNamespaces", o.excluded_namespaces);
      o.namespace_opt_in_label = s.value("namespaceOptInLabel", o.namespace_opt_in_label);
      o.agent_port = s.value("agentPort", o.agent_port);
      o.prometheus_port = s.value("prometheusPort", o.prometheus_port);
      o.mesh_init_containers = s.value("meshInitContainers", o.mesh_init_containers);
      if (s.contains("defaultWalSizeLimit")) {
        auto q = api::ParseQuantityMilli(s["defaultWalSizeLimit"].get<std::string>());
        if (!q) return MakeError("settings.defaultWalSizeLimit: " + q.message());
        o.default_wal_size_limit = static_cast<uint64_t>(*q / 1000);
      }
    }
  } catch (const json::exception& e) {
    return MakeError(std::string("cluster facts: a field has the wrong type: ") + e.what());
  }
  return f;
}

}  // namespace promsidecar::inject
