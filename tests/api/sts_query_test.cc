// The STS Query codec: AssumeRole and GetCallerIdentity decoded into Calls, run
// against a real IdentityService, and their exact XML replies and errors.
#include "api/sts_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "api/query.h"
#include "iam/iam_fixture.h"
#include "testing/api_call.h"

namespace coffer::api {
namespace {

using ::coffer::iam::testing::IamTest;
using ::coffer::iam::testing::IsError;
using ::coffer::iam::testing::IsOk;
using ::coffer::iam::testing::Reveal;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

std::string Envelope(const std::string& op, const std::string& result) {
  return "<" + op + "Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><" + op +
         "Result>" + result + "</" + op +
         "Result><ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata></" + op +
         "Response>";
}

std::string Between(const std::string& xml, const std::string& tag) {
  size_t start = xml.find("<" + tag + ">");
  size_t end = xml.find("</" + tag + ">");
  if (start == std::string::npos || end == std::string::npos) return "";
  start += tag.size() + 2;
  return xml.substr(start, end - start);
}

class StsQueryTest : public IamTest {
 protected:
  void SetUp() override {
    IamTest::SetUp();
    role_ = NewRole("BackupRole", 7200, "/service-role/");
    alice_ = NewUser("alice");
  }

  Result<Call> Prepare(const policy::Principal& caller, const std::string& body) {
    auto params = ParseQueryParams(body);
    if (!params.ok()) return params.status();
    return testing::UnlessRefused(PrepareStsCall(iam(), caller, *params, "req-2"));
  }

  Result<std::string> Run(const policy::Principal& caller, const std::string& body) {
    auto call = Prepare(caller, body);
    if (!call.ok()) return call.status();
    ASSIGN_OR_RETURN(Reply reply, call->run());
    return std::move(reply.body);
  }

  std::string AssumeBody(std::string extra = "") {
    return "Action=AssumeRole&Version=2011-06-15&RoleArn=" + UrlEncode(role_.arn) +
           "&RoleSessionName=s1" + extra;
  }

  iam::Role role_;
  policy::Principal alice_;
};

TEST_F(StsQueryTest, AssumeRoleNeedsTheTrustPolicysDecision) {
  ASSERT_OK_AND_ASSIGN(Call call, Prepare(alice_, AssumeBody()));
  EXPECT_EQ(call.operation, "AssumeRole");
  ASSERT_EQ(call.authorizations.size(), 1u);
  const Authorization& a = call.authorizations[0];
  EXPECT_EQ(a.scope, PolicyScope::kAssumeRole);
  EXPECT_EQ(a.action, "sts:AssumeRole");
  EXPECT_EQ(a.resource, "arn:aws:iam::111122223333:role/service-role/BackupRole");
  EXPECT_THAT(a.condition_keys, ElementsAre(Pair("sts:RoleSessionName", ElementsAre("s1"))));

  ASSERT_OK_AND_ASSIGN(Call with_external, Prepare(alice_, AssumeBody("&ExternalId=ext-123")));
  EXPECT_THAT(with_external.authorizations[0].condition_keys,
              ElementsAre(Pair("sts:ExternalId", ElementsAre("ext-123")),
                          Pair("sts:RoleSessionName", ElementsAre("s1"))));
  // The resource is the ARN as asked for, even of a role that does not exist:
  // the pipeline refuses it (AccessDenied, naming it).
  ASSERT_OK_AND_ASSIGN(
      Call missing,
      Prepare(alice_,
              "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FNope"
              "&RoleSessionName=s1"));
  EXPECT_EQ(missing.authorizations[0].resource, "arn:aws:iam::111122223333:role/Nope");
}

TEST_F(StsQueryTest, AssumeRoleReply) {
  clock_.Advance(std::chrono::seconds(30));
  ASSERT_OK_AND_ASSIGN(std::string body, Run(alice_, AssumeBody("&DurationSeconds=900")));
  std::string id = Between(body, "AccessKeyId");
  std::string secret = Between(body, "SecretAccessKey");
  std::string token = Between(body, "SessionToken");
  ASSERT_EQ(id.size(), 20u);
  ASSERT_EQ(secret.size(), 40u);
  ASSERT_GE(token.size(), 200u);
  EXPECT_EQ(body,
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
            "<AssumeRoleResult><AssumedRoleUser>"
            "<Arn>arn:aws:sts::111122223333:assumed-role/BackupRole/s1</Arn>"
            "<AssumedRoleId>" +
                role_.role_id + ":s1</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>" +
                id + "</AccessKeyId><SecretAccessKey>" + secret +
                "</SecretAccessKey><SessionToken>" + token +
                "</SessionToken><Expiration>2026-01-01T00:15:30Z</Expiration></Credentials>"
                "</AssumeRoleResult><ResponseMetadata><RequestId>req-2</RequestId>"
                "</ResponseMetadata></AssumeRoleResponse>");
  ASSERT_OK_AND_ASSIGN(iam::Credential c, iam().FindCredential(id));
  EXPECT_EQ(Reveal(c.secret_access_key), secret);
  ASSERT_TRUE(c.session_token.has_value());
  EXPECT_TRUE(c.session_token->Matches(token));
}

TEST_F(StsQueryTest, AssumeRoleErrors) {
  EXPECT_THAT(Prepare(Root(), AssumeBody()),
              IsError("AccessDenied", "Roles may not be assumed by root accounts."));
  EXPECT_EQ(
      QueryErrorResponse(Prepare(Root(), AssumeBody()).status(), kStsXmlNamespace, "r").status,
      403);
  EXPECT_THAT(Prepare(alice_, "Action=AssumeRole"),
              IsError("ValidationError",
                      "2 validation errors detected: Value null at 'roleArn' failed to satisfy "
                      "constraint: Member must not be null; Value null at 'roleSessionName' "
                      "failed to satisfy constraint: Member must not be null"));
  EXPECT_THAT(Prepare(alice_, AssumeBody("&DurationSeconds=1h")),
              IsError("ValidationError",
                      "1 validation error detected: Value '1h' at 'durationSeconds' failed to "
                      "satisfy constraint: Member must be an integer"));
  EXPECT_THAT(Prepare(alice_, AssumeBody("&ExternalId=a%20b")),
              IsError("ValidationError",
                      "1 validation error detected: Value 'a b' at 'externalId' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "[\\w+=,.@:\\/-]*"));
  // The request's constraints come before the caller and any policy, all of
  // them in one message: a malformed RoleArn is never taken for a resource, and
  // the root hears of its bad session name first.
  EXPECT_THAT(Prepare(alice_, "Action=AssumeRole&RoleArn=short&RoleSessionName=a&ExternalId=a"),
              IsError("ValidationError",
                      "3 validation errors detected: Value 'short' at 'roleArn' failed to satisfy "
                      "constraint: Member must have length greater than or equal to 20; Value 'a' "
                      "at 'roleSessionName' failed to satisfy constraint: Member must have length "
                      "greater than or equal to 2; Value 'a' at 'externalId' failed to satisfy "
                      "constraint: Member must have length greater than or equal to 2"));
  // A missing or malformed member is reported with the others, once.
  EXPECT_THAT(Prepare(Root(), "Action=AssumeRole&RoleSessionName=a&DurationSeconds=1h"),
              IsError("ValidationError",
                      "3 validation errors detected: Value null at 'roleArn' failed to satisfy "
                      "constraint: Member must not be null; Value '1h' at 'durationSeconds' "
                      "failed to satisfy constraint: Member must be an integer; Value 'a' at "
                      "'roleSessionName' failed to satisfy constraint: Member must have length "
                      "greater than or equal to 2"));
  EXPECT_THAT(
      Prepare(alice_,
              "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FR%01"
              "&RoleSessionName=s1"),
      IsError("ValidationError",
              "1 validation error detected: Value 'arn:aws:iam::111122223333:role/R\x01' at "
              "'roleArn' failed to satisfy constraint: Member must satisfy regular "
              "expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-"
              "\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+"));
  EXPECT_THAT(Prepare(Root(), AssumeBody("&DurationSeconds=60")),
              IsError("ValidationError",
                      "1 validation error detected: Value '60' at 'durationSeconds' failed to "
                      "satisfy constraint: Member must have value greater than or equal to 900"));
  EXPECT_THAT(
      Prepare(alice_, AssumeBody("&Policy=%7B%7D")),
      IsError("ValidationError", "coffer does not support the parameter Policy of AssumeRole."));
  EXPECT_THAT(Prepare(alice_, AssumeBody("&PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3Aaws")),
              IsError("ValidationError",
                      "coffer does not support the parameter PolicyArns of AssumeRole."));
  EXPECT_THAT(Prepare(alice_, AssumeBody("&Tags.member.1.Key=k&Tags.member.1.Value=v")),
              IsError("ValidationError",
                      "coffer does not support the parameter Tags of "
                      "AssumeRole."));

  // Refused, the call's record still names the role asked for; not a RoleArn
  // that is missing or malformed.
  auto resources_of = [&](const policy::Principal& caller, const std::string& body) {
    Result<QueryParams> params = ParseQueryParams(body);
    EXPECT_TRUE(params.ok());
    Result<Call> call = PrepareStsCall(iam(), caller, *params, "req-3");
    EXPECT_TRUE(call.ok());
    EXPECT_FALSE(call->refused.ok());
    std::vector<std::string> arns;
    for (const AuditResource& r : call->resources) arns.push_back(r.type + " " + r.arn);
    return arns;
  };
  const std::string role_resource = "AWS::IAM::Role " + role_.arn;
  EXPECT_THAT(resources_of(Root(), AssumeBody()), ElementsAre(role_resource));
  EXPECT_THAT(resources_of(alice_, "Action=AssumeRole&RoleArn=" + UrlEncode(role_.arn)),
              ElementsAre(role_resource));
  EXPECT_THAT(resources_of(alice_, "Action=AssumeRole&RoleArn=short&RoleSessionName=s1"),
              IsEmpty());
  EXPECT_THAT(resources_of(alice_, "Action=AssumeRole&RoleSessionName=s1"), IsEmpty());
  // A parameter coffer does not support is refused with the role named too.
  EXPECT_THAT(resources_of(alice_, AssumeBody("&SourceIdentity=x")), ElementsAre(role_resource));
  EXPECT_THAT(resources_of(alice_, AssumeBody("&SerialNumber=x&TokenCode=123456")),
              ElementsAre(role_resource));

  // Errors found when the call runs: the service's.
  auto too_long = Run(alice_, AssumeBody("&DurationSeconds=7201"));
  EXPECT_THAT(too_long, IsError("ValidationError",
                                "The requested DurationSeconds exceeds the MaxSessionDuration set "
                                "for this role."));
  net::HttpResponse r = QueryErrorResponse(too_long.status(), kStsXmlNamespace, "req-2");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
            "<Type>Sender</Type><Code>ValidationError</Code><Message>The requested "
            "DurationSeconds exceeds the MaxSessionDuration set for this role.</Message></Error>"
            "<RequestId>req-2</RequestId></ErrorResponse>");
}

TEST_F(StsQueryTest, GetCallerIdentity) {
  ASSERT_OK_AND_ASSIGN(Call call, Prepare(alice_, "Action=GetCallerIdentity&Version=2011-06-15"));
  EXPECT_EQ(call.operation, "GetCallerIdentity");
  EXPECT_TRUE(call.authorizations.empty());
  ASSERT_OK_AND_ASSIGN(Reply reply, call.run());
  const std::string& user = reply.body;
  EXPECT_EQ(user, Envelope("GetCallerIdentity",
                           "<Arn>arn:aws:iam::111122223333:user/alice</Arn><UserId>" +
                               alice_.user_id + "</UserId><Account>111122223333</Account>"));

  ASSERT_OK_AND_ASSIGN(std::string root, Run(Root(), "Action=GetCallerIdentity"));
  EXPECT_EQ(root, Envelope("GetCallerIdentity",
                           "<Arn>arn:aws:iam::111122223333:root</Arn><UserId>111122223333"
                           "</UserId><Account>111122223333</Account>"));

  ASSERT_OK_AND_ASSIGN(iam::AssumeRoleResult session,
                       iam().AssumeRole(alice_, iam::AssumeRoleRequest{role_.arn, "s1", {}}));
  ASSERT_OK_AND_ASSIGN(iam::Credential c, iam().FindCredential(session.access_key_id));
  ASSERT_OK_AND_ASSIGN(std::string assumed, Run(c.principal, "Action=GetCallerIdentity"));
  EXPECT_EQ(assumed,
            Envelope("GetCallerIdentity",
                     "<Arn>arn:aws:sts::111122223333:assumed-role/BackupRole/s1</Arn><UserId>" +
                         role_.role_id + ":s1</UserId><Account>111122223333</Account>"));
}

TEST_F(StsQueryTest, GetSessionToken) {
  ASSERT_OK_AND_ASSIGN(
      std::string xml,
      Run(alice_, "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"));
  EXPECT_THAT(xml, ::testing::HasSubstr("<GetSessionTokenResult><Credentials><AccessKeyId>ASIA"));
  EXPECT_THAT(xml, ::testing::HasSubstr("<Expiration>2026-01-01T00:15:00Z</Expiration>"));
  EXPECT_THAT(Prepare(alice_, "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=899"),
              IsError("ValidationError",
                      "1 validation error detected: Value '899' at 'durationSeconds' failed to "
                      "satisfy constraint: Member must have value greater than or equal to 900"));
  // No MFA devices: a code is refused, not ignored.
  EXPECT_THAT(Prepare(alice_,
                      "Action=GetSessionToken&Version=2011-06-15&SerialNumber="
                      "arn%3Aaws%3Aiam%3A%3A111122223333%3Amfa%2Falice&TokenCode=123456"),
              IsError("ValidationError",
                      "coffer does not support the parameter SerialNumber of GetSessionToken."));
}

TEST_F(StsQueryTest, UnknownActions) {
  EXPECT_THAT(Prepare(alice_, "Action=GetFederationToken&Version=2011-06-15&Name=x"),
              IsError("InvalidAction",
                      "Could not find operation GetFederationToken for version 2011-06-15"));
  EXPECT_THAT(Prepare(alice_, "Action=CreateUser&Version=2011-06-15&UserName=x"),
              IsError("InvalidAction",
                      "Could not find operation CreateUser for version "
                      "2011-06-15"));
  EXPECT_THAT(Prepare(alice_, ""), IsError("MissingAction", "Missing Action"));
}

}  // namespace
}  // namespace coffer::api
