// Scrape targets for the agent benchmarks: one process serving T targets (one
// loopback port each) of N series. Every series changes its value on every
// scrape, as a busy application's would, so no agent can skip work by
// deduplicating. Each distinct URL path has its own scrape counter, exposed as
// `bench_scrapes_total`: several agents scraping the same target through
// different paths each see 1, 2, 3, ... and the loss test can tell exactly
// which scrapes were delivered. Pages are pre-rendered and pre-compressed
// (see Variant below), so serving one costs a few copies, not a render and a
// gzip per request.
//
//   bench_target --targets=T --series=N
// prints `ports=P1,P2,...` on stdout once every port listens; GET /-/stats on
// any port answers `{"<port><path>": scrapes, ...}`. Runs until SIGTERM/SIGINT.
#include <signal.h>

#include <httplib.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
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
  // Every kept-alive connection holds a pool thread (see main).
  int threads = 64;
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
    } else if (a.rfind("--threads=", 0) == 0) {
      o.threads = std::atoi(a.c_str() + 10);
    } else {
      std::fprintf(stderr,
                   "bench_target: unknown argument %s (use --targets=T --series=N [--keep-alive-max=K] "
                   "[--threads=N])\n",
                   a.c_str());
      std::exit(2);
    }
  }
  if (o.targets < 1 || o.series < 1 || o.threads < 1) {
    std::fprintf(stderr, "bench_target: --targets, --series and --threads must be at least 1\n");
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

// The series of a page shaped like an instrumented service: method/code/
// handler style labels; the values move with `variant`.
std::string Body(int series, uint64_t variant) {
  std::string out;
  out.reserve(static_cast<size_t>(series) * 96 + 256);
  out += "# HELP bench_requests Requests handled in the last interval.\n# TYPE bench_requests gauge\n";
  static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
  static const char* kCodes[] = {"200", "201", "404", "500", "503"};
  for (int i = 0; i < series - 1; ++i) {
    out += "bench_requests{handler=\"/api/v1/resource/";
    AppendInt(out, static_cast<uint64_t>(i / 20));
    out += "\",method=\"";
    out += kMethods[i % 4];
    out += "\",code=\"";
    out += kCodes[(i / 4) % 5];
    out += "\"} ";
    AppendNumber(out, static_cast<double>(variant + 1) * (i % 7 + 1) + 0.25 * i);
    out += '\n';
  }
  return out;
}

// The per-path first lines: the scrape number the loss test counts.
std::string Head(uint64_t scrape) {
  std::string out =
      "# HELP bench_scrapes_total Scrapes of this target through this path.\n"
      "# TYPE bench_scrapes_total counter\nbench_scrapes_total ";
  AppendInt(out, scrape);
  out += '\n';
  return out;
}

// Serving must cost next to nothing, or with 10,000 series and several agents
// asking for gzip the target, not the agents, sets the pace (it once spent
// ~60 ms of CPU per scrape on a loaded machine). So the series are rendered
// and deflated once, in a small ring of variants (consecutive scrapes get
// different variants, so every value still changes on every scrape), and a
// response is spliced from pieces: a gzip member is the gzip header, the
// per-scrape head as a stored deflate block, the pre-deflated body (flushed to
// a byte boundary, no final block), an empty final block, and a trailer whose
// CRC is combined arithmetically. Nothing is compressed per request.
struct Variant {
  std::string text;
  std::string deflated;  // raw deflate, ends byte-aligned without a final block
  uLong crc = 0;
};

std::string RawDeflateFlushed(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    std::fprintf(stderr, "bench_target: deflateInit2 failed\n");
    std::exit(1);
  }
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in != 0) {
    std::fprintf(stderr, "bench_target: deflate failed\n");
    std::exit(1);
  }
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

void AppendLe32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// The pieces of one response, in order; the ring's strings outlive it.
struct Pieces {
  std::string prefix;  // identity: the head; gzip: gzip header + stored block
  const std::string* body = nullptr;
  std::string suffix;  // gzip: final block + trailer
  size_t size() const { return prefix.size() + body->size() + suffix.size(); }
};

Pieces Assemble(const std::string& head, const Variant& v, bool gzip) {
  Pieces p;
  if (!gzip) {
    p.prefix = head;
    p.body = &v.text;
    return p;
  }
  // RFC 1952 header: magic, CM=deflate, no flags, no mtime, no extra flags, OS unknown.
  p.prefix.assign("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  // RFC 1951 stored block, not final: BFINAL=0 BTYPE=00 padded to a byte, LEN, NLEN.
  const auto len = static_cast<uint16_t>(head.size());
  p.prefix += '\0';
  p.prefix += static_cast<char>(len & 0xff);
  p.prefix += static_cast<char>(len >> 8);
  p.prefix += static_cast<char>(~len & 0xff);
  p.prefix += static_cast<char>((~len >> 8) & 0xff);
  p.prefix += head;
  p.body = &v.deflated;
  // An empty final block with fixed codes: BFINAL=1 BTYPE=01, end-of-block.
  p.suffix.assign("\x03\x00", 2);
  const uLong head_crc =
      crc32(0, reinterpret_cast<const Bytef*>(head.data()), static_cast<uInt>(head.size()));
  AppendLe32(p.suffix,
             static_cast<uint32_t>(crc32_combine(head_crc, v.crc, static_cast<z_off_t>(v.text.size()))));
  AppendLe32(p.suffix, static_cast<uint32_t>(head.size() + v.text.size()));
  return p;
}

bool AcceptsGzip(const httplib::Request& req) {
  return req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos;
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

  // Two variants would do for "changes every scrape"; a few more keep an
  // agent's compression from seeing the same page every other time.
  constexpr int kRing = 4;
  std::vector<Variant> ring(kRing);
  for (int k = 0; k < kRing; ++k) {
    ring[k].text = Body(opts.series, static_cast<uint64_t>(k));
    ring[k].deflated = RawDeflateFlushed(ring[k].text);
    ring[k].crc =
        crc32(0, reinterpret_cast<const Bytef*>(ring[k].text.data()), static_cast<uInt>(ring[k].text.size()));
  }

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
    s->new_task_queue = [threads = opts.threads] { return new httplib::ThreadPool(threads); };
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
      const bool gzip = AcceptsGzip(req);
      auto pieces = std::make_shared<Pieces>(Assemble(Head(n), ring[n % kRing], gzip));
      if (gzip) res.set_header("Content-Encoding", "gzip");
      // A content provider with a known length is written as it is: httplib
      // compresses only bodies set with set_content (and chunked providers).
      res.set_content_provider(
          pieces->size(), "text/plain; version=0.0.4; charset=utf-8",
          [pieces](size_t offset, size_t length, httplib::DataSink& sink) {
            const std::string_view parts[] = {pieces->prefix, *pieces->body, pieces->suffix};
            size_t skip = offset;
            for (std::string_view part : parts) {
              if (skip >= part.size()) {
                skip -= part.size();
                continue;
              }
              part.remove_prefix(skip);
              skip = 0;
              const size_t take = std::min(part.size(), length);
              if (take > 0 && !sink.write(part.data(), take)) return false;
              length -= take;
              if (length == 0) break;
            }
            return true;
          });
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
