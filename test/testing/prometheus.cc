#include "testing/prometheus.h"

#include <chrono>
#include <cstdio>
#include <regex>
#include <stdexcept>

#include "common/http/client.h"

namespace promsidecar::testing {
namespace {

std::string UrlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

nlohmann::json GetData(const std::string& url) {
  http::Client client;
  http::Request req;
  req.url = url;
  req.timeout = std::chrono::seconds(30);
  auto resp = client.Do(req);
  if (!resp.ok()) throw std::runtime_error(resp.message());
  auto body = nlohmann::json::parse(resp->body, nullptr, false);
  if (body.is_discarded() || body.value("status", "") != "success") {
    throw std::runtime_error("Prometheus API " + url + " answered " + std::to_string(resp->status) + ": " +
                             resp->body.substr(0, 500));
  }
  return body["data"];
}

nlohmann::json GetJson(const std::string& url) {
  return GetData(url)["result"];
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

PrometheusServer::PrometheusServer(PrometheusOptions options) : options_(std::move(options)) {
  port_ = options_.port ? options_.port : FreePort();
  WriteFile(dir_.Join("prometheus.yml"), options_.config_yaml);
  Start();
}

PrometheusServer::~PrometheusServer() {
  Stop();
}

void PrometheusServer::Start() {
  ProcessOptions p;
  p.argv = {options_.binary, "--config.file=" + dir_.Join("prometheus.yml"),
            "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
  bool agent = false;
  for (const auto& a : options_.extra_args) agent = agent || a == "--enable-feature=agent" || a == "--agent";
  p.argv.push_back(agent ? "--storage.agent.path=" + dir_.Join("data")
                         : "--storage.tsdb.path=" + dir_.Join("data"));
  if (options_.remote_write_receiver) p.argv.push_back("--web.enable-remote-write-receiver");
  for (const auto& a : options_.extra_args) p.argv.push_back(a);
  p.log_file = dir_.Join("prometheus.log");
  process_ = std::make_unique<Subprocess>(p);
  bool ready = PollUntil(std::chrono::seconds(60), [&] {
    if (!process_->Running()) return true;
    http::Client client;
    http::Request req;
    req.url = Url() + "/-/ready";
    req.timeout = std::chrono::seconds(2);
    auto resp = client.Do(req);
    return resp.ok() && resp->status == 200;
  });
  if (!ready || !process_->Running()) {
    throw std::runtime_error("Prometheus did not become ready on port " + std::to_string(port_) + "; log:\n" +
                             Log());
  }
}

void PrometheusServer::Stop() {
  if (process_) {
    process_->Stop(std::chrono::seconds(20));
    process_.reset();
  }
}

void PrometheusServer::Restart() {
  Stop();
  Start();
}

std::string PrometheusServer::Log() const {
  return ReadFile(dir_.Join("prometheus.log"));
}

nlohmann::json PrometheusServer::Query(const std::string& promql, double time_s) const {
  return GetJson(Url() + "/api/v1/query?query=" + UrlEncode(promql) +
                 "&time=" + std::to_string(time_s > 0 ? time_s : Now()));
}

nlohmann::json PrometheusServer::QueryRange(const std::string& promql, double start_s, double end_s,
                                            double step_s) const {
  return GetJson(Url() + "/api/v1/query_range?query=" + UrlEncode(promql) +
                 "&start=" + std::to_string(start_s) + "&end=" + std::to_string(end_s) +
                 "&step=" + std::to_string(step_s));
}

nlohmann::json PrometheusServer::RawSamples(const std::string& selector, double window_s,
                                            double time_s) const {
  return Query(selector + "[" + std::to_string(static_cast<long>(window_s)) + "s]",
               time_s > 0 ? time_s : Now());
}

nlohmann::json PrometheusServer::Api(const std::string& path_and_query) const {
  return GetData(Url() + path_and_query);
}

std::string PrometheusServer::Encode(const std::string& s) {
  return UrlEncode(s);
}

std::string PrometheusVersion() {
  auto r = RunCommand({"prometheus", "--version"});
  std::smatch m;
  static const std::regex re(R"(version (\d+\.\d+\.\d+))");
  if (std::regex_search(r.output, m, re)) return m[1];
  return "";
}

}  // namespace promsidecar::testing
