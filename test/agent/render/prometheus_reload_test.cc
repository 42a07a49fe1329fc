// The upstream engine end to end: Debian's prometheus in agent mode, started
// with PrometheusAgentArgs and a rendered config, scrapes a local target and
// remote-writes to a receiving Prometheus; the pod's path annotation then
// changes, the config is re-rendered, POST /-/reload applied, and the new
// path's series arrive.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include "agent/config/config.h"
#include "agent/podinfo/scrape_job.h"
#include "agent/render/prometheus_config.h"
#include "common/http/client.h"
#include "testing/prometheus.h"
#include "testing/subprocess.h"

namespace promsidecar::render {
namespace {

using namespace std::chrono_literals;
using promsidecar::testing::PollUntil;
using promsidecar::testing::PrometheusServer;
using promsidecar::testing::Subprocess;
using promsidecar::testing::TempDir;

// A scrape target with two pages, so a path change shows in the metric names.
class TwoPathTarget {
 public:
  TwoPathTarget() {
    server_.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("# TYPE first_path_metric gauge\nfirst_path_metric 1\n", "text/plain; version=0.0.4");
    });
    server_.Get("/other/metrics", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("# TYPE second_path_metric gauge\nsecond_path_metric 2\n", "text/plain; version=0.0.4");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~TwoPathTarget() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

std::string RenderFor(const config::AgentConfig& shared, int port, const std::string& path,
                      PrometheusVersion version) {
  podinfo::SidecarSettings settings;
  settings.min_scrape_interval = 1s;
  settings.default_interval = shared.global.scrape_interval;
  settings.default_timeout = shared.global.scrape_timeout;
  const podinfo::PodEnv pod{"web-7d4b9c8f6-x2x9k", "shop", "uid-1", "10.0.0.5"};
  auto derived = podinfo::DeriveScrapeJob({{"prometheus.operator.io/scrape", "true"},
                                           {"prometheus.operator.io/port", std::to_string(port)},
                                           {"prometheus.operator.io/path", path},
                                           {"prometheus.operator.io/scrape-interval", "1s"}},
                                          {{"app", "web"}}, pod, settings);
  EXPECT_TRUE(derived.scrape) << derived.reason;
  EXPECT_TRUE(derived.problems.empty());
  return RenderPrometheusConfig(shared, derived.job, version);
}

// Replace the file by rename, as the renderer in the pod does, so Prometheus
// never reads half a file.
void WriteAtomically(const std::string& path, const std::string& content) {
  promsidecar::testing::WriteFile(path + ".tmp", content);
  std::filesystem::rename(path + ".tmp", path);
}

bool HasSeries(const PrometheusServer& receiver, const std::string& selector) {
  try {
    return !receiver.Query(selector).empty();
  } catch (const std::exception&) {
    return false;
  }
}

TEST(UpstreamEngine, RenderedConfigScrapesAndReloadsOnPathChange) {
  auto version = ParsePrometheusVersion(promsidecar::testing::PrometheusVersion());
  ASSERT_TRUE(version.ok()) << version.message();

  PrometheusServer receiver;  // remote-write receiver
  TwoPathTarget target;
  auto shared = config::LoadConfigString(
      "global:\n"
      "  scrape_interval: 1s\n"
      "  scrape_timeout: 1s\n"
      "  external_labels: {cluster: e2e}\n"
      "remote_write:\n"
      "  - url: " +
          receiver.RemoteWriteUrl() +
          "\n"
          "    name: receiver\n"
          "    queue_config: {batch_send_deadline: 1s}\n",
      "/shared.yml");
  ASSERT_TRUE(shared.ok()) << shared.message();

  TempDir dir;
  const std::string config_path = dir.Join("prometheus.yml");
  WriteAtomically(config_path, RenderFor(*shared, target.port(), "/metrics", *version));

  int port = promsidecar::testing::FreePort();
  std::vector<std::string> argv = {"prometheus"};
  for (auto& a :
       PrometheusAgentArgs(*version, config_path, dir.Join("wal"), "127.0.0.1:" + std::to_string(port))) {
    argv.push_back(a);
  }
  argv.push_back("--log.level=info");
  Subprocess agent({argv, {}, "", dir.Join("agent.log")});
  const std::string agent_url = "http://127.0.0.1:" + std::to_string(port);
  http::Client client;
  ASSERT_TRUE(PollUntil(60s, [&] {
    if (!agent.Running()) return true;
    auto r = client.Do({.url = agent_url + "/-/ready", .timeout = 2s});
    return r.ok() && r->status == 200;
  }));
  ASSERT_TRUE(agent.Running()) << agent.Log();

  const std::string labels =
      "{job=\"web\",namespace=\"shop\",pod=\"web-7d4b9c8f6-x2x9k\",instance=\"web-7d4b9c8f6-x2x9k:" +
      std::to_string(target.port()) + "\",cluster=\"e2e\"}";
  ASSERT_TRUE(PollUntil(
      90s, [&] { return HasSeries(receiver, "first_path_metric" + labels); }, 500ms))
      << "agent log:\n"
      << agent.Log() << "\nreceiver log:\n"
      << receiver.Log();
  EXPECT_FALSE(HasSeries(receiver, "second_path_metric"));

  // The path annotation changes: re-render and ask Prometheus to reload.
  WriteAtomically(config_path, RenderFor(*shared, target.port(), "/other/metrics", *version));
  auto reload = client.Do({.method = "POST", .url = agent_url + "/-/reload", .timeout = 30s});
  ASSERT_TRUE(reload.ok()) << reload.message();
  ASSERT_EQ(reload->status, 200) << reload->body;
  ASSERT_TRUE(PollUntil(
      90s, [&] { return HasSeries(receiver, "second_path_metric" + labels); }, 500ms))
      << "agent log:\n"
      << agent.Log();
  EXPECT_NE(agent.Log().find("Completed loading of configuration file"), std::string::npos) << agent.Log();
  agent.Stop();
}

}  // namespace
}  // namespace promsidecar::render
