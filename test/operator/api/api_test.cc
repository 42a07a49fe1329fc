#include <gtest/gtest.h>

#include <functional>

#include "operator/api/agent.h"
#include "operator/api/label_selector.h"
#include "operator/api/names.h"
#include "operator/api/quantity.h"
#include "operator/api/well_known.h"

namespace promsidecar::api {
namespace {

using nlohmann::json;

TEST(Quantity, ParsesKubernetesSpellings) {
  EXPECT_EQ(*ParseQuantityMilli("50m"), 50);
  EXPECT_EQ(*ParseQuantityMilli("0.5"), 500);
  EXPECT_EQ(*ParseQuantityMilli("2"), 2000);
  EXPECT_EQ(*ParseQuantityMilli("64Mi"), (int64_t{64} << 20) * 1000);
  EXPECT_EQ(*ParseQuantityMilli("1G"), int64_t{1000000000} * 1000);
  EXPECT_EQ(*ParseQuantityMilli("1e3"), 1000000);
  EXPECT_EQ(*ParseQuantityMilli("1.5Gi"), (int64_t{3} << 29) * 1000);
  EXPECT_EQ(*ParseQuantityMilli("100k"), 100000000);
  EXPECT_EQ(*ParseQuantityMilli("1n"), 1);  // rounds up to a whole milli-unit, like MilliValue
}

TEST(Quantity, RejectsGarbage) {
  for (const char* bad : {"", "abc", "5q", "-1", "1.2.3", "Mi", "1e", "99999999999Ei"}) {
    EXPECT_FALSE(ParseQuantityMilli(bad).ok()) << bad;
  }
  EXPECT_NE(ParseQuantityMilli("5q").message().find("5q"), std::string::npos);
}

TEST(Quantity, FormatsCanonically) {
  EXPECT_EQ(FormatCpuMilli(5), "5m");
  EXPECT_EQ(FormatCpuMilli(2000), "2");
  EXPECT_EQ(FormatBytesMilli((int64_t{64} << 20) * 1000), "64Mi");
  EXPECT_EQ(FormatBytesMilli((int64_t{3} << 30) * 1000), "3Gi");
  EXPECT_EQ(FormatBytesMilli(1000 * 1000), "1000");
  EXPECT_EQ(FormatBytesMilli(1), "1");  // a fraction of a byte rounds up
  EXPECT_EQ(FormatQuantityMilli("cpu", 1500), "1500m");
  EXPECT_EQ(FormatQuantityMilli("memory", 1024 * 1000), "1Ki");
}

LabelSelector Sel(const std::string& text) {
  auto s = ParseLabelSelector(json::parse(text), "sel");
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? *s : LabelSelector{};
}

TEST(LabelSelector, EmptyMatchesEverything) {
  EXPECT_TRUE(Matches(Sel("{}"), {}));
  EXPECT_TRUE(Matches(Sel("{}"), {{"a", "b"}}));
}

TEST(LabelSelector, MatchLabelsAndExpressions) {
  LabelSelector s = Sel(R"({"matchLabels": {"team": "shop"},
                            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "stage"]},
                                                 {"key": "tier", "operator": "NotIn", "values": ["db"]},
                                                 {"key": "monitored", "operator": "Exists"},
                                                 {"key": "legacy", "operator": "DoesNotExist"}]})");
  Labels good{{"team", "shop"}, {"env", "prod"}, {"monitored", ""}};
  EXPECT_TRUE(Matches(s, good));
  Labels l = good;
  l["team"] = "other";
  EXPECT_FALSE(Matches(s, l));
  l = good;
  l["env"] = "dev";
  EXPECT_FALSE(Matches(s, l));
  l = good;
  l.erase("env");
  EXPECT_FALSE(Matches(s, l)) << "In requires the key";
  l = good;
  l["tier"] = "db";
  EXPECT_FALSE(Matches(s, l));
  l = good;
  l["tier"] = "web";
  EXPECT_TRUE(Matches(s, l)) << "NotIn allows other values and absence";
  l = good;
  l.erase("monitored");
  EXPECT_FALSE(Matches(s, l));
  l = good;
  l["legacy"] = "yes";
  EXPECT_FALSE(Matches(s, l));
}

TEST(LabelSelector, RejectsMalformedRequirements) {
  EXPECT_FALSE(
      ParseLabelSelector(json::parse(R"({"matchExpressions": [{"key": "a", "operator": "In"}]})"), "s").ok());
  EXPECT_FALSE(
      ParseLabelSelector(
          json::parse(R"({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})"), "s")
          .ok());
  auto bad =
      ParseLabelSelector(json::parse(R"({"matchExpressions": [{"key": "a", "operator": "Like"}]})"), "x.y");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("x.y.matchExpressions[0].operator"), std::string::npos) << bad.message();
  EXPECT_FALSE(ParseLabelSelector(json::parse(R"({"matchLabels": {"a": 1}})"), "s").ok());
}

json SidecarAgent() {
  return json::parse(R"({
    "apiVersion": "promsidecar.io/v1alpha1", "kind": "PrometheusAgent",
    "metadata": {"name": "agent-example", "namespace": "monitoring"},
    "spec": {
      "mode": "sidecar",
      "remoteWrite": [{
        "url": "https://metrics.example.com/api/v1/write", "name": "main",
        "headers": {"X-Scope-OrgID": "tenant-1"}, "remoteTimeout": "30s",
        "writeRelabelConfigs": [{"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"}],
        "basicAuth": {"username": {"name": "rw", "key": "user"}, "password": {"name": "rw", "key": "pass"}},
        "tlsConfig": {"ca": {"configMap": {"name": "ca", "key": "ca.crt"}}, "insecureSkipVerify": false,
                      "minVersion": "TLS12"},
        "proxyUrl": "http://proxy:3128",
        "queueConfig": {"capacity": 2500, "maxShards": 4, "batchSendDeadline": "5s", "retryOnRateLimit": true}
      }, {
        "url": "https://other.example.com/write",
        "authorization": {"credentials": {"name": "tok", "key": "token"}}
      }, {
        "url": "https://oauth.example.com/write",
        "oauth2": {"clientId": {"secret": {"name": "oa", "key": "id"}}, "clientSecret": {"name": "oa", "key": "secret"},
                   "tokenUrl": "https://login.example.com/token", "scopes": ["write"]}
      }],
      "externalLabels": {"cluster": "prod"},
      "scrapeInterval": "1m", "scrapeTimeout": "10s",
      "sampleLimit": 5000, "labelLimit": 64, "labelNameLengthLimit": 128, "labelValueLengthLimit": 1024,
      "bodySizeLimit": "10MB", "logLevel": "debug", "logFormat": "json",
      "image": "quay.io/prometheus/prometheus:v3.1.0", "version": "v3.1.0", "imagePullPolicy": "Always",
      "imagePullSecrets": [{"name": "regcred"}], "paused": false,
      "sidecar": {"engine": "prometheus", "image": "example.com/agent:v1", "nativeSidecar": "never",
                  "namespaceSelector": {"matchLabels": {"team": "shop"}}, "default": true,
                  "walSizeLimit": "1Gi", "minScrapeInterval": "15s", "legacyAnnotations": true,
                  "resources": {"limits": {"memory": "128Mi"}}, "securityContext": {"runAsUser": 1000},
                  "updateStrategy": "InPlace"}
    }})");
}

TEST(ParseAgent, ReadsEverySidecarField) {
  auto a = ParseAgent(SidecarAgent());
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_TRUE(a->is_sidecar());
  EXPECT_EQ(a->mode_text, "sidecar");
  EXPECT_EQ(a->Ref(), "monitoring/agent-example");
  EXPECT_EQ(a->LabelValue(), "monitoring.agent-example");
  ASSERT_EQ(a->remote_write.size(), 3u);
  const RemoteWrite& rw = a->remote_write[0];
  EXPECT_EQ(rw.url, "https://metrics.example.com/api/v1/write");
  EXPECT_EQ(rw.name, "main");
  EXPECT_EQ(rw.headers.at("X-Scope-OrgID"), "tenant-1");
  EXPECT_EQ(rw.remote_timeout, "30s");
  ASSERT_EQ(rw.write_relabel_configs.size(), 1u);
  EXPECT_EQ(*rw.write_relabel_configs[0].action, "drop");
  EXPECT_EQ(rw.basic_auth->password->key, "pass");
  EXPECT_EQ(rw.tls_config->ca->config_map->name, "ca");
  EXPECT_EQ(rw.tls_config->min_version, "TLS12");
  EXPECT_EQ(rw.proxy_url, "http://proxy:3128");
  EXPECT_EQ(*rw.queue_config->capacity, 2500);
  EXPECT_EQ(rw.queue_config->batch_send_deadline, "5s");
  EXPECT_EQ(a->remote_write[1].authorization->type, "Bearer");
  EXPECT_EQ(a->remote_write[1].authorization->credentials->name, "tok");
  EXPECT_EQ(a->remote_write[2].oauth2->client_id.secret->key, "id");
  EXPECT_EQ(a->remote_write[2].oauth2->scopes, std::vector<std::string>{"write"});
  EXPECT_EQ(a->external_labels.at("cluster"), "prod");
  EXPECT_EQ(a->scrape_interval->count(), 60000);
  EXPECT_EQ(a->scrape_timeout->count(), 10000);
  EXPECT_EQ(*a->sample_limit, 5000u);
  EXPECT_EQ(*a->label_value_length_limit, 1024u);
  EXPECT_EQ(*a->body_size_limit_bytes, 10u << 20);
  EXPECT_EQ(a->log_level, "debug");
  EXPECT_EQ(a->log_format, "json");
  EXPECT_EQ(a->image_pull_policy, "Always");
  EXPECT_EQ(a->image_pull_secrets, std::vector<std::string>{"regcred"});
  EXPECT_EQ(a->sidecar.engine, SidecarEngine::kPrometheus);
  EXPECT_EQ(a->sidecar.native_sidecar, NativeSidecarMode::kNever);
  ASSERT_TRUE(a->sidecar.namespace_selector.has_value());
  EXPECT_EQ(a->sidecar.namespace_selector->match_labels.at("team"), "shop");
  EXPECT_TRUE(a->sidecar.is_default);
  EXPECT_EQ(*a->sidecar.wal_size_limit_bytes, 1ull << 30);
  EXPECT_EQ(a->sidecar.min_scrape_interval.count(), 15000);
  EXPECT_TRUE(a->sidecar.legacy_annotations);
  EXPECT_EQ(a->sidecar.resources["limits"]["memory"], "128Mi");
  EXPECT_EQ(a->sidecar.security_context["runAsUser"], 1000);
  EXPECT_EQ(a->sidecar.update_strategy, UpdateStrategy::kInPlace);
  EXPECT_EQ(SharedConfigSecretName(*a), "promsidecar-monitoring.agent-example");
}

TEST(ParseAgent, RemoteWriteMessageDataKindsAndScrapeProtocols) {
  json j = SidecarAgent();
  j["spec"]["scrapeProtocols"] = {"PrometheusProto", "PrometheusText0.0.4"};
  j["spec"]["scrapeNativeHistograms"] = true;
  auto& rw = j["spec"]["remoteWrite"][0];
  rw["messageVersion"] = "V2.0";
  rw["sendExemplars"] = true;
  rw["sendNativeHistograms"] = false;
  rw["metadataConfig"] = {{"send", true}, {"sendInterval", "30s"}, {"maxSamplesPerSend", 100}};
  auto a = ParseAgent(j);
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->scrape_protocols, (std::vector<std::string>{"PrometheusProto", "PrometheusText0.0.4"}));
  EXPECT_EQ(a->scrape_native_histograms, true);
  const RemoteWrite& r = a->remote_write[0];
  EXPECT_EQ(r.message_version, "V2.0");
  EXPECT_EQ(r.send_exemplars, true);
  EXPECT_EQ(r.send_native_histograms, false);
  ASSERT_TRUE(r.metadata_config.has_value());
  EXPECT_EQ(r.metadata_config->send, true);
  EXPECT_EQ(r.metadata_config->send_interval, "30s");
  EXPECT_EQ(r.metadata_config->max_samples_per_send, 100);
  // Absent: absent, so the agent's defaults apply.
  EXPECT_EQ(a->remote_write[1].message_version, "");
  EXPECT_FALSE(a->remote_write[1].send_exemplars.has_value());
  EXPECT_FALSE(a->remote_write[1].metadata_config.has_value());

  struct Bad {
    std::function<void(json&)> edit;
    std::string path, message;
  };
  const std::vector<Bad> bad{
      {[](json& o) { o["spec"]["remoteWrite"][0]["messageVersion"] = "2.0"; },
       "spec.remoteWrite[0].messageVersion", "V1.0, V2.0"},
      {[](json& o) { o["spec"]["remoteWrite"][0]["sendExemplars"] = "yes"; },
       "spec.remoteWrite[0].sendExemplars", "true or false"},
      {[](json& o) {
         o["spec"]["remoteWrite"][0]["metadataConfig"] = {{"maxSamplesPerSend", 0}};
       },
       "spec.remoteWrite[0].metadataConfig.maxSamplesPerSend", "at least 1"},
      {[](json& o) {
         o["spec"]["remoteWrite"][0]["metadataConfig"] = {{"sendInterval", "often"}};
       },
       "spec.remoteWrite[0].metadataConfig.sendInterval", "duration"},
      {[](json& o) {
         o["spec"]["scrapeProtocols"] = {"PrometheusProto", "Protobuf"};
       },
       "spec.scrapeProtocols[1]", "must be one of PrometheusProto, OpenMetricsText0.0.1"},
      {[](json& o) {
         o["spec"]["scrapeProtocols"] = {"PrometheusProto", "PrometheusProto"};
       },
       "spec.scrapeProtocols[1]", "listed twice"},
  };
  for (const auto& b : bad) {
    json o = SidecarAgent();
    b.edit(o);
    std::vector<FieldError> errors;
    ParseAgentCollecting(o, &errors);
    ASSERT_EQ(errors.size(), 1u) << b.path << ": " << JoinErrors(errors);
    EXPECT_EQ(errors[0].path, b.path);
    EXPECT_NE(errors[0].message.find(b.message), std::string::npos) << errors[0].message;
  }
}

TEST(ParseAgent, DefaultsApply) {
  auto a = ParseAgent(
      json::parse(R"({"metadata": {"name": "a", "namespace": "n"}, "spec": {"mode": "Sidecar"}})"));
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->sidecar.engine, SidecarEngine::kNative);
  EXPECT_EQ(a->sidecar.native_sidecar, NativeSidecarMode::kAuto);
  EXPECT_FALSE(a->sidecar.namespace_selector.has_value());
  EXPECT_EQ(a->sidecar.min_scrape_interval.count(), 10000);
  EXPECT_EQ(a->sidecar.update_strategy, UpdateStrategy::kNone);
  EXPECT_FALSE(a->paused);
}

TEST(ParseAgent, OtherModesAreLeftAlone) {
  // An upstream StatefulSet agent with fields we would reject in Sidecar mode.
  auto a =
      ParseAgent(json::parse(R"({"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "PrometheusAgent",
      "metadata": {"name": "a", "namespace": "n"},
      "spec": {"replicas": 2, "serviceMonitorSelector": {}, "scrapeInterval": "banana"}})"));
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->mode, AgentMode::kStatefulSet);
  EXPECT_FALSE(a->is_sidecar());
}

TEST(ParseAgent, ErrorsNameTheFieldPath) {
  json j = SidecarAgent();
  j["spec"]["remoteWrite"][1]["remoteTimeout"] = "soon";
  j["spec"]["sidecar"]["engine"] = "docker";
  j["spec"]["sampleLimit"] = "many";
  std::vector<FieldError> errors;
  ParseAgentCollecting(j, &errors);
  ASSERT_EQ(errors.size(), 3u) << JoinErrors(errors);
  EXPECT_EQ(errors[0].path, "spec.remoteWrite[1].remoteTimeout");
  EXPECT_EQ(errors[0].value, "soon");
  EXPECT_NE(errors[0].message.find("duration"), std::string::npos);
  auto a = ParseAgent(j);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.message().find("spec.sidecar.engine"), std::string::npos) << a.message();
  EXPECT_NE(a.message().find("native, prometheus"), std::string::npos) << a.message();
  EXPECT_NE(a.message().find("monitoring/agent-example"), std::string::npos) << a.message();
}

TEST(ParseAgent, LongNamesStayValidLabelValues) {
  auto a = ParseAgent(json{{"metadata", {{"name", std::string(80, 'a')}, {"namespace", "monitoring"}}},
                           {"spec", {{"mode", "Sidecar"}}}});
  ASSERT_TRUE(a.ok());
  EXPECT_LE(a->LabelValue().size(), 63u);
  auto b = ParseAgent(json{{"metadata", {{"name", std::string(79, 'a') + "b"}, {"namespace", "monitoring"}}},
                           {"spec", {{"mode", "Sidecar"}}}});
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->LabelValue(), b->LabelValue()) << "shortened values must still differ";
}

// One remoteWrite entry whose authorization is `authorization` (JSON text).
json AgentWithAuthorization(const std::string& authorization) {
  return json::parse(R"({"metadata": {"name": "a", "namespace": "n"}, "spec": {"mode": "Sidecar",
      "remoteWrite": [{"url": "https://metrics.example.com/api/v1/write", "authorization": )" +
                     authorization + "}]}}");
}

TEST(ParseAgent, ProjectedServiceAccountToken) {
  const std::string p = "spec.remoteWrite[0].authorization.projectedServiceAccountToken";
  struct Case {
    const char* name;
    const char* authorization;
    bool valid;
    const char* error_path;  // when invalid: the one error's field, relative to p
    const char* audience;
    int64_t expiration;
  } cases[] = {
      {"valid", R"({"type": "Bearer", "projectedServiceAccountToken": {"audience": "https://m.example.com",
                    "expirationSeconds": 7200}})",
       true, "", "https://m.example.com", 7200},
      {"expiration defaults to 3600", R"({"projectedServiceAccountToken": {"audience": "metrics"}})", true,
       "", "metrics", 3600},
      {"Kubernetes' minimum",
       R"({"projectedServiceAccountToken": {"audience": "m", "expirationSeconds": 600}})", true, "", "m",
       600},
      {"Kubernetes' maximum",
       R"({"projectedServiceAccountToken": {"audience": "m", "expirationSeconds": 4294967296}})", true, "",
       "m", 4294967296},
      {"missing audience", R"({"projectedServiceAccountToken": {"expirationSeconds": 3600}})", false,
       ".audience", "", 0},
      {"empty audience", R"({"projectedServiceAccountToken": {"audience": ""}})", false, ".audience", "", 0},
      {"too-short expiration",
       R"({"projectedServiceAccountToken": {"audience": "m", "expirationSeconds": 599}})", false,
       ".expirationSeconds", "", 0},
      {"too-long expiration",
       R"({"projectedServiceAccountToken": {"audience": "m", "expirationSeconds": 4294967297}})", false,
       ".expirationSeconds", "", 0},
      {"expiration as a string",
       R"({"projectedServiceAccountToken": {"audience": "m", "expirationSeconds": "1h"}})", false,
       ".expirationSeconds", "", 0},
      {"not an object", R"({"projectedServiceAccountToken": "metrics"})", false, "", "", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<FieldError> errors;
    Agent a = ParseAgentCollecting(AgentWithAuthorization(c.authorization), &errors);
    ASSERT_EQ(a.remote_write.size(), 1u);
    ASSERT_TRUE(a.remote_write[0].authorization.has_value());
    const Authorization& az = *a.remote_write[0].authorization;
    ASSERT_TRUE(az.projected_token.has_value());
    if (c.valid) {
      EXPECT_TRUE(errors.empty()) << JoinErrors(errors);
      EXPECT_EQ(az.projected_token->audience, c.audience);
      EXPECT_EQ(az.projected_token->expiration_seconds, c.expiration);
      EXPECT_EQ(az.type, "Bearer");
      EXPECT_EQ(az.SourceCount(), 1);
      continue;
    }
    ASSERT_EQ(errors.size(), 1u) << JoinErrors(errors);
    EXPECT_EQ(errors[0].path, p + c.error_path);
    EXPECT_FALSE(ParseAgent(AgentWithAuthorization(c.authorization)).ok());
  }
  // The messages say what to do.
  std::vector<FieldError> errors;
  ParseAgentCollecting(
      AgentWithAuthorization(R"({"projectedServiceAccountToken": {"expirationSeconds": 60}})"), &errors);
  ASSERT_EQ(errors.size(), 2u) << JoinErrors(errors);
  EXPECT_NE(errors[0].message.find("audience the remote-write backend accepts"), std::string::npos);
  EXPECT_NE(errors[1].message.find("600"), std::string::npos);
  EXPECT_EQ(errors[1].value, "60");
}

TEST(ProjectedTokenVolumes, OnePerAudienceWithStableNames) {
  auto a = ParseAgent(json::parse(R"({"metadata": {"name": "a", "namespace": "n"}, "spec": {"mode": "Sidecar",
      "remoteWrite": [
        {"url": "https://a.example.com/w", "authorization": {"projectedServiceAccountToken":
            {"audience": "https://Metrics.example.com/", "expirationSeconds": 7200}}},
        {"url": "https://b.example.com/w", "authorization": {"credentials": {"name": "s", "key": "k"}}},
        {"url": "https://c.example.com/w", "authorization": {"projectedServiceAccountToken": {"audience": "tenant-b"}}},
        {"url": "https://d.example.com/w", "authorization": {"projectedServiceAccountToken":
            {"audience": "https://Metrics.example.com/", "expirationSeconds": 1800}}}]}})"));
  ASSERT_TRUE(a.ok()) << a.message();
  std::vector<ProjectedTokenVolume> v = ProjectedTokenVolumes(*a);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].audience, "https://Metrics.example.com/");
  EXPECT_EQ(v[0].expiration_seconds, 1800) << "the shortest expiration asked for wins";
  EXPECT_EQ(v[1].audience, "tenant-b");
  EXPECT_EQ(v[1].expiration_seconds, 3600);
  EXPECT_NE(v[0].volume_name, v[1].volume_name);
  for (const ProjectedTokenVolume& t : v) {
    SCOPED_TRACE(t.audience);
    // A DNS-1123 label, as Kubernetes requires of volume names.
    EXPECT_LE(t.volume_name.size(), 63u);
    EXPECT_EQ(t.volume_name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-"), std::string::npos);
    EXPECT_EQ(t.volume_name.rfind(kProjectedTokenVolumePrefix, 0), 0u);
    EXPECT_TRUE(IsInjectedVolumeName(t.volume_name));
    EXPECT_EQ(t.dir.rfind(std::string(kProjectedTokenRoot) + "/", 0), 0u);
    EXPECT_EQ(t.File(), t.dir + "/token");
    // The same audience gives the same place whatever the other entries are.
    EXPECT_EQ(ProjectedTokenVolumeFor(t.audience).dir, t.dir);
    EXPECT_EQ(ProjectedTokenVolumeFor(t.audience).volume_name, t.volume_name);
  }
  EXPECT_EQ(v[0].volume_name.rfind("promsidecar-rwt-https-metrics-example-com-", 0), 0u) << v[0].volume_name;
  // Audiences that read the same once cleaned up still get their own volume.
  EXPECT_NE(ProjectedTokenVolumeFor("tenant-b").volume_name, ProjectedTokenVolumeFor("tenant_b").volume_name);
  // Pinned: injected pods already carry this volume name and mount path.
  EXPECT_EQ(ProjectedTokenVolumeFor("tenant-b").volume_name, "promsidecar-rwt-tenant-b-9985a96bb7611c90");
  EXPECT_EQ(ProjectedTokenVolumeFor("tenant-b").dir,
            std::string(kProjectedTokenRoot) + "/tenant-b-9985a96bb7611c90");
  // Long or symbol-only audiences still make valid names.
  for (const std::string& audience : {std::string(300, 'x'), std::string("://"), std::string("-a-")}) {
    ProjectedTokenVolume t = ProjectedTokenVolumeFor(audience);
    EXPECT_LE(t.volume_name.size(), 63u) << audience;
    EXPECT_NE(t.volume_name.back(), '-') << audience;
    EXPECT_EQ(t.volume_name.find("--"), std::string::npos) << t.volume_name;
  }
}

TEST(AgentApiGroup, IsConfiguration) {
  EXPECT_EQ(AgentApiGroup::Own().ApiVersion(), "promsidecar.io/v1alpha1");
  EXPECT_EQ(AgentApiGroup::Seed().ApiVersion(), "monitoring.coreos.com/v1alpha1");
}

TEST(Names, NamespaceNamesAreDnsLabels) {
  for (const std::string& ok : std::vector<std::string>{"a", "kube-system", "team-1", std::string(63, 'x')}) {
    EXPECT_TRUE(CheckNamespaceName(ok).ok()) << ok;
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "Team", "team_a", "-a", "a-", "a.b", std::string(64, 'x')}) {
    Status s = CheckNamespaceName(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("is not a namespace name"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace promsidecar::api
