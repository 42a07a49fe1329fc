// The parser against files written by the kubelet's own code: every
// test/testdata/podinfo/inputs/NAME.json map was turned into NAME.formatmap by
// k8s.io/kubernetes/pkg/fieldpath.FormatMap (test/cluster/cmd/gen-downward-fixtures;
// the ctest podinfo.fixtures-current keeps them current). Parsing the output
// must give back exactly the input map.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "agent/podinfo/downward.h"
#include "common/util/base64.h"

namespace promsidecar::podinfo {
namespace {

namespace fs = std::filesystem;

const fs::path kInputs = fs::path(PROMSIDECAR_TESTDATA) / "podinfo" / "inputs";

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::map<std::string, std::string> LoadInput(const fs::path& path) {
  auto doc = nlohmann::json::parse(Slurp(path));
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : doc.at("values").items()) m[k] = v.get<std::string>();
  if (doc.contains("base64_values")) {
    for (const auto& [k, v] : doc["base64_values"].items()) {
      // The Go generator writes StdEncoding; a bad fixture fails the test loudly.
      auto decoded = DecodeBase64(v.get<std::string>());
      if (!decoded.ok())
        throw std::runtime_error("fixture " + path.string() + ": " + k + ": " + decoded.message());
      m[k] = *decoded;
    }
  }
  return m;
}

std::vector<fs::path> Inputs() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(kInputs)) {
    if (entry.path().extension() == ".json") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(DownwardApiFixtures, EveryKubeletOutputParsesBackToItsInput) {
  auto inputs = Inputs();
  // The set the fixtures were made for; a lost file must not pass silently.
  ASSERT_GE(inputs.size(), 6u);
  for (const auto& json : inputs) {
    SCOPED_TRACE(json.filename().string());
    auto want = LoadInput(json);
    fs::path output = json;
    output.replace_extension(".formatmap");
    ASSERT_TRUE(fs::exists(output)) << output;
    auto got = ParseDownwardApiFile(Slurp(output));
    ASSERT_TRUE(got.ok()) << got.message();
    EXPECT_EQ(got->size(), want.size());
    for (const auto& [key, value] : want) {
      auto it = got->find(key);
      ASSERT_NE(it, got->end()) << "missing key " << key;
      EXPECT_EQ(it->second, value) << "key " << key;
    }
  }
}

TEST(DownwardApiFixtures, InputsCoverTheHardCases) {
  // Guards the fixture set itself: the cases the parser must handle are present.
  std::map<std::string, std::string> all;
  for (const auto& json : Inputs()) {
    for (auto& [k, v] : LoadInput(json)) all[json.stem().string() + "/" + k] = v;
  }
  auto any = [&](auto pred) {
    return std::any_of(all.begin(), all.end(), [&](const auto& kv) { return pred(kv.second); });
  };
  EXPECT_TRUE(any([](const std::string& v) { return v.find('\n') != std::string::npos; }));
  EXPECT_TRUE(any([](const std::string& v) { return v.find('"') != std::string::npos; }));
  EXPECT_TRUE(any([](const std::string& v) { return v.find('\\') != std::string::npos; }));
  EXPECT_TRUE(any([](const std::string& v) { return v.find('\0') != std::string::npos; }));
  EXPECT_TRUE(
      any([](const std::string& v) { return v.find("\xf0\x9f\x98\x80") != std::string::npos; }));  // emoji
  EXPECT_TRUE(any([](const std::string& v) { return v == "\xff"; }));       // invalid UTF-8
  EXPECT_TRUE(any([](const std::string& v) { return v.size() > 20000; }));  // last-applied-configuration
  EXPECT_TRUE(fs::exists(kInputs / "empty.formatmap"));
  EXPECT_EQ(fs::file_size(kInputs / "empty.formatmap"), 0u);
}

}  // namespace
}  // namespace promsidecar::podinfo
