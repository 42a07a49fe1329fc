#include "operator/validate/validate.h"

#include <gtest/gtest.h>

#include <optional>

namespace promsidecar::validate {
namespace {

using api::FieldError;
using nlohmann::json;

json Agent() {
  return json::parse(R"({
    "apiVersion": "promsidecar.io/v1alpha1", "kind": "PrometheusAgent",
    "metadata": {"name": "agent-example", "namespace": "monitoring"},
    "spec": {"mode": "Sidecar",
             "remoteWrite": [{"url": "https://metrics.example.com/api/v1/write",
                              "basicAuth": {"username": {"name": "rw-creds", "key": "user"},
                                            "password": {"name": "rw-creds", "key": "pass"}}}]}})");
}

ValidationContext Ctx() {
  ValidationContext ctx;
  ctx.existing_secrets = {"rw-creds"};
  return ctx;
}

std::vector<FieldError> Errors(const std::vector<FieldError>& all) {
  std::vector<FieldError> out;
  for (const FieldError& e : all) {
    if (e.is_error()) out.push_back(e);
  }
  return out;
}

// A copy, so callers may pass a temporary vector.
std::optional<FieldError> Find(const std::vector<FieldError>& all, const std::string& path) {
  for (const FieldError& e : all) {
    if (e.path == path) return e;
  }
  return std::nullopt;
}

TEST(Validate, AcceptsAValidSidecarAgent) {
  auto findings = Validate(Agent(), Ctx());
  EXPECT_TRUE(findings.empty()) << api::JoinErrors(findings);
}

TEST(Validate, OtherModesAreUntouched) {
  json j = Agent();
  j["spec"]["mode"] = "StatefulSet";
  j["spec"]["podMonitorSelector"] = json::object();
  j["spec"]["replicas"] = 3;
  j["spec"]["remoteWrite"][0]["url"] = "ftp://nope";
  EXPECT_TRUE(Validate(j, Ctx()).empty());
  j["spec"].erase("mode");  // upstream's default mode
  EXPECT_TRUE(Validate(j, Ctx()).empty());
}

TEST(Validate, RejectsEveryFieldThatMakesNoSenseInSidecarMode) {
  for (const std::string& field : FieldsForbiddenInSidecarMode()) {
    json j = Agent();
    j["spec"][field] = field == "replicas" ? json(1) : json::object();
    auto errors = Errors(Validate(j, Ctx()));
    ASSERT_EQ(errors.size(), 1u) << field;
    EXPECT_EQ(errors[0].path, "spec." + field);
    EXPECT_NE(errors[0].message.find("Sidecar mode"), std::string::npos);
  }
  json j = Agent();
  j["spec"]["shards"] = 1;
  EXPECT_TRUE(Errors(Validate(j, Ctx())).empty()) << "shards: 1 is harmless";
  j["spec"]["shards"] = 2;
  ASSERT_NE(Find(Validate(j, Ctx()), "spec.shards"), std::nullopt);
  // The seed's lowercase spelling is Sidecar mode too.
  j = Agent();
  j["spec"]["mode"] = "sidecar";
  j["spec"]["podMonitorSelector"] = json::object();
  ASSERT_NE(Find(Validate(j, Ctx()), "spec.podMonitorSelector"), std::nullopt);
}

TEST(Validate, RemoteWriteUrls) {
  struct Case {
    const char* url;
    bool ok;
  } cases[] = {
      {"https://metrics.example.com/api/v1/write", true},
      {"http://10.0.0.1:9090/api/v1/write", true},
      {"http://[::1]:9090/api/v1/write", true},
      {"ftp://metrics.example.com/", false},
      {"metrics.example.com/api/v1/write", false},
      {"https:///api/v1/write", false},
      {"https://host:99999/", false},
      {"https://host:port/", false},
      {"https://host name/", false},
  };
  for (const Case& c : cases) {
    json j = Agent();
    j["spec"]["remoteWrite"].push_back({{"url", c.url}});
    std::optional<FieldError> e = Find(Validate(j, Ctx()), "spec.remoteWrite[1].url");
    EXPECT_EQ(e == std::nullopt, c.ok) << c.url << (e ? ": " + e->message : "");
  }
}

TEST(Validate, UrlsInMessagesCarryNoCredentials) {
  json j = Agent();
  j["spec"]["remoteWrite"][0]["url"] = "ftp://user:hunter2@metrics.example.com/write?api_key=s3cret";
  std::optional<FieldError> e = Find(Validate(j, Ctx()), "spec.remoteWrite[0].url");
  ASSERT_NE(e, std::nullopt);
  EXPECT_EQ(e->ToString().find("hunter2"), std::string::npos) << e->ToString();
  EXPECT_EQ(e->ToString().find("s3cret"), std::string::npos) << e->ToString();
  EXPECT_NE(e->ToString().find("metrics.example.com"), std::string::npos) << e->ToString();
  EXPECT_NE(e->message.find("http or https"), std::string::npos);
}

TEST(Validate, Durations) {
  json j = Agent();
  j["spec"]["scrapeInterval"] = "1h30x";
  std::optional<FieldError> e = Find(Validate(j, Ctx()), "spec.scrapeInterval");
  ASSERT_NE(e, std::nullopt);
  EXPECT_EQ(e->value, "1h30x");

  j = Agent();
  j["spec"]["scrapeInterval"] = "30s";
  j["spec"]["scrapeTimeout"] = "1m";
  e = Find(Validate(j, Ctx()), "spec.scrapeTimeout");
  ASSERT_NE(e, std::nullopt);
  EXPECT_NE(e->message.find("30s"), std::string::npos) << e->message;

  j = Agent();
  j["spec"]["scrapeTimeout"] = "45s";  // above upstream's default interval of 30s
  EXPECT_NE(Find(Validate(j, Ctx()), "spec.scrapeTimeout"), std::nullopt);

  j = Agent();
  j["spec"]["scrapeInterval"] = "5s";  // below the default minScrapeInterval 10s
  EXPECT_NE(Find(Validate(j, Ctx()), "spec.scrapeInterval"), std::nullopt);

  j = Agent();
  j["spec"]["remoteWrite"][0]["queueConfig"] = {{"minBackoff", "fast"}};
  EXPECT_NE(Find(Validate(j, Ctx()), "spec.remoteWrite[0].queueConfig.minBackoff"), std::nullopt);
}

TEST(Validate, MetadataSendIntervalMustBePositive) {
  json j = Agent();
  j["spec"]["remoteWrite"][0]["metadataConfig"] = {{"send", true}, {"sendInterval", "0s"}};
  std::optional<FieldError> e = Find(Validate(j, Ctx()), "spec.remoteWrite[0].metadataConfig.sendInterval");
  ASSERT_NE(e, std::nullopt);
  EXPECT_TRUE(e->is_error());
  EXPECT_NE(e->message.find("send: false"), std::string::npos) << e->message;

  j["spec"]["remoteWrite"][0]["metadataConfig"]["sendInterval"] = "1m";
  j["spec"]["remoteWrite"][0]["messageVersion"] = "V2.0";
  j["spec"]["scrapeProtocols"] = {"PrometheusProto", "OpenMetricsText1.0.0"};
  auto findings = Validate(j, Ctx());
  EXPECT_TRUE(findings.empty()) << api::JoinErrors(findings);
}

TEST(Validate, RelabelRegexesCompileAsRe2) {
  json j = Agent();
  j["spec"]["remoteWrite"][0]["writeRelabelConfigs"] = {
      {{"sourceLabels", {"__name__"}}, {"regex", "go_.*"}, {"action", "drop"}},
      {{"sourceLabels", {"__name__"}}, {"regex", "(?!up).*"}, {"action", "keep"}},  // lookahead: not RE2
      {{"sourceLabels", {"a"}}, {"regex", "(unclosed"}, {"action", "keep"}},
  };
  auto errors = Errors(Validate(j, Ctx()));
  ASSERT_EQ(errors.size(), 2u) << api::JoinErrors(errors);
  EXPECT_EQ(errors[0].path, "spec.remoteWrite[0].writeRelabelConfigs[1].regex");
  EXPECT_EQ(errors[0].value, "(?!up).*");
  EXPECT_NE(errors[0].message.find("RE2"), std::string::npos);
  EXPECT_EQ(errors[1].path, "spec.remoteWrite[0].writeRelabelConfigs[2].regex");
}

TEST(Validate, RelabelActionsNeedTheirFields) {
  json j = Agent();
  j["spec"]["remoteWrite"][0]["writeRelabelConfigs"] = {{{"sourceLabels", {"a"}}, {"action", "hashmod"}}};
  auto all = Validate(j, Ctx());
  EXPECT_NE(Find(all, "spec.remoteWrite[0].writeRelabelConfigs[0].modulus"), std::nullopt);
  EXPECT_NE(Find(all, "spec.remoteWrite[0].writeRelabelConfigs[0].targetLabel"), std::nullopt);
  j["spec"]["remoteWrite"][0]["writeRelabelConfigs"][0]["action"] = "explode";
  EXPECT_NE(Find(Validate(j, Ctx()), "spec.remoteWrite[0].writeRelabelConfigs[0].action"), std::nullopt);
}

TEST(Validate, ClusterDefaultNeedsANamespaceSelectorAndMustBeUnique) {
  json j = Agent();
  j["spec"]["sidecar"] = {{"default", true}};
  std::optional<FieldError> e = Find(Validate(j, Ctx()), "spec.sidecar.namespaceSelector");
  ASSERT_NE(e, std::nullopt);
  EXPECT_NE(e->message.find("default"), std::string::npos);

  j["spec"]["sidecar"]["namespaceSelector"] = json::object();
  EXPECT_TRUE(Errors(Validate(j, Ctx())).empty());

  ValidationContext ctx = Ctx();
  json other = Agent();
  other["metadata"]["name"] = "older-default";
  other["metadata"]["namespace"] = "platform";
  other["spec"]["sidecar"] = {{"default", true}, {"namespaceSelector", json::object()}};
  ctx.existing_agents.push_back(*api::ParseAgent(other));
  e = Find(Validate(j, ctx), "spec.sidecar.default");
  ASSERT_NE(e, std::nullopt);
  EXPECT_NE(e->message.find("platform/older-default"), std::string::npos) << e->message;

  // Updating the default agent itself is fine.
  ctx.existing_agents = {*api::ParseAgent(j)};
  EXPECT_TRUE(Errors(Validate(j, ctx)).empty());
}

TEST(Validate, MissingSecretsAreWarningsNotErrors) {
  json j = Agent();
  j["spec"]["remoteWrite"].push_back(
      {{"url", "https://b.example.com/write"},
       {"authorization", {{"credentials", {{"name", "missing-token"}, {"key", "token"}}}}},
       {"tlsConfig", {{"ca", {{"configMap", {{"name", "missing-ca"}, {"key", "ca.crt"}}}}}}}});
  auto all = Validate(j, Ctx());
  EXPECT_TRUE(Errors(all).empty()) << api::JoinErrors(all);
  std::optional<FieldError> w = Find(all, "spec.remoteWrite[1].authorization.credentials.name");
  ASSERT_NE(w, std::nullopt);
  EXPECT_FALSE(w->is_error());
  EXPECT_EQ(w->value, "missing-token");
  EXPECT_NE(w->message.find("Secret monitoring/missing-token"), std::string::npos) << w->message;
  std::optional<FieldError> cm = Find(all, "spec.remoteWrite[1].tlsConfig.ca.configMap.name");
  ASSERT_NE(cm, std::nullopt);
  EXPECT_NE(cm->message.find("ConfigMap"), std::string::npos);

  ValidationContext unknown;
  unknown.references_known = false;
  EXPECT_TRUE(Validate(j, unknown).empty());
}

TEST(Validate, AuthenticationMethodsAreExclusive) {
  json j = Agent();
  j["spec"]["remoteWrite"][0]["authorization"] = {{"credentials", {{"name", "rw-creds"}, {"key", "token"}}}};
  EXPECT_NE(Find(Validate(j, Ctx()), "spec.remoteWrite[0]"), std::nullopt);
}

TEST(Validate, ProjectedServiceAccountTokenAuthorization) {
  const std::string az = "spec.remoteWrite[1].authorization";
  const json token = {{"audience", "https://metrics.example.com"}, {"expirationSeconds", 3600}};
  const json secret = {{"name", "rw-creds"}, {"key", "token"}};
  struct Case {
    const char* name;
    json authorization;
    std::string error_path;  // empty: no error
    std::string message_part;
  } cases[] = {
      {"valid", {{"type", "Bearer"}, {"projectedServiceAccountToken", token}}, "", ""},
      {"type defaults to Bearer", {{"projectedServiceAccountToken", {{"audience", "metrics"}}}}, "", ""},
      {"with credentials",
       {{"credentials", secret}, {"projectedServiceAccountToken", token}},
       az,
       "set only one of credentials, credentialsFile and projectedServiceAccountToken"},
      {"with credentialsFile",
       {{"credentialsFile", "/etc/token"}, {"projectedServiceAccountToken", token}},
       az,
       "set only one of"},
      {"credentials and credentialsFile",
       {{"credentials", secret}, {"credentialsFile", "/etc/token"}},
       az,
       "set only one of"},
      {"missing audience",
       {{"projectedServiceAccountToken", {{"expirationSeconds", 3600}}}},
       az + ".projectedServiceAccountToken.audience",
       "required"},
      {"too-short expiration",
       {{"projectedServiceAccountToken", {{"audience", "metrics"}, {"expirationSeconds", 300}}}},
       az + ".projectedServiceAccountToken.expirationSeconds",
       "600"},
      {"nothing to send", {{"type", "Bearer"}}, az + ".credentials", "projectedServiceAccountToken"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json j = Agent();
    j["spec"]["remoteWrite"].push_back(
        {{"url", "https://b.example.com/write"}, {"authorization", c.authorization}});
    auto errors = Errors(Validate(j, Ctx()));
    if (c.error_path.empty()) {
      EXPECT_TRUE(errors.empty()) << api::JoinErrors(errors);
      continue;
    }
    ASSERT_EQ(errors.size(), 1u) << api::JoinErrors(errors);
    EXPECT_EQ(errors[0].path, c.error_path);
    EXPECT_NE(errors[0].message.find(c.message_part), std::string::npos) << errors[0].message;
  }
}

TEST(ForbiddenTokenAudience, Table) {
  const std::vector<std::string> api = {"https://oidc.eks.eu-west-1.amazonaws.com/id/ABC", "sts.example.com"};
  struct Case {
    std::string audience;
    bool forbidden;
    std::string message_part;
  } cases[] = {
      {"https://metrics.example.com", false, ""},
      {"metrics", false, ""},
      {"https://metrics.example.com/api/v1/write", false, ""},
      // Not the API server, though they look alike.
      {"https://kubernetes-metrics.example.com", false, ""},
      {"https://kubernetes.example.com", false, ""},
      {"apis", false, ""},
      {"https://oidc.eks.eu-west-1.amazonaws.com/id/ABCD", false, ""},
      // The in-cluster API server, any spelling.
      {"https://kubernetes.default.svc", true, "names the Kubernetes API server"},
      {"https://kubernetes.default.svc.cluster.local", true, "names the Kubernetes API server"},
      {"https://kubernetes.default.svc.corp.internal:443/", true, "names the Kubernetes API server"},
      {"kubernetes.default.svc", true, "names the Kubernetes API server"},
      {"kubernetes.default.svc.cluster.local", true, "names the Kubernetes API server"},
      {"HTTPS://Kubernetes.Default.SVC", true, "names the Kubernetes API server"},
      {"http://kubernetes.default.svc", true, "names the Kubernetes API server"},
      {"https://kubernetes.default", true, "names the Kubernetes API server"},
      {"https://kubernetes", true, "names the Kubernetes API server"},
      {"kubernetes", true, "names the Kubernetes API server"},
      {"api", true, "names the Kubernetes API server"},
      {" API ", true, "names the Kubernetes API server"},
      {"   ", true, "must not be blank"},
      {"", true, "must not be blank"},
      // What the API server was configured with.
      {"https://oidc.eks.eu-west-1.amazonaws.com/id/ABC", true, "an audience the API server accepts"},
      {"https://oidc.eks.eu-west-1.amazonaws.com/id/ABC/", true, "an audience the API server accepts"},
      {"STS.example.com", true, "an audience the API server accepts"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("\"" + c.audience + "\"");
    auto why = ForbiddenTokenAudience(c.audience, api);
    ASSERT_EQ(why.has_value(), c.forbidden) << why.value_or("");
    if (!why) continue;
    EXPECT_NE(why->find(c.message_part), std::string::npos) << *why;
    EXPECT_NE(why->find("use the audience your remote-write backend accepts"), std::string::npos) << *why;
  }
}

TEST(DefaultApiAudiences, IssuerAndTheClusterLocalName) {
  EXPECT_EQ(
      DefaultApiAudiences("https://oidc.example.com"),
      (std::vector<std::string>{"https://oidc.example.com", "https://kubernetes.default.svc.cluster.local"}));
  EXPECT_EQ(DefaultApiAudiences("https://kubernetes.default.svc.cluster.local"),
            (std::vector<std::string>{"https://kubernetes.default.svc.cluster.local"}));
  EXPECT_EQ(DefaultApiAudiences(""),
            (std::vector<std::string>{"https://kubernetes.default.svc.cluster.local"}));
}

TEST(Validate, ProjectedTokenAudienceTheApiServerAcceptsIsRefused) {
  const std::string path = "spec.remoteWrite[1].authorization.projectedServiceAccountToken.audience";
  struct Case {
    std::string audience;
    std::vector<std::string> api_audiences;
    bool refused;
  } cases[] = {
      {"https://metrics.example.com", {"https://issuer.example.com"}, false},
      {"https://kubernetes.default.svc", {}, true},
      {"https://issuer.example.com", {"https://issuer.example.com"}, true},
      // Learnt audiences are the context's: without them only the fixed names are refused.
      {"https://issuer.example.com", {}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.audience);
    json j = Agent();
    j["spec"]["remoteWrite"].push_back(
        {{"url", "https://b.example.com/write"},
         {"authorization", {{"projectedServiceAccountToken", {{"audience", c.audience}}}}}});
    ValidationContext ctx = Ctx();
    ctx.api_audiences = c.api_audiences;
    auto errors = Errors(Validate(j, ctx));
    if (!c.refused) {
      EXPECT_TRUE(errors.empty()) << api::JoinErrors(errors);
      continue;
    }
    ASSERT_EQ(errors.size(), 1u) << api::JoinErrors(errors);
    EXPECT_EQ(errors[0].path, path);
    EXPECT_EQ(errors[0].value, c.audience);
  }
}

TEST(Validate, SecurityContextOverridesMustKeepPodSecurityRestricted) {
  struct Case {
    std::string name;
    json security_context;
    std::vector<std::string> error_paths;
  } cases[] = {
      {"another user", {{"runAsUser", 10001}, {"runAsGroup", 10001}}, {}},
      {"privileged", {{"privileged", true}}, {"spec.sidecar.securityContext.privileged"}},
      {"escalation and a capability",
       {{"allowPrivilegeEscalation", true}, {"capabilities", {{"add", {"SYS_ADMIN"}}}}},
       {"spec.sidecar.securityContext.allowPrivilegeEscalation",
        "spec.sidecar.securityContext.capabilities.add"}},
      {"seccomp removed by a null",
       {{"seccompProfile", nullptr}},
       {"spec.sidecar.securityContext.seccompProfile.type"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json j = Agent();
    j["spec"]["sidecar"] = {{"securityContext", c.security_context}};
    std::vector<std::string> paths;
    for (const FieldError& e : Errors(Validate(j, Ctx()))) {
      paths.push_back(e.path);
      EXPECT_NE(e.message.find("Pod Security Admission \"restricted\""), std::string::npos) << e.message;
      EXPECT_NE(e.message.find("change or remove the override"), std::string::npos) << e.message;
    }
    EXPECT_EQ(paths, c.error_paths);
  }
}

TEST(Validate, SidecarSettings) {
  json j = Agent();
  j["spec"]["sidecar"] = {
      {"engine", "docker"},
      {"nativeSidecar", "sometimes"},
      {"updateStrategy", "Yolo"},
      {"walSizeLimit", "1Mi"},
      {"minScrapeInterval", "ten"},
      {"resources", {{"requests", {{"memory", "256Mi"}}}, {"limits", {{"memory", "64Mi"}}}}},
      {"namespaceSelector", {{"matchExpressions", {{{"key", "a"}, {"operator", "Near"}}}}}}};
  auto all = Validate(j, Ctx());
  for (const char* path : {"spec.sidecar.engine", "spec.sidecar.nativeSidecar", "spec.sidecar.updateStrategy",
                           "spec.sidecar.walSizeLimit", "spec.sidecar.minScrapeInterval",
                           "spec.sidecar.resources.requests.memory", "spec.sidecar.namespaceSelector"}) {
    std::optional<FieldError> e = Find(all, path);
    ASSERT_NE(e, std::nullopt) << path << "\n" << api::JoinErrors(all);
    EXPECT_TRUE(e->is_error());
    EXPECT_FALSE(e->message.empty());
  }
  EXPECT_NE(Find(all, "spec.sidecar.engine")->message.find("native, prometheus"), std::string::npos);
}

TEST(Validate, DuplicateRemoteWriteNames) {
  json j = Agent();
  j["spec"]["remoteWrite"][0]["name"] = "main";
  j["spec"]["remoteWrite"].push_back({{"url", "https://b.example.com/"}, {"name", "main"}});
  EXPECT_NE(Find(Validate(j, Ctx()), "spec.remoteWrite[1].name"), std::nullopt);
}

// Findings become the webhook's denial, warnings, status conditions and
// Events: a credential in a URL must not reach any of them.
TEST(Validate, UrlCredentialsNeverInFindings) {
  struct Case {
    const char* field;  // under spec.remoteWrite[0]
    std::string url;
    std::string want_value;
  };
  for (const Case& c : {
           Case{"url", "http://user:hunter2@h.example.com:99999/w?api_key=secret",
                "http://<redacted>@h.example.com:99999/w?<redacted>"},
           Case{"url", "ftp://h.example.com/w?api_key=secret#secret", "ftp://h.example.com/w?<redacted>"},
           Case{"url", "h.example.com/w?api_key=secret", "h.example.com/w?<redacted>"},
           Case{"url", "curl -u user:hunter2 https://h.example.com/w", "<redacted>"},
           Case{"url", "https://user:hunter2@h.example.com/w?api_key=secret x", "<redacted>"},
           Case{"proxyUrl", "gopher://user:hunter2@proxy:3128?api_key=secret",
                "gopher://<redacted>@proxy:3128?<redacted>"},
           Case{"oauth2.tokenUrl", "https://user:hunter2@[::1/token?api_key=secret",
                "https://<redacted>@[::1/token?<redacted>"},
       }) {
    json j = Agent();
    json& rw = j["spec"]["remoteWrite"][0];
    if (std::string(c.field) == "oauth2.tokenUrl") {
      rw.erase("basicAuth");
      rw["oauth2"] = {{"clientId", {{"secret", {{"name", "rw-creds"}, {"key", "id"}}}}},
                      {"clientSecret", {{"name", "rw-creds"}, {"key", "cs"}}},
                      {"tokenUrl", c.url}};
    } else {
      rw[c.field] = c.url;
    }
    auto all = Validate(j, Ctx());
    std::optional<FieldError> e = Find(all, std::string("spec.remoteWrite[0].") + c.field);
    ASSERT_NE(e, std::nullopt) << c.url << "\n" << api::JoinErrors(all);
    EXPECT_EQ(e->value, c.want_value);
    for (const FieldError& f : all) {
      for (const char* secret : {"hunter2", "api_key", "secret"}) {
        EXPECT_EQ(f.ToString().find(secret), std::string::npos) << secret << " in " << f.ToString();
      }
    }
  }
  // A valid URL with a key in its query is not a finding at all.
  json j = Agent();
  j["spec"]["remoteWrite"][0]["url"] = "https://h.example.com/w?api_key=secret";
  EXPECT_TRUE(Validate(j, Ctx()).empty());
}

}  // namespace
}  // namespace promsidecar::validate
