// promsidecar-sampleapp: the demo's and tests' scrape target. Serves N
// counter series and lets N change at run time:
//
//   promsidecar-sampleapp [--series 10] [--listen :8080] [--path /metrics]
//                         [--tick 1s] [--series-file FILE]
//   curl -d series=5000 http://HOST:8080/control   # cardinality spike
//   curl -d series=0 http://HOST:8080/control      # the series go stale
//   curl http://HOST:8080/control                  # the current count
//
// (cpp-httplib refuses a POST without a body: pass the count as form data,
// or as ?series=N with -d ''.)
//
// --series-file names a file holding a count (for example a downwardAPI file
// of an annotation); the app re-reads it every tick.
#include <httplib.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>

#include "common/util/units.h"
#include "sampleapp/series.h"

namespace ps = promsidecar;

namespace {

struct ListenAddress {
  std::string host;
  int port = 0;
};

ps::Result<ListenAddress> ParseListen(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return ps::Error{"--listen '" + text + "': want [HOST]:PORT such as :8080 or 127.0.0.1:0"};
  }
  ListenAddress a{text.substr(0, colon), 0};
  if (a.host.empty()) a.host = "0.0.0.0";
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  try {
    size_t used = 0;
    a.port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || a.port < 0 || a.port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return ps::Error{"--listen '" + text + "': the port must be a number between 0 and 65535"};
  }
  return a;
}

// Applies --series-file: a missing or malformed file leaves the count alone
// (and is reported once per distinct problem).
void ApplySeriesFile(const std::string& file, ps::sampleapp::SeriesSet& set, std::string& last_problem) {
  std::ifstream in(file);
  if (!in) return;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto n = ps::sampleapp::ParseSeriesCount(text, "--series-file " + file);
  if (!n) {
    if (n.error().message != last_problem) std::cerr << n.error().message << "\n";
    last_problem = n.error().message;
    return;
  }
  last_problem.clear();
  if (n.value() != set.count()) {
    std::cerr << "series: " << set.count() << " -> " << n.value() << " (from " << file << ")\n";
    set.SetCount(n.value());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"promsidecar-sampleapp: a scrape target with a run-time series count"};
  int64_t series = 10;
  std::string listen = ":8080";
  std::string path = "/metrics";
  std::string tick_text = "1s";
  std::string series_file;
  app.add_option("--series", series, "number of counter series to expose")->capture_default_str();
  app.add_option("--listen", listen, "[HOST]:PORT to serve on (port 0: any free port, printed)")
      ->capture_default_str();
  app.add_option("--path", path, "metrics path")->capture_default_str();
  app.add_option("--tick", tick_text, "how often every counter grows by one (Prometheus duration)")
      ->capture_default_str();
  app.add_option("--series-file", series_file, "file holding a series count, re-read every tick");
  CLI11_PARSE(app, argc, argv);

  auto addr = ParseListen(listen);
  if (!addr) {
    std::cerr << addr.error().message << "\n";
    return 2;
  }
  auto tick = ps::units::ParseDuration(tick_text);
  if (!tick || tick.value().count() <= 0) {
    std::cerr << "--tick '" << tick_text << "': want a positive Prometheus duration such as 1s or 500ms\n";
    return 2;
  }
  if (auto n = ps::sampleapp::ParseSeriesCount(std::to_string(series), "--series"); !n) {
    std::cerr << n.error().message << "\n";
    return 2;
  }
  if (path.empty() || path.front() != '/') {
    std::cerr << "--path '" << path << "': must start with /\n";
    return 2;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ps::sampleapp::SeriesSet set(series);
  httplib::Server server;
  server.Get(path, [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(set.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/healthz",
             [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  server.Get("/control", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("series=" + std::to_string(set.count()) + "\n", "text/plain");
  });
  server.Post("/control", [&](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("series")) {
      res.status = 400;
      res.set_content("want POST /control with form data series=N (curl -d series=N URL)\n", "text/plain");
      return;
    }
    auto n = ps::sampleapp::ParseSeriesCount(req.get_param_value("series"), "query parameter series");
    if (!n) {
      res.status = 400;
      res.set_content(n.error().message + "\n", "text/plain");
      return;
    }
    std::cerr << "series: " << set.count() << " -> " << n.value() << " (POST /control)\n";
    set.SetCount(n.value());
    res.set_content("series=" + std::to_string(n.value()) + "\n", "text/plain");
  });

  int port = addr.value().port;
  if (port == 0) {
    port = server.bind_to_any_port(addr.value().host);
  } else if (!server.bind_to_port(addr.value().host, port)) {
    port = -1;
  }
  if (port < 0) {
    std::cerr << "cannot listen on " << listen << "\n";
    return 1;
  }
  std::cout << "promsidecar-sampleapp: serving " << set.count() << " series on http://" << addr.value().host
            << ":" << port << path << std::endl;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread ticker([&] {
    std::string last_problem;
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, tick.value(), [&] { return stopping; })) {
      set.Tick();
      if (!series_file.empty()) ApplySeriesFile(series_file, set, last_problem);
    }
  });
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    server.stop();
  });
  server.listen_after_bind();
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  cv.notify_all();
  ticker.join();
  // The signal thread ends on a signal; when the server stopped for another
  // reason, send ourselves one so it returns.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return 0;
}
