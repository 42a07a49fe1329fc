// Unit tests of the Kubernetes client's pure parts and of its request logic
// over a fake Transport (no sockets).
#include "common/kube/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "common/kube/informer.h"

namespace promsidecar::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// ---- Status -> ApiError ----

TEST(ApiError, ParsesStatusWithCauses) {
  std::string body = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"ConfigMap \"x\" is invalid: metadata.name: Invalid value: \"X\": a lowercase RFC 1123 subdomain",
    "reason":"Invalid","details":{"name":"X","kind":"ConfigMap","causes":[
      {"reason":"FieldValueInvalid","message":"Invalid value: \"X\": a lowercase RFC 1123 subdomain","field":"metadata.name"},
      {"reason":"FieldValueRequired","message":"Required value","field":"data.key"}]},"code":422})";
  ApiError e = ApiErrorFromResponse(422, body, "POST /api/v1/namespaces/a/configmaps");
  EXPECT_EQ(e.code, 422);
  EXPECT_EQ(e.reason, "Invalid");
  EXPECT_TRUE(IsInvalid(e));
  EXPECT_FALSE(IsNotFound(e));
  EXPECT_EQ(e.details_name, "X");
  EXPECT_EQ(e.details_kind, "ConfigMap");
  ASSERT_EQ(e.causes.size(), 2u);
  EXPECT_EQ(e.causes[0].field, "metadata.name");
  EXPECT_EQ(e.causes[0].reason, "FieldValueInvalid");
  EXPECT_EQ(e.causes[1].field, "data.key");
  std::string what = e.What();
  EXPECT_NE(what.find("POST /api/v1/namespaces/a/configmaps: Invalid (422)"), std::string::npos) << what;
  // The second cause is not in the server's message, so it is appended.
  EXPECT_NE(what.find("data.key: Required value"), std::string::npos) << what;
}

TEST(ApiError, ReasonsAndPredicates) {
  auto nf =
      ApiErrorFromResponse(404, R"({"kind":"Status","code":404,"reason":"NotFound","message":"nope"})", "");
  EXPECT_TRUE(IsNotFound(nf));
  auto exists = ApiErrorFromResponse(409, R"({"kind":"Status","code":409,"reason":"AlreadyExists"})", "");
  EXPECT_TRUE(IsAlreadyExists(exists));
  EXPECT_FALSE(IsConflict(exists));
  auto conflict = ApiErrorFromResponse(409, R"({"kind":"Status","code":409,"reason":"Conflict"})", "");
  EXPECT_TRUE(IsConflict(conflict));
  EXPECT_FALSE(IsAlreadyExists(conflict));
  auto expired = ApiErrorFromStatus(json::parse(R"j({"kind":"Status","code":410,"reason":"Expired",
      "message":"too old resource version: 1 (200)"})j"),
                                    "watch");
  EXPECT_TRUE(IsGone(expired));
  EXPECT_EQ(expired.code, 410);
  auto throttled = ApiErrorFromResponse(
      429, R"({"kind":"Status","code":429,"reason":"TooManyRequests","details":{"retryAfterSeconds":3}})",
      "");
  EXPECT_TRUE(IsTooManyRequests(throttled));
  ASSERT_TRUE(throttled.retry_after.has_value());
  EXPECT_EQ(*throttled.retry_after, 3s);
  // Not a Status: the code decides, the body prefix is the message.
  auto html = ApiErrorFromResponse(503, "<html>busy</html>\n", "GET /x");
  EXPECT_EQ(html.reason, "ServiceUnavailable");
  EXPECT_EQ(html.message, "<html>busy</html>");
  EXPECT_TRUE(IsServerError(html));
  auto forbidden = ApiErrorFromResponse(403, "", "");
  EXPECT_TRUE(IsForbidden(forbidden));
  EXPECT_EQ(forbidden.reason, "Forbidden");
  ApiError transport;
  transport.message = "connection refused";
  transport.context = "GET /api";
  EXPECT_TRUE(transport.transport_failure());
  EXPECT_EQ(transport.What(), "GET /api: connection refused");
}

// ---- retry policy (pure) ----

TEST(Retry, WhichFailuresAreRetried) {
  ApiError transport;  // code 0
  EXPECT_TRUE(IsRetryable(transport, http::FailureKind::kConnect, false));
  EXPECT_TRUE(IsRetryable(transport, http::FailureKind::kConnectionLost, true));
  EXPECT_FALSE(IsRetryable(transport, http::FailureKind::kConnectionLost, false));
  EXPECT_TRUE(IsRetryable(transport, http::FailureKind::kTimeout, true));
  EXPECT_FALSE(IsRetryable(transport, http::FailureKind::kTimeout, false));
  EXPECT_FALSE(IsRetryable(transport, http::FailureKind::kBodyTooLarge, true));
  EXPECT_FALSE(IsRetryable(transport, http::FailureKind::kAborted, true));
  ApiError e;
  for (int code : {429, 503}) {
    e.code = code;
    EXPECT_TRUE(IsRetryable(e, http::FailureKind::kNone, false)) << code;
  }
  for (int code : {500, 502, 504}) {
    e.code = code;
    EXPECT_TRUE(IsRetryable(e, http::FailureKind::kNone, true)) << code;
    EXPECT_FALSE(IsRetryable(e, http::FailureKind::kNone, false)) << code;
  }
  for (int code : {400, 401, 403, 404, 409, 410, 422}) {
    e.code = code;
    EXPECT_FALSE(IsRetryable(e, http::FailureKind::kNone, true)) << code;
  }
}

TEST(Retry, ExponentialBackoffCappedWithJitterAndRetryAfter) {
  RetryPolicy p;
  p.initial_backoff = 100ms;
  p.max_backoff = 1000ms;
  p.multiplier = 2;
  p.jitter = 0.5;
  p.max_retry_after = 10s;
  EXPECT_EQ(RetryDelay(p, 1, std::nullopt, 0.0), 100ms);
  EXPECT_EQ(RetryDelay(p, 2, std::nullopt, 0.0), 200ms);
  EXPECT_EQ(RetryDelay(p, 3, std::nullopt, 0.0), 400ms);
  EXPECT_EQ(RetryDelay(p, 5, std::nullopt, 0.0), 1000ms);  // capped
  EXPECT_EQ(RetryDelay(p, 9, std::nullopt, 0.0), 1000ms);
  EXPECT_EQ(RetryDelay(p, 2, std::nullopt, 1.0), 100ms);              // full jitter halves it
  EXPECT_EQ(RetryDelay(p, 1, std::chrono::seconds(3), 0.0), 3000ms);  // Retry-After wins
  EXPECT_EQ(RetryDelay(p, 5, std::chrono::seconds(0), 0.0), 1000ms);
  EXPECT_EQ(RetryDelay(p, 1, std::chrono::seconds(11), 0.0), std::nullopt);  // too long: give up

  EXPECT_EQ(ParseRetryAfter("5"), std::chrono::seconds(5));
  EXPECT_EQ(ParseRetryAfter(" 12 "), std::chrono::seconds(12));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-1"), std::nullopt);
}

// ---- paths and watch decoding (pure) ----

TEST(ResourcePath, CoreCustomClusterScopedAndSubresources) {
  EXPECT_EQ(ResourcePath(resources::ConfigMaps(), "ns1", "cm"), "/api/v1/namespaces/ns1/configmaps/cm");
  EXPECT_EQ(ResourcePath(resources::ConfigMaps(), "", ""), "/api/v1/configmaps");
  EXPECT_EQ(ResourcePath(resources::Namespaces(), "ignored", "ns1"), "/api/v1/namespaces/ns1");
  Resource widgets{"test.promsidecar.io", "v1", "widgets", true};
  EXPECT_EQ(ResourcePath(widgets, "a", "w", "status"),
            "/apis/test.promsidecar.io/v1/namespaces/a/widgets/w/status");
  EXPECT_EQ(ResourcePath(resources::CustomResourceDefinitions(), "", "widgets.test.promsidecar.io"),
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.test.promsidecar.io");
  EXPECT_EQ(widgets.ApiVersion(), "test.promsidecar.io/v1");
  EXPECT_EQ(resources::Pods().ApiVersion(), "v1");
  EXPECT_EQ(QueryString({{"labelSelector", "app in (a,b),tier!=x"}, {"limit", ""}, {"watch", "true"}}),
            "?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Dx&watch=true");
  EXPECT_EQ(QueryString({{"a", ""}}), "");
}

TEST(Watch, SplitsLinesAcrossChunksAndParsesEvents) {
  LineSplitter splitter;
  std::vector<std::string> lines;
  auto collect = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  ASSERT_FALSE(splitter.Feed(R"({"type":"ADDED","obj)", collect).value());
  EXPECT_TRUE(lines.empty());
  ASSERT_FALSE(splitter.Feed("ect\":{}}\n\n{\"type\":\"DELETED\",\"object\":{}}\r\n{", collect).value());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(splitter.pending(), 1u);
  auto ev = ParseWatchEvent(lines[0]);
  ASSERT_TRUE(ev.ok()) << ev.message();
  EXPECT_EQ(ev->type, WatchEvent::Type::kAdded);
  EXPECT_EQ(ParseWatchEvent(lines[1])->type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(ParseWatchEvent(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}})")->type,
            WatchEvent::Type::kBookmark);
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"WHAT","object":{}})").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"ADDED"})").ok());
  EXPECT_FALSE(ParseWatchEvent("not json").ok());

  LineSplitter small(10);
  EXPECT_FALSE(small.Feed("0123456789abc", collect).ok());
  // on_line returning false stops early.
  LineSplitter stopper;
  int n = 0;
  EXPECT_TRUE(stopper.Feed("a\nb\nc\n", [&](std::string_view) { return ++n < 2; }).value());
  EXPECT_EQ(n, 2);
}

json Obj(const std::string& ns, const std::string& name, const std::string& rv) {
  return {{"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}}}};
}

// ---- client-side write limit ----

TEST(TokenBucket, BurstThenQpsInCallOrder) {
  const auto t0 = TokenBucket::Clock::time_point{} + 1h;
  TokenBucket b(10, 2, t0);  // 10/s, burst 2
  EXPECT_EQ(b.Reserve(t0), 0ms);
  EXPECT_EQ(b.Reserve(t0), 0ms);
  // The bucket is empty: each further call waits one more tenth of a second.
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(b.Reserve(t0)), 100ms);
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(b.Reserve(t0)), 200ms);
  // 0.3 s later the debt of two is paid and one token is back.
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(b.Reserve(t0 + 300ms)), 0ms);
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(b.Reserve(t0 + 300ms)), 100ms);
  EXPECT_EQ(b.Reserve(t0 + 1h), 0ms);
  EXPECT_EQ(b.Reserve(t0 + 1h), 0ms);
  EXPECT_GT(b.Reserve(t0 + 1h), 0ms) << "the burst caps what an idle hour saves";
}

TEST(TokenBucket, ZeroQpsNeverWaits) {
  const auto t0 = TokenBucket::Clock::time_point{};
  TokenBucket b(0, 1, t0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.Reserve(t0), 0ms);
}

// ---- request logic over a fake transport ----

using Handler = std::function<Result<http::Response>(const http::Request&, http::FailureKind*)>;

class FakeTransport : public Transport {
 public:
  explicit FakeTransport(Handler h) : handler_(std::move(h)) {}
  Result<http::Response> Do(const http::Request& request, http::FailureKind* failure) override {
    {
      std::lock_guard lock(mu);
      requests.push_back(request.method + " " + request.url);
      auth.push_back(request.headers.Get("Authorization").value_or(""));
    }
    return handler_(request, failure);
  }
  std::mutex mu;
  std::vector<std::string> requests;
  std::vector<std::string> auth;

 private:
  Handler handler_;
};

http::Response Resp(long status, std::string body, http::Headers headers = {}) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

Config TestConfig() {
  Config c;
  c.server = "https://api.test";
  c.token = "t0k3n";
  return c;
}

TEST(Client, RetriesServerErrorsHonouringRetryAfterThenSucceeds) {
  int calls = 0;
  auto transport = std::make_shared<FakeTransport>([&](const http::Request&, http::FailureKind*) {
    ++calls;
    if (calls == 1) return Result<http::Response>(Resp(429, "", {{"Retry-After", "2"}}));
    if (calls == 2) return Result<http::Response>(Resp(503, R"({"kind":"Status","code":503})"));
    return Result<http::Response>(Resp(200, R"({"metadata":{"name":"cm"}})"));
  });
  std::vector<std::chrono::milliseconds> sleeps;
  ClientOptions opts;
  opts.sleep = [&](std::chrono::milliseconds d) { sleeps.push_back(d); };
  opts.retry.initial_backoff = 100ms;
  opts.retry.jitter = 0;
  Client client(TestConfig(), transport, opts);
  auto got = client.Get(resources::ConfigMaps(), "ns", "cm");
  ASSERT_TRUE(got.ok()) << got.message();
  EXPECT_EQ(Name(*got), "cm");
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_EQ(sleeps[0], 2000ms);  // Retry-After
  EXPECT_EQ(sleeps[1], 200ms);   // second backoff step
  EXPECT_EQ(transport->requests[0], "GET https://api.test/api/v1/namespaces/ns/configmaps/cm");
  EXPECT_EQ(transport->auth[0], "Bearer t0k3n");
}

TEST(Client, GivesUpAfterMaxAttemptsAndDoesNotRetryCreateOn500) {
  int calls = 0;
  auto transport = std::make_shared<FakeTransport>([&](const http::Request&, http::FailureKind*) {
    ++calls;
    return Result<http::Response>(Resp(500, R"({"kind":"Status","code":500,"reason":"InternalError"})"));
  });
  ClientOptions opts;
  opts.sleep = [](std::chrono::milliseconds) {};
  opts.retry.max_attempts = 3;
  Client client(TestConfig(), transport, opts);
  auto got = client.Get(resources::ConfigMaps(), "ns", "cm");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, 500);
  EXPECT_EQ(calls, 3);
  calls = 0;
  auto created = client.Create(resources::ConfigMaps(), "ns", Obj("ns", "cm", ""));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(calls, 1);
}

TEST(Client, ConnectionFailuresRetriedOnlyWhenSafe) {
  int calls = 0;
  http::FailureKind kind = http::FailureKind::kConnectionLost;
  auto transport = std::make_shared<FakeTransport>([&](const http::Request&, http::FailureKind* f) {
    ++calls;
    *f = kind;
    return Result<http::Response>(MakeError("GET https://api.test/x: connection reset"));
  });
  ClientOptions opts;
  opts.sleep = [](std::chrono::milliseconds) {};
  opts.retry.max_attempts = 4;
  Client client(TestConfig(), transport, opts);
  auto created = client.Create(resources::ConfigMaps(), "ns", Obj("ns", "cm", ""));
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(created.error().transport_failure());
  EXPECT_EQ(calls, 1);  // POST may have been applied
  calls = 0;
  EXPECT_FALSE(client.Delete(resources::ConfigMaps(), "ns", "cm").ok());
  EXPECT_EQ(calls, 4);  // DELETE is idempotent
  calls = 0;
  kind = http::FailureKind::kConnect;  // nothing was sent: always safe
  EXPECT_FALSE(client.Create(resources::ConfigMaps(), "ns", Obj("ns", "cm", "")).ok());
  EXPECT_EQ(calls, 4);
}

TEST(Client, UnauthorizedRereadsARotatedTokenOnce) {
  char tmpl[] = "/tmp/kubetok-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string path = tmpl;
  auto write = [&](const std::string& t) {
    FILE* f = fopen(path.c_str(), "w");
    fputs(t.c_str(), f);
    fclose(f);
  };
  write("old");
  auto transport = std::make_shared<FakeTransport>([&](const http::Request& req, http::FailureKind*) {
    if (req.headers.Get("Authorization") == "Bearer new") return Result<http::Response>(Resp(200, "{}"));
    write("new");  // the kubelet rotated the token meanwhile
    return Result<http::Response>(Resp(401, R"({"kind":"Status","code":401,"reason":"Unauthorized"})"));
  });
  Config cfg = TestConfig();
  cfg.token.clear();
  cfg.token_file = path;
  Client client(cfg, transport);
  auto got = client.GetPath("/version");
  EXPECT_TRUE(got.ok()) << got.message();
  EXPECT_EQ(transport->auth, (std::vector<std::string>{"Bearer old", "Bearer new"}));
  std::remove(path.c_str());
}

TEST(Client, ListAllFollowsContinueTokens) {
  auto transport = std::make_shared<FakeTransport>([&](const http::Request& req, http::FailureKind*) {
    if (req.url.find("continue=p2") != std::string::npos) {
      return Result<http::Response>(Resp(200, R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"9"},
        "items":[{"metadata":{"name":"c"}}]})"));
    }
    return Result<http::Response>(Resp(200, R"({"kind":"ConfigMapList","apiVersion":"v1",
      "metadata":{"resourceVersion":"9","continue":"p2"},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]})"));
  });
  Client client(TestConfig(), transport);
  ListOptions lo;
  lo.limit = 2;
  lo.label_selector = "app=x";
  auto all = client.ListAll(resources::ConfigMaps(), "ns", lo);
  ASSERT_TRUE(all.ok()) << all.message();
  ASSERT_EQ((*all)["items"].size(), 3u);
  EXPECT_EQ(Name((*all)["items"][2]), "c");
  EXPECT_EQ((*all)["items"][0]["kind"], "ConfigMap");
  EXPECT_EQ((*all)["items"][0]["apiVersion"], "v1");
  EXPECT_EQ(ResourceVersion(*all), "9");
  EXPECT_FALSE((*all)["metadata"].contains("continue"));
  ASSERT_EQ(transport->requests.size(), 2u);
  EXPECT_EQ(transport->requests[0],
            "GET https://api.test/api/v1/namespaces/ns/configmaps?labelSelector=app%3Dx&limit=2");
  EXPECT_EQ(transport->requests[1],
            "GET https://api.test/api/v1/namespaces/ns/configmaps?labelSelector=app%3Dx&limit=2&continue=p2");
}

TEST(Client, MetadataOnlyListSendsItsAcceptHeader) {
  std::vector<std::string> accepts;
  auto transport = std::make_shared<FakeTransport>([&](const http::Request& req, http::FailureKind*) {
    accepts.push_back(req.headers.Get("Accept").value_or(""));
    return Result<http::Response>(Resp(200, R"({"kind":"PartialObjectMetadataList",
      "apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"7"},
      "items":[{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"p"}}]})"));
  });
  Client client(TestConfig(), transport);
  ListOptions lo;
  lo.resource_version = "0";
  lo.accept = kMetadataOnlyList;
  auto list = client.List(resources::Pods(), "", lo);
  ASSERT_TRUE(list.ok()) << list.message();
  EXPECT_EQ((*list)["items"][0]["kind"], "PartialObjectMetadata");
  ASSERT_TRUE(client.List(resources::Pods(), "", {}).ok());
  EXPECT_EQ(accepts, (std::vector<std::string>{kMetadataOnlyList, "application/json"}));
  EXPECT_EQ(transport->requests[0], "GET https://api.test/api/v1/pods?resourceVersion=0");
}

TEST(Client, PatchSendsTheRightContentTypeAndApplyParameters) {
  std::string content_type, url;
  auto transport = std::make_shared<FakeTransport>([&](const http::Request& req, http::FailureKind*) {
    content_type = req.headers.Get("Content-Type").value_or("");
    url = req.url;
    return Result<http::Response>(Resp(200, "{}"));
  });
  Client client(TestConfig(), transport);
  ASSERT_TRUE(
      client.Patch(resources::ConfigMaps(), "a", "b", PatchType::kMerge, {{"data", {{"k", "v"}}}}).ok());
  EXPECT_EQ(content_type, "application/merge-patch+json");
  ASSERT_TRUE(client.Patch(resources::ConfigMaps(), "a", "b", PatchType::kJson, json::array()).ok());
  EXPECT_EQ(content_type, "application/json-patch+json");
  ASSERT_TRUE(client.Apply(resources::ConfigMaps(), Obj("a", "b", ""), "promsidecar", true).ok());
  EXPECT_EQ(content_type, "application/apply-patch+yaml");
  EXPECT_EQ(url, "https://api.test/api/v1/namespaces/a/configmaps/b?fieldManager=promsidecar&force=true");
  auto no_manager = client.Patch(resources::ConfigMaps(), "a", "b", PatchType::kApply, json::object());
  ASSERT_FALSE(no_manager.ok());
  EXPECT_NE(no_manager.message().find("field manager"), std::string::npos);
}

// ---- informer over a fake API server ----

TEST(Informer, RelistsOnGoneAndEmitsTheDifferences) {
  std::atomic<int> lists{0}, watches{0};
  std::mutex mu;
  std::vector<std::string> watch_rvs;
  auto transport = std::make_shared<FakeTransport>([&](const http::Request& req, http::FailureKind* f) {
    bool watch = req.url.find("watch=true") != std::string::npos;
    if (!watch) {
      int n = ++lists;
      if (n == 1) {
        return Result<http::Response>(
            Resp(200, R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"10"},
          "items":[{"metadata":{"namespace":"a","name":"x","resourceVersion":"1"}},
                   {"metadata":{"namespace":"a","name":"y","resourceVersion":"2"}}]})"));
      }
      return Result<http::Response>(Resp(200, R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"20"},
        "items":[{"metadata":{"namespace":"a","name":"x","resourceVersion":"11"}},
                 {"metadata":{"namespace":"a","name":"z","resourceVersion":"15"}}]})"));
    }
    int n = ++watches;
    {
      std::lock_guard lock(mu);
      auto pos = req.url.find("resourceVersion=");
      watch_rvs.push_back(req.url.substr(pos + 16, req.url.find('&', pos) - pos - 16));
    }
    if (n == 1) {
      // One change, then the server says the history is gone (as an event).
      req.on_chunk(
          R"({"type":"MODIFIED","object":{"metadata":{"namespace":"a","name":"x","resourceVersion":"11"}}})"
          "\n");
      req.on_chunk(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"12"}}})"
                   "\n");
      req.on_chunk(R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})"
                   "\n");
      return Result<http::Response>(Resp(200, ""));
    }
    // Later watches idle until the informer stops.
    while (!req.should_abort()) std::this_thread::sleep_for(5ms);
    *f = http::FailureKind::kAborted;
    return Result<http::Response>(MakeError("aborted"));
  });
  Client client(TestConfig(), transport);
  std::mutex events_mu;
  std::vector<std::string> events;
  InformerOptions opts;
  opts.resource = resources::ConfigMaps();
  opts.min_backoff = 1ms;
  InformerHandlers<json> handlers;
  handlers.on_add = [&](const ObjectPtr<json>& o) {
    std::lock_guard lock(events_mu);
    events.push_back("add " + ObjectKey(*o) + "@" + ResourceVersion(*o));
  };
  handlers.on_update = [&](const ObjectPtr<json>& old, const ObjectPtr<json>& now) {
    std::lock_guard lock(events_mu);
    events.push_back("update " + ObjectKey(*now) + "@" + ResourceVersion(*old) + "->" +
                     ResourceVersion(*now));
  };
  handlers.on_delete = [&](const ObjectPtr<json>& o) {
    std::lock_guard lock(events_mu);
    events.push_back("delete " + ObjectKey(*o));
  };
  JsonInformer informer(client, opts, KeepJson, handlers);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(10s));
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (watches.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_GE(watches.load(), 2);
  auto start_stop = std::chrono::steady_clock::now();
  informer.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start_stop, 5s);

  EXPECT_EQ(lists.load(), 2);
  EXPECT_EQ(events, (std::vector<std::string>{"add a/x@1", "add a/y@2", "update a/x@1->11", "delete a/y",
                                              "add a/z@15"}));
  EXPECT_EQ(watch_rvs, (std::vector<std::string>{"10", "20"}));
  EXPECT_NE(informer.Get("a", "z"), nullptr);
  EXPECT_EQ(informer.Get("a", "y"), nullptr);
  EXPECT_EQ(informer.List().size(), 2u);
  EXPECT_EQ(informer.LastResourceVersion(), "20");
}

TEST(Informer, ResumesFromTheLastResourceVersionAfterAConnectionLoss) {
  std::atomic<int> watches{0};
  std::mutex mu;
  std::vector<std::string> urls;
  auto transport = std::make_shared<FakeTransport>([&](const http::Request& req, http::FailureKind* f) {
    if (req.url.find("watch=true") == std::string::npos) {
      return Result<http::Response>(
          Resp(200, R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"5"},"items":[]})"));
    }
    {
      std::lock_guard lock(mu);
      urls.push_back(req.url);
    }
    if (++watches == 1) {
      req.on_chunk(
          R"({"type":"ADDED","object":{"metadata":{"namespace":"a","name":"x","resourceVersion":"6"}}})"
          "\n");
      req.on_chunk(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"8"}}})"
                   "\n");
      *f = http::FailureKind::kConnectionLost;
      return Result<http::Response>(MakeError("connection reset"));
    }
    while (!req.should_abort()) std::this_thread::sleep_for(5ms);
    *f = http::FailureKind::kAborted;
    return Result<http::Response>(MakeError("aborted"));
  });
  Client client(TestConfig(), transport);
  InformerOptions opts;
  opts.resource = resources::ConfigMaps();
  opts.ns = "a";
  opts.label_selector = "app=x";
  opts.min_backoff = 1ms;
  JsonInformer informer(client, opts, KeepJson);
  informer.Start();
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (watches.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  informer.Stop();
  ASSERT_GE(urls.size(), 2u);
  EXPECT_NE(
      urls[0].find("/api/v1/namespaces/a/configmaps?watch=true&resourceVersion=5&labelSelector=app%3Dx"),
      std::string::npos)
      << urls[0];
  EXPECT_NE(urls[1].find("resourceVersion=8"), std::string::npos) << urls[1];
  EXPECT_EQ(informer.lists(), 1u);
  EXPECT_NE(informer.Get("a", "x"), nullptr);
}

// A metadata-only informer of small structs: the list is read page by page
// with the metadata Accept headers, the transform keeps some objects and
// drops others, and an object the transform stops keeping reads as deleted.
TEST(Informer, TransformsPagesAndDropsWhatIsNotKept) {
  struct Small {
    std::string name;
    std::string color;
  };
  std::mutex mu;
  std::vector<std::string> accepts, urls;
  std::atomic<int> watches{0};
  auto transport = std::make_shared<FakeTransport>([&](const http::Request& req, http::FailureKind* f) {
    {
      std::lock_guard lock(mu);
      accepts.push_back(req.headers.Get("Accept").value_or(""));
      urls.push_back(req.url);
    }
    if (req.url.find("watch=true") == std::string::npos) {
      if (req.url.find("continue=p2") == std::string::npos) {
        return Result<http::Response>(Resp(200, R"({"kind":"PartialObjectMetadataList",
          "metadata":{"resourceVersion":"7","continue":"p2"},
          "items":[{"metadata":{"namespace":"a","name":"x","resourceVersion":"1","labels":{"color":"red"}}},
                   {"metadata":{"namespace":"a","name":"y","resourceVersion":"2"}}]})"));
      }
      return Result<http::Response>(Resp(200, R"({"kind":"PartialObjectMetadataList","metadata":{},
          "items":[{"metadata":{"namespace":"b","name":"z","resourceVersion":"3","labels":{"color":"blue"}}}]})"));
    }
    if (++watches == 1) {
      // x loses its label: no longer kept, so it reads as deleted.
      req.on_chunk(
          R"({"type":"MODIFIED","object":{"metadata":{"namespace":"a","name":"x","resourceVersion":"8"}}})"
          "\n");
      req.on_chunk(
          R"({"type":"ADDED","object":{"metadata":{"namespace":"a","name":"w","resourceVersion":"9",)"
          R"("labels":{"color":"green"}}}})"
          "\n");
    }
    while (!req.should_abort()) std::this_thread::sleep_for(5ms);
    *f = http::FailureKind::kAborted;
    return Result<http::Response>(MakeError("aborted"));
  });
  Client client(TestConfig(), transport);
  InformerOptions opts;
  opts.resource = resources::Pods();
  opts.metadata_only = true;
  opts.list_page_size = 2;
  opts.min_backoff = 1ms;
  std::vector<std::string> events;
  InformerHandlers<Small> handlers;
  handlers.on_add = [&](const ObjectPtr<Small>& o) {
    std::lock_guard lock(mu);
    events.push_back("add " + o->name + " " + o->color);
  };
  handlers.on_delete = [&](const ObjectPtr<Small>& o) {
    std::lock_guard lock(mu);
    events.push_back("delete " + o->name);
  };
  Informer<Small> informer(
      client, opts,
      [](json&& o) -> ObjectPtr<Small> {
        const json& labels = o["metadata"].value("labels", json::object());
        if (!labels.contains("color")) return nullptr;
        return std::make_shared<const Small>(Small{Name(o), labels["color"].get<std::string>()});
      },
      handlers);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(10s));
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (informer.Get("a", "w") == nullptr && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  informer.Stop();
  EXPECT_EQ(events, (std::vector<std::string>{"add x red", "add z blue", "delete x", "add w green"}));
  EXPECT_EQ(informer.Get("a", "x"), nullptr);
  ASSERT_NE(informer.Get("b", "z"), nullptr);
  EXPECT_EQ(informer.Get("b", "z")->color, "blue");
  const auto in_a = informer.ListNamespace("a");
  ASSERT_EQ(in_a.size(), 1u);
  EXPECT_EQ(in_a[0]->name, "w");
  EXPECT_EQ(informer.Size(), 2u);
  std::lock_guard lock(mu);
  ASSERT_GE(urls.size(), 3u);
  EXPECT_NE(urls[0].find("limit=2"), std::string::npos) << urls[0];
  EXPECT_NE(urls[1].find("continue=p2"), std::string::npos) << urls[1];
  EXPECT_NE(urls[2].find("resourceVersion=7"), std::string::npos)
      << "the watch starts at the first page's version";
  EXPECT_EQ(accepts[0], kMetadataOnlyList);
  EXPECT_EQ(accepts[2], kMetadataOnlyWatch);
}

TEST(Client, WritesWaitForTheTokenBucketReadsDoNot) {
  std::vector<std::chrono::milliseconds> slept;
  auto transport = std::make_shared<FakeTransport>([&](const http::Request&, http::FailureKind*) {
    return Result<http::Response>(Resp(200, R"({"metadata":{"name":"cm"}})"));
  });
  ClientOptions o;
  o.write_qps = 1;
  o.write_burst = 2;
  o.sleep = [&](std::chrono::milliseconds d) { slept.push_back(d); };
  Client client(TestConfig(), transport, o);
  const json cm = {{"metadata", {{"name", "cm"}, {"namespace", "a"}}}};
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client.Get(resources::ConfigMaps(), "a", "cm").ok());
  EXPECT_TRUE(slept.empty());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client.Create(resources::ConfigMaps(), "a", cm).ok());
  // Two from the burst, then about a second each (the fake sleep does not
  // move the clock, so the debt adds up).
  ASSERT_EQ(slept.size(), 2u);
  EXPECT_GE(slept[0], 900ms);
  EXPECT_GE(slept[1], 1900ms);
  EXPECT_GT(client.WriteThrottleSeconds(), 2.5);
}

}  // namespace
}  // namespace promsidecar::kube
