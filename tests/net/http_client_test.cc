// net::HttpClient's wire behaviour that the object store relies on. The
// transport's other behaviours (errors, timeouts, limits) are tested with the
// command line's signed clients in tests/cli/http_client_test.cc.
#include "net/http_client.h"

#include <gtest/gtest.h>

#include "cli/test_http_server.h"

namespace coffer::net {
namespace {

TEST(HttpClientTest, SendsTheTargetAsGivenWithDotSegments) {
  testing::TestHttpServer server;
  HttpClientOptions options;
  options.proxy_from_environment = false;
  auto client = HttpClient::Create(options);
  ASSERT_TRUE(client.ok());
  auto endpoint = Endpoint::Parse(server.url());
  ASSERT_TRUE(endpoint.ok());
  for (const char* target : {"/bucket/a/../b", "/bucket/./x", "/bucket//y/", "/bucket/%2E%2E"}) {
    net::HttpRequest request{"GET", target, {{"Host", endpoint->HostHeader()}}, ""};
    auto response = (*client)->Send(*endpoint, request);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
  }
  auto received = server.requests();
  ASSERT_EQ(received.size(), 4u);
  EXPECT_EQ(received[0].target, "/bucket/a/../b");
  EXPECT_EQ(received[1].target, "/bucket/./x");
  EXPECT_EQ(received[2].target, "/bucket//y/");
  EXPECT_EQ(received[3].target, "/bucket/%2E%2E");
}

TEST(HttpClientTest, SendsABodyWithPut) {
  testing::TestHttpServer server;
  HttpClientOptions options;
  options.proxy_from_environment = false;
  auto client = HttpClient::Create(options);
  ASSERT_TRUE(client.ok());
  auto endpoint = Endpoint::Parse(server.url());
  ASSERT_TRUE(endpoint.ok());
  std::string body(3 << 20, 'b');
  body[0] = '\0';
  net::HttpRequest request{"PUT", "/b/k", {{"Host", endpoint->HostHeader()}}, body};
  auto response = (*client)->Send(*endpoint, request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  auto received = server.requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, "PUT");
  EXPECT_TRUE(received[0].body == body);
  EXPECT_FALSE(received[0].Header("Expect").has_value());
}

}  // namespace
}  // namespace coffer::net
