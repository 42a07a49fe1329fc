#include "common/util/result.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>

namespace promsidecar {
namespace {

// A typed error as a component would define one: callers branch on `code`,
// and ErrorMessage (found by ADL) gives the sentence.
namespace typed {
struct CodeError {
  int code = 0;
};
std::string ErrorMessage(const CodeError& e) {
  return "code " + std::to_string(e.code);
}
}  // namespace typed

TEST(Result, HoldsAValueOrAnError) {
  Result<int> ok = 7;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 7);
  Result<int> failed = MakeError("Agent a/b: spec.x is invalid; set it to y");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.message(), "Agent a/b: spec.x is invalid; set it to y");
  static_assert(std::is_same_v<decltype(failed.message()), const std::string&>, "no copy for Error");

  Status done;
  EXPECT_TRUE(done.ok());
  Status not_done = MakeError("x");
  EXPECT_EQ(not_done.message(), "x");
}

TEST(Result, CarriesATypedErrorForCallersToBranchOn) {
  Result<std::string, typed::CodeError> found = std::string("body");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found.value(), "body");
  Result<std::string, typed::CodeError> missing = typed::CodeError{404};
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, 404);
  EXPECT_EQ(missing.message(), "code 404");

  Result<void, typed::CodeError> watch_ended = typed::CodeError{410};
  EXPECT_EQ(watch_ended.error().code, 410);
  EXPECT_EQ(watch_ended.message(), "code 410");
  EXPECT_TRUE((Result<void, typed::CodeError>{}.ok()));
}

}  // namespace
}  // namespace promsidecar
