// The Kubernetes client and informer against a real kube-apiserver (the ctest
// fixture `cluster`, scripts/cluster). Each test works in its own namespace.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "cluster/cluster_env.h"
#include "common/kube/client.h"
#include "common/kube/informer.h"

namespace promsidecar::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const Resource kWidgets{"test.promsidecar.io", "v1", "widgets", true};
constexpr const char* kWidgetCrd = "widgets.test.promsidecar.io";

std::string RandomSuffix() {
  static std::mt19937 rng(std::random_device{}());
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 6; ++i) s.push_back(kChars[rng() % 36]);
  return s;
}

template <typename Pred>
bool PollUntil(Pred pred, std::chrono::milliseconds timeout = 60s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

json ConfigMap(const std::string& ns, const std::string& name, json data = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"data", std::move(data)}};
}

Config LoadClusterConfig() {
  auto env = testing::ClusterEnv::Load();
  if (!env.ok()) {
    ADD_FAILURE() << "no test control plane: " << env.message();
    return {};
  }
  auto cfg = LoadKubeconfig(env->kubeconfig);
  if (!cfg.ok()) ADD_FAILURE() << cfg.message();
  return cfg.ok() ? *cfg : Config{};
}

// Wraps the real transport to inject failures into watch requests only.
class FaultTransport : public Transport {
 public:
  explicit FaultTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}

  Result<http::Response> Do(const http::Request& request, http::FailureKind* failure) override {
    if (request.url.find("watch=true") == std::string::npos) return inner_->Do(request, failure);
    if (partition.load()) {
      failed_watches.fetch_add(1);
      *failure = http::FailureKind::kConnect;
      return MakeError("injected: no route to the API server");
    }
    http::Request copy = request;
    if (expire_next_watch.exchange(false)) {
      // Resume from a resourceVersion whose history is long gone, as after
      // a compaction during a network partition.
      auto pos = copy.url.find("resourceVersion=");
      if (pos != std::string::npos) {
        auto end = copy.url.find('&', pos);
        copy.url.replace(pos, (end == std::string::npos ? copy.url.size() : end) - pos, "resourceVersion=1");
        expired_watches.fetch_add(1);
      }
    }
    auto original_abort = request.should_abort;
    copy.should_abort = [this, original_abort] {
      return kill_watches.load() || (original_abort && original_abort());
    };
    auto original_chunk = request.on_chunk;
    copy.on_chunk = [this, original_chunk](std::string_view chunk) {
      if (chunk.find("\"code\":410") != std::string_view::npos) gone_seen.fetch_add(1);
      return original_chunk(chunk);
    };
    auto res = inner_->Do(copy, failure);
    if (res.ok() && res->status == 410) gone_seen.fetch_add(1);
    return res;
  }

  std::atomic<bool> partition{false};
  std::atomic<bool> kill_watches{false};
  std::atomic<bool> expire_next_watch{false};
  std::atomic<int> failed_watches{0};
  std::atomic<int> expired_watches{0};
  std::atomic<int> gone_seen{0};

 private:
  std::shared_ptr<Transport> inner_;
};

class KubeIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = LoadClusterConfig();
    ASSERT_FALSE(config_.server.empty());
    client_ = std::make_unique<Client>(config_);
    ns_ = "kube-it-" + RandomSuffix();
    auto created = client_->Create(resources::Namespaces(), "", {{"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created.ok()) << created.message();
  }
  void TearDown() override {
    if (client_ && !ns_.empty()) {
      // Stays Terminating (no controller-manager); the unique name keeps tests apart.
      (void)client_->Delete(resources::Namespaces(), "", ns_);
    }
  }

  Config config_;
  std::unique_ptr<Client> client_;
  std::string ns_;
};

TEST_F(KubeIntegration, ConfigMapCreateGetUpdatePatchApplyDelete) {
  auto created = client_->Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "cm", {{"a", "1"}}));
  ASSERT_TRUE(created.ok()) << created.message();
  EXPECT_EQ(Name(*created), "cm");
  EXPECT_FALSE(ResourceVersion(*created).empty());

  auto got = client_->Get(resources::ConfigMaps(), ns_, "cm");
  ASSERT_TRUE(got.ok()) << got.message();
  EXPECT_EQ((*got)["data"]["a"], "1");
  std::string uid = (*got)["metadata"]["uid"];

  json updated_obj = *got;
  updated_obj["data"]["b"] = "2";
  auto updated = client_->Update(resources::ConfigMaps(), updated_obj);
  ASSERT_TRUE(updated.ok()) << updated.message();
  EXPECT_NE(ResourceVersion(*updated), ResourceVersion(*got));
  EXPECT_EQ((*client_->Get(resources::ConfigMaps(), ns_, "cm"))["data"]["b"], "2");

  auto jp = client_->Patch(resources::ConfigMaps(), ns_, "cm", PatchType::kJson,
                           json::array({{{"op", "add"}, {"path", "/data/c"}, {"value", "3"}},
                                        {{"op", "remove"}, {"path", "/data/a"}}}));
  ASSERT_TRUE(jp.ok()) << jp.message();
  EXPECT_EQ((*jp)["data"], (json{{"b", "2"}, {"c", "3"}}));

  auto mp = client_->Patch(resources::ConfigMaps(), ns_, "cm", PatchType::kMerge,
                           {{"data", {{"b", nullptr}, {"d", "4"}}}});
  ASSERT_TRUE(mp.ok()) << mp.message();
  EXPECT_EQ((*mp)["data"], (json{{"c", "3"}, {"d", "4"}}));

  auto sp = client_->Patch(resources::ConfigMaps(), ns_, "cm", PatchType::kStrategicMerge,
                           {{"metadata", {{"labels", {{"tier", "x"}}}}}});
  ASSERT_TRUE(sp.ok()) << sp.message();
  EXPECT_EQ((*sp)["metadata"]["labels"]["tier"], "x");

  // Server-side apply: a second manager's conflicting field needs force.
  auto ap = client_->Apply(resources::ConfigMaps(), ConfigMap(ns_, "cm", {{"e", "5"}}), "kube-it-a");
  ASSERT_TRUE(ap.ok()) << ap.message();
  EXPECT_EQ((*ap)["data"]["e"], "5");
  EXPECT_EQ((*ap)["data"]["c"], "3");  // fields of other managers stay
  auto conflict = client_->Apply(resources::ConfigMaps(), ConfigMap(ns_, "cm", {{"e", "6"}}), "kube-it-b");
  ASSERT_FALSE(conflict.ok());
  EXPECT_TRUE(IsConflict(conflict.error())) << conflict.message();
  auto forced =
      client_->Apply(resources::ConfigMaps(), ConfigMap(ns_, "cm", {{"e", "6"}}), "kube-it-b", true);
  ASSERT_TRUE(forced.ok()) << forced.message();
  EXPECT_EQ((*forced)["data"]["e"], "6");

  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "00000000-0000-0000-0000-000000000000";
  auto refused = client_->Delete(resources::ConfigMaps(), ns_, "cm", wrong_uid);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(IsConflict(refused.error())) << refused.message();

  DeleteOptions right_uid;
  right_uid.precondition_uid = uid;
  auto deleted = client_->Delete(resources::ConfigMaps(), ns_, "cm", right_uid);
  ASSERT_TRUE(deleted.ok()) << deleted.message();
  auto gone = client_->Get(resources::ConfigMaps(), ns_, "cm");
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(IsNotFound(gone.error())) << gone.message();
}

TEST_F(KubeIntegration, StaleUpdateIsATypedConflict) {
  auto created = client_->Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "cm", {{"a", "1"}}));
  ASSERT_TRUE(created.ok()) << created.message();
  json first = *created;
  first["data"]["a"] = "2";
  ASSERT_TRUE(client_->Update(resources::ConfigMaps(), first).ok());
  json stale = *created;  // still carries the first resourceVersion
  stale["data"]["a"] = "3";
  auto res = client_->Update(resources::ConfigMaps(), stale);
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(IsConflict(res.error())) << res.message();
  EXPECT_EQ(res.error().code, 409);
  EXPECT_EQ(res.error().reason, "Conflict");
  EXPECT_EQ((*client_->Get(resources::ConfigMaps(), ns_, "cm"))["data"]["a"], "2");
}

TEST_F(KubeIntegration, TypedErrorsNotFoundAlreadyExistsInvalid) {
  auto missing = client_->Get(resources::ConfigMaps(), ns_, "missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(IsNotFound(missing.error()));
  EXPECT_EQ(missing.error().details_name, "missing");
  EXPECT_NE(missing.message().find("/namespaces/" + ns_ + "/configmaps/missing"), std::string::npos)
      << missing.message();

  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "dup")).ok());
  auto dup = client_->Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "dup"));
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(IsAlreadyExists(dup.error())) << dup.message();
  EXPECT_FALSE(IsConflict(dup.error()));

  auto invalid =
      client_->Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "Not_Valid", {{"bad key!", "x"}}));
  ASSERT_FALSE(invalid.ok());
  EXPECT_TRUE(IsInvalid(invalid.error())) << invalid.message();
  EXPECT_EQ(invalid.error().code, 422);
  std::set<std::string> fields;
  for (const auto& c : invalid.error().causes) fields.insert(c.field);
  EXPECT_TRUE(fields.contains("metadata.name")) << invalid.message();
  EXPECT_TRUE(fields.contains("data[bad key!]")) << invalid.message();
}

TEST_F(KubeIntegration, WatchSeesAddedModifiedDeletedInOrder) {
  auto list = client_->List(resources::ConfigMaps(), ns_);
  ASSERT_TRUE(list.ok()) << list.message();
  std::string rv = ResourceVersion(*list);

  std::mutex mu;
  std::vector<std::string> events;
  std::atomic<bool> done{false};
  Result<void, ApiError> watch_status;
  std::thread watcher([&] {
    WatchOptions wo;
    wo.resource_version = rv;
    wo.timeout_seconds = 60;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    watch_status = client_->Watch(
        resources::ConfigMaps(), ns_, wo,
        [&](WatchEvent& ev) {
          if (ev.type == WatchEvent::Type::kBookmark) return true;
          std::lock_guard lock(mu);
          events.push_back(std::string(WatchEventTypeName(ev.type)) + " " + Name(ev.object) + " " +
                           ev.object.value("data", json::object()).value("k", ""));
          return ev.type != WatchEvent::Type::kDeleted;
        },
        [&] { return done.load() || std::chrono::steady_clock::now() > deadline; });
  });
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "w", {{"k", "1"}})).ok());
  ASSERT_TRUE(
      client_->Patch(resources::ConfigMaps(), ns_, "w", PatchType::kMerge, {{"data", {{"k", "2"}}}}).ok());
  ASSERT_TRUE(client_->Delete(resources::ConfigMaps(), ns_, "w").ok());
  watcher.join();
  EXPECT_TRUE(watch_status.ok()) << watch_status.message();
  EXPECT_EQ(events, (std::vector<std::string>{"ADDED w 1", "MODIFIED w 2", "DELETED w 2"}));
}

// Whether a watch from resourceVersion 1 is answered with 410 Gone. The API
// server serves watches from its watch cache, a ring buffer of recent events
// (etcd compaction alone does not expire them): in a young cluster it still
// holds the first events and version 1 stays valid.
bool WatchFromVersionOneIsGone(Client& client, const std::string& ns, std::string* detail) {
  bool gone = false;
  *detail = "events:";
  WatchOptions wo;
  wo.resource_version = "1";
  wo.timeout_seconds = 2;
  auto res = client.Watch(resources::ConfigMaps(), ns, wo, [&](WatchEvent& ev) {
    *detail += " " + std::string(WatchEventTypeName(ev.type));
    if (ev.type == WatchEvent::Type::kError) {
      ApiError err = ApiErrorFromStatus(ev.object, "watch");
      gone = IsGone(err);
      *detail += " " + err.What();
      return false;
    }
    return true;  // e.g. a bookmark may come first
  });
  if (!res.ok()) {
    gone = IsGone(res.error());
    *detail += " " + res.message();
  }
  return gone;
}

// Makes configmap events (one object patched repeatedly) until the server
// has dropped the oldest history, as a busy cluster does on its own; polls
// with a generous deadline. The watch cache grows instead of evicting while
// its oldest event is younger than 75s, hence the time it may take.
void WaitUntilOldHistoryExpired(Client& client, const std::string& ns) {
  static bool expired = false;
  if (expired) return;
  auto created = client.Create(resources::ConfigMaps(), ns, ConfigMap(ns, "churn", {{"n", "0"}}));
  ASSERT_TRUE(created.ok() || IsAlreadyExists(created.error())) << created.message();
  std::string detail;
  int n = 0;
  ASSERT_TRUE(PollUntil(
      [&] {
        if (WatchFromVersionOneIsGone(client, ns, &detail)) return true;
        for (int i = 0; i < 100; ++i) {
          auto p = client.Patch(resources::ConfigMaps(), ns, "churn", PatchType::kMerge,
                                {{"data", {{"n", std::to_string(++n)}}}});
          if (!p.ok()) {
            detail = p.message();
            return false;
          }
        }
        return false;
      },
      420s))
      << detail;
  expired = true;
}

TEST_F(KubeIntegration, WatchFromAnExpiredResourceVersionIsGone) {
  WaitUntilOldHistoryExpired(*client_, ns_);
  if (HasFatalFailure()) return;
  std::string detail;
  EXPECT_TRUE(WatchFromVersionOneIsGone(*client_, ns_, &detail)) << detail;
  EXPECT_NE(detail.find("Expired (410)"), std::string::npos) << detail;
}

TEST_F(KubeIntegration, ListPaginatesOver250Objects) {
  for (int i = 0; i < 250; ++i) {
    auto cm = ConfigMap(ns_, "page-" + std::to_string(i));
    cm["metadata"]["labels"] = {{"set", "paging"}};
    auto r = client_->Create(resources::ConfigMaps(), ns_, cm);
    ASSERT_TRUE(r.ok()) << r.message();
  }
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "unlabelled")).ok());

  ListOptions lo;
  lo.limit = 100;
  lo.label_selector = "set=paging";
  std::multiset<std::string> seen;
  int pages = 0;
  for (;;) {
    auto page = client_->List(resources::ConfigMaps(), ns_, lo);
    ASSERT_TRUE(page.ok()) << page.message();
    ++pages;
    for (const auto& item : (*page)["items"]) seen.insert(Name(item));
    std::string next = (*page)["metadata"].value("continue", "");
    if (next.empty()) break;
    lo.continue_token = next;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen.size(), 250u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 250u);  // each once

  ListOptions all_opts;
  all_opts.limit = 100;
  all_opts.label_selector = "set=paging";
  auto all = client_->ListAll(resources::ConfigMaps(), ns_, all_opts);
  ASSERT_TRUE(all.ok()) << all.message();
  EXPECT_EQ((*all)["items"].size(), 250u);
  EXPECT_EQ((*all)["items"][0]["kind"], "ConfigMap");
  EXPECT_FALSE(ResourceVersion(*all).empty());
}

struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;
  InformerHandlers<json> Handlers() {
    InformerHandlers<json> h;
    h.on_add = [this](const ObjectPtr<json>& o) {
      Add("add " + Name(*o) + " " + (*o)["data"].value("k", ""));
    };
    h.on_update = [this](const ObjectPtr<json>&, const ObjectPtr<json>& o) {
      Add("update " + Name(*o) + " " + (*o)["data"].value("k", ""));
    };
    h.on_delete = [this](const ObjectPtr<json>& o) { Add("delete " + Name(*o)); };
    return h;
  }
  void Add(std::string e) {
    std::lock_guard lock(mu);
    events.push_back(std::move(e));
  }
  bool Has(const std::string& e) {
    std::lock_guard lock(mu);
    return std::find(events.begin(), events.end(), e) != events.end();
  }
  std::string Dump() {
    std::lock_guard lock(mu);
    std::string out;
    for (const auto& e : events) out += e + "; ";
    return out;
  }
};

TEST_F(KubeIntegration, InformerCachesAndNotifiesAndStopsPromptly) {
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "pre", {{"k", "0"}})).ok());
  Recorder rec;
  InformerOptions opts;
  opts.resource = resources::ConfigMaps();
  opts.ns = ns_;
  // Not the CA bundle the controller-manager publishes in every namespace.
  opts.field_selector = "metadata.name!=kube-root-ca.crt";
  opts.watch_timeout_seconds = 30;
  JsonInformer informer(*client_, opts, KeepJson, rec.Handlers());
  EXPECT_FALSE(informer.HasSynced());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(60s));
  EXPECT_TRUE(rec.Has("add pre 0")) << rec.Dump();
  ASSERT_NE(informer.Get(ns_, "pre"), nullptr);

  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "x", {{"k", "1"}})).ok());
  ASSERT_TRUE(
      client_->Patch(resources::ConfigMaps(), ns_, "x", PatchType::kMerge, {{"data", {{"k", "2"}}}}).ok());
  ASSERT_TRUE(client_->Delete(resources::ConfigMaps(), ns_, "pre").ok());
  EXPECT_TRUE(PollUntil([&] { return rec.Has("add x 1") && rec.Has("update x 2") && rec.Has("delete pre"); }))
      << rec.Dump();
  EXPECT_EQ(informer.Get(ns_, "pre"), nullptr);
  auto x = informer.Get(ns_, "x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ((*x)["data"]["k"], "2");
  EXPECT_EQ(informer.List().size(), 1u);

  auto start = std::chrono::steady_clock::now();
  informer.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

// Metadata only, list and watch: labels arrive, data never does.
TEST_F(KubeIntegration, MetadataOnlyInformerNeverSeesData) {
  json pre = ConfigMap(ns_, "pre", {{"k", "secret-ish"}});
  pre["metadata"]["labels"] = {{"tier", "a"}};
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, pre).ok());
  Recorder rec;
  InformerOptions opts;
  opts.resource = resources::ConfigMaps();
  opts.ns = ns_;
  opts.metadata_only = true;
  InformerHandlers<json> h;
  h.on_add = [&](const ObjectPtr<json>& o) { rec.Add("add " + Name(*o) + " " + o->dump()); };
  h.on_update = [&](const ObjectPtr<json>&, const ObjectPtr<json>& o) {
    rec.Add("update " + Name(*o) + " " + (*o)["metadata"]["labels"].value("tier", "") + " " + o->dump());
  };
  JsonInformer informer(*client_, opts, KeepJson, h);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(60s));
  auto listed = informer.Get(ns_, "pre");
  ASSERT_NE(listed, nullptr);
  EXPECT_FALSE(listed->contains("data")) << listed->dump();
  EXPECT_EQ((*listed)["metadata"]["labels"]["tier"], "a");
  ASSERT_TRUE(client_
                  ->Patch(resources::ConfigMaps(), ns_, "pre", PatchType::kMerge,
                          {{"metadata", {{"labels", {{"tier", "b"}}}}}, {"data", {{"k", "v2"}}}})
                  .ok());
  EXPECT_TRUE(PollUntil([&] {
    auto o = informer.Get(ns_, "pre");
    return o && (*o)["metadata"]["labels"].value("tier", "") == "b";
  })) << rec.Dump();
  for (const auto& e : rec.events) EXPECT_EQ(e.find("secret-ish"), std::string::npos) << e;
  EXPECT_FALSE(informer.Get(ns_, "pre")->contains("data"));
  informer.Stop();
}

TEST_F(KubeIntegration, InformerRelistsAfterGoneAndEmitsWhatItMissed) {
  // While the server still has old history, resuming from an old version
  // would replay it instead of failing, and the relist would not be exercised.
  WaitUntilOldHistoryExpired(*client_, ns_);
  if (HasFatalFailure()) return;
  auto fault = std::make_shared<FaultTransport>(std::make_shared<TransportImpl>(config_.ToClientOptions()));
  Client client(config_, fault);
  for (const char* name : {"a", "b"}) {
    ASSERT_TRUE(client.Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, name, {{"k", "1"}})).ok());
  }
  Recorder rec;
  InformerOptions opts;
  opts.resource = resources::ConfigMaps();
  opts.ns = ns_;
  opts.min_backoff = 50ms;
  opts.max_backoff = 500ms;
  JsonInformer informer(client, opts, KeepJson, rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(60s));
  ASSERT_TRUE(rec.Has("add a 1") && rec.Has("add b 1")) << rec.Dump();
  EXPECT_EQ(informer.lists(), 1u);

  // Cut the informer off: its watch dies and reconnects fail.
  fault->partition = true;
  fault->kill_watches = true;
  ASSERT_TRUE(PollUntil([&] { return fault->failed_watches.load() >= 1; }));
  fault->kill_watches = false;

  // Changes it cannot see.
  ASSERT_TRUE(client.Delete(resources::ConfigMaps(), ns_, "a").ok());
  ASSERT_TRUE(
      client.Patch(resources::ConfigMaps(), ns_, "b", PatchType::kMerge, {{"data", {{"k", "2"}}}}).ok());
  ASSERT_TRUE(client.Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "c", {{"k", "1"}})).ok());

  // Reconnect, but from a resourceVersion the server no longer has.
  fault->expire_next_watch = true;
  fault->partition = false;
  EXPECT_TRUE(
      PollUntil([&] { return rec.Has("delete a") && rec.Has("update b 2") && rec.Has("add c 1"); }, 90s))
      << rec.Dump();
  EXPECT_EQ(fault->expired_watches.load(), 1);
  EXPECT_GE(fault->gone_seen.load(), 1);
  EXPECT_EQ(informer.lists(), 2u);
  EXPECT_EQ(informer.Get(ns_, "a"), nullptr);
  EXPECT_EQ((*informer.Get(ns_, "b"))["data"]["k"], "2");
  EXPECT_NE(informer.Get(ns_, "c"), nullptr);

  // And it keeps watching afterwards.
  ASSERT_TRUE(client.Create(resources::ConfigMaps(), ns_, ConfigMap(ns_, "d", {{"k", "1"}})).ok());
  EXPECT_TRUE(PollUntil([&] { return rec.Has("add d 1"); })) << rec.Dump();
  informer.Stop();
}

// ---- a custom resource (cluster-scoped CRD: this binary holds the `crd` lock) ----

class CustomResourceIntegration : public KubeIntegration {
 protected:
  static json WidgetCrd() {
    return json::parse(R"({
      "apiVersion": "apiextensions.k8s.io/v1",
      "kind": "CustomResourceDefinition",
      "metadata": {"name": "widgets.test.promsidecar.io"},
      "spec": {
        "group": "test.promsidecar.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [{
          "name": "v1", "served": true, "storage": true,
          "subresources": {"status": {}},
          "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {
              "spec": {"type": "object", "properties": {
                "size": {"type": "integer", "minimum": 0},
                "color": {"type": "string"}}},
              "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}
        }]
      }
    })");
  }

  void SetUp() override {
    KubeIntegration::SetUp();
    if (HasFatalFailure()) return;
    auto created = client_->Create(resources::CustomResourceDefinitions(), "", WidgetCrd());
    if (!created.ok()) {
      ASSERT_TRUE(IsAlreadyExists(created.error())) << created.message();
    }
    std::string why;
    ASSERT_TRUE(PollUntil([&] {
      auto crd = client_->Get(resources::CustomResourceDefinitions(), "", kWidgetCrd);
      if (!crd.ok()) {
        why = crd.message();
        return false;
      }
      for (const auto& c : (*crd)["status"].value("conditions", json::array())) {
        if (c.value("type", "") == "Established" && c.value("status", "") == "True") return true;
      }
      why = "not Established yet";
      return false;
    })) << why;
    // Established can precede the REST endpoint by a moment.
    ASSERT_TRUE(PollUntil([&] {
      auto l = client_->List(kWidgets, ns_);
      why = l.ok() ? "" : l.message();
      return l.ok();
    })) << why;
  }

  static void TearDownTestSuite() {
    Config cfg = LoadClusterConfig();
    if (cfg.server.empty()) return;
    Client client(cfg);
    (void)client.Delete(resources::CustomResourceDefinitions(), "", kWidgetCrd);
  }

  static json Widget(const std::string& ns, const std::string& name, int size) {
    return {{"apiVersion", "test.promsidecar.io/v1"},
            {"kind", "Widget"},
            {"metadata", {{"namespace", ns}, {"name", name}}},
            {"spec", {{"size", size}, {"color", "red"}}}};
  }
};

TEST_F(CustomResourceIntegration, WidgetCrudStatusAndValidation) {
  auto created = client_->Create(kWidgets, ns_, Widget(ns_, "w1", 1));
  ASSERT_TRUE(created.ok()) << created.message();
  EXPECT_EQ((*created)["kind"], "Widget");

  auto got = client_->Get(kWidgets, ns_, "w1");
  ASSERT_TRUE(got.ok()) << got.message();
  EXPECT_EQ((*got)["spec"]["size"], 1);

  json upd = *got;
  upd["spec"]["size"] = 2;
  auto updated = client_->Update(kWidgets, upd);
  ASSERT_TRUE(updated.ok()) << updated.message();
  EXPECT_EQ((*updated)["spec"]["size"], 2);
  auto stale = client_->Update(kWidgets, upd);  // same resourceVersion again
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(IsConflict(stale.error())) << stale.message();

  auto jp = client_->Patch(kWidgets, ns_, "w1", PatchType::kJson,
                           json::array({{{"op", "replace"}, {"path", "/spec/color"}, {"value", "blue"}}}));
  ASSERT_TRUE(jp.ok()) << jp.message();
  EXPECT_EQ((*jp)["spec"]["color"], "blue");

  auto mp = client_->Patch(kWidgets, ns_, "w1", PatchType::kMerge, {{"spec", {{"size", 3}}}});
  ASSERT_TRUE(mp.ok()) << mp.message();
  EXPECT_EQ((*mp)["spec"], (json{{"size", 3}, {"color", "blue"}}));

  // Strategic merge is for built-in types only.
  auto smp = client_->Patch(kWidgets, ns_, "w1", PatchType::kStrategicMerge, {{"spec", {{"size", 4}}}});
  ASSERT_FALSE(smp.ok());
  EXPECT_EQ(smp.error().code, 415) << smp.message();

  auto applied = client_->Apply(kWidgets, Widget(ns_, "w2", 7), "kube-it", true);
  ASSERT_TRUE(applied.ok()) << applied.message();
  EXPECT_EQ((*applied)["spec"]["size"], 7);

  // Status subresource: spec changes through it are ignored, status ones kept.
  json with_status = *client_->Get(kWidgets, ns_, "w1");
  with_status["status"] = {{"ready", true}};
  with_status["spec"]["size"] = 100;
  auto st = client_->UpdateStatus(kWidgets, with_status);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ((*st)["status"]["ready"], true);
  EXPECT_EQ((*st)["spec"]["size"], 3);
  PatchOptions status_patch;
  status_patch.subresource = "status";
  auto sp =
      client_->Patch(kWidgets, ns_, "w1", PatchType::kMerge, {{"status", {{"ready", false}}}}, status_patch);
  ASSERT_TRUE(sp.ok()) << sp.message();
  EXPECT_EQ((*sp)["status"]["ready"], false);

  // Schema validation becomes Invalid with the field.
  auto bad = client_->Create(kWidgets, ns_, Widget(ns_, "bad", -1));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(IsInvalid(bad.error())) << bad.message();
  bool has_field = false;
  for (const auto& c : bad.error().causes) has_field |= c.field == "spec.size";
  EXPECT_TRUE(has_field) << bad.message();

  auto list = client_->ListAll(kWidgets, ns_);
  ASSERT_TRUE(list.ok()) << list.message();
  EXPECT_EQ((*list)["items"].size(), 2u);
  EXPECT_EQ((*list)["items"][0]["kind"], "Widget");

  ASSERT_TRUE(client_->Delete(kWidgets, ns_, "w1").ok());
  ASSERT_TRUE(client_->Delete(kWidgets, ns_, "w2").ok());
  auto gone = client_->Get(kWidgets, ns_, "w1");
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(IsNotFound(gone.error()));
}

TEST_F(CustomResourceIntegration, WidgetInformer) {
  Recorder rec;
  InformerOptions opts;
  opts.resource = kWidgets;
  opts.ns = ns_;
  InformerHandlers<json> h;
  h.on_add = [&](const ObjectPtr<json>& o) { rec.Add("add " + Name(*o)); };
  h.on_update = [&](const ObjectPtr<json>&, const ObjectPtr<json>& o) {
    rec.Add("update " + Name(*o) + " " + (*o)["spec"]["size"].dump());
  };
  h.on_delete = [&](const ObjectPtr<json>& o) { rec.Add("delete " + Name(*o)); };
  JsonInformer informer(*client_, opts, KeepJson, h);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(60s));
  ASSERT_TRUE(client_->Create(kWidgets, ns_, Widget(ns_, "w", 1)).ok());
  ASSERT_TRUE(client_->Patch(kWidgets, ns_, "w", PatchType::kMerge, {{"spec", {{"size", 5}}}}).ok());
  ASSERT_TRUE(client_->Delete(kWidgets, ns_, "w").ok());
  EXPECT_TRUE(PollUntil([&] { return rec.Has("add w") && rec.Has("update w 5") && rec.Has("delete w"); }))
      << rec.Dump();
  informer.Stop();
}

}  // namespace
}  // namespace promsidecar::kube
