#include "operator/cli/cli.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/kube/config.h"
#include "operator/api/agent.h"
#include "operator/cli/cluster_flags.h"
#include "operator/cli/yaml_json.h"
#include "operator/explain/explain.h"
#include "operator/explain/live.h"

namespace promsidecar::cli {
namespace {

using nlohmann::json;

constexpr const char* kKubectlPluginName = "kubectl-promsidecar";

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

struct Options {
  std::string file;
  std::vector<std::string> agent_files;
  std::string namespace_;
  std::vector<std::string> node_versions;
  std::string apiserver_version;
  std::string namespace_labels;
  std::vector<std::string> limit_range_files;
  std::string facts_file;
  int agent_port = 0;
  std::string output;
  // explain: the object to read from the cluster instead of -f.
  std::string object;
  // inject and explain -f use its settings flags; explain OBJECT all of it.
  ClusterFlags cluster;
};

// `live`: explain, which reads either -f or OBJECT from the cluster.
void AddOptions(CLI::App* cmd, Options* o, bool live) {
  CLI::Option* file =
      cmd->add_option("-f,--filename", o->file, "Pod (or workload) manifest, YAML or JSON; - for stdin");
  if (live) {
    CLI::Option* object = cmd->add_option("object", o->object,
                                          "Read from the cluster instead: pod/NAME (or NAME), "
                                          "deployment/NAME, statefulset/NAME, daemonset/NAME, "
                                          "replicaset/NAME, job/NAME or cronjob/NAME, in -n");
    file->excludes(object);
    AddClusterFlags(cmd, &o->cluster);
  } else {
    file->required();
    AddSettingsFlags(cmd, &o->cluster.settings);
  }
  cmd->add_option("--agent", o->agent_files,
                  "PrometheusAgent manifest (repeatable; a file may hold several)");
  cmd->add_option("-n,--namespace", o->namespace_,
                  live ? "Namespace of OBJECT (default: the kubeconfig context's, else default); with -f: of "
                         "objects that name none (default: default)"
                       : "Namespace of objects that name none (default: default)");
  cmd->add_option("--node-version", o->node_versions, "A Node's kubelet version, e.g. v1.28.5 (repeatable)");
  cmd->add_option(
      "--apiserver-version", o->apiserver_version,
      "The API server's version (default: from --facts, else " + std::string(kDefaultApiserverVersion) + ")");
  cmd->add_option("--namespace-labels", o->namespace_labels, "Labels of the pod's namespace: k=v,k2=v2");
  cmd->add_option("--limit-range", o->limit_range_files, "LimitRange manifest of the namespace (repeatable)");
  cmd->add_option("--facts", o->facts_file,
                  "Cluster facts as JSON (the golden tests' facts.json); flags win");
  cmd->add_option("--agent-port", o->agent_port, "The agent's HTTP port");
  cmd->add_option("-o,--output", o->output,
                  live ? "OBJECT: json or yaml instead of text" : "json or yaml (default: the input's form)")
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
  ApplySettingsFlags(o.cluster.settings, &facts.settings);
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

// explain OBJECT: the I/O edge (config and client) around ExplainLive.
int RunLive(Options o, std::ostream& out, std::ostream& err) {
  auto config = kube::LoadDefaultConfig(o.cluster.kubeconfig, o.cluster.context);
  if (!config) {
    err << "error: cannot load the Kubernetes client configuration: " << config.message()
        << "; pass --kubeconfig or set KUBECONFIG\n";
    return 1;
  }
  ResolveClusterFlags(std::getenv("POD_NAMESPACE"), "", &o.cluster);
  // kubectl's namespace rule: -n, else the context's, else default.
  std::string ns = !o.namespace_.empty() ? o.namespace_ : !config->ns.empty() ? config->ns : "default";
  kube::ClientOptions client_options;
  client_options.user_agent = "promsidecar-operator-explain";
  kube::Client client(*config, client_options);
  return ExplainLive(client, {.object = o.object, .ns = ns, .flags = o.cluster, .output = o.output}, out,
                     err);
}

}  // namespace

int ExplainLive(kube::Client& client, const LiveExplainRequest& request, std::ostream& out,
                std::ostream& err) {
  auto target = explain::ParseTarget(request.object, request.ns);
  if (!target) {
    err << "error: " << target.message() << "\n";
    return 2;
  }
  auto snapshot = explain::ReadSnapshot(client, *target,
                                        {.group = api::AgentApiGroup{request.flags.api_group},
                                         .agent_namespaces = request.flags.agent_namespaces,
                                         .node_selector = request.flags.node_selector});
  if (!snapshot) {
    err << "error: " << snapshot.message() << "\n";
    return 1;
  }
  // The webhook's settings, from the same flags as `run`.
  inject::OperatorSettings settings;
  ApplySettingsFlags(request.flags.settings, &settings);
  const explain::Explanation e = explain::Explain(*snapshot, settings);
  if (request.output == "json") {
    out << explain::ToJson(e).dump(2) << "\n";
  } else if (request.output == "yaml") {
    out << ToYaml(explain::ToJson(e));
  } else {
    out << explain::FormatText(e);
  }
  return 0;
}

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
    if (!explain::IsWorkload(kind)) continue;
    const json::json_pointer ptr = explain::TemplatePointer(kind);
    if (!doc.contains(ptr) || !doc[ptr].is_object()) continue;
    json tmpl = doc[ptr];
    json pod = explain::TemplatePod(doc, ns);
    inject::InjectionResult r = inject::Decide(pod, ns, facts);
    try {
      pod = pod.patch(r.patch);
    } catch (const json::exception& e) {
      return MakeError("the patch for " + kind + " " + ns + "/" + name + " does not apply: " + e.what());
    }
    // What TemplatePod added for Decide is not part of the template.
    pod["metadata"].erase("namespace");
    if (kind == "Job" || kind == "CronJob") pod["metadata"].erase("ownerReferences");
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
  // Installed as kubectl-promsidecar (a link to this binary), kubectl runs it
  // for `kubectl promsidecar ...` with the same arguments.
  if (argc > 0 && std::filesystem::path(argv[0]).filename() == kKubectlPluginName) {
    app.name("kubectl promsidecar");
  }
  Options inject_opts;
  Options explain_opts;
  CLI::App* inject_cmd = app.add_subcommand(
      "inject",
      "Print the pod (or workload) as the webhook would mutate it, in the input's form (YAML or JSON)");
  AddOptions(inject_cmd, &inject_opts, false);
  CLI::App* explain_cmd = app.add_subcommand(
      "explain",
      "Say whether and why the pod would or would not get the sidecar: from a manifest (-f) or from the "
      "cluster (OBJECT: the webhook's facts read now, and for a running pod whether its sidecar is current)");
  AddOptions(explain_cmd, &explain_opts, true);
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
  if (!explain_opts.object.empty()) return RunLive(explain_opts, out, err);
  if (explain_opts.file.empty()) {
    err << "error: explain needs an object to read from the cluster (pod/NAME, deployment/NAME ...) or -f "
           "FILE; "
        << app.get_name() << " explain --help lists both\n";
    return 2;
  }
  return Run(explain_opts, true, out, err);
}

}  // namespace promsidecar::cli
