#include "agent/scrape/targets.h"

#include <gtest/gtest.h>

namespace promsidecar::scrape {
namespace {

config::AgentConfig Load(const std::string& yaml) {
  auto c = config::LoadConfigString(yaml, "test.yml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.message());
  return c.ok() ? *c : config::AgentConfig{};
}

TEST(BuildTargets, PopulatesJobInstanceStaticLabelsAndUrl) {
  auto c = Load(R"(
scrape_configs:
  - job_name: app
    scrape_interval: 15s
    metrics_path: /custom
    params: {module: [http_2xx]}
    static_configs:
      - targets: ["127.0.0.1:8080", "127.0.0.1:9090"]
        labels: {team: a}
)");
  auto r = BuildTargets(c.scrape_configs[0], "uid");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.targets.size(), 2u);
  const auto& t = r.targets[0];
  EXPECT_EQ(t.url, "http://127.0.0.1:8080/custom?module=http_2xx");
  EXPECT_EQ(t.interval.count(), 15000);
  EXPECT_EQ(t.settings.target_labels,
            (model::Labels{{"instance", "127.0.0.1:8080"}, {"job", "app"}, {"team", "a"}}));
  EXPECT_NE(r.targets[0].identity_hash, r.targets[1].identity_hash);
}

TEST(BuildTargets, RelabelConfigsRewriteAddressAndDropTargets) {
  auto c = Load(R"yaml(
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["a:1", "b:2"]
    relabel_configs:
      - source_labels: [__address__]
        regex: "b:2"
        action: drop
      - source_labels: [__address__]
        target_label: instance
        replacement: "pod-x:$1"
        regex: ".*:(.*)"
      - target_label: __scheme__
        replacement: https
)yaml");
  auto r = BuildTargets(c.scrape_configs[0], "");
  ASSERT_EQ(r.targets.size(), 1u);
  EXPECT_EQ(r.dropped, (std::vector<std::string>{"b:2"}));
  EXPECT_EQ(r.targets[0].url, "https://a:1/metrics");
  EXPECT_EQ(model::Get(r.targets[0].settings.target_labels, "instance"), "pod-x:1");
}

TEST(BuildTargets, LimitsAndAuthorization) {
  auto c = Load(R"(
global: {sample_limit: 100}
scrape_configs:
  - job_name: app
    label_limit: 7
    basic_auth: {username: u, password: p}
    static_configs: [{targets: ["a:1"]}]
)");
  auto r = BuildTargets(c.scrape_configs[0], "");
  ASSERT_EQ(r.targets.size(), 1u);
  EXPECT_EQ(r.targets[0].settings.limits.sample_limit, 100u);
  EXPECT_EQ(r.targets[0].settings.limits.label_limit, 7u);
  ASSERT_TRUE(r.targets[0].authorization);
  EXPECT_EQ(r.targets[0].authorization(), "Basic dTpw");
}

TEST(TargetUrl, EscapesParams) {
  EXPECT_EQ(TargetUrl("http", "h:1", "metrics", {{"a b", "x&y"}}), "http://h:1/metrics?a+b=x%26y");
}

}  // namespace
}  // namespace promsidecar::scrape
