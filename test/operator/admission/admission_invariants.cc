#include "admission_invariants.h"

#include <exception>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/util/base64.h"
#include "operator/admission/server.h"
#include "operator/api/well_known.h"

namespace promsidecar::admission {
namespace {

using nlohmann::json;

json AgentObject(const std::string& ns, const std::string& name, json spec) {
  return {{"apiVersion", "promsidecar.io/v1alpha1"},
          {"kind", "PrometheusAgent"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"uid", ns + "-" + name}}},
          {"spec", std::move(spec)}};
}

std::vector<json> AgentObjects() {
  const json remote_write = {{{"url", "https://metrics.example.com/api/v1/write"}}};
  return {
      AgentObject(
          "monitoring", "cluster-default",
          {{"mode", "Sidecar"},
           {"remoteWrite", remote_write},
           {"sidecar", {{"default", true}, {"namespaceSelector", {{"matchLabels", {{"metrics", "on"}}}}}}}}),
      AgentObject("team-a", "legacy",
                  {{"mode", "Sidecar"},
                   {"remoteWrite", remote_write},
                   {"sampleLimit", 5000},
                   {"sidecar",
                    {{"legacyAnnotations", true},
                     {"minScrapeInterval", "30s"},
                     {"walSizeLimit", "64Mi"},
                     {"namespaceSelector",
                      {{"matchExpressions",
                        {{{"key", "kubernetes.io/metadata.name"},
                          {"operator", "In"},
                          {"values", {"team-a", "team-b"}}}}}}}}}}),
      AgentObject("monitoring", "statefulset", {{"mode", "StatefulSet"}, {"remoteWrite", remote_write}}),
  };
}

bool HasControlCharacter(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

const json* Field(const json& object, std::initializer_list<const char*> path) {
  const json* at = &object;
  for (const char* key : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

// Every container the pod came with is still there, unchanged; the agent's
// own (reinvocation may move or refresh it) is exempt.
std::string CheckOriginalContainersKept(const json& before, const json& after) {
  for (const char* list : {"containers", "initContainers"}) {
    const json* old_list = Field(before, {"spec", list});
    if (old_list == nullptr || !old_list->is_array()) continue;
    const json* new_list = Field(after, {"spec", list});
    for (const json& container : *old_list) {
      if (container.is_object() && container.value("name", json()) == api::kAgentContainerName) continue;
      bool kept = false;
      if (new_list != nullptr && new_list->is_array()) {
        for (const json& c : *new_list) kept = kept || c == container;
      }
      if (!kept)
        return std::string("spec.") + list + " entry changed or removed by the patch: " + container.dump();
    }
  }
  return "";
}

int AgentContainers(const json& pod) {
  int n = 0;
  for (const char* list : {"containers", "initContainers"}) {
    const json* l = Field(pod, {"spec", list});
    if (l == nullptr || !l->is_array()) continue;
    for (const json& c : *l) n += c.is_object() && c.value("name", json()) == api::kAgentContainerName;
  }
  return n;
}

struct Answer {
  std::string broken;      // "" when the answer is well-formed
  json patched;            // request.object with the patch applied (null: no patch)
  bool has_patch = false;  // a patch was returned
};

// Checks an HTTP answer to `request` whose body decoded to `decoded`.
Answer CheckReview(const AdmissionRequest& decoded, const http::ServerResponse& response, bool agents) {
  Answer a;
  auto fail = [&](std::string what) {
    a.broken = std::move(what);
    return a;
  };
  if (response.status != 200) {
    return fail("decodable AdmissionReview answered " + std::to_string(response.status) + ": " +
                response.body);
  }
  json review = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (review.is_discarded() || !review.is_object()) return fail("answer is not JSON: " + response.body);
  if (review.value("apiVersion", json()) != kAdmissionApiVersion ||
      review.value("kind", json()) != kAdmissionReviewKind) {
    return fail("answer is not an AdmissionReview v1: " + response.body);
  }
  const json* r = Field(review, {"response"});
  if (r == nullptr || !r->is_object()) return fail("answer without response: " + response.body);
  if (r->value("uid", json()) != decoded.uid) return fail("uid not echoed: " + response.body);
  const json* allowed = Field(*r, {"allowed"});
  if (allowed == nullptr || !allowed->is_boolean()) return fail("allowed missing: " + response.body);
  if (const json* warnings = Field(*r, {"warnings"})) {
    if (!warnings->is_array()) return fail("warnings not an array");
    for (const json& w : *warnings) {
      if (!w.is_string() || HasControlCharacter(w.get<std::string>())) return fail("bad warning " + w.dump());
      if (w.get<std::string>().find("internal error") != std::string::npos) {
        return fail("webhook failed internally (an exception): " + w.dump());
      }
    }
  }
  const json* status = Field(*r, {"status"});
  if (!allowed->get<bool>()) {
    if (status == nullptr || !status->is_object()) return fail("denial without status");
    const json code = status->value("code", json());
    const json message = status->value("message", json());
    if (!code.is_number_integer() || code.get<int>() < 400 || code.get<int>() > 599) {
      return fail("denial code " + code.dump());
    }
    if (code.get<int>() == 500) return fail("webhook failed internally: " + response.body);
    if (!message.is_string() || message.get<std::string>().empty()) return fail("denial without message");
    if (agents && code.get<int>() == 422 && message.get<std::string>().rfind("PrometheusAgent ", 0) != 0) {
      return fail("invalid-agent denial does not name the object: " + message.dump());
    }
    if (r->contains("patch") || r->contains("patchType")) return fail("denial with a patch");
    return a;
  }
  const json* patch_b64 = Field(*r, {"patch"});
  if (patch_b64 == nullptr) {
    if (r->contains("patchType")) return fail("patchType without patch");
    return a;
  }
  if (agents) return fail("the validating webhook returned a patch");
  if (r->value("patchType", json()) != "JSONPatch") return fail("patch without patchType JSONPatch");
  if (!patch_b64->is_string()) return fail("patch is not a string");
  auto patch_text = DecodeBase64(patch_b64->get<std::string>());
  if (!patch_text.ok()) return fail("patch is not base64: " + patch_text.message());
  json patch = json::parse(*patch_text, nullptr, /*allow_exceptions=*/false);
  if (!patch.is_array() || patch.empty()) return fail("patch is not a non-empty JSON array: " + *patch_text);
  try {
    a.patched = decoded.object.patch(patch);
  } catch (const std::exception& e) {
    return fail(std::string("patch does not apply to the pod: ") + e.what() + "\npatch: " + *patch_text);
  }
  a.has_patch = true;
  if (std::string kept = CheckOriginalContainersKept(decoded.object, a.patched); !kept.empty())
    return fail(kept);
  if (AgentContainers(a.patched) > 1) return fail("patched pod has more than one agent container");
  return a;
}

}  // namespace

FixedCluster::FixedCluster() {
  for (const json& object : AgentObjects()) {
    auto agent = api::ParseAgent(object);
    if (!agent.ok()) std::terminate();  // the fixture itself is wrong
    agents_.push_back(std::move(agent).value());
  }
}

Result<inject::ClusterFacts> FixedCluster::FactsFor(const std::string& pod_namespace) {
  inject::ClusterFacts facts;
  facts.agents = agents_;
  facts.namespace_labels = {{"kubernetes.io/metadata.name", pod_namespace}};
  if (pod_namespace.rfind("app", 0) == 0) facts.namespace_labels["metrics"] = "on";
  facts.apiserver_version = "v1.34.0";
  facts.node_kubelet_versions = {"v1.34.0", "v1.33.2"};
  return facts;
}

Result<validate::ValidationContext> FixedCluster::ContextFor(const std::string&) {
  validate::ValidationContext context;
  context.existing_agents = agents_;
  context.existing_secrets = {"rw-creds"};
  return context;
}

std::string CheckAdmissionInput(std::string_view input) {
  if (input.empty()) return "";
  const auto mode = static_cast<unsigned char>(input[0]);
  const bool agents = (mode & 1) != 0;
  http::ServerRequest request;
  request.method = "POST";
  request.path = agents ? kValidateAgentPath : kMutatePodPath;
  if ((mode & 2) == 0) request.headers = {{"Content-Type", "application/json"}};
  request.body = std::string(input.substr(1));

  static FixedCluster cluster;
  PodInjectionWebhook pods(cluster, inject::OperatorSettings{});
  AgentValidationWebhook validation(cluster, api::AgentApiGroup::Own());
  const WebhookFunction webhook = [&](const AdmissionRequest& r) {
    return agents ? validation.Handle(r) : pods.Handle(r);
  };

  const http::ServerResponse response = ServeAdmission(webhook, request);
  auto decoded = DecodeAdmissionReview(request.body);
  if (!decoded.ok()) {
    if (response.status != 400) {
      return "undecodable body (" + decoded.message() + ") answered " + std::to_string(response.status);
    }
    if (response.body.empty()) return "400 without a reason";
    return "";
  }
  Answer first = CheckReview(*decoded, response, agents);
  if (!first.broken.empty() || !first.has_patch || AgentContainers(first.patched) == 0) return first.broken;

  // Reinvocation: the API server may send the patched pod again (another
  // webhook changed it, reinvocationPolicy IfNeeded). Never a second agent.
  json review = json::parse(request.body);
  review["request"]["object"] = first.patched;
  request.body = review.dump(-1, ' ', false, json::error_handler_t::replace);
  auto again = DecodeAdmissionReview(request.body);
  if (!again.ok()) return "the patched pod no longer decodes: " + again.message();
  Answer second = CheckReview(*again, ServeAdmission(webhook, request), agents);
  if (!second.broken.empty()) return "on reinvocation: " + second.broken;
  if (second.has_patch && AgentContainers(second.patched) != 1) {
    return "reinvocation changed the number of agent containers";
  }
  return "";
}

}  // namespace promsidecar::admission
