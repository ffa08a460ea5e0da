// What the IAM and STS Query codecs (src/api/iam_query.cc, sts_query.cc) tell the audit
// record of each call: for every operation, a request as the aws CLI sends it, decoded
// and run on a real IdentityService; its eventSource, readOnly, requestParameters,
// resources and responseElements as CloudTrail records them, and no secret anywhere in
// them or in the record built from them: not CreateAccessKey's secret access key, not
// AssumeRole's secret access key or session token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/iam_query.h"
#include "api/query.h"
#include "api/sts_query.h"
#include "audit/cloudtrail_record.h"
#include "iam/iam_fixture.h"

namespace coffer::api {
namespace {

using ::coffer::iam::testing::IamTest;
using ::coffer::iam::testing::kTrustAccount;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using Json = nlohmann::json;

constexpr char kAccount[] = "111122223333";
constexpr char kCreated[] = "Jan 1, 2026, 12:00:00 AM";  // the fixture's clock
const std::string kPolicy =
    R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]})";

std::string Quote(std::string_view s) { return Json(std::string(s)).dump(); }

// The text between <tag> and </tag>, the first time it appears.
std::string Between(const std::string& xml, const std::string& tag) {
  size_t start = xml.find("<" + tag + ">");
  size_t end = xml.find("</" + tag + ">");
  if (start == std::string::npos || end == std::string::npos) return "";
  start += tag.size() + 2;
  return xml.substr(start, end - start);
}

AuditResource User(const std::string& arn) { return AuditResource::Of(arn, "AWS::IAM::User"); }
AuditResource Role(const std::string& arn) { return AuditResource::Of(arn, "AWS::IAM::Role"); }
AuditResource Group(const std::string& arn) { return AuditResource::Of(arn, "AWS::IAM::Group"); }

class QueryAuditTest : public IamTest {
 protected:
  struct Ran {
    Call call;
    Reply reply;
  };

  // Prepares `body` (IAM when `service` is "iam", else STS) for `caller` and runs it
  // (both must succeed); checks what every record needs, notes the secrets of the
  // reply, and checks that no secret noted so far appears in the record fields or in
  // a record built from them.
  Ran Run(std::string_view service, const policy::Principal& caller, const std::string& body) {
    Ran out;
    auto params = ParseQueryParams(body);
    if (!params.ok()) {
      ADD_FAILURE() << body << ": " << params.status().ToString();
      return out;
    }
    const bool is_iam = service == "iam";
    auto call = is_iam ? PrepareIamCall(iam(), caller, *params, "req-9")
                       : PrepareStsCall(iam(), caller, *params, "req-9");
    if (!call.ok()) {
      ADD_FAILURE() << body << ": " << call.status().ToString();
      return out;
    }
    out.call = std::move(*call);
    (is_iam ? ran_iam_ : ran_sts_).insert(out.call.operation);
    EXPECT_EQ(out.call.event_source, is_iam ? "iam.amazonaws.com" : "sts.amazonaws.com");
    auto reply = out.call.run();
    if (!reply.ok()) {
      ADD_FAILURE() << body << ": " << reply.status().ToString();
      return out;
    }
    out.reply = std::move(*reply);
    for (const char* tag : {"SecretAccessKey", "SessionToken"}) {
      std::string secret = Between(out.reply.body, tag);
      if (!secret.empty()) secrets_.push_back(secret);
    }
    CheckNoSecrets(out, caller);
    return out;
  }
  Ran Iam(const std::string& body, const policy::Principal& caller) {
    return Run("iam", caller, body);
  }
  Ran Iam(const std::string& body) { return Run("iam", Root(), body); }

  void CheckNoSecrets(const Ran& r, const policy::Principal& caller) {
    for (const std::string* field : {&r.call.request_parameters, &r.reply.response_elements}) {
      Json j = Json::parse(*field, nullptr, /*allow_exceptions=*/false);
      EXPECT_TRUE(j.is_object() || j.is_null()) << *field;
    }
    audit::AuditEvent e;
    e.principal = caller;
    e.account_id = kAccount;
    e.event_source = r.call.event_source;
    e.event_name = r.call.operation;
    e.request_parameters = r.call.request_parameters;
    e.response_elements = r.reply.response_elements;
    e.read_only = r.call.read_only;
    e.resources = r.call.resources;
    const std::string record = audit::BuildCloudTrailRecord(e);
    for (const std::string& secret : secrets_) {
      for (const std::string* field :
           {&r.call.request_parameters, &r.reply.response_elements, &record}) {
        EXPECT_EQ(field->find(secret), std::string::npos)
            << r.call.operation << " records a secret: " << *field;
      }
    }
  }

  std::vector<std::string> secrets_;
  std::set<std::string> ran_iam_, ran_sts_;
};

TEST_F(QueryAuditTest, EveryIamOperation) {
  const std::string alice_arn = "arn:aws:iam::111122223333:user/eng/alice";
  const std::string role_arn = "arn:aws:iam::111122223333:role/service-role/backup";

  // ---- users ----
  {
    Ran r = Iam("Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Feng%2F");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"path":"/eng/","userName":"alice"})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.call.resources[0].account_id, kAccount);
    EXPECT_EQ(r.reply.response_elements,
              R"({"user":{"path":"/eng/","userName":"alice","userId":")" +
                  Between(r.reply.body, "UserId") + R"(","arn":")" + alice_arn +
                  R"(","createDate":")" + kCreated + R"("}})");
  }
  {
    Ran r = Iam("Action=GetUser&Version=2010-05-08&UserName=alice");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"userName":"alice"})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
    // The root asking about itself: no parameters, and the root is no IAM user.
    Ran self = Iam("Action=GetUser&Version=2010-05-08");
    EXPECT_EQ(self.call.request_parameters, "null");
    EXPECT_THAT(self.call.resources, IsEmpty());
  }
  {
    Ran r = Iam("Action=ListUsers&Version=2010-05-08&PathPrefix=%2Feng%2F&MaxItems=10");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"pathPrefix":"/eng/","maxItems":10})");
    EXPECT_THAT(r.call.resources, IsEmpty());
    EXPECT_EQ(r.reply.response_elements, "null");
  }

  // ---- access keys ----
  std::string key_id;
  {
    Ran r = Iam("Action=CreateAccessKey&Version=2010-05-08&UserName=alice");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"userName":"alice"})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    key_id = Between(r.reply.body, "AccessKeyId");
    ASSERT_EQ(Between(r.reply.body, "SecretAccessKey").size(), 40u);  // in the reply only
    EXPECT_EQ(r.reply.response_elements, R"({"accessKey":{"userName":"alice","accessKeyId":")" +
                                             key_id + R"(","status":"Active","createDate":")" +
                                             kCreated + R"("}})");
  }
  {
    // The root's own key: no userName anywhere.
    Ran r = Iam("Action=CreateAccessKey&Version=2010-05-08");
    EXPECT_EQ(r.call.request_parameters, "null");
    EXPECT_THAT(r.call.resources, IsEmpty());
    EXPECT_EQ(r.reply.response_elements,
              R"({"accessKey":{"accessKeyId":")" + Between(r.reply.body, "AccessKeyId") +
                  R"(","status":"Active","createDate":")" + kCreated + R"("}})");
  }
  {
    Ran r = Iam("Action=ListAccessKeys&Version=2010-05-08&UserName=alice&MaxItems=5");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"userName":"alice","maxItems":5})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=UpdateAccessKey&Version=2010-05-08&UserName=alice&AccessKeyId=" + key_id +
                "&Status=Inactive");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"userName":"alice","accessKeyId":")" + key_id + R"(","status":"Inactive"})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=GetAccessKeyLastUsed&Version=2010-05-08&AccessKeyId=" + key_id);
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"accessKeyId":")" + key_id + R"("})");
    // Authorized on, and recorded as naming, the key's user.
    EXPECT_EQ(r.call.authorizations[0].resource, alice_arn);
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
    EXPECT_EQ(Between(r.reply.body, "ServiceName"), "N/A");  // never used
  }
  {
    Ran r = Iam("Action=DeleteAccessKey&Version=2010-05-08&UserName=alice&AccessKeyId=" + key_id);
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"userName":"alice","accessKeyId":")" + key_id + R"("})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }

  // ---- user policies ----
  {
    Ran r =
        Iam("Action=PutUserPolicy&Version=2010-05-08&UserName=alice&PolicyName=decrypt"
            "&PolicyDocument=" +
            UrlEncode(kPolicy));
    EXPECT_FALSE(r.call.read_only);
    // The document as given (decoded from the form), as AWS records it.
    EXPECT_EQ(
        r.call.request_parameters,
        R"({"userName":"alice","policyName":"decrypt","policyDocument":)" + Quote(kPolicy) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=GetUserPolicy&Version=2010-05-08&UserName=alice&PolicyName=decrypt");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"userName":"alice","policyName":"decrypt"})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");  // the IAM User Guide's GetUserPolicy event
  }
  {
    Ran r = Iam("Action=ListUserPolicies&Version=2010-05-08&UserName=alice&MaxItems=100");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"userName":"alice","maxItems":100})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=DeleteUserPolicy&Version=2010-05-08&UserName=alice&PolicyName=decrypt");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"userName":"alice","policyName":"decrypt"})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }

  // ---- roles ----
  {
    Ran r =
        Iam("Action=CreateRole&Version=2010-05-08&RoleName=backup&Path=%2Fservice-role%2F"
            "&AssumeRolePolicyDocument=" +
            UrlEncode(kTrustAccount) + "&Description=nightly&MaxSessionDuration=7200");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"path":"/service-role/","roleName":"backup","assumeRolePolicyDocument":)" +
                  Quote(kTrustAccount) + R"(,"description":"nightly","maxSessionDuration":7200})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    // The trust policy URL-encoded, as in the reply and as CloudTrail records it.
    EXPECT_EQ(r.reply.response_elements,
              R"({"role":{"path":"/service-role/","roleName":"backup","roleId":")" +
                  Between(r.reply.body, "RoleId") + R"(","arn":")" + role_arn +
                  R"(","createDate":")" + kCreated + R"(","assumeRolePolicyDocument":")" +
                  UrlEncode(kTrustAccount) + R"(","description":"nightly"}})");
  }
  {
    Ran r = Iam("Action=GetRole&Version=2010-05-08&RoleName=backup");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"roleName":"backup"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=ListRoles&Version=2010-05-08&PathPrefix=%2Fservice-role%2F");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"pathPrefix":"/service-role/"})");
    EXPECT_THAT(r.call.resources, IsEmpty());
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=UpdateAssumeRolePolicy&Version=2010-05-08&RoleName=backup&PolicyDocument=" +
                UrlEncode(kTrustAccount));
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"roleName":"backup","policyDocument":)" + Quote(kTrustAccount) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=UpdateRole&Version=2010-05-08&RoleName=backup&MaxSessionDuration=7200");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"roleName":"backup","maxSessionDuration":7200})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r =
        Iam("Action=UpdateRoleDescription&Version=2010-05-08&RoleName=backup&Description=weekly");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"roleName":"backup","description":"weekly"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements,
              R"({"role":{"path":"/service-role/","roleName":"backup","roleId":")" +
                  Between(r.reply.body, "RoleId") + R"(","arn":")" + role_arn +
                  R"(","createDate":")" + kCreated + R"(","assumeRolePolicyDocument":")" +
                  UrlEncode(kTrustAccount) + R"(","description":"weekly"}})");
  }
  {
    Ran r =
        Iam("Action=PutRolePolicy&Version=2010-05-08&RoleName=backup&PolicyName=decrypt"
            "&PolicyDocument=" +
            UrlEncode(kPolicy));
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(
        r.call.request_parameters,
        R"({"roleName":"backup","policyName":"decrypt","policyDocument":)" + Quote(kPolicy) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=GetRolePolicy&Version=2010-05-08&RoleName=backup&PolicyName=decrypt");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"roleName":"backup","policyName":"decrypt"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=ListRolePolicies&Version=2010-05-08&RoleName=backup");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"roleName":"backup"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=DeleteRolePolicy&Version=2010-05-08&RoleName=backup&PolicyName=decrypt");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"roleName":"backup","policyName":"decrypt"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r =
        Iam("Action=TagRole&Version=2010-05-08&RoleName=backup&Tags.member.1.Key=Team"
            "&Tags.member.1.Value=db");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"roleName":"backup","tags":[{"key":"Team","value":"db"}]})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=ListRoleTags&Version=2010-05-08&RoleName=backup");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"roleName":"backup"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
  }
  {
    Ran r = Iam("Action=UntagRole&Version=2010-05-08&RoleName=backup&TagKeys.member.1=Team");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"roleName":"backup","tagKeys":["Team"]})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
  }
  {
    Ran r =
        Iam("Action=TagUser&Version=2010-05-08&UserName=alice&Tags.member.1.Key=Team"
            "&Tags.member.1.Value=db");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"userName":"alice","tags":[{"key":"Team","value":"db"}]})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
  }
  {
    Ran r = Iam("Action=ListUserTags&Version=2010-05-08&UserName=alice");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
  }
  {
    Ran r = Iam("Action=UntagUser&Version=2010-05-08&UserName=alice&TagKeys.member.1=Team");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"userName":"alice","tagKeys":["Team"]})");
  }
  // ---- groups ----
  const std::string group_arn = "arn:aws:iam::111122223333:group/eng/dbadmins";
  {
    Ran r = Iam("Action=CreateGroup&Version=2010-05-08&GroupName=dbadmins&Path=%2Feng%2F");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"path":"/eng/","groupName":"dbadmins"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Group(group_arn)));
    EXPECT_EQ(r.reply.response_elements,
              R"({"group":{"path":"/eng/","groupName":"dbadmins","groupId":")" +
                  Between(r.reply.body, "GroupId") + R"(","arn":")" + group_arn +
                  R"(","createDate":")" + kCreated + R"("}})");
  }
  {
    Ran r = Iam("Action=AddUserToGroup&Version=2010-05-08&GroupName=dbadmins&UserName=alice");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"groupName":"dbadmins","userName":"alice"})");
    EXPECT_EQ(r.call.authorizations[0].resource, group_arn);
    EXPECT_THAT(r.call.resources, ElementsAre(Group(group_arn), User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  // The read-only operations and those that change the group without answering
  // anything: the group's resource, no responseElements.
  for (const auto& [query, read_only] : std::vector<std::pair<std::string, bool>>{
           {"Action=GetGroup&MaxItems=10", true},
           {"Action=PutGroupPolicy&PolicyName=decrypt&PolicyDocument=" + UrlEncode(kPolicy), false},
           {"Action=GetGroupPolicy&PolicyName=decrypt", true},
           {"Action=ListGroupPolicies", true},
           {"Action=DeleteGroupPolicy&PolicyName=decrypt", false}}) {
    SCOPED_TRACE(query);
    Ran r = Iam(query + "&Version=2010-05-08&GroupName=dbadmins");
    EXPECT_EQ(r.call.read_only, read_only);
    EXPECT_THAT(r.call.request_parameters, StartsWith(R"({"groupName":"dbadmins")"));
    EXPECT_THAT(r.call.resources, ElementsAre(Group(group_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=ListGroups&Version=2010-05-08&PathPrefix=%2Feng%2F");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"pathPrefix":"/eng/"})");
    EXPECT_EQ(r.call.authorizations[0].resource, "arn:aws:iam::111122223333:group/eng/");
    EXPECT_THAT(r.call.resources, IsEmpty());
  }
  {
    Ran r = Iam("Action=ListGroupsForUser&Version=2010-05-08&UserName=alice");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"userName":"alice"})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(Between(r.reply.body, "GroupName"), "dbadmins");
  }

  // ---- customer managed policies ----
  const std::string policy_arn = "arn:aws:iam::111122223333:policy/teams/kms-use";
  const std::string encoded_arn = UrlEncode(policy_arn);
  auto policy_resource = AuditResource::Of(policy_arn, "AWS::IAM::Policy");
  {
    Ran r =
        Iam("Action=CreatePolicy&Version=2010-05-08&PolicyName=kms-use&Path=%2Fteams%2F"
            "&PolicyDocument=" +
            UrlEncode(kPolicy));
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(
        r.call.request_parameters,
        R"({"policyName":"kms-use","path":"/teams/","policyDocument":)" + Quote(kPolicy) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(policy_resource));
    EXPECT_EQ(r.reply.response_elements,
              R"({"policy":{"policyName":"kms-use","policyId":")" +
                  Between(r.reply.body, "PolicyId") + R"(","arn":")" + policy_arn +
                  R"(","path":"/teams/","defaultVersionId":"v1","attachmentCount":0,)"
                  R"("permissionsBoundaryUsageCount":0,"isAttachable":true,"createDate":")" +
                  kCreated + R"(","updateDate":")" + kCreated + R"("}})");
  }
  {
    Ran r = Iam("Action=CreatePolicyVersion&Version=2010-05-08&PolicyArn=" + encoded_arn +
                "&SetAsDefault=true&PolicyDocument=" + UrlEncode(kPolicy));
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"policyArn":")" + policy_arn +
                                             R"(","policyDocument":)" + Quote(kPolicy) +
                                             R"(,"setAsDefault":true})");
    EXPECT_THAT(r.call.resources, ElementsAre(policy_resource));
    EXPECT_EQ(r.reply.response_elements,
              R"({"policyVersion":{"versionId":"v2","isDefaultVersion":true,"createDate":")" +
                  std::string(kCreated) + R"("}})");
  }
  // The read-only operations on the policy, and those that change it without
  // answering anything: a policy resource, no responseElements.
  for (const auto& [query, read_only] : std::vector<std::pair<std::string, bool>>{
           {"Action=GetPolicy", true},
           {"Action=GetPolicyVersion&VersionId=v1", true},
           {"Action=ListPolicyVersions", true},
           {"Action=ListEntitiesForPolicy", true},
           {"Action=TagPolicy&Tags.member.1.Key=Team&Tags.member.1.Value=db", false},
           {"Action=ListPolicyTags", true},
           {"Action=UntagPolicy&TagKeys.member.1=Team", false},
           {"Action=SetDefaultPolicyVersion&VersionId=v1", false},
           {"Action=DeletePolicyVersion&VersionId=v2", false}}) {
    SCOPED_TRACE(query);
    Ran r = Iam(query + "&Version=2010-05-08&PolicyArn=" + encoded_arn);
    EXPECT_EQ(r.call.read_only, read_only);
    EXPECT_THAT(r.call.request_parameters, StartsWith(R"({"policyArn":")" + policy_arn + "\""));
    EXPECT_THAT(r.call.resources, ElementsAre(policy_resource));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=ListPolicies&Version=2010-05-08&Scope=Local&OnlyAttached=false");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"scope":"Local","onlyAttached":false})");
    EXPECT_THAT(r.call.resources, IsEmpty());
  }
  // Attaching names the user, role or group and the policy.
  struct Attached {
    std::string entity, parameter, name;
    AuditResource resource;
  };
  for (const Attached& a : std::vector<Attached>{
           {"User", "UserName=alice", "userName\":\"alice", User(alice_arn)},
           {"Role", "RoleName=backup", "roleName\":\"backup", Role(role_arn)},
           {"Group", "GroupName=dbadmins", "groupName\":\"dbadmins", Group(group_arn)}}) {
    const std::string& entity = a.entity;
    const std::string& parameter = a.parameter;
    const std::string& name = a.name;
    const AuditResource& resource = a.resource;
    for (const char* action : {"Attach", "ListAttached", "Detach"}) {
      SCOPED_TRACE(std::string(action) + entity);
      const bool list = std::string(action) == "ListAttached";
      const std::string operation = std::string(action) + entity + (list ? "Policies" : "Policy");
      Ran r = Iam("Action=" + operation + "&Version=2010-05-08&" + parameter +
                  (list ? "" : "&PolicyArn=" + encoded_arn));
      EXPECT_EQ(r.call.read_only, list);
      EXPECT_EQ(r.call.request_parameters,
                "{\"" + name + "\"" + (list ? "" : ",\"policyArn\":\"" + policy_arn + "\"") + "}");
      if (list) {
        EXPECT_THAT(r.call.resources, ElementsAre(resource));
      } else {
        EXPECT_THAT(r.call.resources, ElementsAre(resource, policy_resource));
      }
    }
  }
  {
    Ran r = Iam("Action=DeletePolicy&Version=2010-05-08&PolicyArn=" + encoded_arn);
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"policyArn":")" + policy_arn + R"("})");
    EXPECT_THAT(r.call.resources, ElementsAre(policy_resource));
  }
  {
    Ran r = Iam("Action=DeleteRole&Version=2010-05-08&RoleName=backup");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"roleName":"backup"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Iam("Action=UpdateGroup&Version=2010-05-08&GroupName=dbadmins&NewGroupName=dba");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"groupName":"dbadmins","newGroupName":"dba"})");
    const std::string renamed = "arn:aws:iam::111122223333:group/eng/dba";
    EXPECT_THAT(r.call.resources, ElementsAre(Group(group_arn), Group(renamed)));
    ASSERT_EQ(r.call.authorizations.size(), 2u);
    EXPECT_EQ(r.call.authorizations[1].resource, renamed);
    Iam("Action=UpdateGroup&Version=2010-05-08&GroupName=dba&NewGroupName=dbadmins");
  }
  {
    Ran r = Iam("Action=RemoveUserFromGroup&Version=2010-05-08&GroupName=dbadmins&UserName=alice");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_THAT(r.call.resources, ElementsAre(Group(group_arn), User(alice_arn)));
  }
  {
    Ran r = Iam("Action=DeleteGroup&Version=2010-05-08&GroupName=dbadmins");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"groupName":"dbadmins"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Group(group_arn)));
  }
  {
    Ran r = Iam("Action=DeleteUser&Version=2010-05-08&UserName=alice");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"userName":"alice"})");
    EXPECT_THAT(r.call.resources, ElementsAre(User(alice_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }

  EXPECT_EQ(ran_iam_, std::set<std::string>(IamOperations().begin(), IamOperations().end()));
}

TEST_F(QueryAuditTest, EveryStsOperation) {
  iam::Role role = NewRole("BackupRole", 7200, "/service-role/");
  policy::Principal alice = NewUser("alice");
  {
    Ran r = Run("sts", alice,
                "Action=AssumeRole&Version=2011-06-15&RoleArn=" + UrlEncode(role.arn) +
                    "&RoleSessionName=nightly&DurationSeconds=900&ExternalId=ext-123");
    EXPECT_TRUE(r.call.read_only);  // as CloudTrail records AssumeRole
    EXPECT_EQ(r.call.request_parameters,
              R"({"roleArn":")" + role.arn +
                  R"(","roleSessionName":"nightly","durationSeconds":900,"externalId":"ext-123"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Role(role.arn)));
    std::string secret = Between(r.reply.body, "SecretAccessKey");
    std::string token = Between(r.reply.body, "SessionToken");
    ASSERT_EQ(secret.size(), 40u);
    ASSERT_GE(token.size(), 200u);
    // The credentials' id and expiration; never the secret key or the session token.
    EXPECT_EQ(
        r.reply.response_elements,
        R"({"credentials":{"accessKeyId":")" + Between(r.reply.body, "AccessKeyId") +
            R"(","expiration":"Jan 1, 2026, 12:15:00 AM"},)"
            R"("assumedRoleUser":{"assumedRoleId":")" +
            role.role_id +
            R"(:nightly","arn":"arn:aws:sts::111122223333:assumed-role/BackupRole/nightly"}})");
    EXPECT_EQ(r.reply.response_elements.find("sessionToken"), std::string::npos);
    EXPECT_EQ(r.reply.response_elements.find("secretAccessKey"), std::string::npos);
  }
  {
    // Only the parameters given; a role that does not exist is named as asked for.
    auto params = ParseQueryParams(
        "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A444455556666%3Arole%2FNope"
        "&RoleSessionName=s1");
    ASSERT_TRUE(params.ok());
    auto call = PrepareStsCall(iam(), alice, *params, "req-9");
    ASSERT_TRUE(call.ok()) << call.status().ToString();
    EXPECT_EQ(call->request_parameters,
              R"({"roleArn":"arn:aws:iam::444455556666:role/Nope","roleSessionName":"s1"})");
    EXPECT_THAT(call->resources, ElementsAre(Role("arn:aws:iam::444455556666:role/Nope")));
    EXPECT_EQ(call->resources[0].account_id, "444455556666");
  }
  {
    Ran r = Run("sts", alice, "Action=GetCallerIdentity&Version=2011-06-15");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "null");
    EXPECT_THAT(r.call.resources, IsEmpty());
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("sts", alice, "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=1800");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"durationSeconds":1800})");
    EXPECT_THAT(r.call.resources, IsEmpty());
    ASSERT_EQ(Between(r.reply.body, "SecretAccessKey").size(), 40u);
    ASSERT_GE(Between(r.reply.body, "SessionToken").size(), 200u);
    // The credentials' id and expiration; never the secret key or the session token.
    EXPECT_EQ(r.reply.response_elements, R"({"credentials":{"accessKeyId":")" +
                                             Between(r.reply.body, "AccessKeyId") +
                                             R"(","expiration":"Jan 1, 2026, 12:30:00 AM"}})");
  }
  EXPECT_EQ(ran_sts_, std::set<std::string>(StsOperations().begin(), StsOperations().end()));
}

TEST_F(QueryAuditTest, ParametersAreNotNumbersUnlessTheyAreIntegers) {
  // A parameter the operation does not read is not recorded.
  Ran r = Iam("Action=ListRoles&Version=2010-05-08&MaxItems=3&Unknown=x&UserName=y");
  EXPECT_EQ(r.call.request_parameters, R"({"maxItems":3})");
  EXPECT_EQ(QueryRequestParameters(QueryParams({{"MaxItems", "9x"}, {"Path", "12"}}),
                                   {"Path", "MaxItems"}),
            R"({"path":"12","maxItems":"9x"})");
  EXPECT_EQ(QueryRequestParameters(QueryParams({{"DurationSeconds", "-1"}, {"X", ""}}),
                                   {"DurationSeconds"}),
            R"({"durationSeconds":-1})");
  EXPECT_EQ(QueryRequestParameters(QueryParams({{"Other", "v"}, {"Path2", "w"}}), {"Path"}),
            "null");
}

}  // namespace
}  // namespace coffer::api
