#include "golden_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "operator/api/agent.h"
#include "operator/cli/yaml_json.h"

namespace promsidecar::inject::testing {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path GoldenRoot() {
  return fs::path(PROMSIDECAR_TESTDATA) / "operator" / "inject";
}

std::vector<std::string> GoldenCaseNames() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(GoldenRoot())) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool UpdateGolden() {
  const char* v = std::getenv("PROMSIDECAR_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

bool LoadGoldenCase(const std::string& name, GoldenCase* out) {
  out->name = name;
  out->dir = GoldenRoot() / name;
  out->pod_file = fs::exists(out->dir / "pod.json") ? "pod.json" : "pod.yaml";
  auto docs = cli::ParseDocuments(ReadText(out->dir / out->pod_file));
  if (!docs || docs->size() != 1) {
    ADD_FAILURE() << name << ": " << out->pod_file << " must hold exactly one pod";
    return false;
  }
  out->pod = (*docs)[0];
  out->pod_is_json = out->pod_file == "pod.json";
  out->pod_namespace = out->pod["metadata"].value("namespace", "default");
  json facts = json::object();
  if (fs::exists(out->dir / "facts.json")) facts = json::parse(ReadText(out->dir / "facts.json"));
  auto parsed = ParseClusterFacts(facts);
  if (!parsed) {
    ADD_FAILURE() << name << ": facts.json: " << parsed.message();
    return false;
  }
  out->facts = std::move(*parsed);
  if (fs::exists(out->dir / "agents.yaml")) {
    auto objs = cli::ParseObjects(ReadText(out->dir / "agents.yaml"));
    if (!objs) {
      ADD_FAILURE() << name << ": agents.yaml: " << objs.message();
      return false;
    }
    for (const json& obj : *objs) {
      auto agent = api::ParseAgent(obj);
      if (!agent) {
        ADD_FAILURE() << name << ": agents.yaml: " << agent.message();
        return false;
      }
      out->facts.agents.push_back(std::move(*agent));
    }
  }
  return true;
}

}  // namespace promsidecar::inject::testing
