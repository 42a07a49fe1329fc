// A counting remote-write 1.0 receiver for the agent benchmarks. Each agent
// under test writes to its own path, /api/v1/write/<agent>, so one receiver
// serves every agent of a run. It decodes every request (snappy, then the
// protoc-generated WriteRequest), counts samples, and keeps every value of
// `bench_scrapes_total` per agent and instance: the target increments it once
// per scrape, so the loss test can name exactly which scrapes never arrived.
//
//   bench_receiver [--tls-cert=FILE --tls-key=FILE] [--threads=N]
// prints `write_port=P control_port=Q` on stdout once both listen. The control
// port (plain HTTP) answers GET /stats (JSON), and POST /down and /up stop and
// restart the write listener on the same port (connection refused meanwhile).
#include <signal.h>
#include <snappy.h>

#include <httplib.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "remote.pb.h"

namespace {

struct AgentStats {
  uint64_t requests = 0;
  uint64_t samples = 0;
  uint64_t bad_requests = 0;
  uint64_t wire_bytes = 0;
  std::map<std::string, std::map<int64_t, uint32_t>> scrape_values;  // instance -> value -> times received
};

class Receiver {
 public:
  Receiver(std::string cert, std::string key, int threads)
      : cert_(std::move(cert)), key_(std::move(key)), threads_(threads) {}

  bool Start() {
    write_port_ = 0;
    if (!Listen()) return false;
    control_.Get("/stats", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(StatsJson(), "application/json");
    });
    control_.Post("/down", [this](const httplib::Request&, httplib::Response& res) {
      Down();
      res.set_content("down\n", "text/plain");
    });
    control_.Post("/up",
                  [this](const httplib::Request&, httplib::Response& res) { res.status = Up() ? 200 : 500; });
    control_port_ = control_.bind_to_any_port("127.0.0.1");
    if (control_port_ <= 0) return false;
    control_thread_ = std::thread([this] { control_.listen_after_bind(); });
    return true;
  }

  void Stop() {
    Down();
    control_.stop();
    if (control_thread_.joinable()) control_thread_.join();
  }

  int write_port() const { return write_port_; }
  int control_port() const { return control_port_; }

 private:
  bool Listen() {
    if (!cert_.empty()) {
      server_ = std::make_unique<httplib::SSLServer>(cert_.c_str(), key_.c_str());
      if (!server_->is_valid()) {
        std::fprintf(stderr, "bench_receiver: cannot load TLS certificate %s / key %s\n", cert_.c_str(),
                     key_.c_str());
        return false;
      }
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    // Idle connections stay open 5 s (httplib's default; Go servers keep them
    // longer), so agents sending every few seconds reuse their connection
    // (and TLS session) as they would with a real receiver; the 5-request
    // default limit is lifted for the same reason. /down therefore takes up
    // to 5 s (stop() joins the connection threads); bench/run marks the
    // outage's start only once /down has returned.
    server_->set_keep_alive_timeout(5);
    server_->set_keep_alive_max_count(1000000);
    // Every kept-alive connection holds a pool thread, and Prometheus opens
    // one per remote-write shard: far more than httplib's default pool of 8
    // (the reload storm's 200 agents need --threads above 200).
    server_->new_task_queue = [threads = threads_] { return new httplib::ThreadPool(threads); };
    server_->Post(R"(/api/v1/write/([A-Za-z0-9_.-]+))",
                  [this](const httplib::Request& req, httplib::Response& res) { Write(req, res); });
    if (write_port_ == 0) {
      write_port_ = server_->bind_to_any_port("127.0.0.1");
      if (write_port_ <= 0) return false;
    } else if (!server_->bind_to_port("127.0.0.1", write_port_)) {
      return false;
    }
    write_thread_ = std::thread([this] { server_->listen_after_bind(); });
    return true;
  }

  void Down() {
    std::lock_guard<std::mutex> lock(listener_mu_);
    if (!server_) return;
    server_->stop();
    if (write_thread_.joinable()) write_thread_.join();
    server_.reset();
  }

  bool Up() {
    std::lock_guard<std::mutex> lock(listener_mu_);
    if (server_) return true;
    return Listen();
  }

  void Write(const httplib::Request& req, httplib::Response& res) {
    const std::string agent = req.matches[1];
    std::string raw;
    promsidecar::prompb::WriteRequest wr;
    bool ok = req.get_header_value("Content-Encoding") == "snappy" &&
              snappy::Uncompress(req.body.data(), req.body.size(), &raw) && wr.ParseFromString(raw);
    std::lock_guard<std::mutex> lock(mu_);
    AgentStats& st = stats_[agent];
    ++st.requests;
    st.wire_bytes += req.body.size();
    if (!ok) {
      ++st.bad_requests;
      res.status = 400;
      return;
    }
    for (const auto& ts : wr.timeseries()) {
      st.samples += static_cast<uint64_t>(ts.samples_size());
      std::string name, instance;
      for (const auto& l : ts.labels()) {
        if (l.name() == "__name__") name = l.value();
        if (l.name() == "instance") instance = l.value();
      }
      if (name != "bench_scrapes_total") continue;
      for (const auto& s : ts.samples()) {
        if (std::isnan(s.value())) continue;  // stale markers carry no scrape number
        ++st.scrape_values[instance][static_cast<int64_t>(s.value())];
      }
    }
    res.status = 200;
  }

  std::string StatsJson() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out = "{";
    bool first = true;
    for (const auto& [agent, st] : stats_) {
      if (!first) out += ",";
      first = false;
      out += "\"" + agent + "\":{\"requests\":" + std::to_string(st.requests) +
             ",\"samples\":" + std::to_string(st.samples) +
             ",\"bad_requests\":" + std::to_string(st.bad_requests) +
             ",\"wire_bytes\":" + std::to_string(st.wire_bytes) + ",\"scrape_values\":{";
      bool first_instance = true;
      for (const auto& [instance, values] : st.scrape_values) {
        if (!first_instance) out += ",";
        first_instance = false;
        // [[value, times], ...]
        out += "\"" + instance + "\":[";
        bool first_value = true;
        for (const auto& [v, n] : values) {
          if (!first_value) out += ",";
          first_value = false;
          out += "[" + std::to_string(v) + "," + std::to_string(n) + "]";
        }
        out += "]";
      }
      out += "}}";
    }
    return out + "}";
  }

  std::string cert_, key_;
  int threads_ = 64;
  std::mutex listener_mu_;
  std::unique_ptr<httplib::Server> server_;
  std::thread write_thread_;
  int write_port_ = 0;
  httplib::Server control_;
  std::thread control_thread_;
  int control_port_ = 0;
  std::mutex mu_;
  std::map<std::string, AgentStats> stats_;
};

std::atomic<bool> g_stop{false};
void OnSignal(int) {
  g_stop = true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cert, key;
  int threads = 64;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--tls-cert=", 0) == 0) {
      cert = a.substr(11);
    } else if (a.rfind("--tls-key=", 0) == 0) {
      key = a.substr(10);
    } else if (a.rfind("--threads=", 0) == 0) {
      threads = std::max(1, std::atoi(a.c_str() + 10));
    } else {
      std::fprintf(
          stderr,
          "bench_receiver: unknown argument %s (use [--tls-cert=FILE --tls-key=FILE] [--threads=N])\n",
          a.c_str());
      return 2;
    }
  }
  if (cert.empty() != key.empty()) {
    std::fprintf(stderr, "bench_receiver: --tls-cert and --tls-key go together\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  Receiver r(cert, key, threads);
  if (!r.Start()) {
    std::fprintf(stderr, "bench_receiver: cannot listen on loopback\n");
    return 1;
  }
  std::printf("write_port=%d control_port=%d\n", r.write_port(), r.control_port());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  r.Stop();
  return 0;
}
