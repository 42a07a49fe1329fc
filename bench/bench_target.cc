// Scrape targets for the agent benchmarks: one process serving T targets (one
// loopback port each) of N series. Every series changes its value on every
// scrape, as a busy application's would, so no agent can skip work by
// deduplicating. Each distinct URL path has its own scrape counter, exposed as
// `bench_scrapes_total`: several agents scraping the same target through
// different paths each see 1, 2, 3, ... and the loss test can tell exactly
// which scrapes were delivered.
//
//   bench_target --targets=T --series=N
// prints `ports=P1,P2,...` on stdout once every port listens; GET /-/stats on
// any port answers `{"<port><path>": scrapes, ...}`. Runs until SIGTERM/SIGINT.
#include <signal.h>

#include <httplib.h>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  int targets = 1;
  int series = 1000;
  // cpp-httplib closes a keep-alive connection after 5 requests by default;
  // a busy application's server keeps it open, and so does this target
  // unless told otherwise (--keep-alive-max=5 reproduces httplib's default).
  int keep_alive_max = 1000000;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--targets=", 0) == 0) {
      o.targets = std::atoi(a.c_str() + 10);
    } else if (a.rfind("--series=", 0) == 0) {
      o.series = std::atoi(a.c_str() + 9);
    } else if (a.rfind("--keep-alive-max=", 0) == 0) {
      o.keep_alive_max = std::atoi(a.c_str() + 17);
    } else {
      std::fprintf(stderr,
                   "bench_target: unknown argument %s (use --targets=T --series=N [--keep-alive-max=K])\n",
                   a.c_str());
      std::exit(2);
    }
  }
  if (o.targets < 1 || o.series < 1) {
    std::fprintf(stderr, "bench_target: --targets and --series must be at least 1\n");
    std::exit(2);
  }
  return o;
}

void AppendNumber(std::string& out, double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendInt(std::string& out, uint64_t v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// A page shaped like an instrumented service: a few families with method/code/
// handler style labels; the values move with the scrape number.
std::string Page(int series, uint64_t scrape) {
  std::string out;
  out.reserve(static_cast<size_t>(series) * 96 + 256);
  out += "# HELP bench_scrapes_total Scrapes of this target through this path.\n";
  out += "# TYPE bench_scrapes_total counter\nbench_scrapes_total ";
  AppendInt(out, scrape);
  out += "\n# HELP bench_requests_total Requests handled.\n# TYPE bench_requests_total counter\n";
  static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
  static const char* kCodes[] = {"200", "201", "404", "500", "503"};
  for (int i = 0; i < series - 1; ++i) {
    out += "bench_requests_total{handler=\"/api/v1/resource/";
    AppendInt(out, static_cast<uint64_t>(i / 20));
    out += "\",method=\"";
    out += kMethods[i % 4];
    out += "\",code=\"";
    out += kCodes[(i / 4) % 5];
    out += "\"} ";
    AppendNumber(out, static_cast<double>(scrape) * (i % 7 + 1) + 0.25 * i);
    out += '\n';
  }
  return out;
}

std::atomic<bool> g_stop{false};
void OnSignal(int) {
  g_stop = true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts = ParseArgs(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);

  std::mutex mu;
  std::map<std::string, uint64_t> scrapes;  // "<port><path>" -> count
  std::vector<std::unique_ptr<httplib::Server>> servers;
  std::vector<int> ports;
  for (int t = 0; t < opts.targets; ++t) {
    auto s = std::make_unique<httplib::Server>();
    s->set_keep_alive_max_count(static_cast<size_t>(opts.keep_alive_max));
    s->set_keep_alive_timeout(10);
    // Every kept-alive connection holds a pool thread; httplib's default pool
    // (8) would starve once a few agents (and Go's spare connections) connect.
    s->new_task_queue = [] { return new httplib::ThreadPool(64); };
    int port = s->bind_to_any_port("127.0.0.1");
    if (port <= 0) {
      std::fprintf(stderr, "bench_target: cannot bind a loopback port\n");
      return 1;
    }
    ports.push_back(port);
    s->Get("/-/stats", [&](const httplib::Request&, httplib::Response& res) {
      std::string body = "{";
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& [k, v] : scrapes) {
        if (body.size() > 1) body += ",";
        body += "\"" + k + "\":" + std::to_string(v);
      }
      res.set_content(body + "}", "application/json");
    });
    s->Get(R"(/.*)", [&, port](const httplib::Request& req, httplib::Response& res) {
      uint64_t n;
      {
        std::lock_guard<std::mutex> lock(mu);
        n = ++scrapes[std::to_string(port) + req.path];
      }
      res.set_content(Page(opts.series, n), "text/plain; version=0.0.4; charset=utf-8");
    });
    servers.push_back(std::move(s));
  }
  std::vector<std::thread> threads;
  for (auto& s : servers) threads.emplace_back([&s] { s->listen_after_bind(); });
  std::string line = "ports=";
  for (size_t i = 0; i < ports.size(); ++i) line += (i ? "," : "") + std::to_string(ports[i]);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& s : servers) s->stop();
  for (auto& t : threads) t.join();
  return 0;
}
