#include "operator/controller/plan.h"

#include <set>

#include "common/util/json_access.h"

namespace promsidecar::controller {
namespace {

using nlohmann::json;
using util::At;
using util::Str;
using util::StringList;

// Present or possibly present.
bool MaybeThere(const NamespaceFacts& n) {
  return !n.secret_hash || !n.secret_hash->empty();
}

}  // namespace

bool NamespaceAdmitted(const api::Agent& agent, const std::string& ns, const api::Labels& labels) {
  if (!agent.sidecar.namespace_selector) return ns == agent.namespace_;
  api::Labels with_name = labels;
  with_name.emplace("kubernetes.io/metadata.name", ns);  // the API server sets it on every namespace
  return api::Matches(*agent.sidecar.namespace_selector, with_name);
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

Plan PlanAgent(const PlanInput& in) {
  Plan plan;
  const cache::AgentObject& object = *in.agent;
  const api::Agent& agent = object.agent;
  if (!object.ok() || !agent.is_sidecar()) return plan;  // other modes belong to prometheus-operator
  const std::vector<std::string> old_rendered = StringList(At(object.status, "renderedNamespaces"));

  if (object.deleting) {
    if (!in.whole || !object.HasFinalizer(kFinalizer)) return plan;
    std::set<std::string> remove(old_rendered.begin(), old_rendered.end());
    for (const auto& n : in.namespaces) {
      if (MaybeThere(n)) remove.insert(n.name);
    }
    plan.remove.assign(remove.begin(), remove.end());
    plan.finalizer = Plan::Finalizer::kRemove;
    return plan;
  }
  if (!object.HasFinalizer(kFinalizer)) {
    // Nothing is written before the finalizer is there: a Secret rendered
    // without it would outlive the agent.
    if (!in.whole) return plan;
    plan.finalizer = Plan::Finalizer::kAdd;
  }

  std::set<std::string> desired, rendered_into;
  for (const auto& n : in.namespaces) {
    const bool previous = (n.secret_hash && !n.secret_hash->empty()) ||
                          std::find(old_rendered.begin(), old_rendered.end(), n.name) != old_rendered.end();
    // A namespace being deleted refuses new objects; its pods are going away.
    const bool wanted =
        n.exists && !n.terminating && n.injected_pods > 0 && NamespaceAdmitted(agent, n.name, n.labels);
    if (!wanted) {
      if (MaybeThere(n) || previous) plan.remove.push_back(n.name);
      continue;
    }
    desired.insert(n.name);
    plan.injected_pods += n.injected_pods;
    plan.outdated_pods += n.outdated_pods;
    if (n.outdated_pods > 0) plan.outdated_by_namespace[n.name] = n.outdated_pods;
    if (in.rendered) {
      rendered_into.insert(n.name);
      if (n.secret_hash != in.rendered->data_hash) plan.ensure.push_back(n.name);
    } else if (previous) {
      rendered_into.insert(n.name);  // the last good Secret stays where it is still needed
    }
  }
  if (in.rendered && !plan.ensure.empty()) {
    plan.secret = render::SecretObject(agent, *in.rendered);
    (*plan.secret)["metadata"].erase("namespace");  // set per target
    plan.secret_hash = in.rendered->data_hash;
  }
  if (!in.whole) return plan;

  AgentStatus status;
  status.observed_generation = agent.generation;
  status.injected_pods = plan.injected_pods;
  status.outdated_pods = plan.outdated_pods;
  status.uninjected_pods = in.uninjected_pods;
  status.namespaces = static_cast<int>(desired.size());
  status.rendered_namespaces.assign(rendered_into.begin(), rendered_into.end());
  if (in.rendered) {
    status.conditions.push_back(
        {"Reconciled", "True", "ConfigRendered",
         "config rendered into " + std::to_string(rendered_into.size()) + " namespace(s)"});
    status.conditions.push_back({"Available", "True", "SecretsCurrent",
                                 std::to_string(status.injected_pods) + " injected pod(s) in " +
                                     std::to_string(rendered_into.size()) +
                                     " namespace(s) have the current config"});
  } else {
    status.conditions.push_back({"Reconciled", "False", "ConfigRenderFailed", in.render_error});
    status.conditions.push_back({"Available", "False", "ConfigRenderFailed", in.render_error});
    // One Event per distinct failure, not one per reconcile.
    bool same_failure = false;
    const json& conds = At(object.status, "conditions");
    if (conds.is_array()) {
      for (const auto& c : conds) {
        if (Str(c, "type") == "Reconciled" && Str(c, "reason") == "ConfigRenderFailed" &&
            Str(c, "message") == in.render_error) {
          same_failure = true;
        }
      }
    }
    if (!same_failure) plan.events.push_back({"Warning", "ConfigRenderFailed", in.render_error});
  }
  json new_status = StatusJson(status, object.status, in.now);
  if (!StatusEquivalent(new_status, object.status)) plan.status = std::move(new_status);
  return plan;
}

Result<PlanInput> PlanInputFromJson(const json& j) {
  if (!j.is_object() || !j.contains("agent")) return MakeError("plan input: no \"agent\" object");
  PlanInput in;
  try {
    in.agent = cache::ToAgentObject(j["agent"]);
    if (!in.agent->ok()) return MakeError("plan input: agent: " + in.agent->parse_error);
    render::ReferencedObjects refs;
    const json& referenced = At(j, "referenced");
    if (referenced.contains("secrets")) refs.secrets = referenced["secrets"].get<decltype(refs.secrets)>();
    if (referenced.contains("configMaps")) {
      refs.config_maps = referenced["configMaps"].get<decltype(refs.config_maps)>();
    }
    auto rendered = render::RenderSharedConfig(in.agent->agent, refs, "");
    if (rendered.ok()) {
      in.rendered = std::make_shared<const render::RenderedSecret>(std::move(*rendered));
    } else {
      in.render_error = rendered.message();
    }
    in.whole = j.value("whole", true);
    in.uninjected_pods = j.value("uninjectedPods", 0);
    in.now = j.value("now", "2026-01-01T00:00:00Z");
    for (const json& n : j.value("namespaces", json::array())) {
      NamespaceFacts f;
      f.name = n.at("name").get<std::string>();
      f.exists = n.value("exists", true);
      f.terminating = n.value("terminating", false);
      if (n.contains("labels")) f.labels = n["labels"].get<api::Labels>();
      f.injected_pods = n.value("injectedPods", 0);
      f.outdated_pods = n.value("outdatedPods", 0);
      if (n.contains("secretHash") && !n["secretHash"].is_null()) {
        f.secret_hash = n["secretHash"].get<std::string>();
        // "@rendered": what this input renders (cases with a current Secret).
        if (*f.secret_hash == "@rendered" && in.rendered) f.secret_hash = in.rendered->data_hash;
      }
      in.namespaces.push_back(std::move(f));
    }
  } catch (const json::exception& e) {
    return MakeError(std::string("plan input: a field has the wrong type: ") + e.what());
  }
  return in;
}

json PlanToJson(const Plan& plan) {
  const char* finalizer = plan.finalizer == Plan::Finalizer::kAdd      ? "add"
                          : plan.finalizer == Plan::Finalizer::kRemove ? "remove"
                                                                       : "keep";
  json events = json::array();
  for (const auto& e : plan.events)
    events.push_back({{"type", e.type}, {"reason", e.reason}, {"note", e.note}});
  return {{"finalizer", finalizer},
          {"ensure", plan.ensure},
          {"remove", plan.remove},
          {"secret", plan.secret ? *plan.secret : json()},
          {"secretHash", plan.secret_hash},
          {"status", plan.status ? *plan.status : json()},
          {"events", events},
          {"injectedPods", plan.injected_pods},
          {"outdatedPods", plan.outdated_pods},
          {"outdatedByNamespace", plan.outdated_by_namespace}};
}

}  // namespace promsidecar::controller
