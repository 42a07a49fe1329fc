// The libcurl transport against real local HTTP(S) servers (cpp-httplib on
// port 0): wire format, headers, every auth method, TLS, proxy, timeouts.
#include "agent/remote_write/curl_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "../reload/kubelet_volume.h"
#include "agent/remote_write/auth.h"
#include "agent/remote_write/encoder.h"
#include "agent/remote_write/roundtrip.h"
#include "common/util/base64.h"
#include "testing/temp_dir.h"
#include "testing/test_pki.h"

namespace promsidecar::remote_write {
namespace {

using promsidecar::testing::TempDir;
using std::chrono::milliseconds;

struct Captured {
  std::string path;
  httplib::Headers headers;
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);  // httplib's Headers compare case-insensitively
    return it == headers.end() ? "" : it->second;
  }
  bool Has(const std::string& name) const { return headers.find(name) != headers.end(); }
};

// A local receiver: records every request, answers with `respond`.
class Receiver {
 public:
  explicit Receiver(std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
      : server_(std::move(server)) {
    server_->Post(R"(.*)", [this](const httplib::Request& req, httplib::Response& res) {
      Captured c{req.path, req.headers, req.body};
      std::function<void(const Captured&, httplib::Response&)> respond;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(c);
        respond = respond_;
      }
      if (respond) {
        respond(c, res);
      } else {
        res.status = 204;
      }
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() is a no-op until the accept loop runs: wait for it, or a
    // receiver destroyed right away would leave the thread running forever.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!server_->is_running() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~Receiver() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string Url(const std::string& scheme = "http", const std::string& host = "127.0.0.1") const {
    return scheme + "://" + host + ":" + std::to_string(port_) + "/api/v1/write";
  }
  void Respond(std::function<void(const Captured&, httplib::Response&)> f) {
    std::lock_guard lock(mu_);
    respond_ = std::move(f);
  }
  std::vector<Captured> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<Captured> RequestsTo(const std::string& path) {
    std::vector<Captured> out;
    for (auto& r : requests()) {
      if (r.path == path) out.push_back(r);
    }
    return out;
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Captured> requests_;
  std::function<void(const Captured&, httplib::Response&)> respond_;
};

// A loopback port nobody listens on: bound, then closed.
int UnusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot bind a loopback socket";
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

const std::vector<SeriesInput> kSeries{
    {{{"__name__", "up"}, {"instance", "localhost:8080"}, {"job", "app"}},
     {{1700000000000, 1}, {1700000001000, 0}}},
    {{{"__name__", "x"}}, {{-1, model::StaleNaN()}}},
};

std::string Body() {
  Encoder enc;
  enc.Begin();
  for (const auto& s : kSeries) enc.AddSeries(s.labels, s.samples);
  return std::string(enc.Compress());
}

std::unique_ptr<CurlTransport> MustCreate(TransportConfig c) {
  auto t = CurlTransport::Create(std::move(c));
  if (!t) ADD_FAILURE() << t.message();
  return t ? std::move(*t) : nullptr;
}

Result<HttpResult> PostBody(Transport& t) {
  std::string body = Body();
  return t.Post(Request{body, milliseconds(0)});
}

TEST(CurlTransport, PostsADecodableRequestWithTheSpecHeaders) {
  Receiver rx;
  TransportConfig c;
  c.url = rx.Url();
  c.user_agent = "promsidecar-agent/0.1.0";
  c.headers = {{"X-Scope-OrgID", "tenant-1"}};
  auto t = MustCreate(c);
  ASSERT_TRUE(t);
  auto r = PostBody(*t);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status, 204);
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& q = reqs[0];
  EXPECT_EQ(q.path, "/api/v1/write");
  EXPECT_EQ(q.Header("Content-Encoding"), "snappy");
  EXPECT_EQ(q.Header("Content-Type"), "application/x-protobuf");
  EXPECT_EQ(q.Header("X-Prometheus-Remote-Write-Version"), "0.1.0");
  EXPECT_EQ(q.Header("User-Agent"), "promsidecar-agent/0.1.0");
  EXPECT_EQ(q.Header("X-Scope-OrgID"), "tenant-1");
  EXPECT_FALSE(q.Has("Authorization"));
  EXPECT_FALSE(q.Has("Expect"));
  auto st = CheckDecodesTo(q.body, kSeries);
  EXPECT_TRUE(st.ok()) << st.message();

  // The handle is reused for the next request.
  ASSERT_TRUE(PostBody(*t).ok());
  EXPECT_EQ(rx.requests().size(), 2u);
}

// Remote write 2.0: its Content-Type and version header, and the Written
// response headers read back (case-insensitively; a non-numeric one is absent).
TEST(CurlTransport, V2HeadersAndWrittenResponseHeaders) {
  Receiver rx;
  rx.Respond([](const Captured&, httplib::Response& res) {
    res.status = 204;
    res.set_header("x-prometheus-remote-write-samples-written", "3");
    res.set_header("X-Prometheus-Remote-Write-Histograms-Written", "1");
    res.set_header("X-Prometheus-Remote-Write-Exemplars-Written", "many");
  });
  TransportConfig c;
  c.url = rx.Url();
  auto t = MustCreate(c);
  ASSERT_TRUE(t);
  std::string body = Body();
  auto r = t->Post(Request{body, milliseconds(0), MessageType::kV2});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->samples_written, 3u);
  EXPECT_EQ(r->histograms_written, 1u);
  EXPECT_FALSE(r->exemplars_written.has_value());
  EXPECT_TRUE(r->any_written_header());
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].Header("Content-Type"), "application/x-protobuf;proto=io.prometheus.write.v2.Request");
  EXPECT_EQ(reqs[0].Header("X-Prometheus-Remote-Write-Version"), "2.0.0");
  EXPECT_EQ(reqs[0].Header("Content-Encoding"), "snappy");
  // A 1.0 request after it on the same handle carries 1.0's headers again.
  rx.Respond(nullptr);
  auto r1 = PostBody(*t);
  ASSERT_TRUE(r1.ok());
  EXPECT_FALSE(r1->any_written_header());
  EXPECT_EQ(rx.requests().back().Header("Content-Type"), "application/x-protobuf");
  EXPECT_EQ(rx.requests().back().Header("X-Prometheus-Remote-Write-Version"), "0.1.0");
}

TEST(CurlTransport, RefusesReservedUserHeaders) {
  for (const char* name : {"Content-Type", "content-encoding", "X-Prometheus-Remote-Write-Version",
                           "User-Agent", "Authorization", "Host"}) {
    TransportConfig c;
    c.url = "http://127.0.0.1:1/write";
    c.headers = {{name, "x"}};
    auto t = CurlTransport::Create(c);
    ASSERT_FALSE(t.ok()) << name;
    EXPECT_NE(t.message().find(name), std::string::npos) << t.message();
  }
}

TEST(CurlTransport, ReportsStatusRetryAfterAndTheStartOfTheBody) {
  Receiver rx;
  rx.Respond([](const Captured&, httplib::Response& res) {
    res.status = 503;
    res.set_header("Retry-After", "30");
    res.set_content(std::string(5000, 'e'), "text/plain");
  });
  TransportConfig c;
  c.url = rx.Url();
  c.max_response_body = 100;
  auto t = MustCreate(c);
  auto r = PostBody(*t);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->retry_after, "30");
  EXPECT_EQ(r->body, std::string(100, 'e'));
}

TEST(CurlTransport, BasicAuthPasswordFileIsReReadWhenItChanges) {
  Receiver rx;
  TempDir dir;
  TransportConfig c;
  c.url = rx.Url();
  c.basic_auth = BasicAuthConfig{"agent", SecretRef{"", dir.Write("password", "first\n")}};
  auto t = MustCreate(c);
  ASSERT_TRUE(PostBody(*t).ok());
  dir.Write("password", "second");
  ASSERT_TRUE(PostBody(*t).ok());
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].Header("Authorization"), "Basic " + EncodeBase64("agent:first"));
  EXPECT_EQ(reqs[1].Header("Authorization"), "Basic " + EncodeBase64("agent:second"));
}

TEST(CurlTransport, AuthorizationCredentialsInlineAndFromFile) {
  Receiver rx;
  TempDir dir;
  TransportConfig c;
  c.url = rx.Url();
  c.authorization = AuthorizationConfig{"Bearer", SecretRef{"", dir.Write("token", "tok-1\n")}};
  auto t = MustCreate(c);
  ASSERT_TRUE(PostBody(*t).ok());
  dir.Write("token", "tok-2");
  ASSERT_TRUE(PostBody(*t).ok());
  c.authorization = AuthorizationConfig{"Token", SecretRef{"inline", ""}};
  auto t2 = MustCreate(c);
  ASSERT_TRUE(PostBody(*t2).ok());
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].Header("Authorization"), "Bearer tok-1");
  EXPECT_EQ(reqs[1].Header("Authorization"), "Bearer tok-2");
  EXPECT_EQ(reqs[2].Header("Authorization"), "Token inline");
}

// A projected service-account token (and the shared config's Secret volume)
// is rotated by the kubelet's atomic swap: a new `..<timestamp>` directory,
// `..data` renamed over, the old directory removed; the file the config
// names is the symlink `token -> ..data/token`. Tokens of the same length, so
// only the file's identity or mtime can tell the reader that it changed.
TEST(CurlTransport, CredentialFilesRotatedByTheKubeletAreSentOnTheNextRequest) {
  struct Method {
    const char* name;
    std::function<void(TransportConfig&, const std::string&)> configure;
    std::function<std::string(const std::string&)> header;
  } methods[] = {
      {"authorization credentials_file",
       [](TransportConfig& c, const std::string& f) {
         c.authorization = AuthorizationConfig{"Bearer", {"", f}};
       },
       [](const std::string& v) { return "Bearer " + v; }},
      {"basic_auth password_file",
       [](TransportConfig& c, const std::string& f) {
         c.basic_auth = BasicAuthConfig{"agent", {"", f}};
       },
       [](const std::string& v) { return "Basic " + EncodeBase64("agent:" + v); }},
  };
  for (const Method& m : methods) {
    SCOPED_TRACE(m.name);
    Receiver rx;
    TempDir dir;
    reload::testing::KubeletVolume volume(dir.path());
    volume.Publish({{"token", "eyJ-token-1\n"}});
    TransportConfig c;
    c.url = rx.Url();
    m.configure(c, volume.Path("token"));
    auto t = MustCreate(c);
    ASSERT_TRUE(t);
    ASSERT_TRUE(PostBody(*t).ok());
    ASSERT_TRUE(PostBody(*t).ok());  // unchanged: the cached value
    for (const char* next : {"eyJ-token-2", "eyJ-token-3"}) {
      volume.Publish({{"token", next}});
      ASSERT_TRUE(PostBody(*t).ok());
    }
    auto reqs = rx.requests();
    ASSERT_EQ(reqs.size(), 4u);
    EXPECT_EQ(reqs[0].Header("Authorization"), m.header("eyJ-token-1"));
    EXPECT_EQ(reqs[1].Header("Authorization"), m.header("eyJ-token-1"));
    EXPECT_EQ(reqs[2].Header("Authorization"), m.header("eyJ-token-2"));
    EXPECT_EQ(reqs[3].Header("Authorization"), m.header("eyJ-token-3"));
  }
}

TEST(CurlTransport, MissingCredentialsFileIsAnErrorNotARequest) {
  Receiver rx;
  TempDir dir;
  TransportConfig c;
  c.url = rx.Url();
  c.authorization = AuthorizationConfig{"Bearer", SecretRef{"", dir.path() + "/absent"}};
  auto t = MustCreate(c);
  auto r = PostBody(*t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("credentials_file"), std::string::npos) << r.message();
  EXPECT_TRUE(rx.requests().empty());
}

TEST(CurlTransport, CredentialsWithALineBreakCannotInjectHeaders) {
  Receiver rx;
  TempDir dir;
  TransportConfig c;
  c.url = rx.Url();
  c.authorization = AuthorizationConfig{"Bearer", SecretRef{"", dir.Write("token", "tok\nX-Evil: 1\n")}};
  auto t = MustCreate(c);
  auto r = PostBody(*t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message().find("X-Evil"), std::string::npos) << r.message();
  EXPECT_TRUE(rx.requests().empty());
}

TEST(CurlTransport, OAuth2ClientCredentialsTokenIsCachedAndRefreshedAfter401) {
  Receiver rx;
  int tokens_issued = 0;
  int write_calls = 0;
  std::mutex mu;
  rx.Respond([&](const Captured& q, httplib::Response& res) {
    std::lock_guard lock(mu);
    if (q.path == "/token") {
      if (q.Header("Authorization") != "Basic " + EncodeBase64("my-client:s3cr%2Bet") ||
          q.Header("Content-Type") != "application/x-www-form-urlencoded" ||
          q.body != "grant_type=client_credentials&scope=write+read&audience=metrics") {
        res.status = 401;
        return;
      }
      ++tokens_issued;
      res.set_content(R"({"access_token":"tok-)" + std::to_string(tokens_issued) +
                          R"(","token_type":"Bearer","expires_in":3600})",
                      "application/json");
      return;
    }
    // The write endpoint rejects the first token after two uses.
    ++write_calls;
    res.status = write_calls == 3 ? 401 : 204;
  });
  TempDir dir;
  TransportConfig c;
  c.url = rx.Url();
  c.oauth2 = OAuth2Config{"my-client",
                          SecretRef{"", dir.Write("secret", "s3cr+et\n")},
                          "http://127.0.0.1:" + std::to_string(rx.port()) + "/token",
                          {"write", "read"},
                          {{"audience", "metrics"}}};
  auto t = MustCreate(c);
  for (int i = 0; i < 4; ++i) {
    auto r = PostBody(*t);
    ASSERT_TRUE(r.ok()) << r.message();
  }
  auto writes = rx.RequestsTo("/api/v1/write");
  ASSERT_EQ(writes.size(), 4u);
  EXPECT_EQ(writes[0].Header("Authorization"), "Bearer tok-1");
  EXPECT_EQ(writes[1].Header("Authorization"), "Bearer tok-1");
  EXPECT_EQ(writes[2].Header("Authorization"), "Bearer tok-1");  // answered 401
  EXPECT_EQ(writes[3].Header("Authorization"), "Bearer tok-2");
  EXPECT_EQ(rx.RequestsTo("/token").size(), 2u);
}

TEST(CurlTransport, ErrorsNeverContainSecrets) {
  int port = UnusedPort();
  TransportConfig c;
  c.url = "http://user:hunter2@127.0.0.1:" + std::to_string(port) + "/write";
  c.basic_auth = BasicAuthConfig{"agent", SecretRef{"hunter2", ""}};
  auto t = MustCreate(c);
  auto r = PostBody(*t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message().find("hunter2"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("127.0.0.1"), std::string::npos) << r.message();

  Receiver rx;
  rx.Respond([](const Captured&, httplib::Response& res) { res.status = 400; });
  c.basic_auth.reset();
  c.url = rx.Url();
  c.oauth2 = OAuth2Config{"id", SecretRef{"hunter2", ""}, rx.Url() + "/token", {}, {}};
  auto t2 = MustCreate(c);
  auto r2 = PostBody(*t2);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.message().find("hunter2"), std::string::npos) << r2.message();
  EXPECT_NE(r2.message().find("oauth2"), std::string::npos) << r2.message();
}

TEST(CurlTransport, TimesOutASlowReceiver) {
  Receiver rx;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  rx.Respond([&](const Captured&, httplib::Response& res) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(30), [&] { return release; });
    res.status = 204;
  });
  TransportConfig c;
  c.url = rx.Url();
  c.remote_timeout = milliseconds(30000);
  auto t = MustCreate(c);
  std::string body = Body();
  auto r = t->Post(Request{body, milliseconds(200)});  // the per-request bound wins
  EXPECT_FALSE(r.ok());
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
}

TEST(CurlTransport, SendsThroughTheConfiguredProxy) {
  Receiver proxy;  // sees the absolute-form request target
  TransportConfig c;
  c.url = "http://receiver.invalid:9/api/v1/write";
  c.proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port());
  auto t = MustCreate(c);
  auto r = PostBody(*t);
  ASSERT_TRUE(r.ok()) << r.message();
  auto reqs = proxy.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_NE(reqs[0].path.find("receiver.invalid"), std::string::npos) << reqs[0].path;
  EXPECT_TRUE(CheckDecodesTo(reqs[0].body, kSeries).ok());
}

TEST(CurlTransport, IgnoresProxyEnvironmentWithoutProxyUrl) {
  ::setenv("http_proxy", "http://127.0.0.1:1", 1);  // before any thread of this test starts
  Receiver rx;
  TransportConfig c;
  c.url = rx.Url();
  auto t = MustCreate(c);
  auto r = PostBody(*t);
  ::unsetenv("http_proxy");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(rx.requests().size(), 1u);
}

class CurlTransportTls : public ::testing::Test {
 protected:
  void SetUp() override { pki_ = promsidecar::testing::WritePkiFiles(dir_.path()); }
  std::unique_ptr<Receiver> Start(bool require_client_cert = false) {
    auto server = std::make_unique<httplib::SSLServer>(pki_.server_cert.c_str(), pki_.server_key.c_str(),
                                                       require_client_cert ? pki_.ca_cert.c_str() : nullptr);
    if (!server->is_valid()) ADD_FAILURE() << "TLS server did not start";
    return std::make_unique<Receiver>(std::move(server));
  }
  TempDir dir_;
  promsidecar::testing::PkiFiles pki_;
};

TEST_F(CurlTransportTls, VerifiesTheServerAgainstTheConfiguredCa) {
  auto rx = Start();
  TransportConfig c;
  c.url = rx->Url("https", "localhost");
  c.tls.ca_file = pki_.ca_cert;
  auto ok = PostBody(*MustCreate(c));
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->status, 204);

  c.tls.ca_file.clear();  // the system store does not know our CA
  EXPECT_FALSE(PostBody(*MustCreate(c)).ok());

  c.tls.insecure_skip_verify = true;
  auto skipped = PostBody(*MustCreate(c));
  EXPECT_TRUE(skipped.ok()) << skipped.message();
  EXPECT_EQ(rx->requests().size(), 2u);
}

TEST_F(CurlTransportTls, ServerNameOverridesTheUrlHostForVerification) {
  auto rx = Start();
  TransportConfig c;
  c.url = rx->Url("https", "127.0.0.1");  // not in the certificate
  c.tls.ca_file = pki_.ca_cert;
  EXPECT_FALSE(PostBody(*MustCreate(c)).ok());
  c.tls.server_name = "promsidecar.test";
  auto r = PostBody(*MustCreate(c));
  ASSERT_TRUE(r.ok()) << r.message();
  auto reqs = rx->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].Header("Host"), "127.0.0.1:" + std::to_string(rx->port()));
  EXPECT_TRUE(CheckDecodesTo(reqs[0].body, kSeries).ok());
}

TEST_F(CurlTransportTls, PresentsTheClientCertificate) {
  auto rx = Start(/*require_client_cert=*/true);
  TransportConfig c;
  c.url = rx->Url("https", "localhost");
  c.tls.ca_file = pki_.ca_cert;
  EXPECT_FALSE(PostBody(*MustCreate(c)).ok());
  c.tls.cert_file = pki_.client_cert;
  c.tls.key_file = pki_.client_key;
  auto r = PostBody(*MustCreate(c));
  EXPECT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(rx->requests().size(), 1u);
}

// Pure helpers.

TEST(TransportConfig, Validation) {
  TransportConfig c;
  c.url = "ftp://x/";
  EXPECT_FALSE(ValidateTransportConfig(c).ok());
  c.url = "https://x/write";
  EXPECT_TRUE(ValidateTransportConfig(c).ok());
  c.basic_auth = BasicAuthConfig{"u", {"p", ""}};
  c.authorization = AuthorizationConfig{};
  EXPECT_FALSE(ValidateTransportConfig(c).ok());
  c.authorization.reset();
  c.basic_auth = BasicAuthConfig{"u", {"p", "/file"}};
  EXPECT_FALSE(ValidateTransportConfig(c).ok());
  c.basic_auth.reset();
  c.tls.cert_file = "/c";
  EXPECT_FALSE(ValidateTransportConfig(c).ok());
  c.tls.cert_file.clear();
  c.headers = {{"X-Ok", "a\r\nInjected: 1"}};
  EXPECT_FALSE(ValidateTransportConfig(c).ok());
  EXPECT_TRUE(IsReservedHeader("x-prometheus-remote-write-version"));
  EXPECT_FALSE(IsReservedHeader("X-Scope-OrgID"));
}

// Every error names the endpoint by its redacted URL (http::RedactUrl): no
// userinfo, no query.
TEST(TransportConfig, ErrorsNeverShowUrlCredentials) {
  const std::string url = "https://user:pw-secret@rw.example.com:8443/write?api_key=query-secret";
  std::vector<std::function<void(TransportConfig&)>> breakers = {
      [](TransportConfig& c) { c.url = "ftp://user:pw-secret@rw.example.com/write?api_key=query-secret"; },
      [](TransportConfig& c) {
        c.basic_auth = BasicAuthConfig{"u", {"p", ""}};
        c.authorization = AuthorizationConfig{};
      },
      [](TransportConfig& c) {
        c.headers = {{"Content-Type", "x"}};
      },
      [](TransportConfig& c) {
        c.headers = {{"X-Bad", "a\nb"}};
      },
      [](TransportConfig& c) {
        c.basic_auth = BasicAuthConfig{"u", {"p", "/file"}};
      },
      [](TransportConfig& c) { c.oauth2 = OAuth2Config{}; },
      [](TransportConfig& c) { c.tls.cert_file = "/c"; },
      [](TransportConfig& c) { c.remote_timeout = std::chrono::seconds(0); },
  };
  for (size_t i = 0; i < breakers.size(); ++i) {
    TransportConfig c;
    c.url = url;
    ASSERT_TRUE(ValidateTransportConfig(c).ok());
    breakers[i](c);
    Status s = ValidateTransportConfig(c);
    ASSERT_FALSE(s.ok()) << i;
    EXPECT_NE(s.message().find("://<redacted>@rw.example.com"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("secret"), std::string::npos) << s.message();
  }
}

TEST(Auth, TokenCacheExpiresWithAMargin) {
  TokenCache cache;
  auto t0 = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  EXPECT_FALSE(cache.Get(t0).has_value());
  cache.Put("a", std::chrono::seconds(3600), t0);
  EXPECT_EQ(cache.Get(t0 + std::chrono::seconds(3589)), "a");
  EXPECT_FALSE(cache.Get(t0 + std::chrono::seconds(3590)).has_value());
  cache.Put("b", std::chrono::seconds(4), t0);  // short-lived: margin is half
  EXPECT_EQ(cache.Get(t0 + std::chrono::milliseconds(1999)), "b");
  EXPECT_FALSE(cache.Get(t0 + std::chrono::seconds(2)).has_value());
  cache.Put("c", std::nullopt, t0);
  EXPECT_EQ(cache.Get(t0 + std::chrono::hours(1000)), "c");
  cache.Invalidate();
  EXPECT_FALSE(cache.Get(t0).has_value());
}

TEST(Auth, ParseTokenResponse) {
  auto r = ParseTokenResponse(R"({"access_token":"x","token_type":"bearer","expires_in":"60"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->access_token, "x");
  EXPECT_EQ(r->expires_in, std::chrono::seconds(60));
  EXPECT_FALSE(ParseTokenResponse(R"({"error":"invalid_client"})").ok());
  auto bad = ParseTokenResponse("secret-looking garbage");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message().find("secret-looking"), std::string::npos);
}

TEST(Auth, FormUrlEncoding) {
  EXPECT_EQ(FormUrlEncode("a b+c/é~"), "a+b%2Bc%2F%C3%A9~");
}

TEST(Auth, SecretReaderTrimsAndFollowsChanges) {
  TempDir dir;
  auto path = dir.Write("s", "  one\n");
  SecretReader r(SecretRef{"", path}, "basic_auth password_file");
  EXPECT_EQ(*r.Get(), "one");
  dir.Write("s", "two");
  EXPECT_EQ(*r.Get(), "two");
  std::filesystem::remove(path);
  auto gone = r.Get();
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.message().find("password_file"), std::string::npos);
  EXPECT_EQ(*SecretReader(SecretRef{"inline", ""}, "x").Get(), "inline");
}

}  // namespace
}  // namespace promsidecar::remote_write
