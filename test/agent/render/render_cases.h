// The render golden cases: test/testdata/render/cases/NAME/{shared.yml,
// annotations} -> test/testdata/render/NAME.prometheus-{2.42,3}.yml. A case
// without shared.yml is a pod whose shared config does not exist yet: the
// renderer then uses the defaults (SidecarInputs), and so does LoadCase.
// Shared by the golden unit test and the promtool/Prometheus integration tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/podinfo/downward.h"
#include "agent/podinfo/scrape_job.h"
#include "agent/render/prometheus_config.h"

namespace promsidecar::render::testing {

inline const std::filesystem::path kRenderData = std::filesystem::path(PROMSIDECAR_TESTDATA) / "render";

struct VersionCase {
  PrometheusVersion version;
  std::string suffix;  // golden file suffix
};
// Debian's 2.42, and 3.16 (the promtool of scripts/build-promtool3; keys that
// appeared during 3.x, such as scrape_native_histograms in 3.8, are written
// from their version on).
inline const std::vector<VersionCase> kVersions = {{{2, 42}, "prometheus-2.42"}, {{3, 16}, "prometheus-3"}};

inline std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(kRenderData / "cases")) {
    if (e.is_directory()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::filesystem::path GoldenPath(const std::string& name, const VersionCase& v) {
  return kRenderData / (name + "." + v.suffix + ".yml");
}

inline const podinfo::PodEnv kPod{"web-7d4b9c8f6-x2x9k", "shop", "uid-1", "10.213.0.5"};

struct Inputs {
  config::AgentConfig shared;
  std::optional<config::ScrapeConfig> pod_job;
};

// Throws std::runtime_error when the case's inputs are broken (a test bug).
inline Inputs LoadCase(const std::string& name) {
  auto dir = kRenderData / "cases" / name;
  Result<config::AgentConfig> shared = config::AgentConfig{};
  if (std::filesystem::exists(dir / "shared.yml"))
    shared = config::LoadConfigFile((dir / "shared.yml").string());
  if (!shared.ok()) throw std::runtime_error(name + ": " + shared.message());
  auto annotations = podinfo::ParseDownwardApiFile(Slurp(dir / "annotations"));
  if (!annotations.ok()) throw std::runtime_error(name + ": " + annotations.message());
  podinfo::SidecarSettings settings;
  settings.default_interval = shared->global.scrape_interval;
  settings.default_timeout = shared->global.scrape_timeout;
  settings.limits = shared->global.limits;
  auto derived = podinfo::DeriveScrapeJob(*annotations, {{"app.kubernetes.io/name", "web"}}, kPod, settings);
  if (!derived.problems.empty()) throw std::runtime_error(name + ": " + derived.problems[0].problem);
  Inputs in{*shared, std::nullopt};
  if (derived.scrape) {
    in.pod_job = derived.job;
    config::ApplyGlobalScrapeDefaults(shared->global, *in.pod_job);
  }
  return in;
}

}  // namespace promsidecar::render::testing
