#include "operator/controller/upgrade.h"

#include "common/util/json_access.h"
#include "operator/api/well_known.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;

using util::At;
using util::Str;

const json& Annotations(const json& pod) {
  return At(At(pod, "metadata"), "annotations");
}

bool AtLeast132(const std::string& version) {
  int major = 0;
  int minor = 0;
  if (!inject::ParseKubeVersion(version, &major, &minor)) return false;
  return major > 1 || (major == 1 && minor >= 32);
}

}  // namespace

std::string_view DriftName(PodDrift drift) {
  switch (drift) {
    case PodDrift::kCurrent: return "Current";
    case PodDrift::kImageOnly: return "ImageOnly";
    case PodDrift::kNeedsRestart: return "NeedsRestart";
    case PodDrift::kNotInjectable: return "NotInjectable";
    case PodDrift::kOutdated: return "Outdated";
  }
  return "Unknown";
}

std::optional<AgentContainerRef> FindAgentContainer(const json& pod) {
  for (const char* list : {"containers", "initContainers"}) {
    const json& items = At(At(pod, "spec"), list);
    if (!items.is_array()) continue;
    for (size_t i = 0; i < items.size(); ++i) {
      if (Str(items[i], "name") == api::kAgentContainerName)
        return AgentContainerRef{list, i, Str(items[i], "image")};
    }
  }
  return std::nullopt;
}

// What Decide would inject now into `stripped` (a pod without injection):
// false when it would not (check->drift says why).
static bool WantedNow(const json& stripped, const std::string& ns, const inject::ClusterFacts& facts,
                      PodCheck* check) {
  const auto now = inject::Decide(stripped, ns, facts);
  check->agent = now.agent;
  if (now.outcome != inject::Outcome::kInjected) {
    check->drift = PodDrift::kNotInjectable;
    return false;
  }
  json want;
  try {
    want = stripped.patch(now.patch);
  } catch (const json::exception&) {
    // Decide's patch is relative to its input: failing to apply it is a bug
    // there; the pod cannot be brought up to date in place.
    check->drift = PodDrift::kNeedsRestart;
    return false;
  }
  check->want_hash = now.fragment_hash;
  check->want_version = Str(Annotations(want), api::kAgentVersionAnnotation);
  if (auto c = FindAgentContainer(want)) check->want_image = c->image;
  return true;
}

PodCheck CheckInjectedPod(const json& pod, const inject::ClusterFacts& facts) {
  PodCheck check;
  const std::string ns = Str(At(pod, "metadata"), "namespace");
  const json stripped = inject::StripInjection(pod);
  if (!WantedNow(stripped, ns, facts, &check)) return check;
  const std::string have_hash = Str(Annotations(pod), api::kInjectedHashAnnotation);
  const std::string have_version = Str(Annotations(pod), api::kAgentVersionAnnotation);
  if (have_hash == check.want_hash && have_version == check.want_version) return check;

  // Would Decide, given the image the pod runs, inject exactly what the pod has?
  const auto running = FindAgentContainer(pod);
  check.drift = PodDrift::kNeedsRestart;
  if (!running || running->image.empty() || check.want_image.empty()) return check;
  inject::ClusterFacts pinned = facts;
  for (api::Agent& a : pinned.agents.Mutable()) {
    if (a.Ref() == check.agent) a.sidecar.image = running->image;
  }
  const auto then = inject::Decide(stripped, ns, pinned);
  if (then.outcome == inject::Outcome::kInjected && then.agent == check.agent &&
      then.fragment_hash == have_hash) {
    check.drift = PodDrift::kImageOnly;
  }
  return check;
}

json ClassPod(const cache::PodMeta& pod) {
  json annotations = json::object();
  if (pod.scrape) annotations[api::kScrapeAnnotation] = "true";
  if (pod.legacy_scrape) annotations[api::kLegacyScrapeAnnotation] = "true";
  if (!pod.agent_selector.empty()) annotations[api::kAgentSelectorAnnotation] = pod.agent_selector;
  if (!pod.native_override.empty()) annotations[api::kNativeSidecarAnnotation] = pod.native_override;
  json metadata = {{"name", pod.name}, {"namespace", pod.ns}, {"annotations", annotations}};
  if (pod.job) metadata["ownerReferences"] = {{{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"name", "job"}}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", metadata},
          {"spec",
           {{"terminationGracePeriodSeconds", pod.grace_seconds.value_or(30)},
            {"containers", json::array({{{"name", "app"}}})}}}};
}

PodCheck PodChecker::Check(const cache::PodMeta& pod) {
  // Everything ClassPod reads, so equal keys give equal answers.
  std::string key;
  for (std::string_view part : {pod.ns, pod.agent_selector, pod.native_override}) {
    key.append(part).push_back('\n');
  }
  key += pod.scrape ? 's' : '-';
  key += pod.legacy_scrape ? 'l' : '-';
  key += pod.job ? 'j' : '-';
  key += std::to_string(pod.grace_seconds.value_or(30));
  auto it = by_class_.find(key);
  if (it == by_class_.end()) {
    PodCheck want;
    if (!WantedNow(ClassPod(pod), std::string(pod.ns), facts_, &want) &&
        want.drift != PodDrift::kNotInjectable) {
      want.drift = PodDrift::kOutdated;  // Decide's patch failed: only a new pod helps
    }
    it = by_class_.emplace(std::move(key), std::move(want)).first;
  }
  PodCheck check = it->second;
  if (check.drift != PodDrift::kCurrent) return check;
  check.drift = pod.injected_hash == check.want_hash && pod.agent_version == check.want_version
                    ? PodDrift::kCurrent
                    : PodDrift::kOutdated;
  return check;
}

bool InPlaceAllowed(bool native_sidecar, const std::vector<std::string>& node_kubelet_versions) {
  if (!native_sidecar) return true;
  for (const std::string& v : node_kubelet_versions) {
    if (!AtLeast132(v)) return false;
  }
  return true;
}

std::optional<json> InPlacePatch(const json& pod, const PodCheck& check) {
  const auto c = FindAgentContainer(pod);
  const json& annotations = Annotations(pod);
  if (!c || !annotations.is_object() || check.want_image.empty() || check.want_hash.empty()) {
    return std::nullopt;
  }
  const std::string base = "/spec/" + c->list + "/" + std::to_string(c->index);
  const std::string hash_path =
      "/metadata/annotations/" + inject::EscapeJsonPointer(api::kInjectedHashAnnotation);
  const std::string version_path =
      "/metadata/annotations/" + inject::EscapeJsonPointer(api::kAgentVersionAnnotation);
  json patch = json::array();
  patch.push_back({{"op", "test"}, {"path", base + "/name"}, {"value", api::kAgentContainerName}});
  patch.push_back({{"op", "test"}, {"path", base + "/image"}, {"value", c->image}});
  if (auto h = annotations.find(api::kInjectedHashAnnotation); h != annotations.end()) {
    patch.push_back({{"op", "test"}, {"path", hash_path}, {"value", *h}});
  }
  patch.push_back({{"op", "replace"}, {"path", base + "/image"}, {"value", check.want_image}});
  // "add" sets an object member whether or not it exists (RFC 6902 4.1).
  patch.push_back({{"op", "add"}, {"path", hash_path}, {"value", check.want_hash}});
  if (!check.want_version.empty()) {
    patch.push_back({{"op", "add"}, {"path", version_path}, {"value", check.want_version}});
  }
  return patch;
}

AgentContainerStatus AgentStatusOf(const json& pod) {
  AgentContainerStatus out;
  for (const char* list : {"containerStatuses", "initContainerStatuses"}) {
    const json& items = At(At(pod, "status"), list);
    if (!items.is_array()) continue;
    for (const json& s : items) {
      if (Str(s, "name") != api::kAgentContainerName) continue;
      out.found = true;
      out.running = At(At(s, "state"), "running").is_object();
      out.image = Str(s, "image");
      out.image_id = Str(s, "imageID");
      return out;
    }
  }
  return out;
}

bool UpgradeConfirmed(const AgentContainerStatus& before, const AgentContainerStatus& now) {
  if (!now.found || !now.running || now.image_id.empty()) return false;
  return now.image != before.image || now.image_id != before.image_id;
}

}  // namespace promsidecar::controller
