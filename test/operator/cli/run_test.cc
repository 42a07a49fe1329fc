// `promsidecar-operator run`'s flag checks, in-process: each fails before the
// operator loads a kubeconfig, so no cluster is needed.
#include "operator/cli/run.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace promsidecar::cli {
namespace {

struct RunResult {
  int code;
  std::string err;
};

RunResult RunOperator(std::vector<std::string> args) {
  args.insert(args.begin(), "run");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  int code = RunCommand(static_cast<int>(argv.size()), argv.data(), out, err, "v9.8.7-test");
  return {code, err.str()};
}

// A bad webhook flag names itself and what it accepts, and exits 2 (bad flags).
TEST(RunFlags, BadWebhookFlagsNameTheFlagAndTheAllowedValues) {
  struct Case {
    std::string flag;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"--webhook.failure-policy=Never", "use Ignore or Fail"},
      {"--webhook.failure-policy=ignore", "use Ignore or Fail"},
      {"--webhook.timeout-seconds=0", "1 to 30"},
      {"--webhook.timeout-seconds=31", "1 to 30"},
      {"--webhook.exclude-namespaces=batch,Team_A", "\"Team_A\" is not a namespace name"},
      {"--webhook.request-deadline=0s", "is not positive"},
      {"--webhook.request-deadline=soon", "use a duration such as 10s"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.flag);
    RunResult r = RunOperator({"--kubeconfig=/nonexistent/kubeconfig", c.flag});
    EXPECT_EQ(r.code, 2) << r.err;
    const std::string name = c.flag.substr(0, c.flag.find('='));
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.want), std::string::npos) << r.err;
  }
}

// Good values pass the flag checks: the run then stops at the kubeconfig (1).
TEST(RunFlags, GoodWebhookFlagsReachTheKubeconfig) {
  for (const char* flag : {"--webhook.failure-policy=Fail", "--webhook.timeout-seconds=30",
                           "--webhook.exclude-namespaces=a,b", "--webhook.request-deadline=2s"}) {
    SCOPED_TRACE(flag);
    EXPECT_EQ(RunOperator({"--kubeconfig=/nonexistent/kubeconfig", flag}).code, 1);
  }
}

}  // namespace
}  // namespace promsidecar::cli
