#include "common/util/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace promsidecar {
namespace {

TEST(Fnv1a64, MatchesReferenceVectors) {
  // From the FNV reference test suite (http://www.isthe.com/chongo/tech/comp/fnv/).
  struct Case {
    std::string in;
    uint64_t want;
  };
  for (const Case& c :
       {Case{"", 0xcbf29ce484222325ULL}, Case{"a", 0xaf63dc4c8601ec8cULL}, Case{"b", 0xaf63df4c8601f1a5ULL},
        Case{"foo", 0xdcb27518fed9d577ULL}, Case{"foobar", 0x85944171f73967e8ULL}}) {
    EXPECT_EQ(HashFnv1a64(c.in), c.want) << c.in;
  }
  static_assert(HashFnv1a64("a") == 0xaf63dc4c8601ec8cULL, "usable at compile time");
}

TEST(Fnv1a64, IncrementalEqualsOneShot) {
  Fnv1a64 h;
  h.Add("foo");
  h.AddByte('b');
  h.Add("ar");
  EXPECT_EQ(h.value(), HashFnv1a64("foobar"));
}

TEST(Fnv1a64, FieldsAreTerminatedSoBoundariesCount) {
  auto fields = [](std::string_view a, std::string_view b) {
    Fnv1a64 h;
    h.AddField(a);
    h.AddField(b);
    return h.value();
  };
  EXPECT_EQ(fields("ab", "c"), HashFnv1a64("ab\xff"
                                           "c\xff"));
  EXPECT_NE(fields("ab", "c"), fields("a", "bc"));
  EXPECT_NE(fields("", "x"), fields("x", ""));
}

TEST(Fnv1a64, WordsAreFedLeastSignificantByteFirst) {
  Fnv1a64 h(HashFnv1a64("x"));  // continuing from an earlier value
  h.AddWord(0x0102030405060708ULL);
  EXPECT_EQ(h.value(), HashFnv1a64(std::string("x\x08\x07\x06\x05\x04\x03\x02\x01", 9)));
}

// These values are in clusters (annotations, volume names, Event names):
// they must never change. See kLegacyTruncatedFnv1a64Basis.
TEST(LegacyTruncatedFnv1a64, KeepsTheValuesAlreadyStored) {
  struct Case {
    std::string in, want;
  };
  for (const Case& c :
       {Case{"", "14650fb0739d0383"}, Case{"a", "44bd8ad473cd9906"}, Case{"foobar", "88fad7c0a8ff07f2"},
        Case{"tenant-b", "9985a96bb7611c90"}, Case{"https://kubernetes.default.svc", "4f5f778227a5f273"}}) {
    EXPECT_EQ(HashHex(LegacyTruncatedFnv1a64(c.in)), c.want) << c.in;
  }
  EXPECT_NE(LegacyTruncatedFnv1a64("a"), HashFnv1a64("a")) << "not FNV-1a: the basis lost a digit";
}

TEST(HashHex, SixteenLowercaseDigitsZeroPadded) {
  EXPECT_EQ(HashHex(0), "0000000000000000");
  EXPECT_EQ(HashHex(0xabcULL), "0000000000000abc");
  EXPECT_EQ(HashHex(0xcbf29ce484222325ULL), "cbf29ce484222325");
  EXPECT_EQ(HashHex(~0ULL), "ffffffffffffffff");
}

}  // namespace
}  // namespace promsidecar
