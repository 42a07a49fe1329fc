// The fate table against its three readers: the validating webhook (every
// refused field is an error naming the field and the fix, every honoured one
// passes), docs/operator.md's table and the CRD's schema and CEL rules.
#include "operator/validate/field_fates.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "operator/cli/yaml_json.h"
#include "operator/validate/validate.h"

namespace promsidecar::validate {
namespace {

using api::FieldError;
using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json Agent(const std::string& mode = "Sidecar") {
  return {{"apiVersion", "promsidecar.io/v1alpha1"},
          {"kind", "PrometheusAgent"},
          {"metadata", {{"name", "a"}, {"namespace", "monitoring"}}},
          {"spec",
           {{"mode", mode},
            {"remoteWrite",
             {{{"url", "https://one.example.com/write"}}, {{"url", "https://two.example.com/write"}}}}}}};
}

// Sets `path` (a table path) to `value` in `object`, in the second
// remoteWrite entry and the first item of nested lists; returns the concrete
// path the webhook reports.
std::string Set(json& object, std::string_view path, const json& value) {
  json* node = &object;
  std::string concrete;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string seg(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    const bool list = seg.ends_with("[]");
    if (list) seg.resize(seg.size() - 2);
    concrete += (concrete.empty() ? "" : ".") + seg;
    if (dot == std::string_view::npos) {
      (*node)[seg] = value;
      return concrete;
    }
    node = &(*node)[seg];
    if (list) {
      const size_t index = seg == "remoteWrite" ? 1 : 0;
      while (node->size() <= index) node->push_back(json::object());
      node = &(*node)[index];
      concrete += "[" + std::to_string(index) + "]";
    }
    start = dot + 1;
  }
}

std::vector<FieldError> FateFindings(const json& object) {
  std::vector<FieldError> out;
  CheckFieldFates(object["spec"], &out);
  return out;
}

TEST(FieldFates, EveryRefusedFieldIsAnErrorNamingItAndTheFix) {
  for (const FieldFate& f : FieldFates()) {
    if (f.fate != Fate::kRefused) continue;
    json object = Agent();
    const std::string concrete = Set(object, f.path, "s3cr3t");
    std::vector<FieldError> findings = FateFindings(object);
    ASSERT_EQ(findings.size(), 1u) << f.path;
    EXPECT_TRUE(findings[0].is_error()) << f.path;
    EXPECT_EQ(findings[0].path, concrete);
    EXPECT_EQ(findings[0].message, RefusalMessage(f));
    EXPECT_NE(findings[0].message.find(f.note), std::string::npos);
    EXPECT_EQ(findings[0].value, "") << f.path << ": a refused value may be a secret (bearerToken)";
    // The same finding through the webhook's entry point.
    std::vector<FieldError> all = Validate(object, {});
    EXPECT_TRUE(std::any_of(all.begin(), all.end(),
                            [&](const FieldError& e) { return e.is_error() && e.path == concrete; }))
        << f.path << ": " << api::JoinErrors(all);
  }
}

TEST(FieldFates, HonouredFieldsAreNotFindings) {
  json object = Agent();
  for (const FieldFate& f : FieldFates()) {
    if (f.fate == Fate::kHonoured && f.path.find('.', 5) != std::string_view::npos) {
      // Only leaves: setting a parent would overwrite its children.
      bool parent = false;
      for (const FieldFate& g : FieldFates()) {
        parent = parent || (g.path.size() > f.path.size() && g.path.starts_with(f.path) &&
                            (g.path[f.path.size()] == '.' || g.path[f.path.size()] == '['));
      }
      if (!parent) Set(object, f.path, "x");
    }
  }
  EXPECT_TRUE(FateFindings(object).empty()) << api::JoinErrors(FateFindings(object));
}

TEST(FieldFates, IgnoredFieldsWarnUnlessAtUpstreamsDefault) {
  for (const FieldFate& f : FieldFates()) {
    if (f.fate != Fate::kIgnored) continue;
    json object = Agent();
    const std::string concrete = Set(object, f.path, 7);
    std::vector<FieldError> findings = FateFindings(object);
    ASSERT_EQ(findings.size(), 1u) << f.path;
    EXPECT_FALSE(findings[0].is_error());
    EXPECT_EQ(findings[0].path, concrete);
    EXPECT_EQ(findings[0].value, "7");
    EXPECT_NE(findings[0].message.find(f.note), std::string::npos);
    if (!f.quiet_value.empty()) {
      Set(object, f.path, std::string(f.quiet_value));
      EXPECT_TRUE(FateFindings(object).empty()) << f.path;
    }
  }
}

TEST(FieldFates, EveryListItemIsChecked) {
  json object = Agent();
  object["spec"]["remoteWrite"][0]["sigv4"] = {{"region", "eu-west-1"}};
  object["spec"]["remoteWrite"][1]["tlsConfig"] = {{"caFile", "/etc/ca.pem"}, {"maxVersion", "TLS13"}};
  std::set<std::string> paths;
  for (const FieldError& e : FateFindings(object)) paths.insert(e.path);
  EXPECT_EQ(paths, (std::set<std::string>{"spec.remoteWrite[0].sigv4", "spec.remoteWrite[1].tlsConfig.caFile",
                                          "spec.remoteWrite[1].tlsConfig.maxVersion"}));
}

TEST(FieldFates, TheSeedsModeSpellingWarns) {
  auto warnings = [](const json& object) {
    std::vector<FieldError> out;
    for (const FieldError& e : Validate(object, {})) {
      if (!e.is_error() && e.path == "spec.mode") out.push_back(e);
    }
    return out;
  };
  std::vector<FieldError> lower = warnings(Agent("sidecar"));
  ASSERT_EQ(lower.size(), 1u);
  EXPECT_NE(lower[0].message.find("write Sidecar"), std::string::npos) << lower[0].message;
  EXPECT_TRUE(warnings(Agent("Sidecar")).empty());
}

TEST(FieldFates, TableHasNoDuplicates) {
  std::set<std::string_view> seen;
  for (const FieldFate& f : FieldFates()) EXPECT_TRUE(seen.insert(f.path).second) << f.path;
}

// docs/operator.md, section "Upstream fields in Sidecar mode": one row per
// entry, in the same order, with the same fate and note.
TEST(FieldFates, DocsTableIsTheCodeTable) {
  const std::string docs = ReadFile(std::string(PROMSIDECAR_SOURCE_DIR) + "/docs/operator.md");
  const size_t section = docs.find("## Upstream fields in Sidecar mode");
  ASSERT_NE(section, std::string::npos);
  std::vector<std::string> rows;
  std::istringstream in(docs.substr(section));
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.starts_with("| `")) {
      in_table = true;
      rows.push_back(line);
    } else if (in_table) {
      break;
    }
  }
  std::vector<std::string> want;
  for (const FieldFate& f : FieldFates()) {
    want.push_back("| `" + std::string(f.path) + "` | " + std::string(FateName(f.fate)) + " | " +
                   std::string(f.note) + " |");
  }
  EXPECT_EQ(rows, want);
}

class CrdSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    auto docs = cli::ParseDocuments(
        ReadFile(std::string(PROMSIDECAR_SOURCE_DIR) + "/deploy/crd/promsidecar.io_prometheusagents.yaml"));
    ASSERT_TRUE(docs.ok()) << docs.message();
    ASSERT_EQ(docs->size(), 1u);
    root_ = (*docs)[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
  }
  // The schema node of a table path; null when undeclared.
  const json* Node(std::string_view path) const {
    const json* node = &root_;
    size_t start = 0;
    while (start <= path.size()) {
      size_t dot = path.find('.', start);
      if (dot == std::string_view::npos) dot = path.size();
      std::string seg(path.substr(start, dot - start));
      const bool list = seg.ends_with("[]");
      if (list) seg.resize(seg.size() - 2);
      if (!node->contains("properties") || !(*node)["properties"].contains(seg)) return nullptr;
      node = &(*node)["properties"][seg];
      if (list) node = &(*node)["items"];
      start = dot + 1;
    }
    return node;
  }
  json root_;
};

TEST_F(CrdSchema, DeclaresEveryFieldAndRefusesTheRefusedInCel) {
  for (const FieldFate& f : FieldFates()) {
    ASSERT_NE(Node(f.path), nullptr) << f.path << " is not declared";
    const size_t dot = f.path.rfind('.');
    const std::string leaf(f.path.substr(dot + 1));
    const json* parent = Node(f.path.substr(0, dot));
    const json rules = parent->value("x-kubernetes-validations", json::array());
    const json* rule = nullptr;
    for (const json& r : rules) {
      if (r.value("rule", "") == "!has(self." + leaf + ")") rule = &r;
    }
    if (f.fate != Fate::kRefused) {
      EXPECT_EQ(rule, nullptr) << f.path << " is " << FateName(f.fate) << " but its CEL rule refuses it";
      continue;
    }
    ASSERT_NE(rule, nullptr) << f.path << " has no CEL rule";
    EXPECT_EQ((*rule).value("message", ""), RefusalMessage(f)) << f.path;
    EXPECT_EQ((*rule).value("fieldPath", ""), "." + leaf) << f.path;
  }
}

// Unknown fields are pruned (and rejected by strict field validation) except
// inside a refused field, which is refused whole, and the container
// securityContext, which is Kubernetes' own type.
TEST_F(CrdSchema, PreservesUnknownFieldsOnlyInsideRefusedFields) {
  std::set<std::string> allowed{"spec.sidecar.securityContext"};
  for (const FieldFate& f : FieldFates()) {
    if (f.fate == Fate::kRefused) allowed.insert(std::string(f.path));
  }
  std::vector<std::string> preserving;
  std::function<void(const json&, const std::string&)> walk = [&](const json& node, const std::string& path) {
    if (node.value("x-kubernetes-preserve-unknown-fields", false)) preserving.push_back(path);
    if (node.contains("properties")) {
      for (const auto& [k, v] : node["properties"].items()) walk(v, path.empty() ? k : path + "." + k);
    }
    if (node.contains("items")) walk(node["items"], path + "[]");
  };
  walk(root_, "");
  for (const std::string& p : preserving) {
    // A refused list's items (typed objects, so that CEL can see the list).
    std::string field = p;
    while (field.ends_with("[]")) field.resize(field.size() - 2);
    EXPECT_TRUE(allowed.count(field)) << p << " preserves unknown fields";
  }
  for (const char* must : {"spec", "spec.remoteWrite[]", "status"}) {
    EXPECT_FALSE(std::count(preserving.begin(), preserving.end(), must)) << must;
  }
}

// The CRD's bound and the webhook's agree: maxItems endpoints pass, one more
// does not.
TEST_F(CrdSchema, RemoteWriteBoundIsTheWebhooks) {
  const json* rw = Node("spec.remoteWrite");
  ASSERT_NE(rw, nullptr);
  ASSERT_TRUE(rw->contains("maxItems"));
  const size_t max = (*rw)["maxItems"].get<size_t>();
  json object = Agent();
  object["spec"]["remoteWrite"] = json::array();
  auto bound_errors = [&] {
    std::vector<FieldError> out;
    for (const FieldError& e : Validate(object, {})) {
      if (e.is_error() && e.path == "spec.remoteWrite") out.push_back(e);
    }
    return out;
  };
  for (size_t i = 0; i < max; ++i) {
    object["spec"]["remoteWrite"].push_back(
        {{"url", "https://e" + std::to_string(i) + ".example.com/write"}, {"name", "e" + std::to_string(i)}});
  }
  EXPECT_TRUE(bound_errors().empty());
  object["spec"]["remoteWrite"].push_back({{"url", "https://more.example.com/write"}, {"name", "more"}});
  EXPECT_EQ(bound_errors().size(), 1u);
}

// Upstream's defaults where the operator relies on them.
TEST_F(CrdSchema, DefaultsAreUpstreams) {
  EXPECT_EQ(Node("spec.scrapeInterval")->value("default", ""), "30s");
  EXPECT_EQ(Node("spec.remoteWrite[].writeRelabelConfigs[].action")->value("default", ""), "replace");
}

// The seed group's CRD serves upstream's modes too: its rules refuse a
// top-level field only in Sidecar mode, with the table's message.
TEST(SeedCrd, RefusesEveryRefusedTopLevelFieldInSidecarModeOnly) {
  auto docs = cli::ParseDocuments(ReadFile(std::string(PROMSIDECAR_SOURCE_DIR) +
                                           "/deploy/optional/monitoring.coreos.com_prometheusagents.yaml"));
  ASSERT_TRUE(docs.ok()) << docs.message();
  const json spec = (*docs)[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
  const std::string gate = "!(has(self.mode) && (self.mode == 'Sidecar' || self.mode == 'sidecar'))";
  std::map<std::string, json> rules;
  for (const json& r : spec["x-kubernetes-validations"]) rules[r.value("rule", "")] = r;
  for (const FieldFate& f : FieldFates()) {
    const std::string leaf(f.path.substr(std::string_view("spec.").size()));
    if (leaf.find_first_of(".[") != std::string::npos) continue;
    auto it = rules.find(gate + " || !has(self." + leaf + ")");
    if (f.fate != Fate::kRefused) {
      EXPECT_EQ(it, rules.end()) << f.path;
      continue;
    }
    ASSERT_NE(it, rules.end()) << f.path << " has no Sidecar-mode rule";
    EXPECT_EQ(it->second.value("message", ""), RefusalMessage(f)) << f.path;
    EXPECT_EQ(it->second.value("fieldPath", ""), "." + leaf) << f.path;
    EXPECT_TRUE(spec["properties"].contains(leaf)) << f.path << " must be declared for CEL to see it";
  }
}

// spec.image/spec.version are honoured by engine: prometheus only; the
// native engine says so instead of dropping them.
TEST(FieldFates, PrometheusOnlyFieldsWarnWithTheNativeEngine) {
  struct Case {
    json sidecar;
    std::set<std::string> want_warnings;
  };
  const std::vector<Case> cases{
      {json::object(), {"spec.image", "spec.version"}},
      {{{"engine", "native"}}, {"spec.image", "spec.version"}},
      {{{"engine", "prometheus"}}, {}},
  };
  for (const Case& c : cases) {
    json object = Agent();
    object["spec"]["image"] = "quay.io/prometheus/prometheus:v3.5.0";
    object["spec"]["version"] = "v3.5.0";
    object["spec"]["sidecar"] = c.sidecar;
    std::set<std::string> got;
    for (const FieldError& e : Validate(object, {})) {
      if (!e.is_error() && (e.path == "spec.image" || e.path == "spec.version")) got.insert(e.path);
    }
    EXPECT_EQ(got, c.want_warnings) << c.sidecar.dump();
  }
}

}  // namespace
}  // namespace promsidecar::validate
