#include "common/util/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace promsidecar {
namespace {

struct Case {
  const char* name;
  std::string in;
  bool valid;
};

const Case kCases[] = {
    {"empty", "", true},
    {"ascii", "hello", true},
    {"two_bytes", "h\xc3\xa9llo", true},
    {"three_bytes", "\xe2\x82\xac", true},
    {"four_bytes", "\xf0\x9f\x98\x80", true},
    {"smallest_two_byte", "\xc2\x80", true},
    {"smallest_three_byte", "\xe0\xa0\x80", true},
    {"smallest_four_byte", "\xf0\x90\x80\x80", true},
    {"last_before_surrogates", "\xed\x9f\xbf", true},
    {"first_after_surrogates", "\xee\x80\x80", true},
    {"max_code_point", "\xf4\x8f\xbf\xbf", true},
    {"replacement_character", "\xef\xbf\xbd", true},
    // Overlong forms: a shorter encoding exists.
    {"overlong_slash_2", "\xc0\xaf", false},
    {"overlong_c1", "\xc1\xbf", false},
    {"overlong_slash_3", "\xe0\x80\xaf", false},
    {"overlong_3_max", "\xe0\x9f\xbf", false},
    {"overlong_slash_4", "\xf0\x80\x80\xaf", false},
    {"overlong_4_max", "\xf0\x8f\xbf\xbf", false},
    // UTF-16 surrogates are not characters.
    {"high_surrogate", "\xed\xa0\x80", false},
    {"low_surrogate", "\xed\xbf\xbf", false},
    {"surrogate_pair", "\xed\xa0\xbd\xed\xb8\x80", false},
    // Beyond U+10FFFF.
    {"above_max", "\xf4\x90\x80\x80", false},
    {"lead_f5", "\xf5\x80\x80\x80", false},
    {"lead_ff", "\xff", false},
    {"lead_fe", "\xfe", false},
    // Truncated sequences and stray continuation bytes.
    {"truncated_2", "\xc3", false},
    {"truncated_3", "\xe2\x82", false},
    {"truncated_4", "\xf0\x9f\x98", false},
    {"truncated_before_ascii",
     "\xe2\x82"
     "a",
     false},
    {"lone_continuation", "\x80", false},
    {"continuation_after_ascii", "a\xbf", false},
    {"two_byte_then_extra_continuation", "\xc3\xa9\xa9", false},
};

TEST(Utf8, ValidatesClassicCases) {
  for (const Case& c : kCases) {
    EXPECT_EQ(IsValidUtf8(c.in), c.valid) << c.name;
  }
}

// The ASCII fast paths step 32 and 8 bytes at a time: a bad byte must be
// found at every offset, before, inside and after those steps.
TEST(Utf8, FindsABadSequenceAtEveryOffset) {
  for (const Case& c : kCases) {
    for (size_t before = 0; before <= 70; ++before) {
      for (size_t after : {0, 1, 7, 40}) {
        std::string s = std::string(before, 'x') + c.in + std::string(after, 'y');
        EXPECT_EQ(IsValidUtf8(s), c.valid) << c.name << " after " << before << " bytes, before " << after;
      }
    }
  }
}

// Decoding agrees with validation: a string is valid exactly when it decodes
// without an error (U+FFFD of width 1), for every one- and two-byte string
// and every three- and four-byte lead with each second byte.
TEST(Utf8, DecodeAgreesWithValidation) {
  auto decodes = [](std::string_view s) {
    while (!s.empty()) {
      size_t width = 0;
      char32_t r = DecodeUtf8(s, width);
      if (r == 0xFFFD && width == 1) return false;
      s.remove_prefix(width);
    }
    return true;
  };
  for (int a = 0; a < 256; ++a) {
    std::string one(1, static_cast<char>(a));
    ASSERT_EQ(IsValidUtf8(one), decodes(one)) << a;
    for (int b = 0; b < 256; ++b) {
      std::string two = one + static_cast<char>(b);
      ASSERT_EQ(IsValidUtf8(two), decodes(two)) << a << " " << b;
      if (a >= 0xe0) {
        std::string longer = two + "\x80\x80";
        ASSERT_EQ(IsValidUtf8(longer.substr(0, 3)), decodes(longer.substr(0, 3))) << a << " " << b;
        ASSERT_EQ(IsValidUtf8(longer), decodes(longer)) << a << " " << b;
      }
    }
  }
}

TEST(Utf8, DecodesCodePointsAndWidths) {
  struct DecodeCase {
    std::string in;
    char32_t want;
    size_t width;
  };
  for (const DecodeCase& c :
       {DecodeCase{"a", U'a', 1}, DecodeCase{"\xc3\xa9", 0xe9, 2}, DecodeCase{"\xe2\x82\xac", 0x20ac, 3},
        DecodeCase{"\xf4\x8f\xbf\xbf", 0x10ffff, 4}, DecodeCase{"\xef\xbf\xbd", 0xfffd, 3},
        DecodeCase{"\xc0\xaf", 0xfffd, 1}, DecodeCase{"\xed\xa0\x80", 0xfffd, 1},
        DecodeCase{"\xe2\x82", 0xfffd, 1}}) {
    size_t width = 0;
    EXPECT_EQ(DecodeUtf8(c.in, width), c.want) << c.in;
    EXPECT_EQ(width, c.width) << c.in;
  }
}

TEST(Utf8, EncodesWhatItDecodes) {
  for (char32_t cp :
       {U'\0', U'a', char32_t{0x7f}, char32_t{0x80}, char32_t{0x7ff}, char32_t{0x800}, char32_t{0xd7ff},
        char32_t{0xe000}, char32_t{0xfffd}, char32_t{0x10000}, char32_t{0x10ffff}}) {
    std::string s;
    AppendUtf8(s, cp);
    EXPECT_TRUE(IsValidUtf8(s)) << static_cast<uint32_t>(cp);
    size_t width = 0;
    EXPECT_EQ(DecodeUtf8(s, width), cp);
    EXPECT_EQ(width, s.size());
  }
}

}  // namespace
}  // namespace promsidecar
