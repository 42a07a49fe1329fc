// Golden files for the controller's plan step (controller::PlanAgent), one
// directory per case under test/testdata/operator/plan/: input.json (the
// agent, its referenced objects, what is known of each namespace) and
// want-plan.json (PROMSIDECAR_UPDATE_GOLDEN=1 rewrites it). The golden files
// are written by the code, so each case also has hand-written expectations
// below: they are what makes the files believable.
#include "operator/controller/plan.h"

#include "golden_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

namespace promsidecar::controller {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

fs::path Root() {
  return fs::path(PROMSIDECAR_TESTDATA) / "operator" / "plan";
}

using inject::testing::ReadText;
using inject::testing::UpdateGolden;

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(Root())) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

using Check = std::function<void(const PlanInput&, const json&)>;

std::vector<std::string> Strings(const json& j) {
  return j.get<std::vector<std::string>>();
}

// What every case must satisfy, written by hand.
const std::map<std::string, Check>& Expectations() {
  static const std::map<std::string, Check> checks = {
      {"first-pods",
       [](const PlanInput& in, const json& p) {
         EXPECT_EQ(Strings(p["ensure"]), (std::vector<std::string>{"team-a", "team-b"}));
         EXPECT_TRUE(p["remove"].empty());
         EXPECT_EQ(p["secretHash"], in.rendered->data_hash);
         EXPECT_EQ(p["secret"]["metadata"]["name"], "promsidecar-monitoring.fleet");
         EXPECT_FALSE(p["secret"]["metadata"].contains("namespace")) << "set per target namespace";
         EXPECT_EQ(p["status"]["injectedPods"], 4);
         EXPECT_EQ(p["status"]["namespaces"], 2);
         EXPECT_EQ(Strings(p["status"]["renderedNamespaces"]),
                   (std::vector<std::string>{"team-a", "team-b"}));
         EXPECT_TRUE(p["events"].empty()) << "no Event for routine success";
       }},
      {"unchanged",
       [](const PlanInput&, const json& p) {
         EXPECT_TRUE(p["ensure"].empty());
         EXPECT_TRUE(p["remove"].empty());
         EXPECT_TRUE(p["status"].is_null()) << "an unchanged status is not written";
         EXPECT_TRUE(p["events"].empty());
         EXPECT_EQ(p["finalizer"], "keep");
       }},
      {"remote-write-changed",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(Strings(p["ensure"]), (std::vector<std::string>{"team-a", "team-b"}));
         EXPECT_TRUE(p["status"].is_null()) << "the counts did not change";
       }},
      {"namespace-emptied",
       [](const PlanInput&, const json& p) {
         EXPECT_TRUE(p["ensure"].empty());
         EXPECT_EQ(Strings(p["remove"]), (std::vector<std::string>{"team-b"}));
         EXPECT_EQ(Strings(p["status"]["renderedNamespaces"]), (std::vector<std::string>{"team-a"}));
         EXPECT_EQ(p["status"]["namespaces"], 1);
       }},
      {"forged-label-namespace",
       [](const PlanInput&, const json& p) {
         EXPECT_TRUE(p["ensure"].empty()) << "credentials never go to a namespace the agent does not admit";
         EXPECT_EQ(Strings(p["remove"]), (std::vector<std::string>{"intruder"}))
             << "confirmed absent (read first)";
         EXPECT_EQ(p["status"]["injectedPods"], 1) << "forged pods are not counted";
       }},
      {"terminating-namespace",
       [](const PlanInput&, const json& p) {
         EXPECT_TRUE(p["ensure"].empty());
         EXPECT_EQ(Strings(p["remove"]), (std::vector<std::string>{"team-b"}));
         EXPECT_EQ(p["status"]["injectedPods"], 3);
       }},
      {"namespace-not-cached-yet",
       [](const PlanInput&, const json& p) {
         EXPECT_TRUE(p["ensure"].empty()) << "admission needs the namespace's labels";
         EXPECT_EQ(Strings(p["remove"]), (std::vector<std::string>{"team-a"}));
       }},
      {"render-failed",
       [](const PlanInput& in, const json& p) {
         EXPECT_FALSE(in.rendered);
         EXPECT_NE(in.render_error.find("rw-creds"), std::string::npos) << in.render_error;
         EXPECT_TRUE(p["ensure"].empty());
         EXPECT_TRUE(p["remove"].empty()) << "the last good Secret stays where it is needed";
         EXPECT_EQ(Strings(p["status"]["renderedNamespaces"]), (std::vector<std::string>{"team-a"}));
         EXPECT_EQ(p["status"]["conditions"][0]["reason"], "ConfigRenderFailed");
         ASSERT_EQ(p["events"].size(), 1u);
         EXPECT_EQ(p["events"][0]["type"], "Warning");
         EXPECT_EQ(p["events"][0]["reason"], "ConfigRenderFailed");
       }},
      {"render-failed-again",
       [](const PlanInput&, const json& p) {
         EXPECT_TRUE(p["events"].empty()) << "one Event per distinct failure";
         EXPECT_TRUE(p["status"].is_null());
       }},
      {"render-fixed",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(Strings(p["ensure"]), (std::vector<std::string>{"team-a", "team-b"}));
         EXPECT_EQ(p["status"]["conditions"][0]["status"], "True");
       }},
      {"deleting",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(p["finalizer"], "remove");
         EXPECT_EQ(Strings(p["remove"]), (std::vector<std::string>{"team-a", "team-b"}))
             << "every namespace the status or this process knows a Secret in; not team-c (known absent)";
         EXPECT_TRUE(p["ensure"].empty());
         EXPECT_TRUE(p["status"].is_null());
       }},
      {"deleting-without-finalizer",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(p["finalizer"], "keep");
         EXPECT_TRUE(p["remove"].empty());
         EXPECT_TRUE(p["ensure"].empty());
       }},
      {"no-finalizer-yet",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(p["finalizer"], "add");
         EXPECT_EQ(Strings(p["ensure"]), (std::vector<std::string>{"team-a"}));
       }},
      {"one-namespace",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(Strings(p["ensure"]), (std::vector<std::string>{"team-b"}));
         EXPECT_TRUE(p["status"].is_null()) << "namespace plans leave the status to the agent's";
         EXPECT_EQ(p["finalizer"], "keep");
       }},
      {"one-namespace-no-finalizer",
       [](const PlanInput&, const json& p) {
         EXPECT_TRUE(p["ensure"].empty()) << "nothing is rendered before the finalizer is there";
         EXPECT_EQ(p["finalizer"], "keep");
       }},
      {"one-namespace-emptied",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(Strings(p["remove"]), (std::vector<std::string>{"team-b"}));
         EXPECT_TRUE(p["status"].is_null());
       }},
      {"statefulset-mode",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(p, PlanToJson(Plan{})) << "other modes belong to prometheus-operator";
       }},
      {"outdated-and-uninjected",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(p["status"]["outdatedPods"], 3) << "team-x does not admit the agent: not counted";
         EXPECT_EQ(p["outdatedByNamespace"], (json{{"team-a", 2}, {"team-b", 1}}));
         EXPECT_EQ(p["status"]["uninjectedPods"], 5);
         EXPECT_EQ(p["status"]["injectedPods"], 4);
         EXPECT_TRUE(p["ensure"].empty());
       }},
      {"own-namespace-only",
       [](const PlanInput&, const json& p) {
         EXPECT_EQ(Strings(p["ensure"]), (std::vector<std::string>{"monitoring"}))
             << "without a namespaceSelector only the agent's own namespace";
         EXPECT_EQ(Strings(p["remove"]), (std::vector<std::string>{"team-a"}));
       }},
  };
  return checks;
}

class PlanGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PlanGolden, MatchesGoldenFileAndExpectations) {
  const fs::path dir = Root() / GetParam();
  auto in = PlanInputFromJson(json::parse(ReadText(dir / "input.json")));
  ASSERT_TRUE(in.ok()) << in.message();
  const json plan = PlanToJson(PlanAgent(*in));
  const fs::path want = dir / "want-plan.json";
  if (UpdateGolden()) {
    std::ofstream(want, std::ios::binary) << plan.dump(2) << "\n";
  } else {
    ASSERT_TRUE(fs::exists(want)) << want << " is missing; run with PROMSIDECAR_UPDATE_GOLDEN=1";
    EXPECT_EQ(json::parse(ReadText(want)), plan)
        << GetParam() << "/want-plan.json differs; if the change is intended, regenerate with "
        << "PROMSIDECAR_UPDATE_GOLDEN=1 and review the diff";
  }
  auto check = Expectations().find(GetParam());
  ASSERT_NE(check, Expectations().end()) << "case " << GetParam() << " has no hand-written expectation";
  check->second(*in, plan);
  // Every case: a namespace is never both written and cleaned up.
  for (const auto& ns : plan["ensure"]) {
    EXPECT_EQ(std::count(plan["remove"].begin(), plan["remove"].end(), ns), 0) << ns;
  }
}

std::string CaseName(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Plan, PlanGolden, ::testing::ValuesIn(CaseNames()), CaseName);

TEST(PlanGolden, EveryExpectationHasACase) {
  const auto names = CaseNames();
  for (const auto& [name, check] : Expectations()) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name << " has no directory";
  }
}

}  // namespace
}  // namespace promsidecar::controller
