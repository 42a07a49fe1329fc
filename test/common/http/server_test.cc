#include "common/http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/ssl.h>  // TLS1_1_VERSION, TLS1_2_VERSION
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "common/metrics/metrics.h"
#include "testing/slow_client.h"
#include "testing/test_pki.h"
#include "testing/tls_client.h"

namespace promsidecar::http {
namespace {

using testing::LeafSpec;
using testing::TestCa;
using testing::TlsConnect;
using testing::Trickle;
using testing::TrickleOutcome;

// ---- helpers ---------------------------------------------------------------

// A listening TCP socket on 127.0.0.1 that holds a port for a test.
class PortHolder {
 public:
  PortHolder() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~PortHolder() { Release(); }
  void Release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

class TlsFiles {
 public:
  TlsFiles() : dir_(testing::MakeTempDir("promsidecar-server-test-")) {}
  ~TlsFiles() { testing::RemoveTree(dir_); }
  std::string cert() const { return dir_ + "/tls.crt"; }
  std::string key() const { return dir_ + "/tls.key"; }
  void Write(const testing::PemPair& pair) const {
    testing::WriteFileAtomically(cert(), pair.cert_pem);
    testing::WriteFileAtomically(key(), pair.key_pem);
  }

 private:
  std::string dir_;
};

LeafSpec Serving(const std::string& cn) {
  return LeafSpec{.common_name = cn, .ip_sans = {"127.0.0.1"}};
}

void AddEcho(Server& server) {
  server.Handle("GET", "/echo", [](const ServerRequest& req) {
    return ServerResponse::Text(200, "method=" + req.method + " q=" + req.QueryParam("q").value_or("-") +
                                         " h=" + req.Header("x-test").value_or("-") +
                                         " remote=" + req.remote_address);
  });
  server.Handle("POST", "/echo", [](const ServerRequest& req) {
    ServerResponse resp = ServerResponse::Json(201, "{\"len\":" + std::to_string(req.body.size()) + "}");
    resp.headers.emplace_back("X-Reply", "yes");
    return resp;
  });
}

// ---- ParseListenAddress ----------------------------------------------------

TEST(ParseListenAddress, AcceptsHostPortForms) {
  auto a = ParseListenAddress("127.0.0.1:9090");
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9090);
  auto b = ParseListenAddress(":8443");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "0.0.0.0");
  EXPECT_EQ(b->port, 8443);
  auto c = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 0);
  auto d = ParseListenAddress("localhost:80");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->host, "localhost");
}

TEST(ParseListenAddress, RejectsMalformedAddressesNamingThem) {
  for (const char* bad : {"9090", "host:", "host:65536", "host:-1", "host:80x", "::1:80", "[::1:80"}) {
    auto r = ParseListenAddress(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.message().find(bad), std::string::npos) << r.message();
  }
}

// ---- plain HTTP ------------------------------------------------------------

TEST(Server, ServesRegisteredHandlersWithQueryHeadersAndBody) {
  Server server({});
  AddEcho(server);
  ASSERT_TRUE(server.Start().ok());
  ASSERT_GT(server.BoundPort(), 0);
  EXPECT_TRUE(server.Running());

  httplib::Client cli("127.0.0.1", server.BoundPort());
  auto get = cli.Get("/echo?q=a%20b", {{"X-Test", "hello"}});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "method=GET q=a b h=hello remote=127.0.0.1");
  EXPECT_EQ(get->get_header_value("Content-Type"), "text/plain; charset=utf-8");

  auto post = cli.Post("/echo", std::string(100, 'x'), "application/octet-stream");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 201);
  EXPECT_EQ(post->body, "{\"len\":100}");
  EXPECT_EQ(post->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(post->get_header_value("X-Reply"), "yes");
}

TEST(Server, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  Server server({});
  AddEcho(server);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client cli("127.0.0.1", server.BoundPort());

  auto missing = cli.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  auto put = cli.Put("/echo", "x", "text/plain");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 405);
  EXPECT_EQ(put->get_header_value("Allow"), "GET, POST, HEAD");

  auto del = cli.Delete("/echo");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);

  auto head = cli.Head("/echo");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
}

TEST(Server, BodyAboveLimitIs413ForSizedAndChunkedBodies) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  Server server(options);
  AddEcho(server);
  ASSERT_TRUE(server.Start().ok());

  {
    httplib::Client cli("127.0.0.1", server.BoundPort());
    auto at_limit = cli.Post("/echo", std::string(1024, 'a'), "text/plain");
    ASSERT_TRUE(at_limit);
    EXPECT_EQ(at_limit->status, 201);
    EXPECT_EQ(at_limit->body, "{\"len\":1024}");
  }
  {
    httplib::Client cli("127.0.0.1", server.BoundPort());
    auto over = cli.Post("/echo", std::string(1025, 'a'), "text/plain");
    ASSERT_TRUE(over);
    EXPECT_EQ(over->status, 413);
  }
  {
    // Chunked: no Content-Length for httplib to check up front.
    httplib::Client cli("127.0.0.1", server.BoundPort());
    auto chunked = cli.Post(
        "/echo",
        [](size_t offset, httplib::DataSink& sink) {
          if (offset >= 4096) {
            sink.done();
            return true;
          }
          std::string chunk(512, 'c');
          return sink.write(chunk.data(), chunk.size());
        },
        "text/plain");
    ASSERT_TRUE(chunked);
    EXPECT_EQ(chunked->status, 413);
  }
}

TEST(Server, HandlerExceptionBecomes500) {
  Server server({});
  server.Handle("GET", "/boom",
                [](const ServerRequest&) -> ServerResponse { throw std::runtime_error("bad"); });
  ASSERT_TRUE(server.Start().ok());
  httplib::Client cli("127.0.0.1", server.BoundPort());
  auto res = cli.Get("/boom");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
}

TEST(Server, BindFailureIsAnErrorValueAndStartCanBeRetried) {
  PortHolder holder;
  ServerOptions options;
  options.listen_address = "127.0.0.1:" + std::to_string(holder.port());
  options.name = "metrics";
  Server server(options);
  AddEcho(server);
  auto first = server.Start();
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.message().find("cannot listen on 127.0.0.1:" + std::to_string(holder.port())),
            std::string::npos)
      << first.message();
  EXPECT_FALSE(server.Running());
  EXPECT_EQ(server.BoundPort(), 0);

  holder.Release();
  auto second = server.Start();
  ASSERT_TRUE(second.ok()) << second.message();
  EXPECT_EQ(server.BoundPort(), holder.port());
  httplib::Client cli("127.0.0.1", server.BoundPort());
  auto res = cli.Get("/echo");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(Server, SecondServerCannotShareABoundPort) {
  Server first({});
  ASSERT_TRUE(first.Start().ok());
  ServerOptions options;
  options.listen_address = "127.0.0.1:" + std::to_string(first.BoundPort());
  Server second(options);
  EXPECT_FALSE(second.Start().ok());
}

TEST(Server, StopLetsAnInFlightRequestFinish) {
  Server server({});
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  server.Handle("GET", "/slow", [&](const ServerRequest&) {
    entered.set_value();
    released.wait();
    return ServerResponse::Text(200, "done");
  });
  ASSERT_TRUE(server.Start().ok());
  int port = server.BoundPort();

  auto request = std::async(std::launch::async, [port] {
    httplib::Client cli("127.0.0.1", port);
    auto res = cli.Get("/slow");
    return res ? res->status : -1;
  });
  entered.get_future().wait();
  auto stopping = std::async(std::launch::async, [&] { server.Stop(); });
  // Stop closes the listener first: wait (bounded) until new connections fail.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (CanConnect(port) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(CanConnect(port));
  release.set_value();
  EXPECT_EQ(request.get(), 200);
  stopping.get();
  EXPECT_FALSE(server.Running());
  server.Stop();  // idempotent
}

// ---- request deadline --------------------------------------------------------

// A server with one worker and a 1 s request deadline: while a trickling
// client holds the worker, nothing else is served.
ServerOptions OneWorker(metrics::Counter& cut) {
  ServerOptions o;
  o.worker_threads = 1;
  o.request_deadline = std::chrono::seconds(1);
  o.deadline_exceeded = &cut;
  return o;
}

TEST(ServerDeadline, TricklingClientIsCutAndTheOnlyWorkerServesTheNextClient) {
  const std::string body(1000, 'a');
  struct Case {
    const char* name;
    std::string head;  // sent at once
    std::string tail;  // a byte every 200 ms: minutes, never finished
  };
  const Case cases[] = {
      {"request line", "", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na"},
      {"headers", "POST /echo HTTP/1.1\r\nHost: x\r\n", "X-Slow: " + body + "\r\n\r\n"},
      {"body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", body},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    metrics::Counter cut;
    Server server(OneWorker(cut));
    AddEcho(server);
    ASSERT_TRUE(server.Start().ok());
    const int port = server.BoundPort();

    std::promise<void> head_sent;
    auto head_future = head_sent.get_future();
    auto trickler = std::async(std::launch::async, [&] { return Trickle(port, c.head, c.tail, &head_sent); });
    head_future.wait();
    // Accepted after the trickler, so served by the one worker only once the
    // trickler lets it go.
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(std::chrono::seconds(30));
    auto res = cli.Post("/echo", "x", "text/plain");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 201);

    TrickleOutcome trickled = trickler.get();
    EXPECT_TRUE(trickled.closed_by_server);
    EXPECT_LT(trickled.tail_sent, c.tail.size());
    EXPECT_GE(trickled.took, std::chrono::seconds(1));
    // httplib answers a socket it cannot read only when a byte sent after the
    // cut is still unread: then with our 408.
    if (!trickled.answer.empty()) {
      EXPECT_EQ(trickled.answer.rfind("HTTP/1.1 408", 0), 0u) << trickled.answer;
      EXPECT_NE(trickled.answer.find("request deadline (1000 ms)"), std::string::npos) << trickled.answer;
    }
    EXPECT_EQ(cut.Value(), 1);
  }
}

TEST(ServerDeadline, SlowRequestWithinTheDeadlineIsServed) {
  metrics::Counter cut;
  ServerOptions options = OneWorker(cut);
  options.request_deadline = std::chrono::seconds(30);
  Server server(options);
  AddEcho(server);
  ASSERT_TRUE(server.Start().ok());

  // About a second, with every gap shorter than a read timeout.
  TrickleOutcome slow =
      Trickle(server.BoundPort(),
              "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\n", "hello");
  EXPECT_TRUE(slow.closed_by_server);
  EXPECT_EQ(slow.tail_sent, 5u);
  EXPECT_EQ(slow.answer.rfind("HTTP/1.1 201", 0), 0u) << slow.answer;
  EXPECT_NE(slow.answer.find("{\"len\":5}"), std::string::npos) << slow.answer;
  EXPECT_EQ(cut.Value(), 0);
}

TEST(ServerDeadline, IdleKeepAliveWaitIsNotPartOfTheNextRequest) {
  metrics::Counter cut;
  ServerOptions options = OneWorker(cut);
  options.keep_alive_timeout = std::chrono::seconds(30);
  Server server(options);
  AddEcho(server);
  ASSERT_TRUE(server.Start().ok());

  httplib::Client cli("127.0.0.1", server.BoundPort());
  cli.set_keep_alive(true);
  auto first = cli.Get("/echo");
  ASSERT_TRUE(first) << httplib::to_string(first.error());
  EXPECT_EQ(first->status, 200);
  // Idle on the kept-alive connection for longer than the deadline.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto second = cli.Get("/echo");
  ASSERT_TRUE(second) << httplib::to_string(second.error());
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(cut.Value(), 0);
}

TEST(ServerDeadline, NonPositiveDeadlineFailsStartNamingTheField) {
  ServerOptions options;
  options.request_deadline = std::chrono::milliseconds(0);
  Server server(options);
  auto started = server.Start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.message().find("request_deadline"), std::string::npos) << started.message();
}

// ---- TLS -------------------------------------------------------------------

TEST(ServerTls, ServesOverTlsAndRefusesTls11AndWeakCiphers) {
  TestCa ca;
  TlsFiles files;
  files.Write(ca.Issue(Serving("serving-a")));
  ServerOptions options;
  options.tls = ServerTlsOptions{files.cert(), files.key()};
  Server server(options);
  AddEcho(server);
  ASSERT_TRUE(server.Start().ok());

  auto ok = TlsConnect(server.BoundPort(), ca.cert_pem(),
                       {.request = "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"});
  ASSERT_TRUE(ok.handshake_ok) << ok.error;
  EXPECT_EQ(ok.peer_common_name, "serving-a");
  EXPECT_NE(ok.response.find("HTTP/1.1 200"), std::string::npos) << ok.response;

  // The same client code succeeds at TLS 1.2 and fails at 1.1: the server's
  // minimum, not the client, decides.
  auto tls12 = TlsConnect(server.BoundPort(), ca.cert_pem(), {.max_version = TLS1_2_VERSION});
  EXPECT_TRUE(tls12.handshake_ok) << tls12.error;
  EXPECT_EQ(tls12.protocol, "TLSv1.2");
  auto tls11 = TlsConnect(server.BoundPort(), ca.cert_pem(), {.max_version = TLS1_1_VERSION});
  EXPECT_FALSE(tls11.handshake_ok);

  auto weak = TlsConnect(server.BoundPort(), ca.cert_pem(), {.tls12_ciphers = "AES128-SHA:@SECLEVEL=0"});
  EXPECT_FALSE(weak.handshake_ok);
  auto strong =
      TlsConnect(server.BoundPort(), ca.cert_pem(), {.tls12_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"});
  EXPECT_TRUE(strong.handshake_ok) << strong.error;
}

TEST(ServerTls, NewConnectionsSeeARotatedCertificateAndBadFilesKeepTheOldOne) {
  TestCa ca;
  TlsFiles files;
  files.Write(ca.Issue(Serving("serving-a")));
  ServerOptions options;
  options.tls = ServerTlsOptions{files.cert(), files.key()};
  Server server(options);
  AddEcho(server);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(TlsConnect(server.BoundPort(), ca.cert_pem()).peer_common_name, "serving-a");

  files.Write(ca.Issue(Serving("serving-b")));
  auto rotated = TlsConnect(server.BoundPort(), ca.cert_pem());
  ASSERT_TRUE(rotated.handshake_ok) << rotated.error;
  EXPECT_EQ(rotated.peer_common_name, "serving-b");

  testing::WriteFileAtomically(files.cert(), "not a certificate");
  auto kept = TlsConnect(server.BoundPort(), ca.cert_pem());
  ASSERT_TRUE(kept.handshake_ok) << kept.error;
  EXPECT_EQ(kept.peer_common_name, "serving-b");

  // A key that does not match the certificate is refused too.
  auto c = ca.Issue(Serving("serving-c"));
  auto d = ca.Issue(Serving("serving-d"));
  testing::WriteFileAtomically(files.cert(), c.cert_pem);
  testing::WriteFileAtomically(files.key(), d.key_pem);
  EXPECT_EQ(TlsConnect(server.BoundPort(), ca.cert_pem()).peer_common_name, "serving-b");
  testing::WriteFileAtomically(files.key(), c.key_pem);
  EXPECT_EQ(TlsConnect(server.BoundPort(), ca.cert_pem()).peer_common_name, "serving-c");
}

TEST(ServerTls, HandshakeTrickledPastTheDeadlineIsCutAndTheOnlyWorkerServesTheNextClient) {
  TestCa ca;
  TlsFiles files;
  files.Write(ca.Issue(Serving("serving-a")));
  metrics::Counter cut;
  ServerOptions options = OneWorker(cut);
  options.tls = ServerTlsOptions{files.cert(), files.key()};
  Server server(options);
  AddEcho(server);
  ASSERT_TRUE(server.Start().ok());

  // A handshake record header announcing 512 bytes, then its bytes one by one.
  std::promise<void> head_sent;
  auto head_future = head_sent.get_future();
  auto trickler = std::async(std::launch::async, [&] {
    return Trickle(server.BoundPort(), std::string("\x16\x03\x01\x02\x00", 5), std::string(512, '\x01'),
                   &head_sent);
  });
  head_future.wait();
  auto ok = TlsConnect(server.BoundPort(), ca.cert_pem(),
                       {.request = "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        .io_timeout = std::chrono::seconds(30)});
  ASSERT_TRUE(ok.handshake_ok) << ok.error;
  EXPECT_NE(ok.response.find("HTTP/1.1 200"), std::string::npos) << ok.response;

  TrickleOutcome trickled = trickler.get();
  EXPECT_TRUE(trickled.closed_by_server);
  EXPECT_LT(trickled.tail_sent, 512u);
  EXPECT_EQ(cut.Value(), 1);
}

TEST(ServerTls, UnreadableOrMismatchedFilesFailStartNamingTheFile) {
  TestCa ca;
  TlsFiles files;
  ServerOptions options;
  options.tls = ServerTlsOptions{files.cert(), files.key()};
  Server missing(options);
  auto r = missing.Start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find(files.cert()), std::string::npos) << r.message();

  auto a = ca.Issue(Serving("a"));
  auto b = ca.Issue(Serving("b"));
  testing::WriteFileAtomically(files.cert(), a.cert_pem);
  testing::WriteFileAtomically(files.key(), b.key_pem);
  Server mismatched(options);
  auto m = mismatched.Start();
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("does not match"), std::string::npos) << m.message();
}

}  // namespace
}  // namespace promsidecar::http
