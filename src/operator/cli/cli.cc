#include "operator/cli/cli.h"

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "operator/api/agent.h"
#include "operator/cli/yaml_json.h"

namespace promsidecar::cli {
namespace {

using nlohmann::json;

// What `inject` assumes without --apiserver-version or --facts: a current cluster.
constexpr const char* kDefaultApiserverVersion = "v1.34.0";

Result<std::string> ReadFile(const std::string& path) {
  if (path == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Where a workload keeps its pod template.
json::json_pointer TemplatePointer(const std::string& kind) {
  if (kind == "CronJob") return json::json_pointer("/spec/jobTemplate/spec/template");
  return json::json_pointer("/spec/template");
}

bool IsWorkload(const std::string& kind) {
  return kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" || kind == "ReplicaSet" ||
         kind == "Job" || kind == "CronJob" || kind == "ReplicationController";
}

struct Options {
  std::string file;
  std::vector<std::string> agent_files;
  std::string namespace_;
  std::vector<std::string> node_versions;
  std::string apiserver_version;
  std::string namespace_labels;
  std::vector<std::string> limit_range_files;
  std::string facts_file;
  std::string agent_image;
  std::string operator_namespace;
  int agent_port = 0;
  std::string output;
};

void AddOptions(CLI::App* cmd, Options* o) {
  cmd->add_option("-f,--filename", o->file, "Pod (or workload) manifest, YAML or JSON; - for stdin")
      ->required();
  cmd->add_option("--agent", o->agent_files,
                  "PrometheusAgent manifest (repeatable; a file may hold several)");
  cmd->add_option("-n,--namespace", o->namespace_, "Namespace of objects that name none (default: default)");
  cmd->add_option("--node-version", o->node_versions, "A Node's kubelet version, e.g. v1.28.5 (repeatable)");
  cmd->add_option(
      "--apiserver-version", o->apiserver_version,
      "The API server's version (default: from --facts, else " + std::string(kDefaultApiserverVersion) + ")");
  cmd->add_option("--namespace-labels", o->namespace_labels, "Labels of the pod's namespace: k=v,k2=v2");
  cmd->add_option("--limit-range", o->limit_range_files, "LimitRange manifest of the namespace (repeatable)");
  cmd->add_option("--facts", o->facts_file,
                  "Cluster facts as JSON (the golden tests' facts.json); flags win");
  cmd->add_option("--agent-image", o->agent_image, "The operator's default agent image");
  cmd->add_option("--operator-namespace", o->operator_namespace, "The operator's namespace (never injected)");
  cmd->add_option("--agent-port", o->agent_port, "The agent's HTTP port");
  cmd->add_option("-o,--output", o->output, "json or yaml (default: the input's form)")
      ->check(CLI::IsMember({"json", "yaml"}));
}

Result<inject::ClusterFacts> BuildFacts(const Options& o) {
  inject::ClusterFacts facts;
  if (!o.facts_file.empty()) {
    auto text = ReadFile(o.facts_file);
    if (!text) return text.error();
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded()) return MakeError(o.facts_file + ": invalid JSON");
    auto f = inject::ParseClusterFacts(j);
    if (!f) return MakeError(o.facts_file + ": " + f.message());
    facts = std::move(*f);
  }
  if (!o.apiserver_version.empty()) {
    facts.apiserver_version = o.apiserver_version;
  } else if (o.facts_file.empty()) {
    facts.apiserver_version = kDefaultApiserverVersion;
  }
  if (!o.node_versions.empty()) facts.node_kubelet_versions = o.node_versions;
  if (!o.namespace_labels.empty()) {
    std::stringstream ss(o.namespace_labels);
    std::string pair;
    while (std::getline(ss, pair, ',')) {
      size_t eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) {
        return MakeError("--namespace-labels: \"" + pair + "\" is not key=value");
      }
      facts.namespace_labels[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
  }
  for (const std::string& path : o.limit_range_files) {
    auto text = ReadFile(path);
    if (!text) return text.error();
    auto objs = ParseObjects(*text);
    if (!objs) return MakeError(path + ": " + objs.message());
    for (json& lr : *objs) facts.limit_ranges.push_back(std::move(lr));
  }
  for (const std::string& path : o.agent_files) {
    auto text = ReadFile(path);
    if (!text) return text.error();
    auto objs = ParseObjects(*text);
    if (!objs) return MakeError(path + ": " + objs.message());
    for (const json& obj : *objs) {
      json copy = obj;
      if (!copy["metadata"].contains("namespace")) {
        copy["metadata"]["namespace"] = o.namespace_.empty() ? "default" : o.namespace_;
      }
      auto agent = api::ParseAgent(copy);
      if (!agent) return MakeError(path + ": " + agent.message());
      facts.agents.push_back(std::move(*agent));
    }
  }
  if (!o.agent_image.empty()) facts.settings.agent_image = o.agent_image;
  if (!o.operator_namespace.empty()) facts.settings.operator_namespace = o.operator_namespace;
  if (o.agent_port > 0) facts.settings.agent_port = o.agent_port;
  return facts;
}

void PrintExplanation(const ObjectDecision& d, std::ostream& out) {
  const inject::InjectionResult& r = d.result;
  out << d.object << ": " << inject::OutcomeName(r.outcome) << "\n";
  if (!r.agent.empty()) out << "  agent: " << r.agent << "\n";
  if (!r.reason.empty()) out << "  reason: " << r.reason << "\n";
  out << "  why: " << r.message << "\n";
  if (r.outcome == inject::Outcome::kInjected) {
    out << "  native sidecar: " << (r.native_sidecar ? "yes" : "no") << "\n";
    out << "  fragment hash: " << r.fragment_hash << "\n";
  }
  out << "  patch: " << r.patch.size() << " operation(s)\n";
  for (const std::string& w : r.warnings) out << "  warning: " << w << "\n";
}

int Run(const Options& o, bool explain, std::ostream& out, std::ostream& err) {
  auto text = ReadFile(o.file);
  if (!text) {
    err << "error: " << text.message() << "\n";
    return 1;
  }
  auto docs = ParseDocuments(*text);
  if (!docs) {
    err << "error: " << o.file << ": " << docs.message() << "\n";
    return 1;
  }
  auto facts = BuildFacts(o);
  if (!facts) {
    err << "error: " << facts.message() << "\n";
    return 1;
  }
  bool json_in = LooksLikeJson(*text);
  std::vector<ObjectDecision> decisions;
  auto mutated =
      MutateDocuments(std::move(*docs), o.namespace_.empty() ? "default" : o.namespace_, *facts, &decisions);
  if (!mutated) {
    err << "error: " << o.file << ": " << mutated.message() << "\n";
    return 1;
  }
  if (explain) {
    for (const ObjectDecision& d : decisions) PrintExplanation(d, out);
    if (decisions.empty()) out << "no Pod or workload template in " << o.file << "\n";
    return 0;
  }
  for (const ObjectDecision& d : decisions) {
    for (const std::string& w : d.result.warnings) err << "Warning: " << d.object << ": " << w << "\n";
  }
  bool as_json = o.output.empty() ? json_in : o.output == "json";
  if (as_json) {
    if (mutated->size() == 1) {
      out << (*mutated)[0].dump(2) << "\n";
    } else {
      out << json({{"apiVersion", "v1"}, {"kind", "List"}, {"items", *mutated}}).dump(2) << "\n";
    }
    return 0;
  }
  for (size_t i = 0; i < mutated->size(); ++i) {
    if (i > 0 || mutated->size() > 1) out << "---\n";
    out << ToYaml((*mutated)[i]);
  }
  return 0;
}

}  // namespace

Result<std::vector<json>> MutateDocuments(std::vector<json> docs, const std::string& default_namespace,
                                          const inject::ClusterFacts& facts,
                                          std::vector<ObjectDecision>* decisions) {
  for (json& doc : docs) {
    if (!doc.is_object()) continue;
    std::string kind = doc.value("kind", "");
    const json& meta = doc.contains("metadata") ? doc["metadata"] : json::object();
    std::string ns = meta.is_object() ? meta.value("namespace", default_namespace) : default_namespace;
    std::string name = meta.is_object() ? meta.value("name", meta.value("generateName", "")) : "";
    if (kind == "Pod") {
      inject::InjectionResult r = inject::Decide(doc, ns, facts);
      try {
        doc = doc.patch(r.patch);
      } catch (const json::exception& e) {
        return MakeError("the patch for Pod " + ns + "/" + name + " does not apply: " + e.what());
      }
      decisions->push_back({"Pod " + ns + "/" + name, std::move(r)});
      continue;
    }
    if (!IsWorkload(kind)) continue;
    json::json_pointer ptr = TemplatePointer(kind);
    if (!doc.contains(ptr) || !doc[ptr].is_object()) continue;
    json tmpl = doc[ptr];
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", tmpl.value("metadata", json::object())},
                {"spec", tmpl.value("spec", json::object())}};
    pod["metadata"]["namespace"] = ns;
    bool job = kind == "Job" || kind == "CronJob";
    if (job) {
      // The Job controller sets this owner on the pods it creates.
      pod["metadata"]["ownerReferences"] = {{{"apiVersion", "batch/v1"},
                                             {"kind", "Job"},
                                             {"name", name},
                                             {"uid", "00000000-0000-0000-0000-000000000000"},
                                             {"controller", true}}};
    }
    inject::InjectionResult r = inject::Decide(pod, ns, facts);
    try {
      pod = pod.patch(r.patch);
    } catch (const json::exception& e) {
      return MakeError("the patch for " + kind + " " + ns + "/" + name + " does not apply: " + e.what());
    }
    pod["metadata"].erase("namespace");
    if (job) pod["metadata"].erase("ownerReferences");
    if (tmpl.contains("metadata") || !pod["metadata"].empty()) tmpl["metadata"] = pod["metadata"];
    tmpl["spec"] = pod["spec"];
    doc[ptr] = tmpl;
    decisions->push_back({kind + " " + ns + "/" + name + " (pod template)", std::move(r)});
  }
  return docs;
}

int Main(int argc, const char* const* argv, std::ostream& out, std::ostream& err, std::string_view version) {
  CLI::App app{"promsidecar-operator: injects the promsidecar metrics agent into annotated pods"};
  app.set_version_flag("--version", "promsidecar-operator " + std::string(version));
  app.require_subcommand(1);
  Options inject_opts;
  Options explain_opts;
  CLI::App* inject_cmd = app.add_subcommand(
      "inject",
      "Print the pod (or workload) as the webhook would mutate it, in the input's form (YAML or JSON)");
  AddOptions(inject_cmd, &inject_opts);
  CLI::App* explain_cmd =
      app.add_subcommand("explain", "Say whether and why the pod would or would not get the sidecar");
  AddOptions(explain_cmd, &explain_opts);
  // Dispatched by main() before this parser (it links the controller); listed
  // here so --help shows it.
  app.add_subcommand("run",
                     "Run the operator: admission webhooks and controller (promsidecar-operator run --help)")
      ->allow_extras();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints help and usage errors; keep them on our streams.
    int code = app.exit(e, out, err);
    return code == 0 ? 0 : 2;
  }
  if (inject_cmd->parsed()) return Run(inject_opts, false, out, err);
  return Run(explain_opts, true, out, err);
}

}  // namespace promsidecar::cli
