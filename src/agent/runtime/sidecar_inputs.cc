#include "agent/runtime/sidecar_inputs.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/podinfo/downward.h"
#include "common/log/log.h"

namespace promsidecar::agent {
namespace {

Result<std::optional<std::string>> ReadOptionalFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<std::string>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return std::optional<std::string>(ss.str());
}

}  // namespace

Result<SidecarView> SidecarInputs::Load() {
  auto shared_text = ReadOptionalFile(config_file_);
  if (!shared_text.ok()) return shared_text.error();
  if (shared_text->has_value()) {
    auto shared = config::LoadConfigString(**shared_text, config_file_);
    if (!shared.ok()) return shared.error();
    shared_ = *shared;
  } else if (shared_) {
    log::Warn("shared config file disappeared; keeping the last good one", {{"file", config_file_}});
  } else {
    log::Info("shared config file does not exist yet; using defaults until it appears",
              {{"file", config_file_}});
  }
  SidecarView view;
  view.shared = shared_.value_or(config::AgentConfig{});
  view.shared_present = shared_.has_value();

  for (auto [path, target] :
       {std::pair{options_.annotations_file, &annotations_}, std::pair{options_.labels_file, &labels_}}) {
    if (path.empty()) continue;
    auto text = ReadOptionalFile(path);
    if (!text.ok() || !text->has_value()) {
      log::Warn("pod metadata file missing or unreadable; keeping what was read before", {{"file", path}});
      continue;
    }
    auto parsed = podinfo::ParseDownwardApiFile(**text);
    if (!parsed.ok()) {
      log::Warn("pod metadata file unreadable; keeping what was read before",
                {{"file", path}, {"err", parsed.message()}});
      continue;
    }
    *target = std::move(parsed).value();
  }

  const config::AgentConfig& cfg = view.shared;
  podinfo::SidecarSettings settings;
  settings.min_scrape_interval = cfg.sidecar.min_scrape_interval;
  settings.default_interval = cfg.global.scrape_interval;
  settings.default_timeout = cfg.global.scrape_timeout;
  settings.limits = cfg.global.limits;
  settings.legacy_annotations = cfg.sidecar.legacy_annotations;
  view.derived = podinfo::DeriveScrapeJob(annotations_, labels_, options_.pod, settings);
  for (const auto& p : view.derived.problems) {
    // Only our own annotations are ever named; their values are shortened.
    log::Warn("annotation ignored", {{"annotation", p.annotation}, {"problem", p.problem}});
  }
  if (!view.derived.scrape) log::Info("not scraping the pod", {{"reason", view.derived.reason}});
  return view;
}

config::AgentConfig SidecarInputs::Merge(const SidecarView& view) {
  config::AgentConfig cfg = view.shared;
  if (view.derived.scrape) {
    config::ScrapeConfig job = view.derived.job;
    if (cfg.FindJob(job.job_name) != nullptr) job.job_name += "-pod";
    // The pod's job takes the shared config's scrape defaults, as any job does.
    config::ApplyGlobalScrapeDefaults(cfg.global, job);
    cfg.scrape_configs.push_back(std::move(job));
  }
  return cfg;
}

}  // namespace promsidecar::agent
