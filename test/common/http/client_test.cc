#include "common/http/client.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <zlib.h>

#include "testing/test_pki.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace promsidecar::http {
namespace {

using namespace std::chrono_literals;

// A local HTTP(S) server on an ephemeral port, stopped on destruction.
class TestServer {
 public:
  TestServer() : owned_(std::make_unique<httplib::Server>()), server(*owned_) {}
  explicit TestServer(std::unique_ptr<httplib::Server> s) : owned_(std::move(s)), server(*owned_) {}
  ~TestServer() {
    release.store(true);
    server.stop();
    if (thread_.joinable()) thread_.join();
  }
  void Start(const std::string& scheme = "http") {
    scheme_ = scheme;
    port_ = server.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server.listen_after_bind(); });
    // stop() before the accept loop runs would be lost; wait for it.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!server.is_running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(server.is_running());
  }
  std::string Url(const std::string& path) const {
    return scheme_ + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> owned_;

 public:
  httplib::Server& server;
  std::atomic<bool> release{false};  // lets slow handlers finish at teardown

 private:
  std::string scheme_ = "http";
  int port_ = 0;
  std::thread thread_;
};

std::string Gzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(compressBound(in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(Headers, CaseInsensitiveLookup) {
  Headers h;
  h.Add("Content-Type", "text/plain");
  h.Add("X-A", "1");
  h.Add("x-a", "2");
  EXPECT_EQ(h.Get("content-type").value_or(""), "text/plain");
  EXPECT_EQ(h.GetAll("X-a"), (std::vector<std::string>{"1", "2"}));
  EXPECT_FALSE(h.Get("Retry-After").has_value());
  h.Set("X-A", "3");
  EXPECT_EQ(h.GetAll("x-A"), (std::vector<std::string>{"3"}));
}

TEST(Client, GetReturnsStatusBodyAndHeaders) {
  TestServer srv;
  srv.server.Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Echo", req.get_header_value("X-Token"));
    res.set_header("Retry-After", "7");
    res.set_content("hi " + req.get_param_value("name"), "text/plain");
  });
  srv.Start();
  Client client;
  Request req;
  req.url = srv.Url("/hello?name=bob");
  req.headers.Add("X-Token", "abc");
  FailureKind kind = FailureKind::kOther;
  auto res = client.Do(req, &kind);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(kind, FailureKind::kNone);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "hi bob");
  EXPECT_EQ(res->headers.Get("x-echo").value_or(""), "abc");
  EXPECT_EQ(res->headers.Get("retry-after").value_or(""), "7");
  EXPECT_EQ(res->headers.Get("CONTENT-TYPE").value_or(""), "text/plain");
}

TEST(Client, PostSendsBodyAndContentTypeAndReusesTheClient) {
  TestServer srv;
  srv.server.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 201;
    res.set_content(req.get_header_value("Content-Type") + "|" + req.body, "text/plain");
  });
  srv.server.Put("/put", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content("put:" + req.body, "text/plain");
  });
  srv.Start();
  Client client;
  Request post;
  post.method = "POST";
  post.url = srv.Url("/echo");
  post.headers.Add("Content-Type", "application/json");
  post.body = R"({"a":1})";
  auto res = client.Do(post);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->body, R"(application/json|{"a":1})");

  Request put;
  put.method = "PUT";
  put.url = srv.Url("/put");
  put.body = "x";
  res = client.Do(put);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->body, "put:x");
}

TEST(Client, ErrorStatusIsAResponseNotAnError) {
  TestServer srv;
  srv.Start();
  Client client;
  Request req;
  req.url = srv.Url("/missing");
  auto res = client.Do(req);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->status, 404);
}

TEST(Client, BodyLimitExceededFailsWithClearError) {
  TestServer srv;
  srv.server.Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100'000, 'x'), "application/octet-stream");
  });
  srv.Start();
  Client client;
  Request req;
  req.url = srv.Url("/big");
  req.max_body_bytes = 1000;
  FailureKind kind = FailureKind::kNone;
  auto res = client.Do(req, &kind);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(kind, FailureKind::kBodyTooLarge);
  EXPECT_NE(res.message().find("limit of 1000 bytes"), std::string::npos) << res.message();
  EXPECT_NE(res.message().find(srv.Url("/big")), std::string::npos) << res.message();

  req.max_body_bytes = 100'000;  // exactly fits
  res = client.Do(req);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->body.size(), 100'000u);
}

TEST(Client, TimeoutAgainstSlowHandler) {
  TestServer srv;
  srv.server.Get("/slow", [&srv](const httplib::Request&, httplib::Response& res) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!srv.release.load() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    res.set_content("late", "text/plain");
  });
  srv.Start();
  Client client;
  Request req;
  req.url = srv.Url("/slow");
  req.timeout = 300ms;
  FailureKind kind = FailureKind::kNone;
  auto start = std::chrono::steady_clock::now();
  auto res = client.Do(req, &kind);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(kind, FailureKind::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  EXPECT_NE(res.message().find("/slow"), std::string::npos) << res.message();
}

TEST(Client, ConnectionRefusedIsAConnectFailure) {
  int port;
  {
    TestServer srv;
    srv.Start();
    port = srv.port();
  }
  Client client;
  Request req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  FailureKind kind = FailureKind::kNone;
  auto res = client.Do(req, &kind);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(kind, FailureKind::kConnect);
}

TEST(Client, StreamingDeliversChunksAsTheyArrive) {
  TestServer srv;
  srv.server.Get("/stream", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [](size_t offset, httplib::DataSink& sink) {
      (void)offset;
      for (int i = 0; i < 3; ++i) {
        std::string line = "{\"n\":" + std::to_string(i) + "}\n";
        sink.write(line.data(), line.size());
      }
      sink.done();
      return true;
    });
  });
  srv.Start();
  Client client;
  Request req;
  req.url = srv.Url("/stream");
  std::string streamed;
  req.on_chunk = [&](std::string_view chunk) {
    streamed.append(chunk);
    return true;
  };
  auto res = client.Do(req);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(streamed, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
  EXPECT_TRUE(res->body.empty());
}

TEST(Client, StreamingCallbackReturningFalseAborts) {
  TestServer srv;
  srv.server.Get("/stream", [&srv](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&srv](size_t, httplib::DataSink& sink) {
      if (srv.release.load()) return false;
      std::this_thread::sleep_for(5ms);
      return sink.write("data\n", 5);
    });
  });
  srv.Start();
  Client client;
  Request req;
  req.url = srv.Url("/stream");
  int chunks = 0;
  req.on_chunk = [&](std::string_view) { return ++chunks < 2; };
  FailureKind kind = FailureKind::kNone;
  auto res = client.Do(req, &kind);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(kind, FailureKind::kAborted);
  EXPECT_EQ(chunks, 2);
}

TEST(Client, StreamingErrorStatusCollectsTheBody) {
  TestServer srv;
  srv.server.Get("/gone", [](const httplib::Request&, httplib::Response& res) {
    res.status = 410;
    res.set_content(R"({"kind":"Status","code":410})", "application/json");
  });
  srv.Start();
  Client client;
  Request req;
  req.url = srv.Url("/gone");
  bool called = false;
  req.on_chunk = [&](std::string_view) {
    called = true;
    return true;
  };
  auto res = client.Do(req);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->status, 410);
  EXPECT_FALSE(called);
  EXPECT_EQ(res->body, R"({"kind":"Status","code":410})");
}

TEST(Client, ShouldAbortStopsAnIdleStreamPromptly) {
  TestServer srv;
  srv.server.Get("/idle", [&srv](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&srv](size_t, httplib::DataSink& sink) {
      // Sends nothing until the test ends; write errors stop the provider.
      std::this_thread::sleep_for(20ms);
      if (srv.release.load()) return false;
      return sink.is_writable();
    });
  });
  srv.Start();
  Client client;
  Request req;
  req.url = srv.Url("/idle");
  req.timeout = 0ms;
  req.on_chunk = [](std::string_view) { return true; };
  auto start = std::chrono::steady_clock::now();
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop.store(true);
  });
  req.should_abort = [&] { return stop.load(); };
  FailureKind kind = FailureKind::kNone;
  auto res = client.Do(req, &kind);
  stopper.join();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(kind, FailureKind::kAborted);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(Client, GzipIsDecodedWhenAsked) {
  const std::string plain(5000, 'a');
  TestServer srv;
  std::string accept_encoding;
  srv.server.Get("/gz", [&](const httplib::Request& req, httplib::Response& res) {
    accept_encoding = req.get_header_value("Accept-Encoding");
    if (req.get_header_value("Accept-Encoding").find("gzip") == std::string::npos) {
      res.set_content(plain, "application/octet-stream");
      return;
    }
    res.set_header("Content-Encoding", "gzip");
    res.set_content(Gzip(plain), "application/octet-stream");
  });
  srv.Start();
  Client client;
  Request req;
  req.url = srv.Url("/gz");
  req.decode_gzip = true;
  auto res = client.Do(req);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->headers.Get("content-encoding").value_or(""), "gzip");
  EXPECT_EQ(res->body, plain);
  // Only gzip is offered (as Prometheus does): a server that would pick brotli
  // at its default quality for a large page can take longer than a scrape.
  EXPECT_EQ(accept_encoding, "gzip");

  // The limit applies to the decoded size: a small compressed body that
  // inflates beyond it fails.
  req.max_body_bytes = 1000;
  FailureKind kind = FailureKind::kNone;
  res = client.Do(req, &kind);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(kind, FailureKind::kBodyTooLarge);
}

// A TLS server that requires a client certificate from `ca`.
class TlsFixture {
 public:
  TlsFixture() : dir_(testing::MakeTempDir("http-tls")) {
    auto serving = ca.Issue({.common_name = "127.0.0.1", .ip_sans = {"127.0.0.1"}, .server = true});
    client = ca.Issue({.common_name = "client", .server = false});
    Write("server.crt", serving.cert_pem);
    Write("server.key", serving.key_pem);
    Write("ca.crt", ca.cert_pem());
    Write("client.crt", client.cert_pem);
    Write("client.key", client.key_pem);
    srv = std::make_unique<TestServer>(std::make_unique<httplib::SSLServer>(
        Path("server.crt").c_str(), Path("server.key").c_str(), Path("ca.crt").c_str()));
    srv->server.Get("/secure", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("secret", "text/plain");
    });
    srv->Start("https");
  }
  ~TlsFixture() {
    srv.reset();
    testing::RemoveTree(dir_);
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  testing::TestCa ca;
  testing::PemPair client;
  std::unique_ptr<TestServer> srv;

 private:
  void Write(const std::string& name, const std::string& content) {
    testing::WriteFileAtomically(Path(name), content);
  }
  std::string dir_;
};

TEST(ClientTls, InMemoryPemCaAndClientCertificate) {
  TlsFixture f;
  ClientOptions opts;
  opts.tls.ca_pem = f.ca.cert_pem();
  opts.tls.cert_pem = f.client.cert_pem;
  opts.tls.key_pem = f.client.key_pem;
  Client client(opts);
  Request req;
  req.url = f.srv->Url("/secure");
  auto res = client.Do(req);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "secret");
}

TEST(ClientTls, FilesCaAndClientCertificate) {
  TlsFixture f;
  ClientOptions opts;
  opts.tls.ca_file = f.Path("ca.crt");
  opts.tls.cert_file = f.Path("client.crt");
  opts.tls.key_file = f.Path("client.key");
  Client client(opts);
  Request req;
  req.url = f.srv->Url("/secure");
  auto res = client.Do(req);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->body, "secret");
}

TEST(ClientTls, UnknownServerCaIsRejectedUnlessVerificationIsSkipped) {
  TlsFixture f;
  testing::TestCa other("other CA");
  ClientOptions opts;
  opts.tls.ca_pem = other.cert_pem();
  opts.tls.cert_pem = f.client.cert_pem;
  opts.tls.key_pem = f.client.key_pem;
  Request req;
  req.url = f.srv->Url("/secure");
  {
    Client client(opts);
    FailureKind kind = FailureKind::kNone;
    auto res = client.Do(req, &kind);
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(kind, FailureKind::kConnect) << res.message();
  }
  opts.tls.insecure_skip_verify = true;
  Client insecure(opts);
  auto res = insecure.Do(req);
  ASSERT_TRUE(res.ok()) << res.message();
  EXPECT_EQ(res->body, "secret");
}

TEST(ClientTls, MissingClientCertificateFails) {
  TlsFixture f;
  ClientOptions opts;
  opts.tls.ca_pem = f.ca.cert_pem();
  Client client(opts);
  Request req;
  req.url = f.srv->Url("/secure");
  auto res = client.Do(req);
  EXPECT_FALSE(res.ok() && res->status == 200);
}

}  // namespace
}  // namespace promsidecar::http
