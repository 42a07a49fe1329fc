#include "operator/explain/explain.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "common/util/json_access.h"
#include "operator/api/well_known.h"
#include "operator/cache/objects.h"
#include "operator/controller/repair.h"
#include "operator/controller/upgrade.h"

namespace promsidecar::explain {
namespace {

using nlohmann::json;
using util::At;
using util::Str;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The kind kubectl means by `name` (singular, plural or short name), among
// those with a pod template; empty for others.
std::string KindOf(std::string_view name) {
  struct Names {
    const char* kind;
    const char* singular;
    const char* short_name;
  };
  static constexpr Names kKinds[] = {{"Pod", "pod", "po"},
                                     {"Deployment", "deployment", "deploy"},
                                     {"StatefulSet", "statefulset", "sts"},
                                     {"DaemonSet", "daemonset", "ds"},
                                     {"ReplicaSet", "replicaset", "rs"},
                                     {"Job", "job", ""},
                                     {"CronJob", "cronjob", "cj"}};
  const std::string n = Lower(name);
  for (const Names& k : kKinds) {
    if (n == k.singular || n == std::string(k.singular) + "s" || (*k.short_name != '\0' && n == k.short_name))
      return k.kind;
  }
  return "";
}

// What the repair report says about a pod without a sidecar it should have.
std::string RepairOf(const cache::PodMeta& pod, const std::string& agent, const json& replica_set) {
  const controller::Workload w = controller::ResolveWorkload(std::string(pod.ns), pod.owner, replica_set);
  std::string out = "listed by the repair report (agent " + agent + "): ";
  if (w.kind == controller::Workload::Kind::kNone) {
    return out + "only reported, " + (w.why.empty() ? "its owner could not be read" : w.why);
  }
  return out + "with --repair.enabled the operator restarts " + w.KindName() + " " + w.ns + "/" + w.name +
         " (kubectl rollout restart " + Lower(w.KindName()) + "/" + w.name + " -n " + w.ns +
         " does the same)";
}

SidecarReport CheckSidecar(const json& pod, const inject::ClusterFacts& facts, const json& replica_set,
                           const inject::InjectionResult& now) {
  SidecarReport r;
  const cache::ObjectPtr<cache::PodMeta> meta = cache::ToPodMeta(pod);
  if (!meta) {
    r.state = SidecarState::kNone;
    r.detail = "no sidecar, and the pod does not opt in";
    return r;
  }
  if (meta->status_annotation || meta->injection == cache::Injection::kInjected) {
    const controller::PodCheck check = controller::CheckInjectedPod(pod, facts);
    r.drift = controller::DriftName(check.drift);
    const json& annotations = At(At(pod, "metadata"), "annotations");
    r.have_hash = Str(annotations, api::kInjectedHashAnnotation);
    r.have_version = Str(annotations, api::kAgentVersionAnnotation);
    if (auto c = controller::FindAgentContainer(pod)) r.have_image = c->image;
    r.want_hash = check.want_hash;
    r.want_version = check.want_version;
    r.want_image = check.want_image;
    switch (check.drift) {
      case controller::PodDrift::kCurrent:
        r.state = SidecarState::kCurrent;
        r.detail = "the sidecar is what the webhook injects now";
        break;
      case controller::PodDrift::kNotInjectable:
        r.state = SidecarState::kUnwanted;
        r.detail = "the pod has a sidecar, but the webhook would not inject it now: " + now.message;
        break;
      default: {
        r.state = SidecarState::kOutdated;
        std::vector<std::string> differs;
        if (r.have_hash != r.want_hash)
          differs.push_back("injected-hash " + r.have_hash + " → " + r.want_hash);
        if (r.have_version != r.want_version)
          differs.push_back("agent-version " + r.have_version + " → " + r.want_version);
        if (r.have_image != r.want_image) differs.push_back("image " + r.have_image + " → " + r.want_image);
        std::string joined;
        for (const auto& d : differs) joined += (joined.empty() ? "" : "; ") + d;
        r.detail = "the sidecar differs from what the webhook injects now (" + joined + "); " +
                   (check.drift == controller::PodDrift::kImageOnly
                        ? "only the image: the agent's updateStrategy InPlace can patch it"
                        : "only a new pod gets it: the agent's updateStrategy Rollout, or a restart of its "
                          "workload");
      }
    }
    return r;
  }
  if (meta->injection == cache::Injection::kSkipped) {
    r.state = SidecarState::kSkipped;
    r.detail =
        "the webhook skipped it at admission (" +
        (meta->skip_reason.empty() ? std::string("no reason recorded") : std::string(meta->skip_reason)) +
        ")";
    return r;
  }
  const std::string agent = controller::UninjectedAgent(*meta, facts);
  if (agent.empty()) {
    r.state = SidecarState::kNone;
    r.detail = "no sidecar, and none is wanted: " + now.message;
    return r;
  }
  r.state = SidecarState::kMissing;
  r.detail = "no sidecar, but the webhook would inject agent " + agent +
             " now: the pod was admitted without it (webhook unreachable or added since)";
  r.repair = RepairOf(*meta, agent, replica_set);
  return r;
}

// Namespace admission as the decision found it.
std::string AdmissionOf(const inject::InjectionResult& d, const std::string& ns) {
  if (d.reason == "NamespaceExcluded" || d.reason == "NamespaceNotAdmitted") return "no: " + d.message;
  if (!d.agent.empty()) return "yes: PrometheusAgent " + d.agent + " admits namespace " + ns;
  return "not reached: the decision ended before an agent was chosen";
}

std::string AgentLine(const api::Agent& a) {
  std::string line = a.Ref() + " (mode " + (a.mode_text.empty() ? "StatefulSet" : a.mode_text);
  if (a.sidecar.is_default) line += ", cluster default";
  if (a.paused) line += ", paused";
  return line + ")";
}

std::string JoinLabels(const api::Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

}  // namespace

bool IsWorkload(std::string_view kind) {
  return kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" || kind == "ReplicaSet" ||
         kind == "Job" || kind == "CronJob" || kind == "ReplicationController";
}

json::json_pointer TemplatePointer(std::string_view kind) {
  if (kind == "CronJob") return json::json_pointer("/spec/jobTemplate/spec/template");
  return json::json_pointer("/spec/template");
}

json TemplatePod(const json& workload, const std::string& ns) {
  const std::string kind = workload.value("kind", "");
  const json::json_pointer ptr = TemplatePointer(kind);
  const json tmpl = workload.contains(ptr) && workload[ptr].is_object() ? workload[ptr] : json::object();
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", tmpl.value("metadata", json::object())},
              {"spec", tmpl.value("spec", json::object())}};
  pod["metadata"]["namespace"] = ns;
  if (kind == "Job" || kind == "CronJob") {
    // The Job controller sets this owner on the pods it creates.
    pod["metadata"]["ownerReferences"] = {{{"apiVersion", "batch/v1"},
                                           {"kind", "Job"},
                                           {"name", Str(At(workload, "metadata"), "name")},
                                           {"uid", "00000000-0000-0000-0000-000000000000"},
                                           {"controller", true}}};
  }
  return pod;
}

std::string Target::Ref() const {
  return Lower(kind) + " " + ns + "/" + name;
}

std::string Target::Resource() const {
  return Lower(kind) + "s";
}

Result<Target> ParseTarget(std::string_view arg, const std::string& ns) {
  Target t;
  t.ns = ns.empty() ? "default" : ns;
  std::string_view name = arg;
  if (size_t slash = arg.find('/'); slash != std::string_view::npos) {
    t.kind = KindOf(arg.substr(0, slash));
    if (t.kind.empty()) {
      return MakeError("\"" + std::string(arg.substr(0, slash)) +
                       "\" is not a kind explain reads; use pod/NAME, deployment/NAME, statefulset/NAME, "
                       "daemonset/NAME, replicaset/NAME, job/NAME or cronjob/NAME");
    }
    name = arg.substr(slash + 1);
  } else {
    t.kind = "Pod";
  }
  if (name.empty() || name.find('/') != std::string_view::npos) {
    return MakeError("\"" + std::string(arg) + "\" names no object; use pod/NAME or deployment/NAME (the " +
                     "namespace goes in -n)");
  }
  t.name = std::string(name);
  return t;
}

inject::ClusterFacts FactsOf(const Snapshot& s, const inject::OperatorSettings& settings,
                             std::vector<std::string>* agent_errors) {
  inject::ClusterFacts facts;
  facts.settings = settings;
  inject::AgentList::List agents;
  for (const json& object : s.agents) {
    const auto a = cache::ToAgentObject(object);
    if (a->ok()) {
      agents.push_back(a->agent);
    } else if (agent_errors != nullptr) {
      agent_errors->push_back(a->Key() + ": " + a->parse_error);
    }
  }
  // The order of the cache's snapshot (SelectAgent reads them in order).
  std::sort(agents.begin(), agents.end(),
            [](const api::Agent& x, const api::Agent& y) { return x.Ref() < y.Ref(); });
  facts.agents = inject::AgentList(std::move(agents));
  if (const auto n = cache::ToNamespaceMeta(s.namespace_object)) facts.namespace_labels = n->labels;
  facts.apiserver_version = s.apiserver_version;
  std::set<std::string> versions;
  for (const json& node : s.nodes) versions.insert(cache::ToNodeMeta(node)->kubelet_version);
  facts.node_kubelet_versions.assign(versions.begin(), versions.end());
  facts.limit_ranges = s.limit_ranges;
  return facts;
}

std::string_view SidecarStateName(SidecarState state) {
  switch (state) {
    case SidecarState::kCurrent: return "current";
    case SidecarState::kOutdated: return "outdated";
    case SidecarState::kUnwanted: return "unwanted";
    case SidecarState::kMissing: return "missing";
    case SidecarState::kSkipped: return "skipped";
    case SidecarState::kNone: return "none";
  }
  return "unknown";
}

Explanation Explain(const Snapshot& s, const inject::OperatorSettings& settings) {
  Explanation e;
  const inject::ClusterFacts facts = FactsOf(s, settings, &e.agent_errors);
  const std::string& ns = s.target.ns;
  const bool pod = s.target.kind == "Pod";
  // An existing pod is judged as if created now: without what was injected.
  const json candidate = pod ? inject::StripInjection(s.object) : TemplatePod(s.object, ns);
  e.object = s.target.kind + " " + ns + "/" + s.target.name + (pod ? "" : " (pod template)");
  e.decision = inject::Decide(candidate, ns, facts);
  for (const api::Agent& a : facts.agents) e.agents.push_back(AgentLine(a));
  e.agent_namespaces = s.agent_namespaces;
  e.pod_agent_annotation = Str(At(At(candidate, "metadata"), "annotations"), api::kAgentSelectorAnnotation);
  e.namespace_labels = facts.namespace_labels;
  e.namespace_admission = AdmissionOf(e.decision, ns);
  e.node_selector = s.node_selector;
  e.kubelet_versions = facts.node_kubelet_versions;
  e.apiserver_version = facts.apiserver_version;
  for (const json& lr : s.limit_ranges) e.limit_ranges.push_back(Str(At(lr, "metadata"), "name"));
  if (pod) e.sidecar = CheckSidecar(s.object, facts, s.replica_set, e.decision);
  return e;
}

std::string FormatText(const Explanation& e) {
  std::ostringstream out;
  const inject::InjectionResult& d = e.decision;
  out << e.object << "\n";
  out << "  decision: " << inject::OutcomeName(d.outcome) << (d.reason.empty() ? "" : " (" + d.reason + ")")
      << "\n";
  out << "  why: " << d.message << "\n";
  out << "  agent chosen: " << (d.agent.empty() ? "none" : d.agent);
  if (!e.pod_agent_annotation.empty()) {
    out << " (the pod names " << e.pod_agent_annotation << " in " << api::kAgentSelectorAnnotation << ")";
  }
  out << "\n";
  std::string where;
  for (const auto& n : e.agent_namespaces) where += (where.empty() ? "" : ",") + (n.empty() ? "*" : n);
  out << "  agents considered (namespaces " << where << "):" << (e.agents.empty() ? " none" : "") << "\n";
  for (const auto& a : e.agents) out << "    " << a << "\n";
  for (const auto& a : e.agent_errors) out << "    ignored, does not parse: " << a << "\n";
  out << "  namespace admission: " << e.namespace_admission << "\n";
  out << "  namespace labels: " << (e.namespace_labels.empty() ? "none" : JoinLabels(e.namespace_labels))
      << "\n";
  std::string kubelets;
  for (const auto& v : e.kubelet_versions) kubelets += (kubelets.empty() ? "" : ", ") + v;
  out << "  kubelet versions" << (e.node_selector.empty() ? "" : " (nodes " + e.node_selector + ")") << ": "
      << (kubelets.empty() ? "none (no Node counts: the API server's version alone decides native sidecars)"
                           : kubelets)
      << "\n";
  out << "  API server: " << (e.apiserver_version.empty() ? "unknown" : e.apiserver_version) << "\n";
  std::string lrs;
  for (const auto& n : e.limit_ranges) lrs += (lrs.empty() ? "" : ", ") + n;
  out << "  LimitRanges: " << (lrs.empty() ? "none" : lrs) << "\n";
  if (d.outcome == inject::Outcome::kInjected) {
    out << "  native sidecar: " << (d.native_sidecar ? "yes" : "no") << "\n";
    out << "  fragment hash: " << d.fragment_hash << "\n";
  }
  for (const auto& w : d.warnings) out << "  warning: " << w << "\n";
  if (e.sidecar) {
    const SidecarReport& r = *e.sidecar;
    // The drift tells an outdated sidecar's remedy apart (ImageOnly, NeedsRestart).
    out << "  sidecar: " << SidecarStateName(r.state)
        << (r.state == SidecarState::kOutdated ? " (" + r.drift + ")" : "") << "\n";
    out << "    " << r.detail << "\n";
    if (!r.repair.empty()) out << "    repair: " << r.repair << "\n";
  }
  return out.str();
}

json ToJson(const Explanation& e) {
  const inject::InjectionResult& d = e.decision;
  json decision = {{"outcome", inject::OutcomeName(d.outcome)},
                   {"reason", d.reason},
                   {"message", d.message},
                   {"agent", d.agent},
                   {"warnings", d.warnings}};
  if (d.outcome == inject::Outcome::kInjected) {
    decision["nativeSidecar"] = d.native_sidecar;
    decision["fragmentHash"] = d.fragment_hash;
  }
  json out = {{"object", e.object},
              {"decision", decision},
              {"facts",
               {{"agentNamespaces", e.agent_namespaces},
                {"agents", e.agents},
                {"ignoredAgents", e.agent_errors},
                {"podAgentSelector", e.pod_agent_annotation},
                {"namespaceLabels", e.namespace_labels},
                {"namespaceAdmission", e.namespace_admission},
                {"nodeSelector", e.node_selector},
                {"kubeletVersions", e.kubelet_versions},
                {"apiserverVersion", e.apiserver_version},
                {"limitRanges", e.limit_ranges}}}};
  if (e.sidecar) {
    const SidecarReport& r = *e.sidecar;
    out["sidecar"] = {
        {"state", SidecarStateName(r.state)},
        {"detail", r.detail},
        {"drift", r.drift},
        {"have", {{"injectedHash", r.have_hash}, {"agentVersion", r.have_version}, {"image", r.have_image}}},
        {"want", {{"injectedHash", r.want_hash}, {"agentVersion", r.want_version}, {"image", r.want_image}}},
        {"repair", r.repair}};
  }
  return out;
}

}  // namespace promsidecar::explain
