#include "net/http.h"

#include <gtest/gtest.h>

namespace coffer::net {
namespace {

HttpRequest WithTarget(std::string target) {
  HttpRequest r;
  r.target = std::move(target);
  return r;
}

TEST(HttpRequestTest, PathAndQueryOfAnOriginFormTarget) {
  EXPECT_EQ(WithTarget("/a%20b/c?x=1&y").Path(), "/a%20b/c");
  EXPECT_EQ(WithTarget("/a%20b/c?x=1&y").Query(), "x=1&y");
  EXPECT_EQ(WithTarget("/").Path(), "/");
  EXPECT_EQ(WithTarget("/").Query(), "");
  // A path segment that merely contains "://" is a path.
  EXPECT_EQ(WithTarget("/ftp://x/y").Path(), "/ftp://x/y");
}

TEST(HttpRequestTest, AbsoluteFormTargetsHaveThePathAfterTheAuthority) {
  // RFC 9112 §3.2.2: a server MUST accept the absolute-form.
  EXPECT_EQ(WithTarget("http://127.0.0.1:7878/").Path(), "/");
  EXPECT_EQ(WithTarget("HTTPS://kms.example/a/b?Action=x").Path(), "/a/b");
  EXPECT_EQ(WithTarget("HTTPS://kms.example/a/b?Action=x").Query(), "Action=x");
  EXPECT_EQ(WithTarget("http://127.0.0.1:7878").Path(), "/");
  EXPECT_EQ(WithTarget("http://127.0.0.1:7878?a=b").Path(), "/");
  EXPECT_EQ(WithTarget("http://127.0.0.1:7878?a=b").Query(), "a=b");
  // Another scheme is not an absolute-form this server serves: left as it is.
  EXPECT_EQ(WithTarget("ftp://host/x").Path(), "ftp://host/x");
}

}  // namespace
}  // namespace coffer::net
