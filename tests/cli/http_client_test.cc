#include "cli/http_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/aws_client.h"
#include "cli/sigv4_check.h"
#include "cli/test_http_server.h"

namespace coffer::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A fixed signing time: the verifier is given the same "now".
const TimePoint kNow = FromEpochMillis(1764497396000);  // 2025-11-30T10:09:56Z

net::sigv4::Credentials Creds(std::string token = "") {
  return {"AKIDEXAMPLE", crypto::SecretBytes(std::string_view("secret")), std::move(token)};
}

std::unique_ptr<HttpClient> MakeClient(HttpClientOptions options = {}) {
  options.proxy_from_environment = false;  // hermetic
  auto client = HttpClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::move(client).value();
}

Endpoint MustParse(std::string_view url) {
  auto e = Endpoint::Parse(url);
  EXPECT_TRUE(e.ok()) << url;
  return std::move(e).value();
}

// A port on 127.0.0.1 that nothing listens on.
int UnusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------------------
// Endpoint URLs.

TEST(EndpointTest, ParsesHttpAndHttpsUrls) {
  Endpoint e = MustParse("http://127.0.0.1:7878");
  EXPECT_EQ(e.scheme, "http");
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 7878);
  EXPECT_EQ(e.path, "/");
  EXPECT_EQ(e.HostHeader(), "127.0.0.1:7878");
  EXPECT_EQ(e.UrlFor("/"), "http://127.0.0.1:7878/");

  e = MustParse("HTTPS://KMS.Example.com/prefix");
  EXPECT_EQ(e.scheme, "https");
  EXPECT_EQ(e.host, "kms.example.com");
  EXPECT_EQ(e.port, 443);
  EXPECT_EQ(e.path, "/prefix");
  EXPECT_EQ(e.HostHeader(), "kms.example.com");  // default port left out, as botocore

  e = MustParse("http://[::1]:8080/");
  EXPECT_EQ(e.host, "[::1]");
  EXPECT_EQ(e.HostHeader(), "[::1]:8080");
  EXPECT_EQ(MustParse("http://h:80").HostHeader(), "h");
  EXPECT_EQ(MustParse("https://h:80").HostHeader(), "h:80");
}

TEST(EndpointTest, RefusesWhatIsNoEndpoint) {
  for (std::string_view url :
       {"127.0.0.1:7878", "ftp://h", "http://", "http://:80", "http://h:", "http://h:0",
        "http://h:65536", "http://h:8x", "http://user@h", "http://h/?q=1", "http://h/#f",
        "http://h h", "http://[::1", "http://[]:1", "http://h/a b"}) {
    auto e = Endpoint::Parse(url);
    ASSERT_FALSE(e.ok()) << url;
    EXPECT_EQ(e.status().error_name(), kInvalidEndpoint);
    EXPECT_EQ(e.status().message(), "Invalid endpoint: " + std::string(url));
  }
}

// ---------------------------------------------------------------------------
// The transport against a real socket.

TEST(HttpClientTest, SendsExactlyTheRequestAndReturnsTheResponse) {
  testing::TestHttpServer server;
  server.set_handler([](const net::HttpRequest&) {
    return net::HttpResponse{201, {{"X-Answer", " yes "}}, std::string("body\0bytes", 10)};
  });
  auto client = MakeClient();
  Endpoint endpoint = MustParse(server.url());
  net::HttpRequest request;
  request.method = "POST";
  request.target = "/path?a=1";
  request.headers = {{"Host", endpoint.HostHeader()}, {"X-Custom", "v"}, {"X-Empty", ""}};
  request.body = std::string(200000, 'x') + std::string("\0end", 4);
  auto response = client->Send(endpoint, request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, std::string("body\0bytes", 10));
  EXPECT_EQ(response->Header("x-answer"), "yes");

  auto received = server.requests();
  ASSERT_EQ(received.size(), 1u);
  const net::HttpRequest& r = received[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/path?a=1");
  EXPECT_EQ(r.body, request.body);
  EXPECT_EQ(r.Header("Host"), endpoint.HostHeader());
  EXPECT_EQ(r.Header("X-Custom"), "v");
  EXPECT_EQ(r.Header("X-Empty"), "");
  // Nothing of curl's own: no Accept, no Expect: 100-continue, no default Content-Type.
  EXPECT_FALSE(r.Header("Accept").has_value());
  EXPECT_FALSE(r.Header("Expect").has_value());
  EXPECT_FALSE(r.Header("Content-Type").has_value());
}

TEST(HttpClientTest, KeepsTheConnectionAlive) {
  testing::TestHttpServer server;
  server.set_handler([](const net::HttpRequest& r) { return net::HttpResponse{200, {}, r.body}; });
  auto client = MakeClient();
  Endpoint endpoint = MustParse(server.url());
  for (std::string body : {"one", "two", "three"}) {
    net::HttpRequest request{"POST", "/", {{"Host", endpoint.HostHeader()}}, body};
    auto response = client->Send(endpoint, request);
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->body, body);
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientTest, UnreachableEndpoint) {
  auto client = MakeClient();
  Endpoint endpoint = MustParse("http://127.0.0.1:" + std::to_string(UnusedPort()));
  net::HttpRequest request{"POST", "/", {{"Host", endpoint.HostHeader()}}, "{}"};
  auto response = client->Send(endpoint, request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().message(),
            "Could not connect to the endpoint URL: \"http://" + endpoint.HostHeader() + "/\"");
}

TEST(HttpClientTest, ConnectionClosedWithoutAnswer) {
  testing::TestHttpServer server;
  server.set_mode(testing::TestHttpServer::Mode::kClose);
  auto client = MakeClient();
  Endpoint endpoint = MustParse(server.url());
  net::HttpRequest request{"POST", "/", {{"Host", endpoint.HostHeader()}}, "{}"};
  auto response = client->Send(endpoint, request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().message(),
            "Connection was closed before we received a valid response from endpoint URL: "
            "\"" +
                server.url() + "/\".");
}

TEST(HttpClientTest, ReadTimeout) {
  testing::TestHttpServer server;
  server.set_mode(testing::TestHttpServer::Mode::kStall);
  auto client = MakeClient({.read_timeout = std::chrono::milliseconds(1000)});
  Endpoint endpoint = MustParse(server.url());
  net::HttpRequest request{"POST", "/", {{"Host", endpoint.HostHeader()}}, "{}"};
  auto response = client->Send(endpoint, request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().message(), "Read timeout on endpoint URL: \"" + server.url() + "/\"");
}

TEST(HttpClientTest, ResponseSizeIsBounded) {
  testing::TestHttpServer server;
  server.set_handler([](const net::HttpRequest&) {
    return net::HttpResponse{200, {}, std::string(5000, 'a')};
  });
  auto client = MakeClient({.max_response_bytes = 4096});
  Endpoint endpoint = MustParse(server.url());
  net::HttpRequest request{"POST", "/", {{"Host", endpoint.HostHeader()}}, ""};
  auto response = client->Send(endpoint, request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kResourceExhausted);
}

TEST(HttpClientTest, HttpsToAServerThatSpeaksNoTlsFailsTheHandshake) {
  testing::TestHttpServer server;
  server.set_mode(testing::TestHttpServer::Mode::kGarbage);
  auto client = MakeClient({.connect_timeout = std::chrono::milliseconds(5000),
                            .read_timeout = std::chrono::milliseconds(2000)});
  Endpoint endpoint = MustParse("https://127.0.0.1:" + std::to_string(server.port()));
  net::HttpRequest request{"POST", "/", {{"Host", endpoint.HostHeader()}}, "{}"};
  auto response = client->Send(endpoint, request);
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(),
              StartsWith("SSL validation failed for https://127.0.0.1:"));
}

TEST(HttpClientTest, RefusesHeadersThatWouldSplitTheRequest) {
  testing::TestHttpServer server;
  auto client = MakeClient();
  Endpoint endpoint = MustParse(server.url());
  net::HttpRequest request{"POST", "/", {{"Host", endpoint.HostHeader()}, {"X", "a\r\nY: b"}}, ""};
  auto response = client->Send(endpoint, request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(server.requests().empty());
}

// ---------------------------------------------------------------------------
// Signed calls over the transport: what the server receives verifies.

TEST(SignedHttpTest, JsonCallVerifiesOnTheServerSide) {
  testing::TestHttpServer server;
  server.set_handler([](const net::HttpRequest&) {
    return net::HttpResponse{
        200, {{"Content-Type", "application/x-amz-json-1.1"}}, R"({"Keys":[]})"};
  });
  auto transport = MakeClient();
  FakeClock clock(kNow);
  AwsClient client(*transport, clock, MustParse(server.url()), "eu-west-1", Creds());
  auto answer = client.CallJson("kms", "TrentService", "ListKeys", "{}");
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(*answer, R"({"Keys":[]})");

  auto received = server.requests();
  ASSERT_EQ(received.size(), 1u);
  const net::HttpRequest& r = received[0];
  EXPECT_EQ(r.Header("X-Amz-Target"), "TrentService.ListKeys");
  EXPECT_EQ(r.Header("Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(r.Header("Host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(r.body, "{}");
  net::sigv4::ParsedSignature parsed;
  Status verified = testing::VerifySignedRequest(r, "secret", kNow, "eu-west-1", "kms", &parsed);
  EXPECT_TRUE(verified.ok()) << verified.ToString();
  EXPECT_EQ(parsed.access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(parsed.signed_headers,
            (std::vector<std::string>{"content-type", "host", "x-amz-date", "x-amz-target"}));
  EXPECT_FALSE(parsed.session_token.has_value());

  // The same request does not verify with another secret, region or time.
  EXPECT_FALSE(testing::VerifySignedRequest(r, "other", kNow, "eu-west-1", "kms").ok());
  EXPECT_FALSE(testing::VerifySignedRequest(r, "secret", kNow, "us-east-1", "kms").ok());
  EXPECT_FALSE(
      testing::VerifySignedRequest(r, "secret", kNow + std::chrono::minutes(6), "eu-west-1", "kms")
          .ok());
  net::HttpRequest tampered = r;
  tampered.body = R"({"Limit":1})";
  EXPECT_FALSE(testing::VerifySignedRequest(tampered, "secret", kNow, "eu-west-1", "kms").ok());
}

TEST(SignedHttpTest, SessionTokenIsSentAndSigned) {
  testing::TestHttpServer server;
  server.set_handler([](const net::HttpRequest&) { return net::HttpResponse{200, {}, ""}; });
  auto transport = MakeClient();
  FakeClock clock(kNow);
  AwsClient client(*transport, clock, MustParse(server.url()), "us-east-1",
                   Creds("the-session-token"));
  auto answer = client.CallJson("kms", "TrentService", "EnableKey", R"({"KeyId":"k"})");
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(*answer, "{}");  // no body: an empty object
  auto received = server.requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].Header("X-Amz-Security-Token"), "the-session-token");
  net::sigv4::ParsedSignature parsed;
  ASSERT_TRUE(
      testing::VerifySignedRequest(received[0], "secret", kNow, "us-east-1", "kms", &parsed).ok());
  EXPECT_EQ(parsed.session_token, "the-session-token");
  EXPECT_THAT(parsed.signed_headers, ::testing::Contains("x-amz-security-token"));
}

TEST(SignedHttpTest, QueryCallVerifiesAndReadsTheAccount) {
  testing::TestHttpServer server;
  server.set_handler([](const net::HttpRequest&) {
    return net::HttpResponse{
        200,
        {{"Content-Type", "text/xml"}},
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        "<GetCallerIdentityResult><Arn>arn:aws:iam::444455556666:user/alice</Arn>"
        "<UserId>AIDAEXAMPLE</UserId><Account>444455556666</Account></GetCallerIdentityResult>"
        "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>"};
  });
  auto transport = MakeClient();
  FakeClock clock(kNow);
  AwsClient client(*transport, clock, MustParse(server.url()), "us-east-1", Creds());
  auto account = GetCallerAccount(client);
  ASSERT_TRUE(account.ok()) << account.status().ToString();
  EXPECT_EQ(*account, "444455556666");
  auto received = server.requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].body, "Action=GetCallerIdentity&Version=2011-06-15");
  EXPECT_EQ(received[0].Header("Content-Type"), "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_FALSE(received[0].Header("X-Amz-Target").has_value());
  net::sigv4::ParsedSignature parsed;
  Status verified =
      testing::VerifySignedRequest(received[0], "secret", kNow, "us-east-1", "sts", &parsed);
  EXPECT_TRUE(verified.ok()) << verified.ToString();
  EXPECT_EQ(parsed.signed_headers,
            (std::vector<std::string>{"content-type", "host", "x-amz-date"}));
}

TEST(SignedHttpTest, ServiceErrorsAsBotocoreReadsThem) {
  testing::TestHttpServer server;
  server.set_handler([](const net::HttpRequest&) {
    return net::HttpResponse{
        400,
        {{"X-Amzn-ErrorType", "AccessDeniedException"}},
        R"({"__type":"AccessDeniedException","message":"User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action"})"};
  });
  auto transport = MakeClient();
  FakeClock clock(kNow);
  AwsClient client(*transport, clock, MustParse(server.url()), "us-east-1", Creds());
  auto answer = client.CallJson("kms", "TrentService", "CreateKey", "{}");
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().error_name(), "AccessDeniedException");
  EXPECT_EQ(ServiceErrorText("CreateKey", answer.status()),
            "An error occurred (AccessDeniedException) when calling the CreateKey operation: "
            "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: "
            "kms:CreateKey on resource: * because no identity-based policy allows the "
            "kms:CreateKey action");
}

TEST(SignedHttpTest, TransportErrorsHaveNoErrorName) {
  auto transport = MakeClient();
  FakeClock clock(kNow);
  AwsClient client(*transport, clock, MustParse("http://127.0.0.1:" + std::to_string(UnusedPort())),
                   "us-east-1", Creds());
  auto answer = client.CallJson("kms", "TrentService", "ListKeys", "{}");
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().error_name(), "");
  EXPECT_THAT(answer.status().message(), StartsWith("Could not connect to the endpoint URL: "));
}

}  // namespace
}  // namespace coffer::cli
