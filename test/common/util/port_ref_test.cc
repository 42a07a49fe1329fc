#include "common/util/port_ref.h"

#include <gtest/gtest.h>

namespace promsidecar::ports {
namespace {

TEST(SplitPortList, TrimsAndDropsEmptyParts) {
  EXPECT_EQ(SplitPortList(" 8080, http-metrics,,\t9090 ,"),
            (std::vector<std::string>{"8080", "http-metrics", "9090"}));
  EXPECT_TRUE(SplitPortList("").empty());
  EXPECT_TRUE(SplitPortList(" , ").empty());
}

TEST(NamedPorts, FormatAndParseRoundTripAndDropMalformedEntries) {
  const std::vector<NamedPort> ports{{"http", 8080}, {"grpc", 9090}, {"http", 8081}};
  EXPECT_EQ(FormatNamedPorts(ports), "http=8080,grpc=9090,http=8081");
  EXPECT_EQ(ParseNamedPorts(FormatNamedPorts(ports)), ports);
  EXPECT_EQ(ParseNamedPorts("a=1,b,=2,c=0,d=65536,e=x, f = 443 "),
            (std::vector<NamedPort>{{"a", 1}, {"f", 443}}));
  EXPECT_EQ(FormatNamedPorts({}), "");
}

TEST(ShowPart, QuotesAndCutsLongValues) {
  EXPECT_EQ(ShowPart("http"), "\"http\"");
  EXPECT_EQ(ShowPart(std::string(64, 'a')), "\"" + std::string(64, 'a') + "\"");
  EXPECT_EQ(ShowPart(std::string(1000, 'a')), "\"" + std::string(64, 'a') + "...\"");
}

struct ResolveCase {
  std::string part;
  std::vector<NamedPort> named;
  int want_port;
  PortError want_error;
  std::string problem_substr;
};

TEST(Resolve, Table) {
  const std::vector<NamedPort> pod{{"http", 8080}, {"http-metrics", 9102}, {"admin", 9000}};
  const ResolveCase cases[] = {
      {"8080", pod, 8080, PortError::kNone, ""},
      {"1", {}, 1, PortError::kNone, ""},
      {"65535", {}, 65535, PortError::kNone, ""},
      {"0", pod, 0, PortError::kBadNumber, "not a port (1-65535)"},
      {"70000", pod, 0, PortError::kBadNumber, "not a port (1-65535)"},
      {"-1", pod, 0, PortError::kBadNumber, "not a port (1-65535)"},
      {"http-metrics", pod, 9102, PortError::kNone, ""},
      {"admin", pod, 9000, PortError::kNone, ""},
      // Matched whole and case-sensitively, as Kubernetes compares names.
      {"http-metric", pod, 0, PortError::kUnknownName, "they declare: http http-metrics admin"},
      {"HTTP", pod, 0, PortError::kUnknownName, "nor a port name"},
      {"metrics", {}, 0, PortError::kUnknownName, "declare no named ports"},
      // The same name in two containers: fine when they agree, ambiguous otherwise.
      {"http", {{"http", 8080}, {"http", 8080}}, 8080, PortError::kNone, ""},
      {"http",
       {{"http", 8080}, {"web", 80}, {"http", 8081}},
       0,
       PortError::kAmbiguousName,
       "as 8080 and 8081"},
      {"http", {{"http", 1}, {"http", 2}, {"http", 3}}, 0, PortError::kAmbiguousName, "as 1, 2 and 3"},
  };
  for (const ResolveCase& c : cases) {
    PortRef r = Resolve(c.part, c.named);
    EXPECT_EQ(r.error, c.want_error) << c.part;
    EXPECT_EQ(r.port, c.want_port) << c.part;
    if (c.want_error == PortError::kNone) {
      EXPECT_TRUE(r.problem.empty()) << c.part << ": " << r.problem;
    } else {
      EXPECT_NE(r.problem.find(c.problem_substr), std::string::npos) << c.part << ": " << r.problem;
    }
  }
}

}  // namespace
}  // namespace promsidecar::ports
