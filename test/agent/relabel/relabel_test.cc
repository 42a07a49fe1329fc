#include "agent/relabel/relabel.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <optional>
#include <string>
#include <vector>

namespace promsidecar::relabel {
namespace {

using model::Labels;

// Test-side builder for specs: only the fields a case sets are present.
struct R {
  RelabelConfigSpec s;
  R& src(std::vector<std::string> v) {
    s.source_labels = std::move(v);
    return *this;
  }
  R& sep(std::string v) {
    s.separator = std::move(v);
    return *this;
  }
  R& target(std::string v) {
    s.target_label = std::move(v);
    return *this;
  }
  R& regex(std::string v) {
    s.regex = std::move(v);
    return *this;
  }
  R& mod(uint64_t v) {
    s.modulus = v;
    return *this;
  }
  R& repl(std::string v) {
    s.replacement = std::move(v);
    return *this;
  }
  R& action(Action a) {
    s.action = a;
    return *this;
  }
};

Labels L(std::initializer_list<model::Label> l) {
  Labels out(l);
  model::Canonicalize(out);
  return out;
}

struct Case {
  std::string name;
  Labels input;
  std::vector<R> rules;
  std::optional<Labels> want;  // nullopt: dropped
};

std::vector<Rule> CompileAll(const std::vector<R>& specs) {
  std::vector<Rule> rules;
  for (const auto& r : specs) {
    auto compiled = Compile(r.s);
    EXPECT_TRUE(compiled.ok()) << (compiled.ok() ? "" : compiled.message());
    if (compiled.ok()) rules.push_back(std::move(compiled).value());
  }
  return rules;
}

void RunCases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto rules = CompileAll(c.rules);
    ASSERT_EQ(rules.size(), c.rules.size());
    Labels labels = c.input;
    bool kept = Process(labels, rules);
    if (!c.want) {
      EXPECT_FALSE(kept) << model::ToString(labels);
      continue;
    }
    ASSERT_TRUE(kept);
    EXPECT_EQ(model::ToString(labels), model::ToString(*c.want));
    EXPECT_TRUE(model::IsCanonical(labels));
  }
}

// Computes Prometheus's hashmod independently of the code under test: EVP
// md5, last 8 digest bytes big-endian, modulo m.
std::string ExpectedHashMod(const std::string& value, uint64_t m) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(value.data(), value.size(), digest, &len, EVP_md5(), nullptr), 1);
  EXPECT_EQ(len, 16u);
  uint64_t v = 0;
  for (int i = 8; i < 16; ++i) v = v * 256 + digest[i];
  return std::to_string(v % m);
}

TEST(Relabel, Replace) {
  RunCases({
      {"default regex copies the joined value",
       L({{"a", "foo"}, {"b", "bar"}}),
       {R().src({"a", "b"}).target("c")},
       L({{"a", "foo"}, {"b", "bar"}, {"c", "foo;bar"}})},
      {"braced groups",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("f(.*)").target("d").repl("ch${1}-ch${1}")},
       L({{"a", "foo"}, {"d", "choo-choo"}})},
      {"unbraced groups",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("f(.*)").target("d").repl("ch$1-ch$1")},
       L({{"a", "foo"}, {"d", "choo-choo"}})},
      {"chained replaces see earlier results",
       L({{"a", "foo"}, {"b", "bar"}, {"c", "baz"}}),
       {R().src({"a", "b"}).regex("f(.*);(.*)r").target("a").repl("b${1}${2}m"),
        R().src({"c", "a"}).regex("(b).*b(.*)ba(.*)").target("d").repl("$1$2$2$3")},
       L({{"a", "boobam"}, {"b", "bar"}, {"c", "baz"}, {"d", "boooom"}})},
      {"regex is anchored: a partial match does not replace",
       L({{"a", "boo"}}),
       {R().src({"a"}).regex("f").target("b").repl("bar")},
       L({{"a", "boo"}})},
      {"anchored: o does not match foo",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("o").target("b").repl("x")},
       L({{"a", "foo"}})},
      {"inner group",
       L({{"a", "abc"}}),
       {R().src({"a"}).regex(".*(b).*").target("d")},
       L({{"a", "abc"}, {"d", "b"}})},
      {"$1x names group 1x, which does not exist",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("(f)oo").target("b").repl("$1x")},
       L({{"a", "foo"}})},
      {"${1}x is group 1 then x",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("(f)oo").target("b").repl("${1}x")},
       L({{"a", "foo"}, {"b", "fx"}})},
      {"$$ is a literal dollar",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("(f)oo").target("b").repl("$$1")},
       L({{"a", "foo"}, {"b", "$1"}})},
      {"malformed references stay literal",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("(f)oo").target("b").repl("x$-${-${1")},
       L({{"a", "foo"}, {"b", "x$-${-${1"}})},
      {"named groups",
       L({{"a", "k=v"}}),
       {R().src({"a"}).regex("(?P<key>[^=]+)=(?P<val>.*)").target("${key}").repl("$val")},
       L({{"a", "k=v"}, {"k", "v"}})},
      {"unknown named group expands to nothing, deleting the target",
       L({{"a", "x"}, {"b", "old"}}),
       {R().src({"a"}).target("b").repl("${nope}")},
       L({{"a", "x"}})},
      {"group 0 is the whole match",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("f.").target("b").repl("<$0>")},
       L({{"a", "foo"}})},
      {"group 0 whole match",
       L({{"a", "fo"}}),
       {R().src({"a"}).regex("f.").target("b").repl("<$0>")},
       L({{"a", "fo"}, {"b", "<fo>"}})},
      {"leading-zero group number is a name",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("(f)oo").target("b").repl("[$01]")},
       L({{"a", "foo"}, {"b", "[]"}})},
      {"unmatched optional group expands empty",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("(x)?(foo)").target("b").repl("[$1|$2]")},
       L({{"a", "foo"}, {"b", "[|foo]"}})},
      {"templated target from the value",
       L({{"a", "some-name-value"}}),
       {R().src({"a"}).regex("some-([^-]+)-([^,]+)").target("${1}").repl("${2}")},
       L({{"a", "some-name-value"}, {"name", "value"}})},
      {"empty expanded replacement deletes nothing new",
       L({{"a", "some-name-value"}}),
       {R().src({"a"}).regex("some-([^-]+)-([^,]+)").target("${1}").repl("${3}")},
       L({{"a", "some-name-value"}})},
      {"invalid expanded target is skipped",
       L({{"a", "some-name-0"}}),
       {R().src({"a"}).regex("some-([^-]+)-([^,]+)").target("${3}").repl("${1}"),
        R().src({"a"}).regex("some-([^-]+)(-[^,]+)").target("${2}").repl("${1}")},
       L({{"a", "some-name-0"}})},
      {"missing source label reads as empty and default regex matches it",
       L({{"a", "x"}}),
       {R().src({"missing"}).target("b").repl("set")},
       L({{"a", "x"}, {"b", "set"}})},
      {"no source labels: constant value",
       L({{"a", "x"}}),
       {R().target("env").repl("prod")},
       L({{"a", "x"}, {"env", "prod"}})},
      {"empty source value with default replacement removes the target",
       L({{"a", "x"}, {"b", "old"}}),
       {R().src({"missing"}).target("b")},
       L({{"a", "x"}})},
      {"custom separator",
       L({{"a", "1"}, {"b", "2"}}),
       {R().src({"a", "b"}).sep("--").target("c")},
       L({{"a", "1"}, {"b", "2"}, {"c", "1--2"}})},
      {"empty separator",
       L({{"a", "1"}, {"b", "2"}}),
       {R().src({"a", "b"}).sep("").target("c")},
       L({{"a", "1"}, {"b", "2"}, {"c", "12"}})},
      {"missing labels still contribute separators",
       L({{"b", "2"}}),
       {R().src({"a", "b", "c"}).target("d")},
       L({{"b", "2"}, {"d", ";2;"}})},
      {"overwrite existing label",
       L({{"a", "new"}, {"b", "old"}}),
       {R().src({"a"}).target("b")},
       L({{"a", "new"}, {"b", "new"}})},
      {"rewrite a label in place from its own value",
       L({{"a", "foo"}, {"z", "1"}}),
       {R().src({"a"}).regex("f(.*)").target("a").repl("x$1")},
       L({{"a", "xoo"}, {"z", "1"}})},
      {"lowercase in place",
       L({{"a", "FOO"}}),
       {R().src({"a"}).target("a").action(Action::kLowercase)},
       L({{"a", "foo"}})},
      {"dot does not match newline",
       L({{"a", "x\ny"}}),
       {R().src({"a"}).regex("x.y").target("b").repl("m")},
       L({{"a", "x\ny"}})},
      {"(?s) lets dot match newline",
       L({{"a", "x\ny"}}),
       {R().src({"a"}).regex("(?s)x.y").target("b").repl("m")},
       L({{"a", "x\ny"}, {"b", "m"}})},
      {"alternation inside the anchor group",
       L({{"a", "bar"}}),
       {R().src({"a"}).regex("foo|bar").target("b").repl("hit")},
       L({{"a", "bar"}, {"b", "hit"}})},
      {"real-life tags parsing",
       L({{"__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"}}),
       {R().src({"__meta_sd_tags"}).regex("(?:.+,|^)path:(/[^,]+).*").target("__metrics_path__").repl("${1}"),
        R().src({"__meta_sd_tags"}).regex("(?:.+,|^)job:([^,]+).*").target("job").repl("${1}"),
        R().src({"__meta_sd_tags"}).regex("(?:.+,|^)label:([^=]+)=([^,]+).*").target("${1}").repl("${2}")},
       L({{"__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"},
          {"__metrics_path__", "/secret"},
          {"job", "some-job"},
          {"foo", "bar"}})},
      {"many groups (more than the small buffer)",
       L({{"a", "abcdefghijklmnopqrst"}}),
       {R().src({"a"})
            .regex("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)(m)(n)(o)(p)(q)(r)(s)(t)")
            .target("b")
            .repl("$20${19}$1")},
       L({{"a", "abcdefghijklmnopqrst"}, {"b", "tsa"}})},
  });
}

TEST(Relabel, KeepDrop) {
  RunCases({
      {"drop on match",
       L({{"a", "foo"}, {"b", "bar"}}),
       {R().src({"a"}).regex(".*o.*").action(Action::kDrop)},
       std::nullopt},
      {"drop stops further rules",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex(".*o.*").action(Action::kDrop), R().src({"a"}).target("d")},
       std::nullopt},
      {"drop without match keeps",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("no-match").action(Action::kDrop)},
       L({{"a", "foo"}})},
      {"drop is anchored",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("f|o").action(Action::kDrop)},
       L({{"a", "foo"}})},
      {"keep without match drops",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("no-match").action(Action::kKeep)},
       std::nullopt},
      {"keep on match keeps",
       L({{"a", "foo"}}),
       {R().src({"a"}).regex("f.*").action(Action::kKeep)},
       L({{"a", "foo"}})},
      {"keep on joined values",
       L({{"a", "1"}, {"b", "2"}}),
       {R().src({"a", "b"}).regex("1;2").action(Action::kKeep)},
       L({{"a", "1"}, {"b", "2"}})},
      {"keep empty value matches an empty regex",
       L({{"a", "1"}}),
       {R().src({"missing"}).regex("").action(Action::kKeep)},
       L({{"a", "1"}})},
      {"drop with default regex drops everything",
       L({{"a", "1"}}),
       {R().src({"a"}).action(Action::kDrop)},
       std::nullopt},
      {"drop a metric by name",
       L({{"__name__", "go_gc_duration_seconds"}, {"job", "x"}}),
       {R().src({"__name__"}).regex("go_.*").action(Action::kDrop)},
       std::nullopt},
      {"case-insensitive flag",
       L({{"a", "FOO"}}),
       {R().src({"a"}).regex("(?i)foo").action(Action::kKeep)},
       L({{"a", "FOO"}})},
  });
}

TEST(Relabel, KeepEqualDropEqual) {
  Labels ports = L({{"__tmp_port", "1234"}, {"__port1", "1234"}, {"__port2", "5678"}});
  RunCases({
      {"keepequal equal keeps",
       ports,
       {R().src({"__tmp_port"}).target("__port1").action(Action::kKeepEqual)},
       ports},
      {"keepequal different drops",
       ports,
       {R().src({"__tmp_port"}).target("__port2").action(Action::kKeepEqual)},
       std::nullopt},
      {"dropequal equal drops",
       ports,
       {R().src({"__tmp_port"}).target("__port1").action(Action::kDropEqual)},
       std::nullopt},
      {"dropequal different keeps",
       ports,
       {R().src({"__tmp_port"}).target("__port2").action(Action::kDropEqual)},
       ports},
      {"keepequal: absent target equals empty source",
       L({{"a", "1"}}),
       {R().src({"missing"}).target("also_missing").action(Action::kKeepEqual)},
       L({{"a", "1"}})},
      {"keepequal joins sources",
       L({{"a", "1"}, {"b", "2"}, {"c", "1;2"}}),
       {R().src({"a", "b"}).target("c").action(Action::kKeepEqual)},
       L({{"a", "1"}, {"b", "2"}, {"c", "1;2"}})},
  });
}

TEST(Relabel, HashModMatchesIndependentMd5) {
  // Values Prometheus's own tests expect, then our independent computation.
  RunCases({
      {"prometheus value for baz",
       L({{"c", "baz"}}),
       {R().src({"c"}).target("d").mod(1000).action(Action::kHashMod)},
       L({{"c", "baz"}, {"d", "976"}})},
      {"prometheus value for foo\\nbar",
       L({{"a", "foo\nbar"}}),
       {R().src({"a"}).target("b").mod(1000).action(Action::kHashMod)},
       L({{"a", "foo\nbar"}, {"b", "734"}})},
  });
  struct H {
    Labels labels;
    std::vector<std::string> sources;
    std::string sep;
    uint64_t modulus;
    std::string joined;
  };
  std::vector<H> hs = {
      {L({{"a", "foo"}}), {"a"}, ";", 7, "foo"},
      {L({{"a", "foo"}, {"b", "bar"}}), {"a", "b"}, ";", 1000, "foo;bar"},
      {L({{"a", "foo"}, {"b", "bar"}}), {"b", "a"}, "/", 3, "bar/foo"},
      {L({{"a", "x"}}), {"missing"}, ";", 10, ""},
      {L({{"__address__", "10.0.0.1:9090"}}), {"__address__"}, ";", 1ULL << 40, "10.0.0.1:9090"},
      {L({{"a", "v"}}), {"a"}, ";", 1, "v"},
      {L({{"a", "v"}}), {"a"}, ";", UINT64_MAX, "v"},
  };
  for (const auto& h : hs) {
    SCOPED_TRACE(h.joined);
    auto rule =
        Compile(R().src(h.sources).sep(h.sep).target("shard").mod(h.modulus).action(Action::kHashMod).s);
    ASSERT_TRUE(rule.ok()) << rule.message();
    Labels labels = h.labels;
    ASSERT_TRUE(Process(labels, std::span<const Rule>(&rule.value(), 1)));
    EXPECT_EQ(model::Get(labels, "shard"), ExpectedHashMod(h.joined, h.modulus));
  }
}

TEST(Relabel, LabelMap) {
  RunCases({
      {"prefix copies",
       L({{"a", "foo"}, {"b1", "bar"}, {"b2", "baz"}}),
       {R().regex("(b.*)").repl("bar_${1}").action(Action::kLabelMap)},
       L({{"a", "foo"}, {"b1", "bar"}, {"b2", "baz"}, {"bar_b1", "bar"}, {"bar_b2", "baz"}})},
      {"strip meta prefix",
       L({{"a", "foo"}, {"__meta_my_bar", "aaa"}, {"__meta_my_baz", "bbb"}, {"__meta_other", "ccc"}}),
       {R().regex("__meta_(my.*)").repl("${1}").action(Action::kLabelMap)},
       L({{"a", "foo"},
          {"__meta_my_bar", "aaa"},
          {"__meta_my_baz", "bbb"},
          {"__meta_other", "ccc"},
          {"my_bar", "aaa"},
          {"my_baz", "bbb"}})},
      {"default replacement $1 with default regex maps every label onto itself",
       L({{"a", "1"}, {"b", "2"}}),
       {R().action(Action::kLabelMap)},
       L({{"a", "1"}, {"b", "2"}})},
      {"mapped labels are not mapped again in the same rule",
       L({{"x", "1"}}),
       {R().regex("(x+)").repl("${1}x").action(Action::kLabelMap)},
       L({{"x", "1"}, {"xx", "1"}})},
      {"mapping onto an existing label overwrites it",
       L({{"__meta_job", "new"}, {"job", "old"}}),
       {R().regex("__meta_(.*)").repl("$1").action(Action::kLabelMap)},
       L({{"__meta_job", "new"}, {"job", "new"}})},
      {"label mapped to an empty name is skipped",
       L({{"pre_", "1"}}),
       {R().regex("pre_(.*)").repl("$1").action(Action::kLabelMap)},
       L({{"pre_", "1"}})},
  });
}

TEST(Relabel, LabelDropKeep) {
  RunCases({
      {"labelkeep keeps matching names",
       L({{"a", "foo"}, {"b1", "bar"}, {"b2", "baz"}}),
       {R().regex("(b.*)").action(Action::kLabelKeep)},
       L({{"b1", "bar"}, {"b2", "baz"}})},
      {"labeldrop drops matching names",
       L({{"a", "foo"}, {"b1", "bar"}, {"b2", "baz"}}),
       {R().regex("(b.*)").action(Action::kLabelDrop)},
       L({{"a", "foo"}})},
      {"labeldrop is anchored",
       L({{"ab", "1"}, {"b", "2"}}),
       {R().regex("b").action(Action::kLabelDrop)},
       L({{"ab", "1"}})},
      {"labeldrop then replace recreates (prometheus issue 12283)",
       L({{"__meta_kubernetes_pod_container_port_name", "foo"},
          {"__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"}}),
       {R().regex("^__meta_kubernetes_pod_container_port_name$").action(Action::kLabelDrop),
        R().src({"__meta_kubernetes_pod_annotation_XXX_metrics_port"})
            .regex("(.+)")
            .target("__meta_kubernetes_pod_container_port_name")
            .repl("metrics"),
        R().src({"__meta_kubernetes_pod_container_port_name"}).regex("^metrics$").action(Action::kKeep)},
       L({{"__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"},
          {"__meta_kubernetes_pod_container_port_name", "metrics"}})},
      {"labelkeep with default regex keeps all",
       L({{"a", "1"}}),
       {R().action(Action::kLabelKeep)},
       L({{"a", "1"}})},
      {"labeldrop everything leaves an empty set",
       L({{"a", "1"}, {"b", "2"}}),
       {R().regex(".*").action(Action::kLabelDrop)},
       Labels{}},
  });
}

TEST(Relabel, LowercaseUppercase) {
  RunCases({
      {"ascii",
       L({{"foo", "bAr123Foo"}}),
       {R().src({"foo"}).target("foo_uppercase").action(Action::kUppercase),
        R().src({"foo"}).target("foo_lowercase").action(Action::kLowercase)},
       L({{"foo", "bAr123Foo"}, {"foo_lowercase", "bar123foo"}, {"foo_uppercase", "BAR123FOO"}})},
      {"latin-1, greek and cyrillic",
       L({{"a", "ÄÖÜé ΣΩ Жж"}}),
       {R().src({"a"}).target("lo").action(Action::kLowercase),
        R().src({"a"}).target("up").action(Action::kUppercase)},
       L({{"a", "ÄÖÜé ΣΩ Жж"}, {"lo", "äöüé σω жж"}, {"up", "ÄÖÜÉ ΣΩ ЖЖ"}})},
      {"latin extended-a pairs",
       L({{"a", "Łódź"}}),
       {R().src({"a"}).target("up").action(Action::kUppercase)},
       L({{"a", "Łódź"}, {"up", "ŁÓDŹ"}})},
      {"sharp s has no single-rune upper case",
       L({{"a", "straße"}}),
       {R().src({"a"}).target("up").action(Action::kUppercase)},
       L({{"a", "straße"}, {"up", "STRAßE"}})},
      {"invalid utf-8 becomes U+FFFD when not ascii",
       L({{"a", "A\xffÄ"}}),
       {R().src({"a"}).target("lo").action(Action::kLowercase)},
       L({{"a", "A\xffÄ"}, {"lo", "a\xEF\xBF\xBDä"}})},
      {"joined sources",
       L({{"a", "X"}, {"b", "Y"}}),
       {R().src({"a", "b"}).target("c").action(Action::kLowercase)},
       L({{"a", "X"}, {"b", "Y"}, {"c", "x;y"}})},
      {"empty value removes the target",
       L({{"a", "x"}, {"t", "old"}}),
       {R().src({"missing"}).target("t").action(Action::kUppercase)},
       L({{"a", "x"}})},
  });
}

TEST(Relabel, EmptyRulesKeepEverything) {
  Labels l = L({{"a", "1"}});
  EXPECT_TRUE(Process(l, {}));
  EXPECT_EQ(l, L({{"a", "1"}}));
}

TEST(Relabel, ParseAction) {
  EXPECT_EQ(ParseAction("replace"), Action::kReplace);
  EXPECT_EQ(ParseAction("HashMod"), Action::kHashMod);
  EXPECT_EQ(ParseAction("LABELDROP"), Action::kLabelDrop);
  EXPECT_EQ(ParseAction("keepequal"), Action::kKeepEqual);
  EXPECT_EQ(ParseAction("nope"), std::nullopt);
  EXPECT_EQ(ParseAction(""), std::nullopt);
  for (Action a : {Action::kReplace, Action::kKeep, Action::kDrop, Action::kKeepEqual, Action::kDropEqual,
                   Action::kHashMod, Action::kLabelMap, Action::kLabelDrop, Action::kLabelKeep,
                   Action::kLowercase, Action::kUppercase}) {
    EXPECT_EQ(ParseAction(ActionName(a)), a);
  }
}

struct BadCase {
  std::string name;
  R rule;
  std::string field;
  std::string message_part;
};

TEST(Relabel, CompileRejects) {
  std::vector<BadCase> cases = {
      {"replace without target", R(), "target_label", "requires target_label"},
      {"lowercase without target", R().action(Action::kLowercase), "target_label", "requires target_label"},
      {"uppercase without target", R().action(Action::kUppercase), "target_label", "requires target_label"},
      {"hashmod without target", R().mod(3).action(Action::kHashMod), "target_label",
       "requires target_label"},
      {"keepequal without target", R().src({"a"}).action(Action::kKeepEqual), "target_label",
       "requires target_label"},
      {"dropequal without target", R().src({"a"}).action(Action::kDropEqual), "target_label",
       "requires target_label"},
      {"hashmod zero modulus", R().target("t").action(Action::kHashMod), "modulus", "modulus greater than 0"},
      {"hashmod explicit zero", R().target("t").mod(0).action(Action::kHashMod), "modulus", "greater than 0"},
      {"hashmod templated target", R().target("${1}").mod(2).action(Action::kHashMod), "target_label",
       "not a valid target_label"},
      {"lowercase templated target", R().target("${3}").action(Action::kLowercase), "target_label",
       "\"${3}\" is not a valid target_label for action lowercase"},
      {"replace target starting with digit", R().target("0${3}"), "target_label", "\"0${3}\" is not a valid"},
      {"replace target with dash", R().target("-${3}"), "target_label", "\"-${3}\" is not a valid"},
      {"replace plain invalid target", R().target("a-b"), "target_label", "not a valid target_label"},
      {"replace lone dollar target", R().target("$"), "target_label", "not a valid"},
      {"replace empty braces", R().target("${}"), "target_label", "not a valid"},
      {"replace unterminated brace", R().target("foo${"), "target_label", "not a valid"},
      {"lowercase with replacement", R().target("t").repl("x").action(Action::kLowercase), "replacement",
       "replacement cannot be set"},
      {"keepequal with replacement", R().src({"a"}).target("t").repl("x").action(Action::kKeepEqual),
       "replacement", "cannot be set"},
      {"keepequal with regex", R().src({"a"}).target("t").regex("(.*)").action(Action::kKeepEqual), "regex",
       "takes only source_labels and target_label"},
      {"dropequal with separator", R().src({"a"}).target("t").sep(",").action(Action::kDropEqual),
       "separator", "takes only source_labels and target_label"},
      {"dropequal with modulus", R().src({"a"}).target("t").mod(2).action(Action::kDropEqual), "modulus",
       "takes only"},
      {"labelmap bad replacement", R().regex("(.*)").repl("a-$1").action(Action::kLabelMap), "replacement",
       "not a valid replacement for action labelmap"},
      {"labeldrop with source labels", R().src({"a"}).regex("x").action(Action::kLabelDrop), "source_labels",
       "takes only regex"},
      {"labeldrop with empty source list", R().src({}).regex("x").action(Action::kLabelDrop), "source_labels",
       "takes only regex"},
      {"labelkeep with target", R().target("t").regex("x").action(Action::kLabelKeep), "target_label",
       "takes only regex"},
      {"labelkeep with replacement", R().repl("y").action(Action::kLabelKeep), "replacement",
       "takes only regex"},
      {"labelkeep with separator", R().sep(",").action(Action::kLabelKeep), "separator", "takes only regex"},
      {"labeldrop with modulus", R().mod(3).action(Action::kLabelDrop), "modulus", "takes only regex"},
      {"bad regex", R().src({"a"}).regex("(unclosed").action(Action::kKeep), "regex",
       "does not compile as RE2"},
      {"lookahead is not RE2", R().src({"a"}).regex("(?=x)").action(Action::kDrop), "regex", "RE2"},
      {"backreference is not RE2", R().src({"a"}).regex(R"((a)\1)").target("b"), "regex", "RE2"},
      {"bad source label name", R().src({"a-b"}).target("c"), "source_labels",
       "\"a-b\" is not a valid label name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Rule rule;
    auto err = Compile(c.rule.s, rule);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->field, c.field);
    EXPECT_NE(err->message.find(c.message_part), std::string::npos) << err->message;
    auto result = Compile(c.rule.s);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.message(), err->message);
  }
}

TEST(Relabel, CompileAccepts) {
  // Target label templates Prometheus accepts (TestTargetLabelValidity).
  for (std::string t :
       {"label", "label${1}", "${1}label", "${1}", "$1", "asd$2asd", "_${1}_", "foo${bar}foo"}) {
    SCOPED_TRACE(t);
    auto rule = Compile(R().src({"a"}).target(t).s);
    EXPECT_TRUE(rule.ok()) << rule.message();
  }
  EXPECT_TRUE(Compile(R().src({"a"}).target("${3}").regex("some-([^-]+)-([^,]+)").repl("${1}").s).ok());
  EXPECT_TRUE(Compile(R().src({"a"}).target("t").sep(";").action(Action::kKeepEqual).s).ok());
  EXPECT_TRUE(Compile(R().regex("x").action(Action::kLabelDrop).s).ok());
  EXPECT_TRUE(Compile(R().src({"a"}).regex("").action(Action::kKeep).s).ok());
}

TEST(Relabel, RuleEqualityFollowsSpec) {
  auto a = Compile(R().src({"a"}).target("b").s);
  auto b = Compile(R().src({"a"}).target("b").s);
  auto c = Compile(R().src({"a"}).target("c").s);
  auto d = Compile(R().src({"a"}).target("b").regex("(.*)").s);  // explicit default is still a different spec
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_FALSE(*a == *c);
  EXPECT_FALSE(*a == *d);
  EXPECT_EQ(a->spec().target_label, "b");
  EXPECT_EQ(a->action(), Action::kReplace);
}

}  // namespace
}  // namespace promsidecar::relabel
