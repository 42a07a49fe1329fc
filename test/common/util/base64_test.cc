#include "common/util/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace promsidecar {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  struct Case {
    std::string in, want;
  };
  for (const Case& c :
       {Case{"", ""}, Case{"f", "Zg=="}, Case{"fo", "Zm8="}, Case{"foo", "Zm9v"}, Case{"foob", "Zm9vYg=="},
        Case{"fooba", "Zm9vYmE="}, Case{"foobar", "Zm9vYmFy"}, Case{std::string("\0\xff\xfe", 3), "AP/+"}}) {
    EXPECT_EQ(EncodeBase64(c.in), c.want) << c.in;
  }
}

TEST(Base64, DecodesPaddedUnpaddedAndWrappedText) {
  struct Case {
    std::string in, want;
  };
  for (const Case& c : {Case{"", ""}, Case{"Q0EtUEVN", "CA-PEM"}, Case{"S0VZLVBFTQ==", "KEY-PEM"},
                        Case{"S0VZLVBFTQ", "KEY-PEM"}, Case{"S0VZ\nLVBF TQ==", "KEY-PEM"},
                        Case{"\tZm9v\r\n", "foo"}, Case{"AP/+", std::string("\0\xff\xfe", 3)}}) {
    auto got = DecodeBase64(c.in);
    ASSERT_TRUE(got.ok()) << c.in << ": " << got.message();
    EXPECT_EQ(*got, c.want) << c.in;
  }
}

TEST(Base64, RejectsWhatIsNotBase64SayingHowToFixIt) {
  for (const std::string in : {"S0V*", "S", "S0==VZ", "Zm9v===", "Zm9v-_", "Zg=\x01"}) {
    auto got = DecodeBase64(in);
    ASSERT_FALSE(got.ok()) << in;
    EXPECT_NE(got.message().find("re-encode the value"), std::string::npos) << got.message();
  }
}

TEST(Base64, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    const std::string in = all.substr(0, n);
    auto back = DecodeBase64(EncodeBase64(in));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, in);
  }
}

}  // namespace
}  // namespace promsidecar
