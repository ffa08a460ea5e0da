#include "cli/aws_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/sigv4_check.h"

namespace coffer::cli {
namespace {

const TimePoint kNow = FromEpochMillis(1764497396000);

Endpoint Local() { return Endpoint::Parse("http://127.0.0.1:7878").value(); }

net::HttpResponse Answer(int status, std::string body, std::vector<net::HttpHeader> headers = {}) {
  return net::HttpResponse{status, std::move(headers), std::move(body)};
}

TEST(BuildRequestTest, JsonRequestHasTheAwsCliHeaders) {
  net::HttpRequest r = BuildJsonRequest(Local(), "TrentService.CreateKey", R"({"a":1})");
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/");
  EXPECT_EQ(r.Header("Host"), "127.0.0.1:7878");
  EXPECT_EQ(r.Header("Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(r.Header("X-Amz-Target"), "TrentService.CreateKey");
  EXPECT_EQ(r.body, R"({"a":1})");
  // An endpoint with a path is posted to that path (botocore's _urljoin).
  EXPECT_EQ(BuildJsonRequest(Endpoint::Parse("http://h/kms").value(), "T.Op", "{}").target, "/kms");
}

TEST(BuildRequestTest, QueryBodyIsPercentEncodedAsBotocore) {
  net::HttpRequest r = BuildQueryRequest(
      Local(), "AssumeRole", "2011-06-15",
      {{"RoleArn", "arn:aws:iam::111122223333:role/R"}, {"RoleSessionName", "a b+c/~é"}});
  EXPECT_EQ(r.body,
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole"
            "%2FR&RoleSessionName=a%20b%2Bc%2F~%C3%A9");
  EXPECT_EQ(r.Header("Content-Type"), "application/x-www-form-urlencoded; charset=utf-8");
}

TEST(SignRequestTest, SignsOnceAndReplacesEarlierSignatures) {
  net::HttpRequest r = BuildJsonRequest(Local(), "TrentService.ListKeys", "{}");
  net::sigv4::Credentials creds{"AKIDEXAMPLE", crypto::SecretBytes(std::string_view("secret")), ""};
  ASSERT_TRUE(SignRequest(r, creds, "us-east-1", "kms", kNow - std::chrono::hours(1)).ok());
  ASSERT_TRUE(SignRequest(r, creds, "us-east-1", "kms", kNow).ok());
  int authorizations = 0;
  for (const auto& h : r.headers) authorizations += net::HeaderNameEquals(h.name, "Authorization");
  EXPECT_EQ(authorizations, 1);
  EXPECT_EQ(r.Header("X-Amz-Date"), "20251130T100956Z");
  EXPECT_TRUE(testing::VerifySignedRequest(r, "secret", kNow, "us-east-1", "kms").ok());
}

TEST(SignRequestTest, RequestWithoutHostCannotBeSigned) {
  net::HttpRequest r = BuildJsonRequest(Local(), "TrentService.ListKeys", "{}");
  r.headers.erase(r.headers.begin());  // Host
  net::sigv4::Credentials creds{"AKIDEXAMPLE", crypto::SecretBytes(std::string_view("s")), ""};
  Status st = SignRequest(r, creds, "us-east-1", "kms", kNow);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error_name(), "");  // not a service error
}

TEST(JsonErrorTest, ReadsTypeAndMessageAsBotocore) {
  Status st = JsonErrorStatus(Answer(
      400,
      R"({"__type":"com.amazonaws.kms#NotFoundException:http://internal","message":"Key 'k' does not exist"})"));
  EXPECT_EQ(st.error_name(), "NotFoundException");
  EXPECT_EQ(st.message(), "Key 'k' does not exist");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);

  st = JsonErrorStatus(Answer(400, R"({"__type":"ValidationException","Message":"capital M"})"));
  EXPECT_EQ(st.message(), "capital M");

  st = JsonErrorStatus(
      Answer(400, R"({"message":"m"})", {{"X-Amzn-ErrorType", "DisabledException:x"}}));
  EXPECT_EQ(st.error_name(), "DisabledException");

  st = JsonErrorStatus(Answer(500, R"({"__type":"KMSInternalException","message":"boom"})"));
  EXPECT_EQ(st.code(), StatusCode::kInternal);

  // Without a type: the HTTP status is the code; an unreadable body is the message.
  st = JsonErrorStatus(Answer(502, "<html>Bad Gateway</html>"));
  EXPECT_EQ(st.error_name(), "502");
  EXPECT_EQ(st.message(), "<html>Bad Gateway</html>");
  EXPECT_EQ(
      ServiceErrorText("ListKeys", st),
      "An error occurred (502) when calling the ListKeys operation: <html>Bad Gateway</html>");
  st = JsonErrorStatus(Answer(503, ""));
  EXPECT_EQ(st.error_name(), "503");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
}

TEST(QueryErrorTest, ReadsCodeAndMessage) {
  Status st = QueryErrorStatus(Answer(
      403,
      "<ErrorResponse "
      "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
      "<Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/x is not authorized &amp; "
      "&lt;denied&gt;</Message></Error><RequestId>r</RequestId></ErrorResponse>"));
  EXPECT_EQ(st.error_name(), "AccessDenied");
  EXPECT_EQ(st.message(), "User: arn:aws:iam::1:user/x is not authorized & <denied>");
  st = QueryErrorStatus(Answer(500, "not xml"));
  EXPECT_EQ(st.error_name(), "500");
  EXPECT_EQ(st.message(), "Internal Server Error");
}

TEST(XmlTest, ElementText) {
  EXPECT_EQ(XmlElementText("<a><Account>1</Account></a>", "Account"), "1");
  EXPECT_EQ(XmlElementText("<AccountId>2</AccountId><Account x=\"y\">3</Account>", "Account"), "3");
  EXPECT_EQ(XmlElementText("<Account/>", "Account"), "");
  EXPECT_EQ(XmlElementText("<Account>&#65;&#x42;&quot;&apos;&unknown;</Account>", "Account"),
            "AB\"'&unknown;");
  EXPECT_EQ(XmlElementText("<Account>open", "Account"), std::nullopt);
  EXPECT_EQ(XmlElementText("<Other>1</Other>", "Account"), std::nullopt);
}

TEST(WipeTest, WipesAndEmpties) {
  std::string s = "secret";
  WipeString(s);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace coffer::cli
