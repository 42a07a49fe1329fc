// Golden-file tests for RenderSharedConfig: test/testdata/operator/render/<case>/
// {agent.yaml, refs.yaml} in; want-config.yaml + want-data.json (or
// want-error.txt) out. PROMSIDECAR_UPDATE_GOLDEN=1 rewrites the wants. Goldens
// are not trusted because the code wrote them: every rendered config.yaml must
// also load with the agent's own loader, with its credential files in place.
#include "operator/render/render.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/config/config.h"
#include "common/kube/config.h"
#include "operator/api/agent.h"
#include "operator/api/well_known.h"
#include "operator/cli/yaml_json.h"
#include "testing/temp_dir.h"

namespace promsidecar::render {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path Root() {
  return fs::path(PROMSIDECAR_TESTDATA) / "operator" / "render";
}

bool UpdateGolden() {
  const char* v = std::getenv("PROMSIDECAR_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

struct Case {
  api::Agent agent;
  ReferencedObjects refs;
};

bool LoadCase(const fs::path& dir, Case* c) {
  auto agent_docs = cli::ParseObjects(ReadText(dir / "agent.yaml"));
  if (!agent_docs || agent_docs->size() != 1) {
    ADD_FAILURE() << dir << ": agent.yaml must hold one object";
    return false;
  }
  auto agent = api::ParseAgent(agent_docs->front());
  if (!agent) {
    ADD_FAILURE() << dir << ": " << agent.message();
    return false;
  }
  c->agent = *agent;
  auto refs = cli::ParseDocuments(ReadText(dir / "refs.yaml"));
  if (!refs) {
    ADD_FAILURE() << dir << ": " << refs.message();
    return false;
  }
  for (const auto& doc : *refs) {
    const auto& items = doc.is_array() ? doc : json::array({doc});
    for (const auto& obj : items) {
      const std::string name = obj["metadata"]["name"];
      if (obj["kind"] == "Secret") c->refs.secrets[name] = SecretData(obj);
      if (obj["kind"] == "ConfigMap") c->refs.config_maps[name] = ConfigMapData(obj);
    }
  }
  return true;
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(Root())) {
    if (e.is_directory()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class RenderGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(RenderGolden, MatchesGoldenAndLoadsInAgent) {
  const fs::path dir = Root() / GetParam();
  Case c;
  ASSERT_TRUE(LoadCase(dir, &c));
  auto rendered = RenderSharedConfig(c.agent, c.refs, "team-a");
  if (!rendered) {
    if (UpdateGolden()) WriteText(dir / "want-error.txt", rendered.message() + "\n");
    ASSERT_TRUE(fs::exists(dir / "want-error.txt")) << "unexpected error: " << rendered.message();
    EXPECT_EQ(ReadText(dir / "want-error.txt"), rendered.message() + "\n");
    return;
  }
  ASSERT_FALSE(fs::exists(dir / "want-error.txt")) << "expected an error, rendered fine";
  json data = json::object();
  for (const auto& [k, v] : rendered->data) data[k] = v;
  const json got = {{"name", rendered->name},
                    {"namespace", rendered->namespace_},
                    {"dataHash", rendered->data_hash},
                    {"data", data}};
  const std::string config = rendered->data.at(api::kSharedConfigKey);
  if (UpdateGolden()) {
    WriteText(dir / "want-config.yaml", config);
    WriteText(dir / "want-data.json", got.dump(2) + "\n");
  }
  EXPECT_EQ(ReadText(dir / "want-config.yaml"), config);
  EXPECT_EQ(json::parse(ReadText(dir / "want-data.json")), got);

  // Deterministic: a second rendering is byte-identical.
  auto again = RenderSharedConfig(c.agent, c.refs, "team-a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->data, rendered->data);
  EXPECT_EQ(again->data_hash, rendered->data_hash);

  // The schema marker is the first line.
  EXPECT_EQ(config.rfind(std::string(kSchemaMarkerPrefix) + std::to_string(kConfigSchemaVersion) + "\n", 0),
            0u);

  // The agent's own loader accepts it, with the credential files next to it.
  promsidecar::testing::TempDir agent_dir;
  const fs::path tmp = agent_dir.path();
  for (const auto& [k, v] : rendered->data) WriteText(tmp / k, v);
  auto loaded = config::LoadConfigFile((tmp / api::kSharedConfigKey).string());
  ASSERT_TRUE(loaded.ok()) << loaded.message() << "\n" << config;
  // Every credential file the config names resolves to a file we rendered,
  // except projected tokens: the kubelet writes those into the pod.
  for (const auto& rw : loaded->remote_write) {
    for (const config::SecretSource* s : {rw.basic_auth ? &rw.basic_auth->password : nullptr,
                                          rw.authorization ? &rw.authorization->credentials : nullptr,
                                          rw.oauth2 ? &rw.oauth2->client_secret : nullptr}) {
      if (s == nullptr || s->empty()) continue;
      if (s->file.rfind(std::string(api::kProjectedTokenRoot) + "/", 0) == 0) continue;
      auto secret = config::ReadSecret(*s);
      EXPECT_TRUE(secret.ok()) << secret.message();
    }
    for (const std::string* f : {&rw.tls_config.ca_file, &rw.tls_config.cert_file, &rw.tls_config.key_file}) {
      if (!f->empty()) {
        EXPECT_TRUE(fs::exists(*f)) << *f;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, RenderGolden, ::testing::ValuesIn(CaseNames()), [](const auto& info) {
  std::string n = info.param;
  for (auto& ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n;
});

api::Agent CredentialsAgent() {
  Case c;
  EXPECT_TRUE(LoadCase(Root() / "credentials", &c));
  return c.agent;
}

TEST(Render, SecretValuesNeverInConfigYaml) {
  Case c;
  ASSERT_TRUE(LoadCase(Root() / "credentials", &c));
  auto r = RenderSharedConfig(c.agent, c.refs, "x");
  ASSERT_TRUE(r.ok()) << r.message();
  const std::string& config = r->data.at("config.yaml");
  for (const char* secret : {"s3cret", "token-value", "client-secret-value", "MIIE"}) {
    EXPECT_EQ(config.find(secret), std::string::npos) << secret;
  }
  // The username is inline (not a secret in Prometheus's model), the password a file.
  EXPECT_NE(config.find("username: \"alice\""), std::string::npos);
  EXPECT_EQ(r->data.at("rw0-password"), "s3cret\n");
  EXPECT_EQ(r->data.at("rw1-token"), "token-value");
  EXPECT_EQ(r->data.at("rw2-client-secret"), "client-secret-value");
}

// The remote-write message, its data kinds and the scrape protocols reach
// the agent as the CR says (the golden case's rendering, loaded back).
TEST(Render, MessageVersionDataKindsAndScrapeProtocolsReachTheAgent) {
  Case c;
  ASSERT_TRUE(LoadCase(Root() / "native-histograms-rw2", &c));
  auto r = RenderSharedConfig(c.agent, c.refs, "x");
  ASSERT_TRUE(r.ok()) << r.message();
  auto loaded = config::LoadConfigString(r->data.at(api::kSharedConfigKey), "config.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ(loaded->global.scrape_protocols,
            (std::vector<textparse::ScrapeProtocol>{textparse::ScrapeProtocol::kPrometheusProto,
                                                    textparse::ScrapeProtocol::kOpenMetricsText1_0_0,
                                                    textparse::ScrapeProtocol::kPrometheusText0_0_4}));
  EXPECT_TRUE(loaded->global.scrape_native_histograms);
  EXPECT_TRUE(loaded->global.always_scrape_classic_histograms);
  ASSERT_EQ(loaded->remote_write.size(), 2u);
  const auto& v2 = loaded->remote_write[0];
  EXPECT_TRUE(v2.message_v2);
  EXPECT_TRUE(v2.send_exemplars);
  EXPECT_TRUE(v2.send_native_histograms);
  EXPECT_TRUE(v2.metadata_config.send);
  EXPECT_EQ(v2.metadata_config.send_interval, std::chrono::seconds(30));
  EXPECT_EQ(v2.metadata_config.max_samples_per_send, 200u);
  const auto& v1 = loaded->remote_write[1];
  EXPECT_FALSE(v1.message_v2);
  EXPECT_FALSE(v1.send_exemplars);
  EXPECT_FALSE(v1.send_native_histograms);
  EXPECT_FALSE(v1.metadata_config.send);

  // Without the fields, nothing of them is written: older objects keep their hash.
  Case basic;
  ASSERT_TRUE(LoadCase(Root() / "basic", &basic));
  auto plain = RenderSharedConfig(basic.agent, basic.refs, "x");
  ASSERT_TRUE(plain.ok());
  for (const char* key :
       {"protobuf_message", "send_exemplars", "send_native_histograms", "metadata_config", "scrape_protocols",
        "scrape_native_histograms", "always_scrape_classic_histograms"}) {
    EXPECT_EQ(plain->data.at(api::kSharedConfigKey).find(key), std::string::npos) << key;
  }
}

TEST(Render, ChangedUrlChangesHashOnly) {
  Case c;
  ASSERT_TRUE(LoadCase(Root() / "basic", &c));
  auto a = RenderSharedConfig(c.agent, c.refs, "x");
  c.agent.remote_write[0].url = "https://other.example.com/write";
  auto b = RenderSharedConfig(c.agent, c.refs, "x");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->data_hash, b->data_hash);
  EXPECT_NE(b->data.at("config.yaml").find("other.example.com"), std::string::npos);
}

TEST(Render, ChangedReferencedSecretChangesData) {
  Case c;
  ASSERT_TRUE(LoadCase(Root() / "credentials", &c));
  auto a = RenderSharedConfig(c.agent, c.refs, "x");
  c.refs.secrets["rw-token"]["token"] = "rotated";
  auto b = RenderSharedConfig(c.agent, c.refs, "x");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->data.at("rw1-token"), "rotated");
  EXPECT_NE(a->data_hash, b->data_hash);
  EXPECT_EQ(a->data.at("config.yaml"), b->data.at("config.yaml"));
}

TEST(Render, MissingSecretIsNamed) {
  Case c;
  ASSERT_TRUE(LoadCase(Root() / "missing-secret", &c));
  auto r = RenderSharedConfig(c.agent, c.refs, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("absent-creds"), std::string::npos);
  EXPECT_NE(r.message().find("spec.remoteWrite[0].basicAuth"), std::string::npos);
  EXPECT_NE(r.message().find("monitoring/broken"), std::string::npos);
}

TEST(Render, ReferencedNames) {
  const api::Agent agent = CredentialsAgent();
  EXPECT_EQ(ReferencedSecretNames(agent),
            (std::vector<std::string>{"client-tls", "oauth-secret", "rw-basic", "rw-token"}));
  EXPECT_EQ(ReferencedConfigMapNames(agent), (std::vector<std::string>{"ca-bundle", "oauth-client"}));
}

TEST(Render, SecretObjectRoundTrips) {
  Case c;
  ASSERT_TRUE(LoadCase(Root() / "credentials", &c));
  auto r = RenderSharedConfig(c.agent, c.refs, "team-a");
  ASSERT_TRUE(r.ok());
  const json obj = SecretObject(c.agent, *r);
  EXPECT_EQ(obj["metadata"]["namespace"], "team-a");
  EXPECT_EQ(obj["metadata"]["name"], api::SharedConfigSecretName(c.agent));
  EXPECT_EQ(obj["metadata"]["labels"][api::kAgentLabel], c.agent.LabelValue());
  EXPECT_EQ(obj["metadata"]["annotations"][kDataHashAnnotation], r->data_hash);
  EXPECT_EQ(SecretData(obj), r->data);
}

TEST(Render, ProjectedTokenIsAFileInThePodNotACopy) {
  Case c;
  ASSERT_TRUE(LoadCase(Root() / "projected-token", &c));
  auto r = RenderSharedConfig(c.agent, c.refs, "team-a");
  ASSERT_TRUE(r.ok()) << r.message();
  // Only the static entry's token is copied; the projected ones add no key.
  std::vector<std::string> keys;
  for (const auto& [k, v] : r->data) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"config.yaml", "rw2-token"}));
  EXPECT_EQ(ReferencedSecretNames(c.agent), std::vector<std::string>{"rw-token"});

  auto loaded =
      config::LoadConfigString(r->data.at(api::kSharedConfigKey), "/etc/promsidecar/shared/config.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  ASSERT_EQ(loaded->remote_write.size(), 3u);
  // The same paths the webhook mounts (one volume per audience).
  std::vector<api::ProjectedTokenVolume> volumes = api::ProjectedTokenVolumes(c.agent);
  ASSERT_EQ(volumes.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& az = loaded->remote_write[i].authorization;
    ASSERT_TRUE(az.has_value());
    EXPECT_EQ(az->type, "Bearer");
    EXPECT_EQ(az->credentials.file, volumes[i].File());
    EXPECT_TRUE(az->credentials.value.empty());
  }

  // Two sources for one header: refused, naming the entry and the fix.
  c.agent.remote_write[0].authorization->credentials = api::SecretKeySelector{"rw-token", "token", false};
  auto both = RenderSharedConfig(c.agent, c.refs, "team-a");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.message().find("monitoring/projected"), std::string::npos) << both.message();
  EXPECT_NE(both.message().find("spec.remoteWrite[0].authorization"), std::string::npos) << both.message();
  EXPECT_NE(both.message().find("set only one of"), std::string::npos) << both.message();
}

TEST(Render, DataHashDependsOnBoundaries) {
  EXPECT_NE(DataHash({{"ab", "c"}}), DataHash({{"a", "bc"}}));
  EXPECT_EQ(DataHash({{"a", "1"}, {"b", "2"}}), DataHash({{"b", "2"}, {"a", "1"}}));
}

TEST(Render, DataHashKeepsTheValueAlreadyInClusters) {
  // Every rendered Secret carries this hash in an annotation the controller
  // compares: a different value would make every Secret look out of date.
  EXPECT_EQ(DataHash({{"config.yaml", "global: {}\n"}}), "0e767a91e1068e6d");
}

}  // namespace
}  // namespace promsidecar::render
