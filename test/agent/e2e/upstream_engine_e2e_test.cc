// The upstream engine end to end, as the injector lays it out in a pod:
// promsidecar-agent in renderer mode (--render-prometheus-config,
// --reload-url) and Debian's prometheus in agent mode (PrometheusAgentArgs:
// --enable-feature=agent, --web.enable-lifecycle) reading the rendered file,
// scraping a local target and remote-writing to a receiving Prometheus. The
// pod's files are kubelet-style volumes. Shown: the renderer retries the
// reload until Prometheus is up; the shared config appears after the start;
// an annotation change moves the scrape to another path through a reload over
// HTTP, without restarting either process. Waits poll with generous deadlines.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <regex>

#include "agent/render/prometheus_config.h"
#include "agent_process.h"
#include "common/http/client.h"
#include "pod_files.h"
#include "testing/prometheus.h"
#include "testing/receiver.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

bool HasSeries(const PrometheusServer& receiver, const std::string& selector) {
  try {
    return !receiver.Query(selector).empty();
  } catch (const std::exception&) {
    return false;
  }
}

// A sample's value on a /metrics page (text format, no labels); -1 if absent.
double MetricValue(const std::string& page, const std::string& name) {
  std::smatch m;
  if (std::regex_search(page, m, std::regex("(^|\n)" + name + " ([^\n]+)"))) return std::stod(m[2]);
  return -1;
}

class UpstreamEngineE2E : public ::testing::Test {
 protected:
  std::string Page() {
    auto r = client_.Do(
        {.url = "http://127.0.0.1:" + std::to_string(renderer_port_) + "/metrics", .timeout = seconds(5)});
    return r.ok() ? r->body : "";
  }
  double Metric(const std::string& name) { return MetricValue(Page(), name); }
  std::string Logs() {
    std::string out = "renderer log:\n" + ReadFile(dir_.Join("renderer.log"));
    if (prometheus_) out += "\nprometheus log:\n" + prometheus_->Log();
    return out;
  }

  TempDir dir_;
  PodFiles files_{dir_.path()};
  http::Client client_;
  int renderer_port_ = FreePort();
  std::unique_ptr<Subprocess> prometheus_;
};

TEST_F(UpstreamEngineE2E, RenderedConfigScrapesAndAnAnnotationChangeReloadsPrometheus) {
  auto version = render::ParsePrometheusVersion(PrometheusVersion());
  ASSERT_TRUE(version.ok()) << version.message();
  ASSERT_EQ(version->major, 2) << "Debian's prometheus is expected to be 2.x (--enable-feature=agent)";

  PrometheusServer receiver;
  MetricsTarget target({"/metrics", "/other/metrics"});
  target.SetPage("/metrics",
                 [](uint64_t n) { return "first_path_scrapes_total " + std::to_string(n) + "\n"; });
  target.SetPage("/other/metrics",
                 [](uint64_t n) { return "second_path_scrapes_total " + std::to_string(n) + "\n"; });
  files_.WritePod(ScrapeAnnotations(target.port()), {{"app.kubernetes.io/name", "shop"}});

  // The rendered file's directory does not exist yet: the renderer creates it.
  const std::string rendered = dir_.Join("rendered/prometheus.yml");
  const int prom_port = FreePort();
  const std::string prom_url = "http://127.0.0.1:" + std::to_string(prom_port);
  ProcessOptions r;
  r.argv = {AgentBinary(),
            "--render-prometheus-config=" + rendered,
            "--reload-url=" + prom_url + "/-/reload",
            "--prometheus.version=" + PrometheusVersion(),
            "--config.file=" + files_.shared_file(),
            "--pod.annotations-file=" + files_.annotations_file(),
            "--pod.labels-file=" + files_.labels_file(),
            "--web.listen-address=127.0.0.1:" + std::to_string(renderer_port_),
            "--log.level=debug"};
  r.env = {{"POD_NAME", "shop-7d4b9c8f6-x2x9k"},
           {"POD_NAMESPACE", "team-a"},
           {"POD_UID", "uid-1"},
           {"POD_IP", "127.0.0.1"}};
  r.log_file = dir_.Join("renderer.log");
  Subprocess renderer(r);

  // No shared config yet: the file holds the pod's job and no remote_write.
  ASSERT_TRUE(PollUntil(seconds(30), [&] { return std::filesystem::exists(rendered); })) << Logs();
  std::string first = ReadFile(rendered);
  EXPECT_NE(first.find("\"/metrics\""), std::string::npos) << first;
  EXPECT_EQ(first.find("remote_write"), std::string::npos) << first;
  struct stat st {};
  ASSERT_EQ(stat(rendered.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Prometheus is not running: the renderer keeps retrying the reload.
  ASSERT_TRUE(PollUntil(seconds(30), [&] {
    return Metric("promsidecar_renderer_reload_failures_total") >= 2;
  })) << Logs();
  EXPECT_EQ(Metric("promsidecar_renderer_reloads_total"), 0);
  EXPECT_EQ(Metric("promsidecar_renderer_reload_pending"), 1);

  ProcessOptions p;
  p.argv = {"prometheus"};
  for (auto& a : render::PrometheusAgentArgs(*version, rendered, dir_.Join("prometheus-wal"),
                                             "127.0.0.1:" + std::to_string(prom_port))) {
    p.argv.push_back(a);
  }
  p.argv.push_back("--log.level=info");
  p.log_file = dir_.Join("prometheus.log");
  prometheus_ = std::make_unique<Subprocess>(p);
  // The renderer's next retry finds it (its backoff is capped at 30 s).
  ASSERT_TRUE(PollUntil(seconds(120), [&] { return Metric("promsidecar_renderer_reloads_total") >= 1; }))
      << Logs();
  ASSERT_TRUE(prometheus_->Running()) << Logs();
  EXPECT_EQ(Metric("promsidecar_renderer_reload_pending"), 0);

  // The operator's Secret arrives: remote_write appears, Prometheus reloads
  // and the series arrive with the pod's labels.
  double reloads = Metric("promsidecar_renderer_reloads_total");
  files_.WriteShared(
      "global:\n  scrape_interval: 1s\n  external_labels: {cluster: c1}\nsidecar: {min_scrape_interval: 1s}\n"
      "remote_write:\n  - url: " +
      receiver.RemoteWriteUrl() + "\n    name: receiver\n    queue_config: {batch_send_deadline: 1s}\n");
  ASSERT_TRUE(PollUntil(seconds(60), [&] { return Metric("promsidecar_renderer_reloads_total") > reloads; }))
      << Logs();
  EXPECT_NE(ReadFile(rendered).find(receiver.RemoteWriteUrl()), std::string::npos);
  const std::string labels =
      "{job=\"shop\",namespace=\"team-a\",pod=\"shop-7d4b9c8f6-x2x9k\",instance=\"shop-7d4b9c8f6-x2x9k:" +
      std::to_string(target.port()) + "\",cluster=\"c1\"}";
  ASSERT_TRUE(PollUntil(
      seconds(90), [&] { return HasSeries(receiver, "first_path_scrapes_total" + labels); },
      milliseconds(500)))
      << Logs() << "\nreceiver log:\n"
      << receiver.Log();
  EXPECT_FALSE(HasSeries(receiver, "second_path_scrapes_total"));

  // The path annotation changes (kubelet swap): re-rendered, reloaded over
  // HTTP, and the new path's series arrive. Neither process restarts.
  const pid_t renderer_pid = renderer.pid(), prometheus_pid = prometheus_->pid();
  reloads = Metric("promsidecar_renderer_reloads_total");
  files_.WritePod(ScrapeAnnotations(target.port(), "/other/metrics"), {{"app.kubernetes.io/name", "shop"}});
  ASSERT_TRUE(PollUntil(
      seconds(90), [&] { return HasSeries(receiver, "second_path_scrapes_total" + labels); },
      milliseconds(500)))
      << Logs();
  EXPECT_GT(Metric("promsidecar_renderer_reloads_total"), reloads);
  EXPECT_NE(ReadFile(rendered).find("\"/other/metrics\""), std::string::npos);
  EXPECT_TRUE(renderer.Running());
  EXPECT_TRUE(prometheus_->Running());
  EXPECT_EQ(renderer.pid(), renderer_pid);
  EXPECT_EQ(prometheus_->pid(), prometheus_pid);
  EXPECT_EQ(Metric("promsidecar_renderer_render_failures_total"), 0);

  EXPECT_EQ(renderer.Stop(seconds(20)), 0) << Logs();
  EXPECT_EQ(prometheus_->Stop(seconds(20)), 0) << Logs();
}

}  // namespace
}  // namespace promsidecar::testing
