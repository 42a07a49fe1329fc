// The upstream-engine renderer: its pure decisions (what is rendered, what a
// reload answer means), the atomic file replacement, and the loop driven
// through a scripted ReloadClient with real input files (no Prometheus).
#include "agent/runtime/renderer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <mutex>
#include <regex>

#include "testing/subprocess.h"

namespace promsidecar::agent {
namespace {

using namespace std::chrono_literals;
using promsidecar::testing::PollUntil;
using promsidecar::testing::ReadFile;
using promsidecar::testing::TempDir;
namespace fs = std::filesystem;

const podinfo::PodEnv kPod{"web-7d4b9c8f6-x2x9k", "shop", "uid-1", "10.0.0.5"};

// Replaced by rename, as every writer of these files does (kubelet, tests).
void Put(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  promsidecar::testing::WriteFile(path + ".new", content);
  fs::rename(path + ".new", path);
}

std::string Annotations(const std::string& path) {
  return "prometheus.operator.io/scrape=\"true\"\nprometheus.operator.io/port=\"8080\"\n"
         "prometheus.operator.io/path=\"" +
         path + "\"";
}

SidecarView View(const std::string& shared_yaml, std::map<std::string, std::string> annotations) {
  SidecarView v;
  if (!shared_yaml.empty()) {
    auto shared = config::LoadConfigString(shared_yaml, "/shared.yml");
    EXPECT_TRUE(shared.ok()) << shared.message();
    v.shared = *shared;
    v.shared_present = true;
  }
  podinfo::SidecarSettings settings;
  settings.default_interval = v.shared.global.scrape_interval;
  settings.default_timeout = v.shared.global.scrape_timeout;
  v.derived = podinfo::DeriveScrapeJob(annotations, {{"app", "web"}}, kPod, settings);
  return v;
}

const std::map<std::string, std::string> kScrape = {{"prometheus.operator.io/scrape", "true"},
                                                    {"prometheus.operator.io/port", "8080"}};

TEST(RenderSidecarConfig, Table) {
  struct Case {
    std::string name;
    std::string shared;
    std::map<std::string, std::string> annotations;
    std::vector<std::string> want_jobs;
    size_t want_remote_writes;
  };
  const std::string rw = "remote_write:\n  - url: http://rw.example:9090/api/v1/write\n";
  const std::vector<Case> cases = {
      {"missing shared config: the pod's job only", "", kScrape, {"web"}, 0},
      {"shared config: the pod's job and remote_write", rw, kScrape, {"web"}, 1},
      {"not scraped: no job", rw, {}, {}, 1},
      {"a shared job of the same name: the pod's is renamed",
       "scrape_configs:\n  - job_name: web\n    static_configs: [{targets: ['127.0.0.1:1']}]\n" + rw,
       kScrape,
       {"web", "web-pod"},
       1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    for (render::PrometheusVersion version :
         {render::PrometheusVersion{2, 42}, render::PrometheusVersion{3, 0}}) {
      auto doc = YAML::Load(RenderSidecarConfig(View(c.shared, c.annotations), version));
      std::vector<std::string> jobs;
      for (const auto& job : doc["scrape_configs"]) jobs.push_back(job["job_name"].as<std::string>());
      EXPECT_EQ(jobs, c.want_jobs);
      EXPECT_EQ(doc["remote_write"].size(), c.want_remote_writes);
      EXPECT_TRUE(doc["global"]);
    }
  }
}

TEST(RenderSidecarConfig, MissingSharedConfigUsesPrometheusDefaults) {
  auto doc = YAML::Load(RenderSidecarConfig(View("", kScrape), {2, 42}));
  EXPECT_EQ(doc["global"]["scrape_interval"].as<std::string>(), "1m");
  EXPECT_EQ(doc["scrape_configs"][0]["static_configs"][0]["targets"][0].as<std::string>(), "127.0.0.1:8080");
}

Result<http::Response> Answer(long status, std::string body = "") {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(ClassifyReload, Table) {
  struct Case {
    std::string name;
    Result<http::Response> response;
    ReloadOutcome want;
    std::string detail_has;
  };
  const std::vector<Case> cases = {
      {"200", Answer(200), ReloadOutcome::kDone, "HTTP 200"},
      {"204", Answer(204), ReloadOutcome::kDone, "HTTP 204"},
      {"not listening", MakeError("POST http://127.0.0.1:9090/-/reload: Couldn't connect to server"),
       ReloadOutcome::kRetry, "Couldn't connect"},
      {"starting", Answer(503, "Service Unavailable"), ReloadOutcome::kRetry,
       "HTTP 503: Service Unavailable"},
      {"file rejected", Answer(500, "failed to reload config: bad field\nmore\n"), ReloadOutcome::kRetry,
       "HTTP 500: failed to reload config: bad field"},
      {"lifecycle disabled", Answer(403, "Lifecycle API is not enabled."), ReloadOutcome::kGiveUp,
       "HTTP 403: Lifecycle API is not enabled."},
      {"wrong path", Answer(404), ReloadOutcome::kGiveUp, "HTTP 404"},
      {"redirect", Answer(302), ReloadOutcome::kGiveUp, "HTTP 302"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto d = ClassifyReload(c.response);
    EXPECT_EQ(d.outcome, c.want);
    EXPECT_NE(d.detail.find(c.detail_has), std::string::npos) << d.detail;
    EXPECT_EQ(d.detail.find("more"), std::string::npos) << "only the body's first line: " << d.detail;
  }
  auto long_body = ClassifyReload(Answer(500, std::string(5000, 'x')));
  EXPECT_LT(long_body.detail.size(), 300u);
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(WriteFileIfChanged, CreatesTheDirectoryWritesOnlyChangesWithMode0600) {
  TempDir dir;
  const std::string path = dir.Join("a/b/prometheus.yml");
  auto first = WriteFileIfChanged(path, "one\n");
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_TRUE(*first);
  EXPECT_EQ(ReadFile(path), "one\n");
  EXPECT_EQ(Mode(path), 0600u);
  struct stat before {};
  ASSERT_EQ(stat(path.c_str(), &before), 0);

  auto same = WriteFileIfChanged(path, "one\n");
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(*same);
  struct stat after {};
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "an unchanged file must not be replaced";

  // A temporary file left by a crash, world-readable: replaced, not reused as is.
  const std::string leftover = dir.Join("a/b/.prometheus.yml.tmp");
  promsidecar::testing::WriteFile(leftover, "stale");
  chmod(leftover.c_str(), 0644);
  auto changed = WriteFileIfChanged(path, "two\n");
  ASSERT_TRUE(changed.ok()) << changed.message();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(ReadFile(path), "two\n");
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_FALSE(fs::exists(leftover));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.Join("a/b"))) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"prometheus.yml"});
}

TEST(WriteFileIfChanged, AnUnusableDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  promsidecar::testing::WriteFile(dir.Join("file"), "x");
  const std::string path = dir.Join("file/sub/prometheus.yml");  // a directory under a regular file
  auto r = WriteFileIfChanged(path, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find(path), std::string::npos) << r.message();
}

// A Prometheus whose answers the test scripts: each call takes the next
// answer; the last one repeats.
class ScriptedReload : public ReloadClient {
 public:
  explicit ScriptedReload(std::vector<Result<http::Response>> answers) : answers_(std::move(answers)) {}
  Result<http::Response> Reload(const std::function<bool()>&) override {
    std::lock_guard<std::mutex> lock(mu_);
    size_t i = std::min(calls_, answers_.size() - 1);
    ++calls_;
    return answers_[i];
  }
  size_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::vector<Result<http::Response>> answers_;
  size_t calls_ = 0;
};

double MetricValue(const std::string& page, const std::string& name) {
  std::smatch m;
  if (std::regex_search(page, m, std::regex("(^|\n)" + name + " ([^\n]+)"))) return std::stod(m[2]);
  return -1;
}

class RendererLoop : public ::testing::Test {
 protected:
  RendererOptions Options() {
    RendererOptions o;
    o.output_file = dir_.Join("out/prometheus.yml");
    o.prometheus_version = {2, 42};
    o.config_file = dir_.Join("shared/config.yaml");
    o.sidecar = {dir_.Join("pod/annotations"), dir_.Join("pod/labels"), kPod};
    o.listen_address = "127.0.0.1:0";
    o.reload_min_backoff = 10ms;
    o.reload_max_backoff = 40ms;
    o.watch.debounce = 20ms;
    o.watch.poll_interval = 50ms;
    return o;
  }
  std::unique_ptr<Renderer> Start(std::vector<Result<http::Response>> answers) {
    auto scripted = std::make_unique<ScriptedReload>(std::move(answers));
    reload_ = scripted.get();
    auto r = std::make_unique<Renderer>(Options(), std::move(scripted));
    EXPECT_TRUE(r->Start().ok());
    return r;
  }
  double Metric(Renderer& r, const std::string& name) { return MetricValue(r.registry().Render(), name); }
  std::string Output() { return ReadFile(dir_.Join("out/prometheus.yml")); }

  TempDir dir_;
  ScriptedReload* reload_ = nullptr;
};

TEST_F(RendererLoop, RetriesTheReloadUntilPrometheusIsUp) {
  Put(dir_.Join("pod/annotations"), Annotations("/metrics"));
  auto down = MakeError("POST http://127.0.0.1:9090/-/reload: Couldn't connect to server");
  auto r = Start({down, down, Answer(503), Answer(200)});
  ASSERT_TRUE(PollUntil(30s, [&] { return Metric(*r, "promsidecar_renderer_reloads_total") == 1; }));
  EXPECT_EQ(Metric(*r, "promsidecar_renderer_reload_failures_total"), 3);
  EXPECT_EQ(Metric(*r, "promsidecar_renderer_reload_pending"), 0);
  EXPECT_GT(Metric(*r, "promsidecar_renderer_last_success_timestamp_seconds"), 0);
  EXPECT_EQ(Metric(*r, "promsidecar_renderer_renders_total"), 1);
  EXPECT_TRUE(r->ready());
  // Missing shared config: the pod's job, no remote_write.
  EXPECT_NE(Output().find("\"/metrics\""), std::string::npos) << Output();
  EXPECT_EQ(Output().find("remote_write"), std::string::npos) << Output();
  EXPECT_EQ(reload_->calls(), 4u);
}

TEST_F(RendererLoop, AnInputChangeRendersAndReloadsANoOpDoesNot) {
  Put(dir_.Join("pod/annotations"), Annotations("/metrics"));
  auto r = Start({Answer(200)});
  ASSERT_TRUE(PollUntil(30s, [&] { return reload_->calls() == 1; }));

  Put(dir_.Join("pod/annotations"), Annotations("/other/metrics"));
  ASSERT_TRUE(PollUntil(30s, [&] { return reload_->calls() == 2; }));
  EXPECT_NE(Output().find("\"/other/metrics\""), std::string::npos) << Output();

  Put(dir_.Join("shared/config.yaml"), "remote_write:\n  - url: http://rw.example/api/v1/write\n");
  ASSERT_TRUE(PollUntil(30s, [&] { return reload_->calls() == 3; }));
  EXPECT_NE(Output().find("http://rw.example/api/v1/write"), std::string::npos) << Output();
  EXPECT_EQ(Metric(*r, "promsidecar_renderer_reloads_total"), 3);

  // Rendering again without a change (SIGHUP) leaves file and Prometheus alone.
  r->Trigger();
  ASSERT_TRUE(PollUntil(30s, [&] { return Metric(*r, "promsidecar_renderer_renders_total") >= 4; }));
  EXPECT_EQ(reload_->calls(), 3u);
}

TEST_F(RendererLoop, AnInvalidSharedConfigKeepsTheLastGoodFile) {
  Put(dir_.Join("pod/annotations"), Annotations("/metrics"));
  Put(dir_.Join("shared/config.yaml"), "remote_write:\n  - url: http://rw.example/api/v1/write\n");
  auto r = Start({Answer(200)});
  ASSERT_TRUE(PollUntil(30s, [&] { return reload_->calls() == 1; }));
  const std::string good = Output();

  Put(dir_.Join("shared/config.yaml"), "global: {scrape_interval: banana}\n");
  ASSERT_TRUE(PollUntil(30s, [&] { return Metric(*r, "promsidecar_renderer_render_failures_total") == 1; }));
  EXPECT_EQ(Output(), good);
  EXPECT_EQ(reload_->calls(), 1u);
  EXPECT_TRUE(r->ready()) << "the last good file is still in effect";
}

TEST_F(RendererLoop, InvalidAtStartIsNotReadyUntilFixed) {
  Put(dir_.Join("pod/annotations"), Annotations("/metrics"));
  Put(dir_.Join("shared/config.yaml"), "global: {scrape_interval: banana}\n");
  auto r = Start({Answer(200)});
  ASSERT_TRUE(PollUntil(30s, [&] { return Metric(*r, "promsidecar_renderer_render_failures_total") == 1; }));
  EXPECT_FALSE(r->ready());
  EXPECT_FALSE(fs::exists(dir_.Join("out/prometheus.yml")));
  EXPECT_EQ(reload_->calls(), 0u);

  Put(dir_.Join("shared/config.yaml"), "global: {scrape_interval: 15s}\n");
  ASSERT_TRUE(PollUntil(30s, [&] { return reload_->calls() == 1; }));
  EXPECT_TRUE(r->ready());
  EXPECT_NE(Output().find("scrape_interval: 15s"), std::string::npos) << Output();
}

TEST_F(RendererLoop, ARefusedReloadIsNotRetriedUntilTheNextChange) {
  Put(dir_.Join("pod/annotations"), Annotations("/metrics"));
  auto r = Start({Answer(403, "Lifecycle API is not enabled."), Answer(200)});
  ASSERT_TRUE(PollUntil(30s, [&] { return Metric(*r, "promsidecar_renderer_reload_failures_total") == 1; }));
  EXPECT_EQ(Metric(*r, "promsidecar_renderer_reload_pending"), 0);
  // Nothing left to do: a SIGHUP pass that changes nothing sends nothing.
  r->Trigger();
  ASSERT_TRUE(PollUntil(30s, [&] { return Metric(*r, "promsidecar_renderer_renders_total") >= 2; }));
  EXPECT_EQ(reload_->calls(), 1u);

  Put(dir_.Join("pod/annotations"), Annotations("/other/metrics"));
  ASSERT_TRUE(PollUntil(30s, [&] { return Metric(*r, "promsidecar_renderer_reloads_total") == 1; }));
  EXPECT_EQ(reload_->calls(), 2u);
}

TEST_F(RendererLoop, AfterARestartPrometheusIsReloadedOnceEvenIfTheFileIsUnchanged) {
  Put(dir_.Join("pod/annotations"), Annotations("/metrics"));
  {
    auto r = Start({Answer(200)});
    ASSERT_TRUE(PollUntil(30s, [&] { return reload_->calls() == 1; }));
    r->Shutdown();
  }
  struct stat before {};
  ASSERT_EQ(stat(dir_.Join("out/prometheus.yml").c_str(), &before), 0);
  auto r = Start({Answer(200)});
  ASSERT_TRUE(PollUntil(30s, [&] { return reload_->calls() == 1; }));
  struct stat after {};
  ASSERT_EQ(stat(dir_.Join("out/prometheus.yml").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the unchanged file must not be rewritten";
}

TEST_F(RendererLoop, WithoutAReloadUrlOnlyTheFileIsWritten) {
  Put(dir_.Join("pod/annotations"), Annotations("/metrics"));
  Renderer r(Options());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(PollUntil(30s, [&] { return r.ready(); }));
  EXPECT_EQ(Metric(r, "promsidecar_renderer_renders_total"), 1);
  EXPECT_GT(Metric(r, "promsidecar_renderer_last_success_timestamp_seconds"), 0);
  EXPECT_EQ(Metric(r, "promsidecar_renderer_reload_failures_total"), 0);
  EXPECT_EQ(Metric(r, "promsidecar_renderer_reload_pending"), 0);
  EXPECT_NE(Output().find("\"/metrics\""), std::string::npos);
}

TEST_F(RendererLoop, ServesHealthReadinessAndMetrics) {
  Put(dir_.Join("pod/annotations"), Annotations("/metrics"));
  auto r = Start({Answer(200)});
  ASSERT_TRUE(PollUntil(30s, [&] { return r->web_port() != 0 && r->ready(); }));
  {
    // Scoped: an idle keep-alive connection would hold Shutdown() up.
    http::Client client;
    const std::string base = "http://127.0.0.1:" + std::to_string(r->web_port());
    for (const char* path : {"/-/healthy", "/-/ready"}) {
      auto resp = client.Do({.url = base + path, .timeout = 5s});
      ASSERT_TRUE(resp.ok()) << resp.message();
      EXPECT_EQ(resp->status, 200) << path;
    }
    auto metrics = client.Do({.url = base + "/metrics", .timeout = 5s});
    ASSERT_TRUE(metrics.ok());
    EXPECT_NE(metrics->body.find("promsidecar_renderer_renders_total"), std::string::npos);
  }
  r->Shutdown();
  EXPECT_EQ(r->web_port(), 0);
}

}  // namespace
}  // namespace promsidecar::agent
