#include "common/http/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/log/log.h"
#include "common/metrics/metrics.h"

namespace promsidecar::http {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// The OpenSSL error queue as one sentence, and cleared: the queue is per
// thread and a stale entry would be blamed on the next unrelated call.
std::string TakeOpenSslErrors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// ---- Certificate files, reloaded when they change -------------------------

struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp StatFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, st.st_size, int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

Result<std::string> ReadWholeFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError("TLS " + std::string(what) + " file \"" + path +
                     "\" cannot be read: " + std::strerror(errno) + "; check the path and its permissions");
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int NoPassword(char*, int, int, void*) {
  return 0;
}

struct CertPair {
  X509* cert = nullptr;
  STACK_OF(X509) * chain = nullptr;
  EVP_PKEY* key = nullptr;

  CertPair() = default;
  CertPair(const CertPair&) = delete;
  CertPair& operator=(const CertPair&) = delete;
  ~CertPair() {
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

Result<std::shared_ptr<const CertPair>> LoadCertPair(const ServerTlsOptions& tls) {
  auto cert_pem = ReadWholeFile(tls.cert_file, "certificate");
  if (!cert_pem) return cert_pem.error();
  auto key_pem = ReadWholeFile(tls.key_file, "private key");
  if (!key_pem) return key_pem.error();

  ERR_clear_error();
  auto pair = std::make_shared<CertPair>();
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new_mem_buf(cert_pem->data(), int(cert_pem->size())),
                                                     &BIO_free);
  pair->cert = PEM_read_bio_X509(cert_bio.get(), nullptr, &NoPassword, nullptr);
  if (pair->cert == nullptr) {
    return MakeError("TLS certificate file \"" + tls.cert_file + "\" holds no PEM certificate (" +
                     TakeOpenSslErrors() + "); give a PEM CERTIFICATE block");
  }
  pair->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, &NoPassword, nullptr)) {
    sk_X509_push(pair->chain, extra);
  }
  ERR_clear_error();  // the loop above ends on an expected "no start line"

  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new_mem_buf(key_pem->data(), int(key_pem->size())),
                                                    &BIO_free);
  pair->key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, &NoPassword, nullptr);
  if (pair->key == nullptr) {
    return MakeError("TLS private key file \"" + tls.key_file + "\" holds no unencrypted PEM private key (" +
                     TakeOpenSslErrors() + "); give an unencrypted PEM key");
  }
  if (X509_check_private_key(pair->cert, pair->key) != 1) {
    ERR_clear_error();
    return MakeError("TLS private key file \"" + tls.key_file + "\" does not match the certificate in \"" +
                     tls.cert_file + "\"; write the certificate and its own key");
  }
  return std::shared_ptr<const CertPair>(std::move(pair));
}

// Holds the serving certificate; every handshake asks for the current one,
// which re-reads the files when their stamps changed. A failed reload keeps
// the previous pair, and is retried only when the files change again.
class CertStore {
 public:
  CertStore(ServerTlsOptions tls, std::string server_name)
      : tls_(std::move(tls)), server_name_(std::move(server_name)) {}

  Status LoadInitial() {
    FileStamp cert_stamp = StatFile(tls_.cert_file);
    FileStamp key_stamp = StatFile(tls_.key_file);
    auto pair = LoadCertPair(tls_);
    if (!pair) return pair.error();
    std::lock_guard lock(mu_);
    current_ = std::move(*pair);
    cert_stamp_ = cert_stamp;
    key_stamp_ = key_stamp;
    return {};
  }

  std::shared_ptr<const CertPair> Current() {
    FileStamp cert_stamp = StatFile(tls_.cert_file);
    FileStamp key_stamp = StatFile(tls_.key_file);
    std::lock_guard lock(mu_);
    if (cert_stamp == cert_stamp_ && key_stamp == key_stamp_) return current_;
    cert_stamp_ = cert_stamp;
    key_stamp_ = key_stamp;
    auto pair = LoadCertPair(tls_);
    if (pair) {
      current_ = std::move(*pair);
      log::Info("TLS certificate reloaded", {{"server", server_name_}, {"cert_file", tls_.cert_file}});
    } else {
      log::Warn("TLS certificate reload failed; still serving the previous certificate",
                {{"server", server_name_}, {"error", pair.message()}});
    }
    return current_;
  }

 private:
  const ServerTlsOptions tls_;
  const std::string server_name_;
  std::mutex mu_;
  std::shared_ptr<const CertPair> current_;
  FileStamp cert_stamp_;
  FileStamp key_stamp_;
};

int SelectCertificate(SSL* ssl, void* arg) {
  std::shared_ptr<const CertPair> pair = static_cast<CertStore*>(arg)->Current();
  if (!pair) return 0;
  // Takes its own references: the pair may be replaced right after.
  return SSL_use_cert_and_key(ssl, pair->cert, pair->key, pair->chain, 1) == 1 ? 1 : 0;
}

// Forward-secret AEAD suites only (TLS 1.3's defaults are all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

bool ConfigureTls(SSL_CTX& ctx, CertStore* certs) {
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_CIPHER_SERVER_PREFERENCE |
                                SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1) return false;
  if (SSL_CTX_set_cipher_list(&ctx, kTls12Ciphers) != 1) return false;
  if (SSL_CTX_set_ciphersuites(&ctx, kTls13Suites) != 1) return false;
  SSL_CTX_set_cert_cb(&ctx, &SelectCertificate, certs);
  return true;
}

// ---- Workers ---------------------------------------------------------------

// A fixed set of worker threads and a bounded queue of accepted connections.
// When the queue is full, enqueue() (called by the accept loop) waits, so
// further clients wait in the kernel's listen backlog instead of in memory.
class BoundedTaskQueue final : public httplib::TaskQueue {
 public:
  BoundedTaskQueue(std::size_t threads, std::size_t max_pending)
      : max_pending_(std::max<std::size_t>(1, max_pending)) {
    threads = std::max<std::size_t>(1, threads);
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~BoundedTaskQueue() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [this] { return jobs_.size() < max_pending_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    not_empty_.notify_one();
  }

  // Runs what was already accepted, then joins the workers.
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      if (shutdown_ && workers_.empty()) return;
      shutdown_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        not_empty_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      not_full_.notify_one();
      job();
    }
  }

  const std::size_t max_pending_;
  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::function<void()>> jobs_;
  bool shutdown_ = false;
  std::vector<std::thread> workers_;
};

// ---- Request deadline ------------------------------------------------------

// Tracks the connections the workers serve and cuts the requests that take
// longer than the deadline to arrive. httplib bounds each read (poll, recv,
// SSL_read) but nothing bounds their sum, and nothing on a worker thread can
// interrupt its own wait: a thread of our own watches instead, and
// shutdown(SHUT_RD) makes the worker's wait end with end-of-file, plain or
// TLS, in a handshake, a header or a body.
//
// A connection is Reading (a request, or the TLS handshake, with a deadline)
// from the moment a worker takes it until the request has been read, then
// Idle until its next byte arrives, which the watchdog notices by polling the
// idle sockets (keep_alive_timeout bounds that wait, not the deadline).
class DeadlineWatchdog {
 public:
  DeadlineWatchdog(std::chrono::milliseconds deadline, metrics::Counter* exceeded, std::string server_name)
      : deadline_(deadline),
        exceeded_(exceeded),
        server_name_(std::move(server_name)),
        wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (wake_ >= 0) thread_ = std::thread([this] { Run(); });
  }
  ~DeadlineWatchdog() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) {
      Wake();
      thread_.join();
    }
    for (auto& [id, conn] : conns_) ::close(conn.fd);
    if (wake_ >= 0) ::close(wake_);
  }
  DeadlineWatchdog(const DeadlineWatchdog&) = delete;
  DeadlineWatchdog& operator=(const DeadlineWatchdog&) = delete;

  // False when the eventfd could not be made (errno tells why): unusable.
  bool ok() const { return wake_ >= 0; }

  // A worker took `sock`; its first request (and handshake) starts now.
  // Keeps its own descriptor of the socket: httplib closes `sock` before
  // Close(), and a shutdown() must never reach a number reused meanwhile.
  uint64_t Open(int sock) {
    int fd = ::fcntl(sock, F_DUPFD_CLOEXEC, 0);
    std::lock_guard lock(mu_);
    uint64_t id = ++last_id_;
    if (fd >= 0) {
      conns_.emplace(id, Conn{fd, Phase::kReading, std::chrono::steady_clock::now() + deadline_});
    } else {
      log::Warn("cannot watch a connection's request deadline",
                {{"server", server_name_}, {"error", std::strerror(errno)}});
    }
    Wake();
    return id;
  }

  // The request was read (or refused): the deadline stops until the next one.
  void RequestRead(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second.phase != Phase::kReading) return;
    it->second.phase = Phase::kIdle;
    Wake();
  }

  bool WasCut(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = conns_.find(id);
    return it != conns_.end() && it->second.phase == Phase::kCut;
  }

  std::chrono::milliseconds deadline() const { return deadline_; }

  void Close(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    ::close(it->second.fd);
    conns_.erase(it);
    Wake();
  }

 private:
  enum class Phase { kReading, kIdle, kCut };
  struct Conn {
    int fd;
    Phase phase;
    std::chrono::steady_clock::time_point deadline;
  };

  void Wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_, &one, sizeof(one));
  }

  void Run() {
    using Clock = std::chrono::steady_clock;
    std::vector<pollfd> polled;
    std::vector<uint64_t> ids;
    for (;;) {
      int timeout_ms = -1;
      polled.assign(1, pollfd{wake_, POLLIN, 0});
      ids.assign(1, 0);
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        const auto now = Clock::now();
        std::optional<Clock::time_point> next;
        for (auto& [id, conn] : conns_) {
          if (conn.phase == Phase::kReading && conn.deadline <= now) {
            CutLocked(conn);
          } else if (conn.phase == Phase::kReading) {
            next = next ? std::min(*next, conn.deadline) : conn.deadline;
          } else if (conn.phase == Phase::kIdle) {
            polled.push_back(pollfd{conn.fd, POLLIN, 0});
            ids.push_back(id);
          }
        }
        if (next) {
          auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - now).count();
          timeout_ms = int(std::clamp<int64_t>(wait, 1, 60'000));
        }
      }
      if (::poll(polled.data(), polled.size(), timeout_ms) <= 0) continue;
      if (polled[0].revents != 0) {
        uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(wake_, &count, sizeof(count));
      }
      std::lock_guard lock(mu_);
      const auto now = Clock::now();
      for (std::size_t i = 1; i < polled.size(); ++i) {
        if (polled[i].revents == 0) continue;
        auto it = conns_.find(ids[i]);
        if (it == conns_.end() || it->second.phase != Phase::kIdle) continue;
        it->second.phase = Phase::kReading;
        it->second.deadline = now + deadline_;
      }
    }
  }

  // The worker wakes with end-of-file and mostly closes the connection
  // without an answer: httplib writes nothing to a socket it cannot read
  // from (it takes that for a client gone), unless a byte that came after
  // the cut is still unread; then the answer is a 408. The write side stays
  // open so that no write of the worker's meets EPIPE (SSL_write has no
  // MSG_NOSIGNAL).
  void CutLocked(Conn& conn) {
    conn.phase = Phase::kCut;
    if (exceeded_) exceeded_->Inc();  // before the client can see the cut
    ::shutdown(conn.fd, SHUT_RD);
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    char host[INET6_ADDRSTRLEN] = "?";
    if (::getpeername(conn.fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
      const void* addr = peer.ss_family == AF_INET6
                             ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr)
                             : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&peer)->sin_addr);
      ::inet_ntop(peer.ss_family, addr, host, sizeof(host));
    }
    log::Warn("request not received within the request deadline; connection cut",
              {{"server", server_name_}, {"remote", std::string(host)}, {"deadline_ms", deadline_.count()}});
  }

  const std::chrono::milliseconds deadline_;
  metrics::Counter* const exceeded_;
  const std::string server_name_;
  const int wake_;
  std::mutex mu_;
  std::map<uint64_t, Conn> conns_;
  uint64_t last_id_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// The connection the calling worker thread serves, for the handlers httplib
// calls on that thread.
struct WatchedConnection {
  DeadlineWatchdog* watchdog = nullptr;
  uint64_t id = 0;
};
thread_local WatchedConnection current_connection;

void MarkRequestRead() {
  if (current_connection.watchdog) current_connection.watchdog->RequestRead(current_connection.id);
}

// httplib 0.11 hands each accepted socket to a private virtual,
// process_and_close_socket(), the only place that sees the socket before the
// request is read. A member pointer to it, named the one way access rules
// allow (an explicit instantiation), lets Front below override it to watch the
// socket and then run httplib's own version on the engine that serves it.
using ProcessSocket = bool (httplib::Server::*)(socket_t);
ProcessSocket HttplibProcessSocket();
template <ProcessSocket member>
struct ExposeProcessSocket {
  friend ProcessSocket HttplibProcessSocket() { return member; }
};
template struct ExposeProcessSocket<&httplib::Server::process_and_close_socket>;

// The engine (a plain httplib::Server or SSLServer with our routes) parses
// and answers but never listens: Front accepts. httplib keeps a connection
// alive only while the server's listening socket (svr_sock_, protected) is
// valid, so the engine gets Front's, and loses it when Front stops.
struct EngineListener : httplib::Server {
  static void Set(httplib::Server& engine, socket_t listener) {
    engine.*(&EngineListener::svr_sock_) = listener;
  }
};

// Accepts connections and hands each, watched, to the engine.
class Front final : public httplib::Server {
 public:
  Front(httplib::Server& engine, DeadlineWatchdog& watchdog) : engine_(engine), watchdog_(watchdog) {}
  socket_t Listener() const { return svr_sock_; }

 private:
  bool process_and_close_socket(socket_t sock) override {
    current_connection = {&watchdog_, watchdog_.Open(sock)};
    bool kept = (engine_.*HttplibProcessSocket())(sock);
    watchdog_.Close(current_connection.id);
    current_connection = {};
    return kept;
  }

  httplib::Server& engine_;
  DeadlineWatchdog& watchdog_;
};

// Headers httplib adds to every request for its own callers.
bool IsPseudoHeader(const std::string& name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT";
}

void SetErrorResponse(httplib::Response& res, int status, std::string message) {
  res.status = status;
  res.set_content(std::move(message), "text/plain; charset=utf-8");
}

// Sets a 408 (and closes the connection) if the request was cut by the
// deadline: a reader's failure then is the deadline's, not the client's.
bool AnswerIfCut(httplib::Response& res) {
  const WatchedConnection& c = current_connection;
  if (!c.watchdog || !c.watchdog->WasCut(c.id)) return false;
  res.set_header("Connection", "close");
  SetErrorResponse(res, 408,
                   "request not received within the request deadline (" +
                       std::to_string(c.watchdog->deadline().count()) + " ms)\n");
  return true;
}

}  // namespace

std::optional<std::string> ServerRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

std::optional<std::string> ServerRequest::QueryParam(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

ServerResponse ServerResponse::Text(int status, std::string body) {
  return ServerResponse{
      .status = status, .content_type = "text/plain; charset=utf-8", .body = std::move(body)};
}

ServerResponse ServerResponse::Json(int status, std::string body) {
  return ServerResponse{.status = status, .content_type = "application/json", .body = std::move(body)};
}

Result<HostPort> ParseListenAddress(std::string_view address) {
  auto bad = [&](std::string_view why) {
    return MakeError("listen address \"" + std::string(address) + "\" " + std::string(why) +
                     "; expected host:port such as 127.0.0.1:9090, [::1]:9090 or :9090");
  };
  std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return bad("has no port");
  std::string_view host = address.substr(0, colon);
  std::string_view port_text = address.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad("has an unterminated [IPv6] host");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("has an IPv6 host without brackets");
  }
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 ||
      port > 65535) {
    return bad("has an invalid port (0-65535)");
  }
  return HostPort{host.empty() ? "0.0.0.0" : std::string(host), port};
}

struct Server::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)) {}

  void Serve(const httplib::Request& in, httplib::Response& out, std::string body) const;
  void ServeWithBody(const httplib::Request& in, httplib::Response& out,
                     const httplib::ContentReader& reader) const;

  const ServerOptions options;
  // path -> method -> handler
  std::map<std::string, std::map<std::string, Handler>, std::less<>> routes;

  // Declared in the order they refer to each other: the engine's SSL_CTX
  // to `certs`, `server` (the Front) to the engine and the watchdog.
  std::unique_ptr<CertStore> certs;
  std::unique_ptr<DeadlineWatchdog> watchdog;
  std::unique_ptr<httplib::Server> engine;
  std::unique_ptr<Front> server;
  std::thread listener;
  int port = 0;
};

void Server::Impl::ServeWithBody(const httplib::Request& in, httplib::Response& out,
                                 const httplib::ContentReader& reader) const {
  // httplib bounds bodies that declare a Content-Length, not chunked or
  // unframed ones: count every decoded byte here. The rest of an oversized
  // body is read and dropped (up to a bound), so the client, still sending,
  // gets the 413 instead of a connection reset.
  const std::size_t drain_limit = 4 * options.max_body_bytes + (1u << 20);
  std::string body;
  bool too_large = false;
  std::size_t discarded = 0;
  bool ok = reader([&](const char* data, size_t n) {
    if (too_large) {
      discarded += n;
      return discarded <= drain_limit;
    }
    if (n > options.max_body_bytes - body.size()) {
      too_large = true;
      discarded = body.size() + n;
      std::string().swap(body);
      return discarded <= drain_limit;
    }
    body.append(data, n);
    return true;
  });
  MarkRequestRead();
  if (!ok && AnswerIfCut(out)) return;
  if (!ok) {
    // Part of the body is still unread: this connection is done.
    out.set_header("Connection", "close");
  }
  if (too_large || out.status == 413) {
    SetErrorResponse(out, 413, "request body exceeds " + std::to_string(options.max_body_bytes) + " bytes\n");
    return;
  }
  if (!ok) {
    SetErrorResponse(out, 400, "request body could not be read\n");
    return;
  }
  Serve(in, out, std::move(body));
}

void Server::Impl::Serve(const httplib::Request& in, httplib::Response& out, std::string body) const {
  auto path_it = routes.find(in.path);
  if (path_it == routes.end()) {
    SetErrorResponse(out, 404, "404 page not found\n");
    return;
  }
  const auto& methods = path_it->second;
  auto method_it = methods.find(in.method);
  if (method_it == methods.end() && in.method == "HEAD") method_it = methods.find("GET");
  if (method_it == methods.end()) {
    std::string allow;
    for (const auto& [m, h] : methods) allow += (allow.empty() ? "" : ", ") + m;
    if (methods.count("GET") && !methods.count("HEAD")) allow += ", HEAD";
    out.set_header("Allow", allow);
    SetErrorResponse(out, 405,
                     "method " + in.method + " not allowed for " + in.path + " (allowed: " + allow + ")\n");
    return;
  }

  ServerRequest req;
  req.method = in.method;
  req.path = in.path;
  req.body = std::move(body);
  req.remote_address = in.remote_addr;
  for (const auto& [k, v] : in.params) req.query.emplace_back(k, v);
  for (const auto& [k, v] : in.headers) {
    if (!IsPseudoHeader(k)) req.headers.emplace_back(k, v);
  }

  ServerResponse resp;
  try {
    resp = method_it->second(req);
  } catch (const std::exception& e) {
    log::Error("HTTP handler threw", {{"server", options.name}, {"path", in.path}, {"error", e.what()}});
    resp = ServerResponse::Text(500, "internal error\n");
  } catch (...) {
    log::Error("HTTP handler threw", {{"server", options.name}, {"path", in.path}});
    resp = ServerResponse::Text(500, "internal error\n");
  }
  out.status = resp.status;
  for (auto& [k, v] : resp.headers) out.set_header(k, v);
  out.set_content(std::move(resp.body), resp.content_type);
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  Stop();
}

void Server::Handle(std::string method, std::string path, Handler handler) {
  impl_->routes[std::move(path)][std::move(method)] = std::move(handler);
}

Status Server::Start() {
  Impl& s = *impl_;
  if (s.server) return {};
  const ServerOptions& o = s.options;
  auto host_port = ParseListenAddress(o.listen_address);
  if (!host_port) return MakeError("server " + o.name + ": " + host_port.message());
  if (o.request_deadline <= std::chrono::milliseconds::zero()) {
    return MakeError("server " + o.name + ": request_deadline must be positive, got " +
                     std::to_string(o.request_deadline.count()) + " ms");
  }

  std::unique_ptr<CertStore> certs;
  std::unique_ptr<httplib::Server> engine;
  if (o.tls) {
    certs = std::make_unique<CertStore>(*o.tls, o.name);
    if (auto loaded = certs->LoadInitial(); !loaded)
      return MakeError("server " + o.name + ": " + loaded.message());
    CertStore* store = certs.get();
    auto tls_server =
        std::make_unique<httplib::SSLServer>([store](SSL_CTX& ctx) { return ConfigureTls(ctx, store); });
    if (!tls_server->is_valid()) {
      return MakeError("server " + o.name + ": cannot set up TLS: " + TakeOpenSslErrors());
    }
    engine = std::move(tls_server);
  } else {
    engine = std::make_unique<httplib::Server>();
  }
  auto watchdog = std::make_unique<DeadlineWatchdog>(o.request_deadline, o.deadline_exceeded, o.name);
  if (!watchdog->ok()) {
    return MakeError("server " + o.name + ": cannot create the request deadline's eventfd: " +
                     std::strerror(errno) + "; check the process's open-file limit (ulimit -n)");
  }
  auto server = std::make_unique<Front>(*engine, *watchdog);

  auto started = std::make_shared<std::promise<void>>();
  std::future<void> running = started->get_future();
  std::size_t threads = o.worker_threads;
  std::size_t pending = o.max_pending_connections;
  // httplib asks for its task queue right after it starts accepting.
  server->new_task_queue = [started, threads, pending]() -> httplib::TaskQueue* {
    started->set_value();
    return new BoundedTaskQueue(threads, pending);
  };
  // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let a second
  // server bind a port already in use and silently share its traffic.
  // TCP_NODELAY (inherited by accepted sockets): httplib writes an answer's
  // headers and body separately, and with Nagle the body waited for the
  // client's delayed ACK, ~40 ms per request on a kept-alive connection.
  server->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  });
  // Front sets these on each accepted socket (SO_RCVTIMEO bounds a blocking
  // SSL_read); the engine on each read and write it makes.
  for (httplib::Server* s : {static_cast<httplib::Server*>(server.get()), engine.get()}) {
    s->set_read_timeout(o.read_timeout);
    s->set_write_timeout(o.write_timeout);
  }
  engine->set_keep_alive_timeout(std::max<time_t>(1, o.keep_alive_timeout.count()));
  engine->set_keep_alive_max_count(std::max<std::size_t>(1, o.keep_alive_max_requests));
  engine->set_payload_max_length(o.max_body_bytes);

  // Routing is ours (exact paths, 404/405); httplib only parses.
  const Impl* self = &s;
  engine->set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    // httplib would hand multipart bodies to callbacks we do not provide.
    if (req.is_multipart_form_data()) {
      res.set_header("Connection", "close");
      SetErrorResponse(res, 415, "multipart/form-data bodies are not accepted\n");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto without_body = [self](const httplib::Request& req, httplib::Response& res) {
    MarkRequestRead();
    self->Serve(req, res, {});
  };
  auto with_body = [self](const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) { self->ServeWithBody(req, res, reader); };
  const std::string any = ".*";
  engine->Get(any, without_body);
  engine->Options(any, without_body);
  engine->Post(any, with_body);
  engine->Put(any, with_body);
  engine->Patch(any, with_body);
  engine->Delete(any, with_body);
  engine->set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        // httplib's own refusals (a malformed or oversized request) end the
        // request as well; a header cut short by the deadline is one of them.
        if (AnswerIfCut(res)) return httplib::Server::HandlerResponse::Handled;
        MarkRequestRead();
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        SetErrorResponse(res, res.status,
                         std::to_string(res.status) + " " + std::string(ReasonPhrase(res.status)) + "\n");
        return httplib::Server::HandlerResponse::Handled;
      }));

  errno = 0;
  int port = host_port->port == 0
                 ? server->bind_to_any_port(host_port->host)
                 : (server->bind_to_port(host_port->host, host_port->port) ? host_port->port : -1);
  if (port <= 0) {
    int err = errno;
    return MakeError("server " + o.name + ": cannot listen on " + o.listen_address + ": " +
                     (err != 0 ? std::strerror(err) : "bind failed") +
                     "; free the port, or set another listen address");
  }

  EngineListener::Set(*engine, server->Listener());
  httplib::Server* raw = server.get();
  s.listener = std::thread([raw, name = o.name] {
    if (!raw->listen_after_bind())
      log::Error("HTTP server stopped accepting connections", {{"server", name}});
  });
  running.wait();
  s.certs = std::move(certs);
  s.watchdog = std::move(watchdog);
  s.engine = std::move(engine);
  s.server = std::move(server);
  s.port = port;
  log::Info("HTTP server listening", {{"server", o.name},
                                      {"address", host_port->host + ":" + std::to_string(port)},
                                      {"tls", o.tls.has_value()}});
  return {};
}

int Server::BoundPort() const {
  return impl_->server ? impl_->port : 0;
}

bool Server::Running() const {
  return impl_->server && impl_->server->is_running();
}

void Server::Stop() {
  Impl& s = *impl_;
  if (!s.server) return;
  EngineListener::Set(*s.engine, INVALID_SOCKET);
  s.server->stop();
  if (s.listener.joinable()) s.listener.join();
  s.server.reset();
  s.engine.reset();
  s.watchdog.reset();
  s.certs.reset();
  s.port = 0;
}

}  // namespace promsidecar::http
