#include "common/http/url.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace promsidecar::http {
namespace {

TEST(RedactUrl, Table) {
  struct Case {
    std::string url, want;
  };
  for (const Case& c : {
           // Kept as is: nothing to hide.
           Case{"", ""}, Case{"http://host", "http://host"},
           Case{"https://metrics.example.com:8443/api/v1/write",
                "https://metrics.example.com:8443/api/v1/write"},
           Case{"http://[::1]:9090/api/v1/write", "http://[::1]:9090/api/v1/write"},
           Case{"http://[fe80::1%25eth0]/w", "http://[fe80::1%25eth0]/w"},
           Case{"host:9090/metrics", "host:9090/metrics"},  // no scheme
           Case{"//host/w", "//host/w"}, Case{"https://host/a:b/c?d", "https://host/a:b/c?<redacted>"},
           Case{"host/p?next=http://x", "host/p?<redacted>"},  // "://" in the query
           // Userinfo: replaced by the marker.
           Case{"https://user:pass@host:8443/w", "https://<redacted>@host:8443/w"},
           Case{"https://user@host/w", "https://<redacted>@host/w"},
           Case{"https://u:p@ss@host/w", "https://<redacted>@host/w"},  // '@' inside the password
           Case{"http://u:p@[::1]:9090/w", "http://<redacted>@[::1]:9090/w"},
           Case{"user:pass@host/p", "<redacted>@host/p"},  // no scheme
           Case{"//user:pass@host/p", "//<redacted>@host/p"},
           // Query: names and values, one marker; fragments dropped.
           Case{"https://host/w?api_key=secret", "https://host/w?<redacted>"},
           Case{"https://host?secret", "https://host?<redacted>"},
           Case{"https://host/w?a=1&api_key=secret#frag", "https://host/w?<redacted>"},
           Case{"https://host/w?", "https://host/w"}, Case{"https://host/w#secret", "https://host/w"},
           Case{"https://host/w#x?api_key=secret", "https://host/w"},
           Case{"https://user:pass@[2001:db8::1]:443/w?api_key=secret",
                "https://<redacted>@[2001:db8::1]:443/w?<redacted>"},
           Case{"host/w?api_key=secret", "host/w?<redacted>"},
           // Not a URL: the secret could be anywhere, nothing is echoed.
           // An '@' after the authority: it may end a password holding '/', '?' or '#'.
           Case{"https://user:pa/ss@host/w", "<redacted>"}, Case{"https://user:pa?ss@host/w", "<redacted>"},
           Case{"https://user:pa#ss@host/w", "<redacted>"},
           Case{"https://host/p@x", "<redacted>"},  // also a legal path: redacted all the same
           Case{"https://host?u=a@b", "<redacted>"},
           Case{"https:/user:pass@host/w", "<redacted>"},  // one slash: the '@' lands in the path
           Case{"https//user:pass@host/w", "<redacted>"},  // no colon
           Case{"curl -u user:pass https://host/w", "<redacted>"},
           Case{"https://host/w password=secret", "<redacted>"},  // space
           Case{"https://host/w\nsecret", "<redacted>"}, Case{"https:\\\\user:pass@host", "<redacted>"},
           Case{"1http://user:pass@host", "<redacted>"},  // invalid scheme
           Case{"\"https://host/w\"", "<redacted>"},
           Case{"https://h\xc3\xa9st/w", "<redacted>"},  // non-ASCII
       }) {
    const std::string got = RedactUrl(c.url);
    EXPECT_EQ(got, c.want) << c.url;
    for (const char* secret : {"secret", "pass", "frag", "ss@"})
      EXPECT_EQ(got.find(secret), std::string::npos) << c.url;
    EXPECT_EQ(RedactUrl(got), got) << c.url << ": not idempotent";
  }
}

// Every combination of the parts where a credential can hide, well-formed or
// not: no SECRET survives, and redacting again changes nothing.
TEST(RedactUrl, NoCombinationLeaks) {
  const std::vector<std::string> schemes = {"https://", "http:/", "https//",    "",
                                            "//",       "1x://",  "svn+ssh://", "h ttp://"};
  const std::vector<std::string> userinfos = {"",           "u:SECRET@",  "SECRET@",    "u:p@SECRET@",
                                              "u:SE/CRET@", "u:SE?CRET@", "u:SE#CRET@", "u:SE CRET@"};
  const std::vector<std::string> hosts = {"h", "h:80", "[::1]", "[fe80::1%25e]:9", ""};
  const std::vector<std::string> paths = {"", "/", "/p/q", "/p:q", "/<redacted>"};
  const std::vector<std::string> queries = {"", "?", "?SECRET", "?k=SECRET&x=1", "?next=https://u:SECRET@x"};
  const std::vector<std::string> fragments = {"", "#SECRET", "#?SECRET", "#@SECRET"};
  for (const auto& sc : schemes)
    for (const auto& ui : userinfos)
      for (const auto& h : hosts)
        for (const auto& p : paths)
          for (const auto& q : queries)
            for (const auto& f : fragments) {
              const std::string url = sc + ui + h + p + q + f;
              const std::string got = RedactUrl(url);
              // "SE" alone would be the start of a split secret ("SE/CRET").
              ASSERT_EQ(got.find("SE"), std::string::npos) << url << " -> " << got;
              ASSERT_EQ(got.find("CRET"), std::string::npos) << url << " -> " << got;
              ASSERT_EQ(RedactUrl(got), got) << url;
            }
}

TEST(IsUrlScheme, Table) {
  for (const char* ok : {"http", "https", "socks5", "svn+ssh", "a.b-c"}) EXPECT_TRUE(IsUrlScheme(ok)) << ok;
  for (const char* bad : {"", "1http", "+x", "ht tp", "curl -u user:pass https", "http:"}) {
    EXPECT_FALSE(IsUrlScheme(bad)) << bad;
  }
}

}  // namespace
}  // namespace promsidecar::http
