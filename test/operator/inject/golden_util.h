// Loading one golden injection case: test/testdata/operator/inject/<case>/
// {pod.yaml|pod.json, agents.yaml, facts.json} in, want-*.json out.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/inject/inject.h"

namespace promsidecar::inject::testing {

struct GoldenCase {
  std::string name;
  std::filesystem::path dir;
  nlohmann::json pod;
  bool pod_is_json = false;
  std::string pod_file;  // "pod.yaml" or "pod.json"
  ClusterFacts facts;
  std::string pod_namespace;
};

std::filesystem::path GoldenRoot();
std::vector<std::string> GoldenCaseNames();
// Aborts the test (ADD_FAILURE + empty) on unreadable input.
bool LoadGoldenCase(const std::string& name, GoldenCase* out);
std::string ReadText(const std::filesystem::path& path);
bool UpdateGolden();

}  // namespace promsidecar::inject::testing
