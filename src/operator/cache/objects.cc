#include "operator/cache/objects.h"

#include <algorithm>
#include <charconv>

#include "common/util/intern.h"
#include "common/util/json_access.h"
#include "common/util/time.h"
#include "operator/api/well_known.h"

namespace promsidecar::cache {
namespace {

using nlohmann::json;

using util::At;
using util::Str;

std::string_view View(const json& j, const char* key) {
  const json& v = At(j, key);
  return v.is_string() ? std::string_view(v.get_ref<const std::string&>()) : std::string_view();
}

// "terminationGracePeriodSeconds=30" → 30.
std::optional<int64_t> ParseInjectionClass(std::string_view text) {
  constexpr std::string_view kKey = "terminationGracePeriodSeconds=";
  if (!text.starts_with(kKey)) return std::nullopt;
  text.remove_prefix(kKey.size());
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

int64_t ParseTimestamp(std::string_view text) {
  auto t = util::ParseRfc3339(std::string(text));
  return t ? std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count() : 0;
}

std::optional<OwnerRef> ControllerOf(const json& object) {
  const json& refs = At(At(object, "metadata"), "ownerReferences");
  if (!refs.is_array()) return std::nullopt;
  for (const json& r : refs) {
    if (At(r, "controller") == true) {
      return OwnerRef{util::Intern(View(r, "apiVersion")), util::Intern(View(r, "kind")), Str(r, "name"),
                      Str(r, "uid")};
    }
  }
  return std::nullopt;
}

ObjectPtr<PodMeta> ToPodMeta(const json& pod) {
  const json& md = At(pod, "metadata");
  const json& labels = At(md, "labels");
  const json& annotations = At(md, "annotations");
  const std::string_view injection = View(labels, api::kInjectionLabel);
  const bool status_annotation = At(annotations, api::kStatusAnnotation).is_string();
  const bool scrape = View(annotations, api::kScrapeAnnotation) == "true";
  const bool legacy = View(annotations, api::kLegacyScrapeAnnotation) == "true";
  if (injection.empty() && !status_annotation && !scrape && !legacy) return nullptr;

  auto p = std::make_shared<PodMeta>();
  p->ns = util::Intern(View(md, "namespace"));
  p->name = Str(md, "name");
  p->uid = Str(md, "uid");
  p->injection = injection == "injected"  ? Injection::kInjected
                 : injection == "skipped" ? Injection::kSkipped
                                          : Injection::kNone;
  p->status_annotation = status_annotation;
  p->deleting = !At(md, "deletionTimestamp").is_null();
  p->scrape = scrape;
  p->legacy_scrape = legacy;
  p->agent_selector = util::Intern(View(annotations, api::kAgentSelectorAnnotation));
  p->native_override = util::Intern(View(annotations, api::kNativeSidecarAnnotation));
  p->grace_seconds = ParseInjectionClass(View(annotations, api::kInjectionClassAnnotation));
  p->agent_label = util::Intern(View(labels, api::kAgentLabel));
  p->injected_hash = util::Intern(View(annotations, api::kInjectedHashAnnotation));
  p->agent_version = util::Intern(View(annotations, api::kAgentVersionAnnotation));
  if (p->injection == Injection::kSkipped) {
    p->skip_reason = util::Intern(View(annotations, api::kSkipReasonAnnotation));
  }
  p->owner = ControllerOf(pod);
  // The same test as inject::Decide's (a Job's pod needs a native sidecar).
  if (const json& owners = At(md, "ownerReferences"); owners.is_array()) {
    for (const json& o : owners) {
      const std::string_view kind = View(o, "kind");
      if (kind == "Job" || kind == "CronJob") p->job = true;
    }
  }
  if (labels.is_object() &&
      (labels.contains("batch.kubernetes.io/job-name") || labels.contains("job-name"))) {
    p->job = true;
  }
  p->created_unix = ParseTimestamp(View(md, "creationTimestamp"));
  return p;
}

ObjectPtr<NamespaceMeta> ToNamespaceMeta(const json& ns) {
  const json& md = At(ns, "metadata");
  auto n = std::make_shared<NamespaceMeta>();
  n->name = Str(md, "name");
  if (const json& labels = At(md, "labels"); labels.is_object()) {
    for (const auto& [k, v] : labels.items()) {
      if (v.is_string()) n->labels.emplace(k, v.get<std::string>());
    }
  }
  n->terminating = !At(md, "deletionTimestamp").is_null() || Str(At(ns, "status"), "phase") == "Terminating";
  return n;
}

ObjectPtr<NodeMeta> ToNodeMeta(const json& node) {
  auto n = std::make_shared<NodeMeta>();
  n->name = Str(At(node, "metadata"), "name");
  n->kubelet_version = Str(At(At(node, "status"), "nodeInfo"), "kubeletVersion");
  return n;
}

ObjectPtr<ObjectName> ToObjectName(const json& object) {
  const json& md = At(object, "metadata");
  return std::make_shared<const ObjectName>(
      ObjectName{Str(md, "namespace"), Str(md, "name"), Str(md, "resourceVersion")});
}

bool AgentObject::HasFinalizer(std::string_view f) const {
  return std::find(finalizers.begin(), finalizers.end(), f) != finalizers.end();
}

ObjectPtr<AgentObject> ToAgentObject(const json& object) {
  auto a = std::make_shared<AgentObject>();
  const json& md = At(object, "metadata");
  auto parsed = api::ParseAgent(object);
  if (parsed.ok()) {
    a->agent = std::move(*parsed);
  } else {
    a->parse_error = parsed.message();
    a->agent.namespace_ = Str(md, "namespace");
    a->agent.name = Str(md, "name");
  }
  a->api_version = Str(object, "apiVersion");
  a->resource_version = Str(md, "resourceVersion");
  if (const json& g = At(md, "generation"); g.is_number_integer()) a->generation = g.get<int64_t>();
  a->deleting = !At(md, "deletionTimestamp").is_null();
  if (const json& f = At(md, "finalizers"); f.is_array()) {
    for (const json& v : f) {
      if (v.is_string()) a->finalizers.push_back(v.get<std::string>());
    }
  }
  a->status = At(object, "status");
  return a;
}

}  // namespace promsidecar::cache
