// The IAM Query codec: request bodies decoded into Calls (their decisions),
// run against a real IdentityService on a temporary SQLite store, and the exact
// XML replies and errors.
#include "api/iam_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/query.h"
#include "iam/iam_fixture.h"
#include "testing/api_call.h"

namespace coffer::api {
namespace {

using ::coffer::iam::testing::IamTest;
using ::coffer::iam::testing::IsError;
using ::coffer::iam::testing::IsOk;
using ::coffer::iam::testing::kTrustAccount;
using ::coffer::iam::testing::Reveal;
using ::testing::HasSubstr;

constexpr char kXmlns[] = "https://iam.amazonaws.com/doc/2010-05-08/";

// The reply envelope around `result` (nullopt: an operation with no output).
std::string Envelope(const std::string& op, std::optional<std::string> result) {
  std::string out = "<" + op + "Response xmlns=\"" + kXmlns + "\">";
  if (result) out += "<" + op + "Result>" + *result + "</" + op + "Result>";
  return out + "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></" + op +
         "Response>";
}

// The text between <tag> and </tag>, the first time it appears.
std::string Between(const std::string& xml, const std::string& tag) {
  size_t start = xml.find("<" + tag + ">");
  size_t end = xml.find("</" + tag + ">");
  if (start == std::string::npos || end == std::string::npos) return "";
  start += tag.size() + 2;
  return xml.substr(start, end - start);
}

// A policy document with characters that need encoding in a form and in a reply.
const std::string kPolicy =
    R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]})";

class IamQueryTest : public IamTest {
 protected:
  Result<Call> Prepare(const policy::Principal& caller, const std::string& body) {
    auto params = ParseQueryParams(body);
    if (!params.ok()) return params.status();
    return testing::UnlessRefused(PrepareIamCall(iam(), caller, *params, "req-1"));
  }

  // Prepares and runs the call.
  Result<std::string> Run(const policy::Principal& caller, const std::string& body) {
    auto call = Prepare(caller, body);
    if (!call.ok()) return call.status();
    ASSIGN_OR_RETURN(Reply reply, call->run());
    return std::move(reply.body);
  }

  std::string Form(std::string_view text) { return UrlEncode(text); }
};

// ---- users --------------------------------------------------------------------------------

TEST_F(IamQueryTest, CreateUser) {
  ASSERT_OK_AND_ASSIGN(
      Call call,
      Prepare(Root(), "Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Feng%2F"));
  EXPECT_EQ(call.operation, "CreateUser");
  ASSERT_EQ(call.authorizations.size(), 1u);
  EXPECT_EQ(call.authorizations[0].scope, PolicyScope::kIdentity);
  EXPECT_EQ(call.authorizations[0].action, "iam:CreateUser");
  EXPECT_EQ(call.authorizations[0].resource, "arn:aws:iam::111122223333:user/eng/alice");
  EXPECT_TRUE(call.authorizations[0].condition_keys.empty());
  EXPECT_FALSE(call.lockout_check_policy.has_value());
  // Nothing happens before the call runs.
  EXPECT_EQ(iam().GetUser(Root(), std::string("alice")).status().error_name(), "NoSuchEntity");

  ASSERT_OK_AND_ASSIGN(Reply reply, call.run());
  const std::string& body = reply.body;
  ASSERT_OK_AND_ASSIGN(iam::User user, iam().GetUser(Root(), std::string("alice")));
  EXPECT_EQ(body,
            "<CreateUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
            "<CreateUserResult><User><Path>/eng/</Path><UserName>alice</UserName><UserId>" +
                user.user_id +
                "</UserId><Arn>arn:aws:iam::111122223333:user/eng/alice</Arn>"
                "<CreateDate>2026-01-01T00:00:00Z</CreateDate></User></CreateUserResult>"
                "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
                "</CreateUserResponse>");

  // Run again: the service's error.
  auto again = call.run();
  EXPECT_THAT(again, IsError("EntityAlreadyExists", "User with name alice already exists."));
  net::HttpResponse error = QueryErrorResponse(again.status(), kIamXmlNamespace, "req-1");
  EXPECT_EQ(error.status, 409);
  EXPECT_EQ(error.body,
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>"
            "<Type>Sender</Type><Code>EntityAlreadyExists</Code>"
            "<Message>User with name alice already exists.</Message></Error>"
            "<RequestId>req-1</RequestId></ErrorResponse>");
}

TEST_F(IamQueryTest, GetUser) {
  policy::Principal alice = NewUser("alice");
  const std::string alice_xml = "<User><Path>/</Path><UserName>alice</UserName><UserId>" +
                                alice.user_id + "</UserId><Arn>" + alice.arn +
                                "</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></User>";
  ASSERT_OK_AND_ASSIGN(std::string by_name, Run(Root(), "Action=GetUser&UserName=alice"));
  EXPECT_EQ(by_name, Envelope("GetUser", alice_xml));
  ASSERT_OK_AND_ASSIGN(std::string self, Run(alice, "Action=GetUser"));
  EXPECT_EQ(self, Envelope("GetUser", alice_xml));
  ASSERT_OK_AND_ASSIGN(std::string root, Run(Root(), "Action=GetUser"));
  EXPECT_EQ(root, Envelope("GetUser",
                           "<User><UserId>111122223333</UserId><Arn>arn:aws:iam::111122223333:root"
                           "</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></User>"));

  policy::Principal session = policy::Principal::AssumedRole("arn:aws:iam::111122223333:role/R",
                                                             "s", "AROAAAAAAAAAAAAAAAAAA");
  EXPECT_THAT(
      Prepare(session, "Action=GetUser"),
      IsError("ValidationError", "Must specify userName when calling with non-User credentials"));
  EXPECT_THAT(Run(Root(), "Action=GetUser&UserName=bob"),
              IsError("NoSuchEntity", "The user with name bob cannot be found."));
}

TEST_F(IamQueryTest, ListUsersPages) {
  policy::Principal alice = NewUser("alice");
  policy::Principal bob = NewUser("bob", "/eng/");
  auto member = [](const policy::Principal& p, std::string_view name, std::string_view path) {
    return "<member><Path>" + std::string(path) + "</Path><UserName>" + std::string(name) +
           "</UserName><UserId>" + p.user_id + "</UserId><Arn>" + p.arn +
           "</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></member>";
  };
  ASSERT_OK_AND_ASSIGN(std::string all, Run(Root(), "Action=ListUsers"));
  EXPECT_EQ(all, Envelope("ListUsers", "<Users>" + member(alice, "alice", "/") +
                                           member(bob, "bob", "/eng/") +
                                           "</Users><IsTruncated>false</IsTruncated>"));
  ASSERT_OK_AND_ASSIGN(std::string first, Run(Root(), "Action=ListUsers&MaxItems=1"));
  // The marker is opaque: read back from the answer, as a client does.
  const size_t open = first.find("<Marker>"), close = first.find("</Marker>");
  ASSERT_TRUE(open != std::string::npos && close != std::string::npos);
  const std::string marker = first.substr(open + 8, close - open - 8);
  EXPECT_EQ(first, Envelope("ListUsers", "<Users>" + member(alice, "alice", "/") +
                                             "</Users><IsTruncated>true</IsTruncated>"
                                             "<Marker>" +
                                             marker + "</Marker>"));
  ASSERT_OK_AND_ASSIGN(std::string second,
                       Run(Root(), "Action=ListUsers&MaxItems=1&Marker=" + UrlEncode(marker)));
  EXPECT_EQ(second, Envelope("ListUsers", "<Users>" + member(bob, "bob", "/eng/") +
                                              "</Users><IsTruncated>false</IsTruncated>"));
  // A user's name is no marker.
  EXPECT_THAT(Run(Root(), "Action=ListUsers&MaxItems=1&Marker=alice"),
              IsError("ValidationError", "Invalid Marker."));
  ASSERT_OK_AND_ASSIGN(std::string none, Run(Root(), "Action=ListUsers&PathPrefix=%2Fops%2F"));
  EXPECT_EQ(none, Envelope("ListUsers", "<Users></Users><IsTruncated>false</IsTruncated>"));
  EXPECT_THAT(Prepare(Root(), "Action=ListUsers&MaxItems=ten"),
              IsError("ValidationError",
                      "1 validation error detected: Value 'ten' at 'maxItems' failed to satisfy "
                      "constraint: Member must be an integer"));
}

TEST_F(IamQueryTest, DeleteUser) {
  NewUser("alice");
  ASSERT_OK_AND_ASSIGN(std::string body, Run(Root(), "Action=DeleteUser&UserName=alice"));
  EXPECT_EQ(body,
            "<DeleteUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
            "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
            "</DeleteUserResponse>");
  EXPECT_THAT(Run(Root(), "Action=DeleteUser&UserName=alice"),
              IsError("NoSuchEntity", "The user with name alice cannot be found."));
}

// ---- access keys ------------------------------------------------------------------------------

TEST_F(IamQueryTest, CreateAccessKeyShowsTheSecretOnce) {
  NewUser("alice");
  clock_.Advance(std::chrono::seconds(65));
  ASSERT_OK_AND_ASSIGN(std::string body, Run(Root(), "Action=CreateAccessKey&UserName=alice"));
  std::string id = Between(body, "AccessKeyId");
  std::string secret = Between(body, "SecretAccessKey");
  ASSERT_EQ(id.size(), 20u);
  ASSERT_EQ(secret.size(), 40u);
  EXPECT_EQ(body,
            Envelope("CreateAccessKey", "<AccessKey><UserName>alice</UserName><AccessKeyId>" + id +
                                            "</AccessKeyId><Status>Active</Status>"
                                            "<SecretAccessKey>" +
                                            secret +
                                            "</SecretAccessKey><CreateDate>2026-01-01T00:01:"
                                            "05Z</CreateDate></AccessKey>"));
  ASSERT_OK_AND_ASSIGN(iam::Credential c, iam().FindCredential(id));
  EXPECT_EQ(Reveal(c.secret_access_key), secret);

  // The root's own key: no UserName.
  ASSERT_OK_AND_ASSIGN(std::string root, Run(Root(), "Action=CreateAccessKey"));
  EXPECT_THAT(root, HasSubstr("<CreateAccessKeyResult><AccessKey><AccessKeyId>AKIA"));
}

TEST_F(IamQueryTest, ListUpdateDeleteAccessKeys) {
  policy::Principal alice = NewUser("alice");
  ASSERT_OK_AND_ASSIGN(iam::NewAccessKey key, iam().CreateAccessKey(alice, std::nullopt));
  const std::string item = "<member><UserName>alice</UserName><AccessKeyId>" + key.access_key_id +
                           "</AccessKeyId><Status>Inactive</Status><CreateDate>2026-01-01T00:00:"
                           "00Z</CreateDate></member>";
  ASSERT_OK_AND_ASSIGN(
      std::string updated,
      Run(alice, "Action=UpdateAccessKey&AccessKeyId=" + key.access_key_id + "&Status=Inactive"));
  EXPECT_EQ(updated, Envelope("UpdateAccessKey", std::nullopt));
  ASSERT_OK_AND_ASSIGN(std::string list, Run(alice, "Action=ListAccessKeys"));
  EXPECT_EQ(list, Envelope("ListAccessKeys", "<AccessKeyMetadata>" + item +
                                                 "</AccessKeyMetadata><IsTruncated>false"
                                                 "</IsTruncated>"));
  ASSERT_OK_AND_ASSIGN(std::string root_list, Run(Root(), "Action=ListAccessKeys"));
  EXPECT_EQ(root_list,
            Envelope("ListAccessKeys", "<AccessKeyMetadata><member><AccessKeyId>" +
                                           root_key_.access_key_id +
                                           "</AccessKeyId><Status>Active</Status><CreateDate>"
                                           "2026-01-01T00:00:00Z</CreateDate></member>"
                                           "</AccessKeyMetadata><IsTruncated>false"
                                           "</IsTruncated>"));
  ASSERT_OK_AND_ASSIGN(
      std::string deleted,
      Run(Root(), "Action=DeleteAccessKey&UserName=alice&AccessKeyId=" + key.access_key_id));
  EXPECT_EQ(deleted, Envelope("DeleteAccessKey", std::nullopt));
  EXPECT_EQ(iam().FindCredential(key.access_key_id).status().code(), StatusCode::kNotFound);
  EXPECT_THAT(Prepare(alice, "Action=UpdateAccessKey"),
              IsError("ValidationError",
                      "2 validation errors detected: Value null at 'accessKeyId' failed to "
                      "satisfy constraint: Member must not be null; Value null at 'status' failed "
                      "to satisfy constraint: Member must not be null"));
}

// ---- roles
// ----------------------------------------------------------------------------------------

TEST_F(IamQueryTest, CreateGetListRoles) {
  ASSERT_OK_AND_ASSIGN(
      std::string created,
      Run(Root(),
          "Action=CreateRole&RoleName=R&Path=%2Fsvc%2F&Description=backups+%26+restores"
          "&MaxSessionDuration=7200&AssumeRolePolicyDocument=" +
              Form(kTrustAccount)));
  ASSERT_OK_AND_ASSIGN(iam::Role role, iam().GetRole("R"));
  EXPECT_EQ(role.assume_role_policy_document, kTrustAccount);
  EXPECT_EQ(role.description, "backups & restores");
  EXPECT_EQ(role.max_session_duration, 7200);
  const std::string fields =
      "<Path>/svc/</Path><RoleName>R</RoleName><RoleId>" + role.role_id +
      "</RoleId><Arn>arn:aws:iam::111122223333:role/svc/R</Arn><CreateDate>2026-01-01T00:00:00Z"
      "</CreateDate><AssumeRolePolicyDocument>" +
      UrlEncode(kTrustAccount) +
      "</AssumeRolePolicyDocument><Description>backups &amp; restores</Description>";
  EXPECT_EQ(created, Envelope("CreateRole", "<Role>" + fields + "</Role>"));
  EXPECT_THAT(created, HasSubstr("<AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22"));

  ASSERT_OK_AND_ASSIGN(std::string got, Run(Root(), "Action=GetRole&RoleName=R"));
  EXPECT_EQ(got, Envelope("GetRole", "<Role>" + fields +
                                         "<MaxSessionDuration>7200</MaxSessionDuration>"
                                         "<RoleLastUsed/></Role>"));
  ASSERT_OK_AND_ASSIGN(std::string list, Run(Root(), "Action=ListRoles"));
  EXPECT_EQ(list, Envelope("ListRoles", "<Roles><member>" + fields +
                                            "<MaxSessionDuration>7200</MaxSessionDuration>"
                                            "</member></Roles><IsTruncated>false</IsTruncated>"));
  EXPECT_THAT(Run(Root(), "Action=GetRole&RoleName=Q"),
              IsError("NoSuchEntity", "The role with name Q cannot be found."));
}

TEST_F(IamQueryTest, UpdateAssumeRolePolicyAndDeleteRole) {
  iam::Role role = NewRole("R");
  std::string rds = iam::testing::kTrustRds;
  ASSERT_OK_AND_ASSIGN(
      std::string updated,
      Run(Root(), "Action=UpdateAssumeRolePolicy&RoleName=R&PolicyDocument=" + Form(rds)));
  EXPECT_EQ(updated, Envelope("UpdateAssumeRolePolicy", std::nullopt));
  ASSERT_OK_AND_ASSIGN(policy::SavedPolicy trust, iam().TrustPolicyOf(role.arn));
  EXPECT_EQ(trust.text, rds);
  auto malformed = Run(Root(), "Action=UpdateAssumeRolePolicy&RoleName=R&PolicyDocument=%7B%7D");
  EXPECT_EQ(malformed.status().error_name(), "MalformedPolicyDocument");
  EXPECT_EQ(QueryErrorResponse(malformed.status(), kIamXmlNamespace, "r").status, 400);
  ASSERT_OK_AND_ASSIGN(std::string deleted, Run(Root(), "Action=DeleteRole&RoleName=R"));
  EXPECT_EQ(deleted, Envelope("DeleteRole", std::nullopt));
}

TEST_F(IamQueryTest, UpdateRoleAndUpdateRoleDescription) {
  iam::Role role = NewRole("R");
  ASSERT_OK_AND_ASSIGN(
      std::string updated,
      Run(Root(), "Action=UpdateRole&RoleName=R&Description=nightly&MaxSessionDuration=7200"));
  // botocore reads UpdateRoleResult even though it is empty.
  EXPECT_EQ(updated, Envelope("UpdateRole", ""));
  ASSERT_OK_AND_ASSIGN(iam::Role got, iam().GetRole("R"));
  EXPECT_EQ(got.description, "nightly");
  EXPECT_EQ(got.max_session_duration, 7200);

  ASSERT_OK_AND_ASSIGN(std::string described,
                       Run(Root(), "Action=UpdateRoleDescription&RoleName=r&Description=weekly"));
  EXPECT_EQ(described,
            Envelope("UpdateRoleDescription",
                     "<Role><Path>/</Path><RoleName>R</RoleName><RoleId>" + role.role_id +
                         "</RoleId><Arn>arn:aws:iam::111122223333:role/R</Arn><CreateDate>"
                         "2026-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>" +
                         UrlEncode(kTrustAccount) +
                         "</AssumeRolePolicyDocument><Description>weekly</Description>"
                         "<MaxSessionDuration>7200</MaxSessionDuration><RoleLastUsed/></Role>"));

  EXPECT_THAT(Run(Root(), "Action=UpdateRole&RoleName=R&MaxSessionDuration=50000"),
              IsError("ValidationError",
                      "1 validation error detected: Value '50000' at 'maxSessionDuration' failed "
                      "to satisfy constraint: Member must have value less than or equal to "
                      "43200"));
  EXPECT_THAT(Run(Root(), "Action=UpdateRoleDescription&RoleName=R"),
              IsError("ValidationError",
                      "1 validation error detected: Value null at 'description' failed to "
                      "satisfy constraint: Member must not be null"));
  EXPECT_THAT(Run(Root(), "Action=UpdateRole&RoleName=Q&Description=x"),
              IsError("NoSuchEntity", "The role with name Q cannot be found."));
  ASSERT_OK_AND_ASSIGN(got, iam().GetRole("R"));
  EXPECT_EQ(got.description, "weekly");
  EXPECT_EQ(got.max_session_duration, 7200);
}

// ---- inline policies
// --------------------------------------------------------------------------------

TEST_F(IamQueryTest, UserPolicies) {
  NewUser("alice");
  ASSERT_OK_AND_ASSIGN(std::string put, Run(Root(),
                                            "Action=PutUserPolicy&UserName=alice&PolicyName=kms&"
                                            "PolicyDocument=" +
                                                Form(kPolicy)));
  EXPECT_EQ(put, Envelope("PutUserPolicy", std::nullopt));
  ASSERT_OK_AND_ASSIGN(std::string got,
                       Run(Root(), "Action=GetUserPolicy&UserName=ALICE&PolicyName=kms"));
  EXPECT_EQ(got, Envelope("GetUserPolicy",
                          "<UserName>alice</UserName><PolicyName>kms</PolicyName>"
                          "<PolicyDocument>" +
                              UrlEncode(kPolicy) + "</PolicyDocument>"));
  // The document comes back exactly as put, once URL-decoded (as clients do).
  auto decoded = ParseQueryParams("d=" + Between(got, "PolicyDocument"));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->Get("d"), kPolicy);

  ASSERT_OK_AND_ASSIGN(std::string list, Run(Root(), "Action=ListUserPolicies&UserName=alice"));
  EXPECT_EQ(list, Envelope("ListUserPolicies",
                           "<PolicyNames><member>kms</member></PolicyNames>"
                           "<IsTruncated>false</IsTruncated>"));
  ASSERT_OK_AND_ASSIGN(std::string deleted,
                       Run(Root(), "Action=DeleteUserPolicy&UserName=alice&PolicyName=kms"));
  EXPECT_EQ(deleted, Envelope("DeleteUserPolicy", std::nullopt));
  EXPECT_THAT(Run(Root(), "Action=GetUserPolicy&UserName=alice&PolicyName=kms"),
              IsError("NoSuchEntity", "The user policy with name kms cannot be found."));
  EXPECT_THAT(Prepare(Root(), "Action=PutUserPolicy"),
              IsError("ValidationError",
                      "3 validation errors detected: Value null at 'userName' failed to satisfy "
                      "constraint: Member must not be null; Value null at 'policyName' failed to "
                      "satisfy constraint: Member must not be null; Value null at "
                      "'policyDocument' failed to satisfy constraint: Member must not be null"));
}

TEST_F(IamQueryTest, RolePolicies) {
  NewRole("R");
  ASSERT_OK_AND_ASSIGN(std::string put, Run(Root(),
                                            "Action=PutRolePolicy&RoleName=R&PolicyName=p"
                                            "&PolicyDocument=" +
                                                Form(kPolicy)));
  EXPECT_EQ(put, Envelope("PutRolePolicy", std::nullopt));
  ASSERT_OK_AND_ASSIGN(std::string got,
                       Run(Root(), "Action=GetRolePolicy&RoleName=R&PolicyName=p"));
  EXPECT_EQ(got, Envelope("GetRolePolicy",
                          "<RoleName>R</RoleName><PolicyName>p</PolicyName>"
                          "<PolicyDocument>" +
                              UrlEncode(kPolicy) + "</PolicyDocument>"));
  ASSERT_OK_AND_ASSIGN(std::string list,
                       Run(Root(), "Action=ListRolePolicies&RoleName=R&MaxItems=1"));
  EXPECT_EQ(list, Envelope("ListRolePolicies",
                           "<PolicyNames><member>p</member></PolicyNames>"
                           "<IsTruncated>false</IsTruncated>"));
  ASSERT_OK_AND_ASSIGN(std::string deleted,
                       Run(Root(), "Action=DeleteRolePolicy&RoleName=R&PolicyName=p"));
  EXPECT_EQ(deleted, Envelope("DeleteRolePolicy", std::nullopt));
}

// ---- managed policies
// -------------------------------------------------------------------------------

// The fields of a managed policy in CreatePolicy, GetPolicy and ListPolicies,
// between the PolicyName and the dates (`extra`: what GetPolicy adds there).
std::string PolicyFields(const iam::ManagedPolicy& p, const std::string& extra = "",
                         const std::string& dates =
                             "<CreateDate>2026-01-01T00:00:00Z</CreateDate>"
                             "<UpdateDate>2026-01-01T00:00:00Z</UpdateDate>") {
  return "<PolicyName>" + p.policy_name + "</PolicyName><PolicyId>" + p.policy_id +
         "</PolicyId><Arn>" + p.arn + "</Arn><Path>" + p.path + "</Path><DefaultVersionId>" +
         p.default_version_id + "</DefaultVersionId><AttachmentCount>" +
         std::to_string(p.attachment_count) +
         "</AttachmentCount><PermissionsBoundaryUsageCount>0</PermissionsBoundaryUsageCount>"
         "<IsAttachable>true</IsAttachable>" +
         extra + dates;
}

TEST_F(IamQueryTest, CreateManagedPolicy) {
  ASSERT_OK_AND_ASSIGN(Call call,
                       Prepare(Root(),
                               "Action=CreatePolicy&Version=2010-05-08&PolicyName=KmsReaders"
                               "&Path=%2Fteam%2F&Description=who+may+decrypt&PolicyDocument=" +
                                   Form(kPolicy)));
  EXPECT_EQ(call.operation, "CreatePolicy");
  ASSERT_EQ(call.authorizations.size(), 1u);
  EXPECT_EQ(call.authorizations[0].action, "iam:CreatePolicy");
  EXPECT_EQ(call.authorizations[0].resource, "arn:aws:iam::111122223333:policy/team/KmsReaders");
  EXPECT_THAT(call.resources,
              ::testing::ElementsAre(AuditResource::Of(
                  "arn:aws:iam::111122223333:policy/team/KmsReaders", "AWS::IAM::Policy")));
  // Nothing happens before the call runs.
  EXPECT_EQ(
      iam().GetPolicy("arn:aws:iam::111122223333:policy/team/KmsReaders").status().error_name(),
      "NoSuchEntity");

  ASSERT_OK_AND_ASSIGN(Reply reply, call.run());
  ASSERT_OK_AND_ASSIGN(iam::ManagedPolicy p,
                       iam().GetPolicy("arn:aws:iam::111122223333:policy/team/KmsReaders"));
  EXPECT_EQ(p.description, "who may decrypt");
  // IAM's CreatePolicy shows no Description, and no Tags when there are none.
  EXPECT_EQ(reply.body, Envelope("CreatePolicy", "<Policy>" + PolicyFields(p) + "</Policy>"));
  EXPECT_THAT(reply.body, HasSubstr("<CreatePolicyResult><Policy><PolicyName>KmsReaders"
                                    "</PolicyName>"));
  EXPECT_THAT(reply.body, HasSubstr("<DefaultVersionId>v1</DefaultVersionId>"));
  EXPECT_THAT(reply.body, HasSubstr("<Arn>arn:aws:iam::111122223333:policy/team/KmsReaders</Arn>"));
  EXPECT_THAT(reply.body, ::testing::Not(HasSubstr("<Description>")));
  EXPECT_THAT(reply.body, ::testing::Not(HasSubstr("<Tags")));
  EXPECT_THAT(reply.response_elements, HasSubstr("\"policyName\":\"KmsReaders\""));
  EXPECT_THAT(reply.response_elements, HasSubstr("\"defaultVersionId\":\"v1\""));
  EXPECT_THAT(reply.response_elements, HasSubstr("\"policyId\":\"" + p.policy_id + "\""));

  // Run again: the service's error.
  auto again = call.run();
  EXPECT_THAT(again, IsError("EntityAlreadyExists",
                             "A policy called KmsReaders already exists. Duplicate names are not "
                             "allowed."));
  EXPECT_EQ(QueryErrorResponse(again.status(), kIamXmlNamespace, "req-1").status, 409);

  // With tags: they are shown, and tagging needs its own decision.
  ASSERT_OK_AND_ASSIGN(Call tagged, Prepare(Root(),
                                            "Action=CreatePolicy&PolicyName=T&Tags.member.1.Key=k"
                                            "&Tags.member.1.Value=v&PolicyDocument=" +
                                                Form(kPolicy)));
  ASSERT_EQ(tagged.authorizations.size(), 2u);
  EXPECT_EQ(tagged.authorizations[1].action, "iam:TagPolicy");
  EXPECT_EQ(tagged.authorizations[1].resource, "arn:aws:iam::111122223333:policy/T");
  ASSERT_OK_AND_ASSIGN(Reply tagged_reply, tagged.run());
  EXPECT_THAT(tagged_reply.body,
              HasSubstr("</UpdateDate><Tags><member><Key>k</Key><Value>v</Value></member></Tags>"
                        "</Policy>"));

  EXPECT_THAT(
      Prepare(Root(), "Action=CreatePolicy&PolicyName=P&Path=team&PolicyDocument=" + Form(kPolicy)),
      IsError("ValidationError",
              "1 validation error detected: Value 'team' at 'path' failed to satisfy "
              "constraint: Member must satisfy regular expression pattern: "
              "((/[A-Za-z0-9\\.,\\+@=_-]+)*)/"));
}

TEST_F(IamQueryTest, GetManagedPolicyShowsDescriptionAndTags) {
  iam::CreatePolicyRequest req;
  req.policy_name = "P";
  req.policy_document = kPolicy;
  req.path = "/x/";
  req.description = "a & b";
  ASSERT_OK_AND_ASSIGN(iam::ManagedPolicy p, iam().CreatePolicy(req));
  ASSERT_OK_AND_ASSIGN(Call call, Prepare(Root(), "Action=GetPolicy&PolicyArn=" + Form(p.arn)));
  ASSERT_EQ(call.authorizations.size(), 1u);
  EXPECT_EQ(call.authorizations[0].action, "iam:GetPolicy");
  EXPECT_EQ(call.authorizations[0].resource, p.arn);
  ASSERT_OK_AND_ASSIGN(Reply reply, call.run());
  // GetPolicy shows the description, and Tags even when there are none.
  EXPECT_EQ(
      reply.body,
      Envelope("GetPolicy", "<Policy>" + PolicyFields(p, "<Description>a &amp; b</Description>") +
                                "<Tags></Tags></Policy>"));
  EXPECT_THAT(reply.body, HasSubstr("<Description>a &amp; b</Description>"));

  ASSERT_OK(iam().CreatePolicy(iam::CreatePolicyRequest{"T", kPolicy, {}, {}, {{"k", "v"}}}));
  ASSERT_OK_AND_ASSIGN(
      std::string tagged,
      Run(Root(), "Action=GetPolicy&PolicyArn=" + Form("arn:aws:iam::111122223333:policy/T")));
  EXPECT_THAT(tagged, HasSubstr("<Tags><member><Key>k</Key><Value>v</Value></member></Tags>"));
  EXPECT_THAT(tagged, ::testing::Not(HasSubstr("<Description>")));

  EXPECT_THAT(
      Run(Root(), "Action=GetPolicy&PolicyArn=" + Form("arn:aws:iam::111122223333:policy/P")),
      IsError("NoSuchEntity", "Policy arn:aws:iam::111122223333:policy/P was not found."));
  EXPECT_THAT(
      Run(Root(), "Action=GetPolicy&PolicyArn=" + Form("arn:aws:iam::111122223333:user/alice")),
      IsError("InvalidInput", "ARN arn:aws:iam::111122223333:user/alice is not valid."));
}

TEST_F(IamQueryTest, ManagedPolicyVersions) {
  ASSERT_OK_AND_ASSIGN(iam::ManagedPolicy p,
                       iam().CreatePolicy(iam::CreatePolicyRequest{
                           "P", iam::testing::AllowPolicy("kms:Decrypt"), {}, {}, {}}));
  clock_.Advance(std::chrono::seconds(2));
  const std::string arn = "&PolicyArn=" + Form(p.arn);
  ASSERT_OK_AND_ASSIGN(
      Call create, Prepare(Root(), "Action=CreatePolicyVersion&SetAsDefault=true&PolicyDocument=" +
                                       Form(kPolicy) + arn));
  EXPECT_EQ(create.authorizations[0].action, "iam:CreatePolicyVersion");
  EXPECT_EQ(create.authorizations[0].resource, p.arn);
  // requestParameters: SetAsDefault as a JSON boolean, in the model's order.
  EXPECT_THAT(create.request_parameters, HasSubstr("\"policyArn\":\"" + p.arn + "\""));
  EXPECT_THAT(create.request_parameters, HasSubstr(",\"setAsDefault\":true}"));
  ASSERT_OK_AND_ASSIGN(Reply created, create.run());
  EXPECT_EQ(created.body,
            Envelope("CreatePolicyVersion",
                     "<PolicyVersion><VersionId>v2</VersionId><IsDefaultVersion>true"
                     "</IsDefaultVersion><CreateDate>2026-01-01T00:00:02Z</CreateDate>"
                     "</PolicyVersion>"));
  EXPECT_THAT(created.response_elements, HasSubstr("\"versionId\":\"v2\""));
  EXPECT_THAT(created.response_elements, HasSubstr("\"isDefaultVersion\":true"));
  ASSERT_OK_AND_ASSIGN(
      Call not_default,
      Prepare(Root(), "Action=CreatePolicyVersion&SetAsDefault=false&PolicyDocument=" +
                          Form(kPolicy) + arn));
  EXPECT_THAT(not_default.request_parameters, HasSubstr(",\"setAsDefault\":false}"));

  // GetPolicyVersion: the document URL-encoded, as IAM sends it.
  ASSERT_OK_AND_ASSIGN(std::string got, Run(Root(), "Action=GetPolicyVersion&VersionId=v2" + arn));
  EXPECT_EQ(got, Envelope("GetPolicyVersion",
                          "<PolicyVersion><Document>" + UrlEncode(kPolicy) +
                              "</Document><VersionId>v2</VersionId><IsDefaultVersion>true"
                              "</IsDefaultVersion><CreateDate>2026-01-01T00:00:02Z</CreateDate>"
                              "</PolicyVersion>"));
  EXPECT_THAT(got, HasSubstr("<Document>%7B%22Version%22%3A%20%222012-10-17%22"));
  auto decoded = ParseQueryParams("d=" + Between(got, "Document"));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->Get("d"), kPolicy);

  ASSERT_OK_AND_ASSIGN(std::string list, Run(Root(), "Action=ListPolicyVersions" + arn));
  EXPECT_EQ(list, Envelope("ListPolicyVersions",
                           "<Versions><member><VersionId>v2</VersionId><IsDefaultVersion>true"
                           "</IsDefaultVersion><CreateDate>2026-01-01T00:00:02Z</CreateDate>"
                           "</member><member><VersionId>v1</VersionId><IsDefaultVersion>false"
                           "</IsDefaultVersion><CreateDate>2026-01-01T00:00:00Z</CreateDate>"
                           "</member></Versions><IsTruncated>false</IsTruncated>"));

  ASSERT_OK_AND_ASSIGN(std::string set,
                       Run(Root(), "Action=SetDefaultPolicyVersion&VersionId=v1" + arn));
  EXPECT_EQ(set, Envelope("SetDefaultPolicyVersion", std::nullopt));
  ASSERT_OK_AND_ASSIGN(std::string deleted,
                       Run(Root(), "Action=DeletePolicyVersion&VersionId=v2" + arn));
  EXPECT_EQ(deleted, Envelope("DeletePolicyVersion", std::nullopt));
  EXPECT_THAT(Run(Root(), "Action=DeletePolicyVersion&VersionId=v1" + arn),
              IsError("DeleteConflict", "Cannot delete the default version of a policy."));

  // A SetAsDefault that is no boolean, a VersionId that is no version id.
  EXPECT_THAT(Prepare(Root(), "Action=CreatePolicyVersion&SetAsDefault=yes&PolicyDocument=" +
                                  Form(kPolicy) + arn),
              IsError("ValidationError",
                      "1 validation error detected: Value 'yes' at 'setAsDefault' failed to "
                      "satisfy constraint: Member must be a boolean"));
  auto params = ParseQueryParams(
      "Action=CreatePolicyVersion&SetAsDefault=yes&PolicyDocument=" + Form(kPolicy) + arn);
  ASSERT_TRUE(params.ok());
  ASSERT_OK_AND_ASSIGN(Call refused, PrepareIamCall(iam(), Root(), *params, "req-1"));
  EXPECT_FALSE(refused.refused.ok());
  EXPECT_THAT(refused.request_parameters, HasSubstr("\"setAsDefault\":\"yes\""));
  for (const char* id : {"1", "x1", "v0", "V2", "v1_a"}) {
    EXPECT_THAT(Prepare(Root(), "Action=GetPolicyVersion&VersionId=" + std::string(id) + arn),
                IsError("ValidationError",
                        "1 validation error detected: Value '" + std::string(id) +
                            "' at 'versionId' failed to satisfy constraint: Member must satisfy "
                            "regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?"))
        << id;
  }
  EXPECT_THAT(Prepare(Root(), "Action=SetDefaultPolicyVersion" + arn),
              IsError("ValidationError",
                      "1 validation error detected: Value null at 'versionId' failed to satisfy "
                      "constraint: Member must not be null"));
}

TEST_F(IamQueryTest, AttachAndDetachManagedPolicies) {
  NewRole("R", std::nullopt, "/svc/");
  policy::Principal alice = NewUser("alice", "/eng/");
  ASSERT_OK_AND_ASSIGN(iam::ManagedPolicy p, iam().CreatePolicy(iam::CreatePolicyRequest{
                                                 "P", kPolicy, std::string("/x/"), {}, {}}));
  const std::string role = "arn:aws:iam::111122223333:role/svc/R";
  const std::string user = "arn:aws:iam::111122223333:user/eng/alice";
  ASSERT_OK_AND_ASSIGN(
      Call attach, Prepare(Root(), "Action=AttachRolePolicy&RoleName=R&PolicyArn=" + Form(p.arn)));
  EXPECT_EQ(attach.operation, "AttachRolePolicy");
  ASSERT_EQ(attach.authorizations.size(), 1u);
  EXPECT_EQ(attach.authorizations[0].scope, PolicyScope::kIdentity);
  EXPECT_EQ(attach.authorizations[0].action, "iam:AttachRolePolicy");
  EXPECT_EQ(attach.authorizations[0].resource, role);
  EXPECT_EQ(attach.authorizations[0].condition_keys,
            (std::map<std::string, std::vector<std::string>>{{"iam:PolicyARN", {p.arn}}}));
  EXPECT_THAT(attach.resources,
              ::testing::ElementsAre(AuditResource::Of(role, "AWS::IAM::Role"),
                                     AuditResource::Of(p.arn, "AWS::IAM::Policy")));
  ASSERT_OK_AND_ASSIGN(Reply attached, attach.run());
  EXPECT_EQ(attached.body, Envelope("AttachRolePolicy", std::nullopt));
  ASSERT_OK_AND_ASSIGN(iam::ManagedPolicy got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.attachment_count, 1);

  ASSERT_OK_AND_ASSIGN(
      Call user_attach,
      Prepare(Root(), "Action=AttachUserPolicy&UserName=alice&PolicyArn=" + Form(p.arn)));
  EXPECT_EQ(user_attach.authorizations[0].action, "iam:AttachUserPolicy");
  EXPECT_EQ(user_attach.authorizations[0].resource, user);
  EXPECT_EQ(user_attach.authorizations[0].condition_keys.at("iam:PolicyARN"),
            std::vector<std::string>{p.arn});
  ASSERT_OK(user_attach.run());

  ASSERT_OK_AND_ASSIGN(std::string listed,
                       Run(Root(), "Action=ListAttachedRolePolicies&RoleName=R"));
  EXPECT_EQ(listed,
            Envelope("ListAttachedRolePolicies",
                     "<AttachedPolicies><member><PolicyName>P</PolicyName><PolicyArn>" + p.arn +
                         "</PolicyArn></member></AttachedPolicies>"
                         "<IsTruncated>false</IsTruncated>"));
  ASSERT_OK_AND_ASSIGN(std::string entities,
                       Run(Root(), "Action=ListEntitiesForPolicy&PolicyArn=" + Form(p.arn)));
  ASSERT_OK_AND_ASSIGN(iam::Role got_role, iam().GetRole("R"));
  EXPECT_EQ(entities,
            Envelope("ListEntitiesForPolicy",
                     "<PolicyGroups></PolicyGroups><PolicyUsers><member><UserName>alice</UserName>"
                     "<UserId>" +
                         alice.user_id +
                         "</UserId></member></PolicyUsers><PolicyRoles><member>"
                         "<RoleName>R</RoleName><RoleId>" +
                         got_role.role_id +
                         "</RoleId></member></PolicyRoles><IsTruncated>false"
                         "</IsTruncated>"));

  ASSERT_OK_AND_ASSIGN(
      Call detach, Prepare(Root(), "Action=DetachRolePolicy&RoleName=R&PolicyArn=" + Form(p.arn)));
  EXPECT_EQ(detach.authorizations[0].action, "iam:DetachRolePolicy");
  EXPECT_EQ(detach.authorizations[0].resource, role);
  EXPECT_EQ(detach.authorizations[0].condition_keys.at("iam:PolicyARN"),
            std::vector<std::string>{p.arn});
  ASSERT_OK_AND_ASSIGN(Reply detached, detach.run());
  EXPECT_EQ(detached.body, Envelope("DetachRolePolicy", std::nullopt));
  EXPECT_THAT(detach.run(), IsError("NoSuchEntity", "Policy " + p.arn + " was not found."));
  EXPECT_THAT(Run(Root(), "Action=AttachRolePolicy&RoleName=R&PolicyArn=" +
                              Form("arn:aws:iam::aws:policy/AdministratorAccess")),
              IsError("NoSuchEntity",
                      "Policy arn:aws:iam::aws:policy/AdministratorAccess does not exist or is not "
                      "attachable."));
}

TEST_F(IamQueryTest, ListManagedPoliciesActsOnNoResource) {
  NewUser("alice");
  iam::CreatePolicyRequest req{
      "P", kPolicy, std::string("/x/"), std::string("described"), {{"k", "v"}}};
  ASSERT_OK_AND_ASSIGN(iam::ManagedPolicy p, iam().CreatePolicy(req));
  ASSERT_OK(iam().CreatePolicy(iam::CreatePolicyRequest{"Q", kPolicy, {}, {}, {}}));
  ASSERT_OK(iam().AttachUserPolicy("alice", p.arn));
  ASSERT_OK_AND_ASSIGN(
      Call call, Prepare(Root(), "Action=ListPolicies&Scope=Local&OnlyAttached=true&MaxItems=5"));
  ASSERT_EQ(call.authorizations.size(), 1u);
  EXPECT_EQ(call.authorizations[0].action, "iam:ListPolicies");
  EXPECT_EQ(call.authorizations[0].resource, "*");
  EXPECT_TRUE(call.resources.empty());
  EXPECT_TRUE(call.read_only);
  EXPECT_EQ(call.request_parameters, R"({"scope":"Local","onlyAttached":true,"maxItems":5})");
  ASSERT_OK_AND_ASSIGN(Reply reply, call.run());
  ASSERT_OK_AND_ASSIGN(p, iam().GetPolicy(p.arn));
  // Listed without Description and Tags.
  EXPECT_EQ(reply.body,
            Envelope("ListPolicies", "<Policies><member>" + PolicyFields(p) +
                                         "</member></Policies><IsTruncated>false</IsTruncated>"));
  ASSERT_OK_AND_ASSIGN(std::string aws, Run(Root(), "Action=ListPolicies&Scope=AWS"));
  EXPECT_EQ(aws, Envelope("ListPolicies", "<Policies></Policies><IsTruncated>false</IsTruncated>"));
  EXPECT_THAT(Prepare(Root(), "Action=ListPolicies&OnlyAttached=1"),
              IsError("ValidationError",
                      "1 validation error detected: Value '1' at 'onlyAttached' failed to "
                      "satisfy constraint: Member must be a boolean"));
  EXPECT_THAT(Prepare(Root(), "Action=ListPolicies&Scope=Everything"),
              IsError("ValidationError",
                      "1 validation error detected: Value 'Everything' at 'scope' failed to "
                      "satisfy constraint: Member must satisfy enum value set: [All, AWS, "
                      "Local]"));
}

TEST_F(IamQueryTest, EveryManagedPolicyOperationNamesItsActionAndResource) {
  policy::Principal alice = NewUser("alice", "/eng/");
  NewRole("R", std::nullopt, "/svc/");
  const std::string user = "arn:aws:iam::111122223333:user/eng/alice";
  const std::string role = "arn:aws:iam::111122223333:role/svc/R";
  const std::string policy = "arn:aws:iam::111122223333:policy/x/P";
  const std::string arn = "&PolicyArn=" + Form(policy);
  const std::string doc = "&PolicyDocument=" + Form(kPolicy);
  struct Case {
    std::string body;
    std::string resource;
    bool read_only;
  };
  std::vector<Case> cases = {
      {"Action=CreatePolicy&PolicyName=P&Path=%2Fx%2F" + doc, policy, false},
      {"Action=GetPolicy" + arn, policy, true},
      {"Action=DeletePolicy" + arn, policy, false},
      {"Action=ListPolicies", "*", true},
      {"Action=CreatePolicyVersion" + arn + doc, policy, false},
      {"Action=GetPolicyVersion&VersionId=v1" + arn, policy, true},
      {"Action=ListPolicyVersions" + arn, policy, true},
      {"Action=DeletePolicyVersion&VersionId=v1" + arn, policy, false},
      {"Action=SetDefaultPolicyVersion&VersionId=v1" + arn, policy, false},
      {"Action=ListEntitiesForPolicy" + arn, policy, true},
      {"Action=AttachUserPolicy&UserName=alice" + arn, user, false},
      {"Action=DetachUserPolicy&UserName=ALICE" + arn, user, false},
      {"Action=AttachRolePolicy&RoleName=R" + arn, role, false},
      {"Action=DetachRolePolicy&RoleName=r" + arn, role, false},
      {"Action=ListAttachedUserPolicies&UserName=alice", user, true},
      {"Action=ListAttachedRolePolicies&RoleName=R", role, true},
      {"Action=TagPolicy&Tags.member.1.Key=k&Tags.member.1.Value=v" + arn, policy, false},
      {"Action=UntagPolicy&TagKeys.member.1=k" + arn, policy, false},
      {"Action=ListPolicyTags" + arn, policy, true},
  };
  std::set<std::string> operations;
  for (const Case& c : cases) {
    auto call = Prepare(alice, c.body + "&Version=2010-05-08");
    ASSERT_TRUE(call.ok()) << c.body << ": " << call.status().ToString();
    std::string action = c.body.substr(
        7, c.body.find('&') == std::string::npos ? std::string::npos : c.body.find('&') - 7);
    operations.insert(action);
    EXPECT_EQ(call->operation, action) << c.body;
    EXPECT_EQ(call->read_only, c.read_only) << c.body;
    ASSERT_EQ(call->authorizations.size(), 1u) << c.body;
    EXPECT_EQ(call->authorizations[0].scope, PolicyScope::kIdentity) << c.body;
    EXPECT_EQ(call->authorizations[0].action, "iam:" + action) << c.body;
    EXPECT_EQ(call->authorizations[0].resource, c.resource) << c.body;
    EXPECT_TRUE(call->run != nullptr) << c.body;
  }
  EXPECT_EQ(operations.size(), 19u);
}

// ---- decisions of every operation
// -----------------------------------------------------------------

TEST_F(IamQueryTest, EveryOperationNamesItsActionAndResource) {
  policy::Principal alice = NewUser("alice", "/eng/");
  NewRole("R", std::nullopt, "/svc/");
  ASSERT_OK(iam().CreateGroup({"G", "/db/"}).status());
  const std::string user = "arn:aws:iam::111122223333:user/eng/alice";
  const std::string role = "arn:aws:iam::111122223333:role/svc/R";
  const std::string group = "arn:aws:iam::111122223333:group/db/G";
  const std::string doc = "&PolicyDocument=" + Form(kPolicy);
  struct Case {
    std::string body;
    policy::Principal caller;
    std::string resource;
  };
  std::vector<Case> cases = {
      {"Action=CreateUser&UserName=bob&Path=%2Fx%2F", Root(),
       "arn:aws:iam::111122223333:user/x/bob"},
      {"Action=CreateUser&UserName=bob", Root(), "arn:aws:iam::111122223333:user/bob"},
      {"Action=GetUser&UserName=ALICE", Root(), user},
      {"Action=GetUser", alice, user},
      {"Action=ListUsers", alice, "arn:aws:iam::111122223333:user/"},
      {"Action=ListUsers&PathPrefix=%2Feng%2F", alice, "arn:aws:iam::111122223333:user/eng/"},
      {"Action=DeleteUser&UserName=alice", alice, user},
      {"Action=CreateAccessKey&UserName=alice", Root(), user},
      {"Action=CreateAccessKey", alice, user},
      {"Action=CreateAccessKey", Root(), "arn:aws:iam::111122223333:root"},
      {"Action=ListAccessKeys&UserName=alice", Root(), user},
      {"Action=UpdateAccessKey&AccessKeyId=AKIAAAAAAAAAAAAAAAAA&Status=Active", alice, user},
      {"Action=DeleteAccessKey&AccessKeyId=AKIAAAAAAAAAAAAAAAAA&UserName=nobody", alice,
       "arn:aws:iam::111122223333:user/nobody"},
      {"Action=CreateRole&RoleName=Q&Path=%2Fp%2F&AssumeRolePolicyDocument=x", alice,
       "arn:aws:iam::111122223333:role/p/Q"},
      {"Action=GetRole&RoleName=R", alice, role},
      {"Action=ListRoles", alice, "arn:aws:iam::111122223333:role/"},
      {"Action=UpdateAssumeRolePolicy&RoleName=r" + doc, alice, role},
      {"Action=DeleteRole&RoleName=R", alice, role},
      {"Action=PutUserPolicy&UserName=alice&PolicyName=p" + doc, alice, user},
      {"Action=GetUserPolicy&UserName=alice&PolicyName=p", alice, user},
      {"Action=ListUserPolicies&UserName=alice", alice, user},
      {"Action=DeleteUserPolicy&UserName=alice&PolicyName=p", alice, user},
      {"Action=PutRolePolicy&RoleName=R&PolicyName=p" + doc, alice, role},
      {"Action=GetRolePolicy&RoleName=R&PolicyName=p", alice, role},
      {"Action=ListRolePolicies&RoleName=R", alice, role},
      {"Action=DeleteRolePolicy&RoleName=R&PolicyName=p", alice, role},
      {"Action=TagUser&UserName=alice&Tags.member.1.Key=k&Tags.member.1.Value=v", alice, user},
      {"Action=UntagUser&UserName=alice&TagKeys.member.1=k", alice, user},
      {"Action=ListUserTags&UserName=alice", alice, user},
      {"Action=TagRole&RoleName=R&Tags.member.1.Key=k&Tags.member.1.Value=v", alice, role},
      {"Action=UntagRole&RoleName=R&TagKeys.member.1=k", alice, role},
      {"Action=ListRoleTags&RoleName=R", alice, role},
      {"Action=CreateGroup&GroupName=ops", alice, "arn:aws:iam::111122223333:group/ops"},
      {"Action=GetGroup&GroupName=g", alice, group},
      {"Action=ListGroups&PathPrefix=%2Fdb%2F", alice, "arn:aws:iam::111122223333:group/db/"},
      {"Action=DeleteGroup&GroupName=G", alice, group},
      {"Action=UpdateGroup&GroupName=G", alice, group},  // nothing new: one decision
      // Membership is decided on the group, whichever user it names.
      {"Action=AddUserToGroup&GroupName=G&UserName=alice", alice, group},
      {"Action=RemoveUserFromGroup&GroupName=G&UserName=alice", alice, group},
      {"Action=ListGroupsForUser&UserName=alice", alice, user},
      {"Action=PutGroupPolicy&GroupName=G&PolicyName=p" + doc, alice, group},
      {"Action=GetGroupPolicy&GroupName=G&PolicyName=p", alice, group},
      {"Action=ListGroupPolicies&GroupName=G", alice, group},
      {"Action=DeleteGroupPolicy&GroupName=G&PolicyName=p", alice, group},
  };
  std::set<std::string> operations;
  for (const Case& c : cases) {
    auto call = Prepare(c.caller, c.body + "&Version=2010-05-08");
    ASSERT_TRUE(call.ok()) << c.body << ": " << call.status().ToString();
    std::string action = c.body.substr(7, c.body.find('&') - 7);
    operations.insert(action);
    EXPECT_EQ(call->operation, action) << c.body;
    ASSERT_EQ(call->authorizations.size(), 1u) << c.body;
    EXPECT_EQ(call->authorizations[0].scope, PolicyScope::kIdentity) << c.body;
    EXPECT_EQ(call->authorizations[0].action, "iam:" + action) << c.body;
    EXPECT_EQ(call->authorizations[0].resource, c.resource) << c.body;
    EXPECT_TRUE(call->run != nullptr) << c.body;
  }
  EXPECT_EQ(operations.size(), 39u);
  // A new name or path: decisions on the group as it is and as it will be.
  ASSERT_OK_AND_ASSIGN(
      Call renamed,
      Prepare(alice, "Action=UpdateGroup&GroupName=G&NewPath=%2Fops%2F&Version=2010-05-08"));
  ASSERT_EQ(renamed.authorizations.size(), 2u);
  EXPECT_EQ(renamed.authorizations[0].resource, group);
  EXPECT_EQ(renamed.authorizations[1].action, "iam:UpdateGroup");
  EXPECT_EQ(renamed.authorizations[1].resource, "arn:aws:iam::111122223333:group/ops/G");
}

// ---- request errors
// -----------------------------------------------------------------------------------

TEST_F(IamQueryTest, ActionsAndVersions) {
  EXPECT_THAT(Prepare(Root(), "Action=CreateInstanceProfile&Version=2010-05-08"),
              IsError("InvalidAction",
                      "Could not find operation CreateInstanceProfile for version "
                      "2010-05-08"));
  EXPECT_THAT(Prepare(Root(), "Action=AssumeRole&Version=2010-05-08"),
              IsError("InvalidAction",
                      "Could not find operation AssumeRole for version "
                      "2010-05-08"));
  EXPECT_THAT(Prepare(Root(), "Action=GetUser&Version=2011-06-15"),
              IsError("InvalidAction", "Could not find operation GetUser for version 2011-06-15"));
  EXPECT_THAT(Prepare(Root(), "Version=2010-05-08"), IsError("MissingAction", "Missing Action"));
  EXPECT_THAT(Prepare(Root(), "Action=CreateUser"),
              IsError("ValidationError",
                      "1 validation error detected: Value null at 'userName' failed to satisfy "
                      "constraint: Member must not be null"));
  EXPECT_THAT(Prepare(Root(),
                      "Action=CreateUser&UserName=a&PermissionsBoundary=arn%3Aaws%3Aiam"
                      "%3A%3Aaws%3Apolicy%2FX"),
              IsError("ValidationError",
                      "coffer does not support the parameter PermissionsBoundary of CreateUser."));
  EXPECT_THAT(Prepare(Root(),
                      "Action=CreateRole&RoleName=a&AssumeRolePolicyDocument=x&"
                      "PermissionsBoundary=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FX"),
              IsError("ValidationError",
                      "coffer does not support the parameter PermissionsBoundary of CreateRole."));
  // A tag without its value, and tag lists numbered with a gap.
  EXPECT_THAT(Prepare(Root(), "Action=TagUser&UserName=a&Tags.member.1.Key=k"),
              IsError("ValidationError",
                      "1 validation error detected: Value null at 'tags.1.member.value' failed to "
                      "satisfy constraint: Member must not be null"));
  EXPECT_EQ(Prepare(Root(), "Action=UntagUser&UserName=a&TagKeys.member.2=k").status().error_name(),
            "ValidationError");
  net::HttpResponse r =
      QueryErrorResponse(Prepare(Root(), "Action=Nope").status(), kIamXmlNamespace, "req-1");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("<Code>InvalidAction</Code>"));
}

// The model's constraints on the members are checked before the call is
// prepared, so before the caller or any policy is looked at (as IAM does: a
// caller allowed nothing hears of a malformed request), every broken member
// in one message; a member the operation does not take is not looked at.
TEST_F(IamQueryTest, MemberConstraintsAreCheckedBeforeAnythingElse) {
  policy::Principal nobody = NewUser("nobody");  // allowed nothing
  EXPECT_THAT(Prepare(nobody, "Action=CreateUser&UserName=a+b"),
              IsError("ValidationError",
                      "1 validation error detected: Value 'a b' at 'userName' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"));
  EXPECT_THAT(Prepare(nobody, "Action=UpdateGroup&GroupName=g&NewPath=eng&NewGroupName=a+b"),
              IsError("ValidationError",
                      "2 validation errors detected: Value 'eng' at 'newPath' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F); Value 'a b' at "
                      "'newGroupName' failed to satisfy constraint: Member must satisfy regular "
                      "expression pattern: [\\w+=,.@-]+"));
  EXPECT_THAT(Prepare(nobody, "Action=ListUsers&PathPrefix=nope&MaxItems=0"),
              IsError("ValidationError",
                      "2 validation errors detected: Value 'nope' at 'pathPrefix' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "\\u002F[\\u0021-\\u007F]*; Value '0' at 'maxItems' failed to satisfy "
                      "constraint: Member must have value greater than or equal to 1"));
  EXPECT_THAT(Prepare(Root(), "Action=ListRoles&MaxItems=1001"),
              IsError("ValidationError",
                      "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy "
                      "constraint: Member must have value less than or equal to 1000"));
  // CreateUser's user name is at most 64 characters, every other operation's 128.
  const std::string long_name(100, 'u');
  EXPECT_THAT(Prepare(Root(), "Action=CreateUser&UserName=" + long_name),
              IsError("ValidationError", "1 validation error detected: Value '" + long_name +
                                             "' at 'userName' failed to satisfy constraint: "
                                             "Member must have length less than or equal to 64"));
  EXPECT_THAT(Prepare(Root(), "Action=GetUser&UserName=" + long_name), IsOk());
  EXPECT_THAT(Prepare(nobody, "Action=UpdateAccessKey&AccessKeyId=short&Status=Gone"),
              IsError("ValidationError",
                      "2 validation errors detected: Value 'short' at 'accessKeyId' failed to "
                      "satisfy constraint: Member must have length greater than or equal to 16; "
                      "Value 'Gone' at 'status' failed to satisfy constraint: Member must satisfy "
                      "enum value set: [Active, Inactive, Expired]"));
  // A required member that is missing and an integer that is not one are
  // reported with the constraints of the others, in one message.
  EXPECT_THAT(Prepare(nobody, "Action=CreateRole&Path=nope&MaxSessionDuration=1h&Description=d"),
              IsError("ValidationError",
                      "4 validation errors detected: Value null at 'roleName' failed to satisfy "
                      "constraint: Member must not be null; Value null at "
                      "'assumeRolePolicyDocument' failed to satisfy constraint: Member must not "
                      "be null; Value '1h' at 'maxSessionDuration' failed to satisfy constraint: "
                      "Member must be an integer; Value 'nope' at 'path' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"));
  EXPECT_THAT(Prepare(nobody, "Action=PutRolePolicy&RoleName=a+b&PolicyDocument=%7B%7D"),
              IsError("ValidationError",
                      "2 validation errors detected: Value null at 'policyName' failed to "
                      "satisfy constraint: Member must not be null; Value 'a b' at 'roleName' "
                      "failed to satisfy constraint: Member must satisfy regular expression "
                      "pattern: [\\w+=,.@-]+"));
  // Not CreateUser's members: not checked.
  EXPECT_THAT(Prepare(Root(), "Action=CreateUser&UserName=carol&Status=Gone&MaxItems=0"), IsOk());
}

}  // namespace
}  // namespace coffer::api
