// RenderPrometheusConfig against golden files (regenerate with
// PROMSIDECAR_UPDATE_GOLDEN=1), plus properties every rendering must have:
// it parses back (with promsidecar's own Prometheus-compatible parser) into
// the same scrape jobs and remote_write sections, and it uses no field the
// selected version rejects.
#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>
#include <map>

#include <cstdlib>

#include "agent/render/prometheus_config.h"
#include "render_cases.h"

namespace promsidecar::render {
namespace {

using testing::CaseNames;
using testing::kVersions;
using testing::LoadCase;

bool UpdateGolden() {
  const char* v = std::getenv("PROMSIDECAR_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

TEST(RenderGolden, EveryCaseMatchesItsGoldenFiles) {
  auto names = CaseNames();
  ASSERT_GE(names.size(), 5u);
  for (const auto& name : names) {
    auto in = LoadCase(name);
    for (const auto& v : kVersions) {
      SCOPED_TRACE(name + " " + v.suffix);
      std::string got = RenderPrometheusConfig(in.shared, in.pod_job, v.version);
      auto path = testing::GoldenPath(name, v);
      if (UpdateGolden()) {
        std::ofstream(path, std::ios::binary) << got;
        continue;
      }
      ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing; run with PROMSIDECAR_UPDATE_GOLDEN=1";
      EXPECT_EQ(got, testing::Slurp(path)) << "regenerate with PROMSIDECAR_UPDATE_GOLDEN=1 if intended";
    }
  }
}

TEST(RenderGolden, ParsesBackIntoTheSameJobsAndRemoteWrites) {
  for (const auto& name : CaseNames()) {
    auto in = LoadCase(name);
    std::vector<config::ScrapeConfig> want_jobs = in.shared.scrape_configs;
    if (in.pod_job) want_jobs.push_back(*in.pod_job);
    for (const auto& v : kVersions) {
      SCOPED_TRACE(name + " " + v.suffix);
      // 2.42 cannot express native histograms or remote write 2.0 (the renderer
      // leaves those keys out: Render.NewKeysOnlyWhereTheVersionHasThem).
      if (v.version.major < 3 && name == "native_histograms_rw2") continue;
      std::string text = RenderPrometheusConfig(in.shared, in.pod_job, v.version);
      auto parsed = config::LoadConfigString(text, "/render.yml");
      ASSERT_TRUE(parsed.ok()) << parsed.message();
      // 3.x gets a fallback protocol for every job (the text format unless set).
      std::vector<config::ScrapeConfig> want = want_jobs;
      for (auto& job : want) {
        if (v.version.major >= 3 && !job.fallback_scrape_protocol) {
          job.fallback_scrape_protocol = config::ScrapeProtocol::kPrometheusText0_0_4;
        }
      }
      EXPECT_EQ(parsed->scrape_configs, want);
      EXPECT_EQ(parsed->remote_write, in.shared.remote_write);
      EXPECT_EQ(parsed->global.scrape_interval, in.shared.global.scrape_interval);
      EXPECT_EQ(parsed->global.scrape_timeout, in.shared.global.scrape_timeout);
      EXPECT_EQ(parsed->global.external_labels, in.shared.global.external_labels);
      if (v.version.major >= 3) {
        EXPECT_EQ(parsed->global, in.shared.global);
      }
    }
  }
}

TEST(Render, NewKeysOnlyWhereTheVersionHasThem) {
  auto in = LoadCase("native_histograms_rw2");
  const char* keys[] = {"scrape_protocols",
                        "scrape_native_histograms",
                        "always_scrape_classic_histograms",
                        "native_histogram_bucket_limit",
                        "native_histogram_min_bucket_factor",
                        "protobuf_message",
                        "send_exemplars",
                        "send_native_histograms",
                        "metadata_config",
                        "fallback_scrape_protocol"};
  // Each key with the first version that has it; 2.42 gets the older ones only.
  const std::map<std::string, PrometheusVersion> since{{"metadata_config", {2, 23}},
                                                       {"send_exemplars", {2, 27}},
                                                       {"send_native_histograms", {2, 40}},
                                                       {"native_histogram_bucket_limit", {2, 45}},
                                                       {"scrape_protocols", {2, 49}},
                                                       {"native_histogram_min_bucket_factor", {2, 50}},
                                                       {"protobuf_message", {2, 54}},
                                                       {"fallback_scrape_protocol", {3, 0}},
                                                       {"always_scrape_classic_histograms", {3, 5}},
                                                       {"scrape_native_histograms", {3, 8}}};
  for (auto version : {PrometheusVersion{2, 42}, PrometheusVersion{2, 50}, PrometheusVersion{3, 0},
                       PrometheusVersion{3, 16}}) {
    const std::string text = RenderPrometheusConfig(in.shared, in.pod_job, version);
    for (const char* key : keys) {
      const bool want = version >= since.at(key);
      EXPECT_EQ(text.find(std::string(key) + ":") != std::string::npos, want)
          << key << " for " << version.major << "." << version.minor;
    }
    // PrometheusText1.0.0 exists from 3.0 on.
    EXPECT_EQ(text.find("PrometheusText1.0.0") != std::string::npos, version.major >= 3);
  }
}

TEST(Render, GlobalLimitsOnlyWhereTheVersionHasThem) {
  auto in = LoadCase("sidecar_full");
  ASSERT_NE(in.shared.global.limits.sample_limit, 0u);
  for (auto [version, has_global] :
       {std::pair{PrometheusVersion{2, 42}, false}, std::pair{PrometheusVersion{2, 44}, false},
        std::pair{PrometheusVersion{2, 45}, true}, std::pair{PrometheusVersion{3, 0}, true}}) {
    auto doc = YAML::Load(RenderPrometheusConfig(in.shared, in.pod_job, version));
    EXPECT_EQ(static_cast<bool>(doc["global"]["sample_limit"]), has_global)
        << version.major << "." << version.minor;
    EXPECT_EQ(static_cast<bool>(doc["global"]["body_size_limit"]), has_global);
    // The job carries the limit either way (here the pod lowered it to 1000).
    EXPECT_EQ(doc["scrape_configs"][0]["sample_limit"].as<uint64_t>(), 1000u);
    EXPECT_EQ(doc["scrape_configs"][0]["label_limit"].as<uint64_t>(), 64u);
  }
}

TEST(Render, PodJobShape) {
  auto in = LoadCase("sidecar_full");
  auto doc = YAML::Load(RenderPrometheusConfig(in.shared, in.pod_job, {3, 0}));
  auto job = doc["scrape_configs"][0];
  EXPECT_EQ(job["job_name"].as<std::string>(), "shop-web");
  EXPECT_EQ(job["metrics_path"].as<std::string>(), "/custom/metrics");
  EXPECT_EQ(job["scheme"].as<std::string>(), "https");
  EXPECT_TRUE(job["tls_config"]["insecure_skip_verify"].as<bool>());
  EXPECT_EQ(job["scrape_interval"].as<std::string>(), "15s");
  EXPECT_EQ(job["scrape_timeout"].as<std::string>(), "5s");
  EXPECT_EQ(job["params"]["module"].size(), 2u);
  EXPECT_EQ(job["params"]["target"][0].as<std::string>(), "a b");
  ASSERT_EQ(job["static_configs"].size(), 2u);
  EXPECT_EQ(job["static_configs"][0]["targets"][0].as<std::string>(), "127.0.0.1:8080");
  EXPECT_EQ(job["static_configs"][0]["labels"]["instance"].as<std::string>(), "web-7d4b9c8f6-x2x9k:8080");
  EXPECT_EQ(job["static_configs"][0]["labels"]["namespace"].as<std::string>(), "shop");
  EXPECT_EQ(job["static_configs"][0]["labels"]["pod"].as<std::string>(), "web-7d4b9c8f6-x2x9k");
  EXPECT_EQ(job["static_configs"][1]["targets"][0].as<std::string>(), "127.0.0.1:9090");
}

TEST(Render, CredentialsAreFilesWhenTheSourceIsAFile) {
  auto in = LoadCase("sidecar_full");
  std::string out = RenderPrometheusConfig(in.shared, in.pod_job, {2, 42});
  auto doc = YAML::Load(out);
  auto rw = doc["remote_write"];
  EXPECT_EQ(rw[0]["basic_auth"]["password_file"].as<std::string>(),
            "/etc/promsidecar/shared/remote-write-password");
  EXPECT_FALSE(rw[0]["basic_auth"]["password"]);
  EXPECT_EQ(rw[1]["authorization"]["credentials_file"].as<std::string>(),
            "/var/run/secrets/tokens/remote-write");
  EXPECT_EQ(rw[2]["oauth2"]["client_secret_file"].as<std::string>(), "/etc/promsidecar/shared/oauth-secret");

  auto inline_case = LoadCase("inline_secrets");
  auto doc2 = YAML::Load(RenderPrometheusConfig(inline_case.shared, inline_case.pod_job, {2, 42}));
  EXPECT_EQ(doc2["remote_write"][0]["basic_auth"]["password"].as<std::string>(), "hunter2");
  EXPECT_EQ(doc2["remote_write"][1]["authorization"]["credentials"].as<std::string>(), "s3cr3t-token");
}

TEST(Render, TrickyStringsSurviveQuoting) {
  auto in = LoadCase("quoting");
  auto doc = YAML::Load(RenderPrometheusConfig(in.shared, in.pod_job, {3, 0}));
  for (const auto& label : in.shared.global.external_labels) {
    EXPECT_EQ(doc["global"]["external_labels"][label.name].as<std::string>(), label.value) << label.name;
    EXPECT_EQ(doc["global"]["external_labels"][label.name].Tag(), "!") << label.name << " must be quoted";
  }
  EXPECT_EQ(doc["scrape_configs"][0]["job_name"].Tag(), "!");  // the job is literally "true"
  EXPECT_EQ(doc["remote_write"][0]["headers"]["X-Tenant"].Tag(), "!");
}

TEST(Render, NoPodJobNoScrapeConfigs) {
  auto in = LoadCase("not_scraped");
  ASSERT_FALSE(in.pod_job);
  auto doc = YAML::Load(RenderPrometheusConfig(in.shared, in.pod_job, {2, 42}));
  EXPECT_FALSE(doc["scrape_configs"]);
  EXPECT_EQ(doc["remote_write"].size(), 1u);
}

TEST(PrometheusAgentArgs, FlagsPerMajorVersion) {
  EXPECT_EQ(PrometheusAgentArgs({2, 42}, "/cfg/prometheus.yml", "/wal", "127.0.0.1:9090"),
            (std::vector<std::string>{"--enable-feature=agent", "--config.file=/cfg/prometheus.yml",
                                      "--storage.agent.path=/wal", "--web.listen-address=127.0.0.1:9090",
                                      "--web.enable-lifecycle"}));
  auto v3 = PrometheusAgentArgs({3, 5}, "c", "s", "l");
  EXPECT_EQ(v3.front(), "--agent");
  EXPECT_EQ(std::count(v3.begin(), v3.end(), "--enable-feature=agent"), 0);
}

TEST(ParsePrometheusVersion, Table) {
  auto ok = [](std::string_view s) { return ParsePrometheusVersion(s); };
  EXPECT_EQ(*ok("2.42.0"), (PrometheusVersion{2, 42}));
  EXPECT_EQ(*ok("2.42.0+ds"), (PrometheusVersion{2, 42}));
  EXPECT_EQ(*ok("v3.5.1"), (PrometheusVersion{3, 5}));
  EXPECT_EQ(*ok("V3.5"), (PrometheusVersion{3, 5}));
  EXPECT_EQ(*ok("3.0"), (PrometheusVersion{3, 0}));
  EXPECT_EQ(*ok("2.32.0-rc.0"), (PrometheusVersion{2, 32}));
  for (const char* bad : {"", "3", "x.y", "2.31.1", "1.8.2", "v", "3.x"}) EXPECT_FALSE(ok(bad).ok()) << bad;
  EXPECT_NE(ok("2.31.0").message().find("2.32"), std::string::npos);
}

}  // namespace
}  // namespace promsidecar::render
