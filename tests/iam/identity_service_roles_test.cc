// IdentityService: roles, trust policies, inline policies of users and roles,
// and what the request pipeline reads of them (TrustPolicyOf,
// IdentityPoliciesOf), with AWS IAM's validation, limits and error texts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "iam/identity_service.h"
#include "iam_fixture.h"
#include "policy/policy.h"

namespace coffer::iam {
namespace {

using ::coffer::iam::testing::AllIn;
using ::coffer::iam::testing::AllowPolicy;
using ::coffer::iam::testing::IamTest;
using ::coffer::iam::testing::IsError;
using ::coffer::iam::testing::IsOk;
using ::coffer::iam::testing::kBase32Upper;
using ::coffer::iam::testing::kStartMillis;
using ::coffer::iam::testing::kTrustAccount;
using ::coffer::iam::testing::kTrustRds;
using ::coffer::iam::testing::PolicyOfSize;
using ::coffer::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The parse error policy/ gives for `doc`, as IAM's MalformedPolicyDocument.
std::string ParseError(std::string_view doc, policy::PolicyKind kind) {
  auto parsed = policy::Policy::Parse(doc, kind);
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? "" : parsed.status().message();
}

// ---- roles ------------------------------------------------------------------------------

TEST_F(IamTest, CreateRoleReturnsTheRole) {
  CreateRoleRequest req;
  req.role_name = "backup-role";
  req.assume_role_policy_document = kTrustRds;
  req.path = "/service-role/";
  req.description = "RDS native backups";
  ASSERT_OK_AND_ASSIGN(Role r, iam().CreateRole(req));
  EXPECT_EQ(r.role_name, "backup-role");
  EXPECT_EQ(r.path, "/service-role/");
  EXPECT_EQ(r.arn, "arn:aws:iam::111122223333:role/service-role/backup-role");
  EXPECT_EQ(r.role_id.size(), 21u);
  EXPECT_TRUE(r.role_id.starts_with("AROA"));
  EXPECT_TRUE(AllIn(r.role_id.substr(4), kBase32Upper));
  EXPECT_EQ(EpochMillis(r.create_date), kStartMillis);
  EXPECT_EQ(r.assume_role_policy_document, kTrustRds);
  EXPECT_EQ(r.description, "RDS native backups");
  EXPECT_EQ(r.max_session_duration, 3600);

  ASSERT_OK_AND_ASSIGN(Role got, iam().GetRole("BACKUP-ROLE"));
  EXPECT_EQ(got.arn, r.arn);
  EXPECT_EQ(got.role_id, r.role_id);
  EXPECT_EQ(got.description, r.description);
  EXPECT_EQ(got.assume_role_policy_document, kTrustRds);

  Role plain = NewRole("plain", 43200);
  EXPECT_EQ(plain.arn, "arn:aws:iam::111122223333:role/plain");
  EXPECT_EQ(plain.max_session_duration, 43200);
  EXPECT_FALSE(plain.description.has_value());
}

TEST_F(IamTest, CreateRoleErrors) {
  NewRole("R");
  CreateRoleRequest req;
  req.role_name = "r";
  req.assume_role_policy_document = kTrustAccount;
  EXPECT_THAT(iam().CreateRole(req),
              IsError("EntityAlreadyExists", "Role with name r already exists."));

  req.role_name = "S";
  req.max_session_duration = 100;
  EXPECT_THAT(iam().CreateRole(req),
              IsError("ValidationError",
                      "1 validation error detected: Value '100' at 'maxSessionDuration' failed to "
                      "satisfy constraint: Member must have value greater than or equal to 3600"));
  req.max_session_duration = 43201;
  EXPECT_THAT(iam().CreateRole(req),
              IsError("ValidationError",
                      "1 validation error detected: Value '43201' at 'maxSessionDuration' failed "
                      "to satisfy constraint: Member must have value less than or equal to 43200"));
  req.max_session_duration.reset();

  // A trust policy must name a principal and no resource (IAM's words).
  std::string with_resource = AllowPolicy("sts:AssumeRole");
  req.assume_role_policy_document = with_resource;
  EXPECT_THAT(iam().CreateRole(req),
              IsError("MalformedPolicyDocument", "Has prohibited field Resource"));
  req.assume_role_policy_document =
      R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},)"
      R"("Action":"sts:AssumeRole","NotResource":"arn:aws:kms:*"}})";
  EXPECT_THAT(iam().CreateRole(req),
              IsError("MalformedPolicyDocument", "Has prohibited field NotResource"));
  std::string no_principal = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                             R"("Action":"sts:AssumeRole"}]})";
  req.assume_role_policy_document = no_principal;
  EXPECT_THAT(iam().CreateRole(req),
              IsError("MalformedPolicyDocument",
                      ParseError(no_principal, policy::PolicyKind::kTrustPolicy)));
  // Only STS's actions (IAM's words): a trust policy says who may assume the role.
  for (const char* action : {R"(["sts:AssumeRole","kms:Encrypt"])", R"("*")"}) {
    req.assume_role_policy_document =
        std::string(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)") +
        R"("Principal":{"AWS":"111122223333"},"Action":)" + action + "}]}";
    EXPECT_THAT(iam().CreateRole(req),
                IsError("MalformedPolicyDocument",
                        "AssumeRole policy may only specify STS AssumeRole actions."))
        << action;
  }
  req.assume_role_policy_document = "{not json";  // IAM's own words, for a trust policy
  EXPECT_THAT(iam().CreateRole(req),
              IsError("MalformedPolicyDocument", "This policy contains invalid Json"));
  req.assume_role_policy_document = "";
  EXPECT_THAT(iam().CreateRole(req).status().error_name(), "ValidationError");
  req.assume_role_policy_document = kTrustAccount;
  req.description = std::string(1001, 'd');
  EXPECT_THAT(iam().CreateRole(req).status().error_name(), "ValidationError");
  req.description = "tab\tok";
  EXPECT_OK(iam().CreateRole(req));
}

TEST_F(IamTest, TrustPolicySizeQuotaIgnoresWhiteSpace) {
  // 2049 characters without white space: refused.
  std::string base = R"({"Version":"2012-10-17","Statement":[{"Sid":")";
  std::string tail =
      R"(","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]})";
  std::string too_big = base + std::string(2049 - base.size() - tail.size(), 'S') + tail;
  ASSERT_EQ(too_big.size(), 2049u);
  CreateRoleRequest req;
  req.role_name = "R";
  req.assume_role_policy_document = too_big;
  EXPECT_THAT(iam().CreateRole(req),
              IsError("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048"));
  // 2048 characters plus white space: accepted.
  std::string fits = base + std::string(2048 - base.size() - tail.size(), 'S') + tail;
  fits.insert(1, std::string(500, ' '));
  fits.insert(fits.size() - 1, "\n\t\r\n");
  req.assume_role_policy_document = fits;
  ASSERT_OK(iam().CreateRole(req));
  EXPECT_THAT(iam().UpdateAssumeRolePolicy("R", too_big),
              IsError("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048"));
}

TEST_F(IamTest, RolesPerAccountQuota) {
  options_.max_roles = 1;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  NewRole("one");
  CreateRoleRequest req{"two", kTrustAccount, std::nullopt, std::nullopt, std::nullopt};
  EXPECT_THAT(iam().CreateRole(req),
              IsError("LimitExceeded", "Cannot exceed quota for RolesPerAccount: 1"));
}

TEST_F(IamTest, GetRoleMissing) {
  EXPECT_THAT(iam().GetRole("nope"),
              IsError("NoSuchEntity", "The role with name nope cannot be found."));
  EXPECT_THAT(iam().GetRole(std::string(65, 'r')).status().error_name(), "ValidationError");
}

TEST_F(IamTest, ListRolesWithPathPrefixAndPages) {
  NewRole("b", std::nullopt, "/svc/");
  NewRole("a");
  NewRole("c", std::nullopt, "/svc/");
  auto names = [](const ListRolesResult& l) {
    std::vector<std::string> out;
    for (const Role& r : l.roles) out.push_back(r.role_name);
    return out;
  };
  ASSERT_OK_AND_ASSIGN(ListRolesResult all, iam().ListRoles(std::nullopt, {}));
  EXPECT_THAT(names(all), ElementsAre("a", "b", "c"));
  ASSERT_OK_AND_ASSIGN(ListRolesResult svc, iam().ListRoles(std::string("/svc"), {}));
  EXPECT_THAT(names(svc), ElementsAre("b", "c"));
  ASSERT_OK_AND_ASSIGN(ListRolesResult p1, iam().ListRoles(std::nullopt, Page{std::nullopt, 1}));
  EXPECT_THAT(names(p1), ElementsAre("a"));
  EXPECT_TRUE(p1.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListRolesResult p2, iam().ListRoles(std::nullopt, Page{p1.marker, 5}));
  EXPECT_THAT(names(p2), ElementsAre("b", "c"));
  EXPECT_FALSE(p2.is_truncated);
}

TEST_F(IamTest, UpdateAssumeRolePolicyReplacesTheTrustPolicy) {
  Role r = NewRole("R");
  ASSERT_OK_AND_ASSIGN(policy::SavedPolicy before, iam().TrustPolicyOf(r.arn));
  EXPECT_EQ(before.text, kTrustAccount);
  EXPECT_EQ(before.saved, r.create_date);  // when the policy was saved, for authorization
  clock_.Advance(std::chrono::seconds(5));
  ASSERT_OK(iam().UpdateAssumeRolePolicy("r", kTrustRds));
  ASSERT_OK_AND_ASSIGN(policy::SavedPolicy after, iam().TrustPolicyOf(r.arn));
  EXPECT_EQ(after.text, kTrustRds);
  EXPECT_EQ(after.saved, r.create_date + std::chrono::seconds(5));

  std::string identity = AllowPolicy("sts:AssumeRole");
  EXPECT_THAT(iam().UpdateAssumeRolePolicy("R", identity),
              IsError("MalformedPolicyDocument", "Has prohibited field Resource"));
  ASSERT_OK_AND_ASSIGN(policy::SavedPolicy unchanged, iam().TrustPolicyOf(r.arn));
  EXPECT_EQ(unchanged.text, kTrustRds);
  EXPECT_EQ(unchanged.saved, after.saved);
  EXPECT_THAT(iam().UpdateAssumeRolePolicy("nope", kTrustRds),
              IsError("NoSuchEntity", "The role with name nope cannot be found."));
}

TEST_F(IamTest, UpdateRoleSetsWhatIsGivenAndKeepsTheRest) {
  NewRole("R", 7200);
  ASSERT_OK_AND_ASSIGN(Role described, iam().UpdateRole("r", "backups", std::nullopt));
  EXPECT_EQ(described.role_name, "R");
  EXPECT_EQ(described.description, "backups");
  EXPECT_EQ(described.max_session_duration, 7200);
  ASSERT_OK_AND_ASSIGN(Role longer, iam().UpdateRole("R", std::nullopt, 43200));
  EXPECT_EQ(longer.description, "backups");
  EXPECT_EQ(longer.max_session_duration, 43200);
  ASSERT_OK_AND_ASSIGN(Role got, iam().GetRole("R"));
  EXPECT_EQ(got.description, "backups");
  EXPECT_EQ(got.max_session_duration, 43200);
  ASSERT_OK_AND_ASSIGN(Role unchanged, iam().UpdateRole("R", std::nullopt, std::nullopt));
  EXPECT_EQ(unchanged.description, "backups");
  EXPECT_EQ(unchanged.max_session_duration, 43200);

  // A bad value changes nothing, not even the good one beside it.
  EXPECT_THAT(iam().UpdateRole("R", "new", 3599),
              IsError("ValidationError",
                      "1 validation error detected: Value '3599' at 'maxSessionDuration' failed "
                      "to satisfy constraint: Member must have value greater than or equal to "
                      "3600"));
  EXPECT_THAT(iam().UpdateRole("R", std::string(1001, 'd'), std::nullopt),
              IsError("ValidationError",
                      "1 validation error detected: Value '" + std::string(1001, 'd') +
                          "' at 'description' failed to satisfy constraint: Member must have "
                          "length less than or equal to 1000"));
  EXPECT_THAT(iam().UpdateRole("nope", "x", std::nullopt),
              IsError("NoSuchEntity", "The role with name nope cannot be found."));
  ASSERT_OK_AND_ASSIGN(Role after, iam().GetRole("R"));
  EXPECT_EQ(after.description, "backups");
  EXPECT_EQ(after.max_session_duration, 43200);
  EXPECT_EQ(after.assume_role_policy_document, kTrustAccount);
}

// AWS shows a deleted user or role in a saved policy by its unique id: saving the
// policy back then names no one, rather than a new principal of the same name.
TEST_F(IamTest, APolicyShowsADeletedPrincipalByItsUniqueId) {
  policy::Principal alice = NewUser("alice", "/eng/");
  Role ops = NewRole("ops");
  const std::string both =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":[")" +
      alice.arn + R"(",")" + ops.arn +
      R"("]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalArn":")" +
      alice.arn + R"("}}}]})";
  CreateRoleRequest req;
  req.role_name = "R";
  req.assume_role_policy_document = both;
  ASSERT_OK(iam().CreateRole(req).status());
  const TimePoint saved = clock_.Now();
  // Everyone it names exists: the text as saved, byte for byte.
  EXPECT_THAT(iam().PolicyAsShown(both, saved), IsOkAndHolds(both));
  ASSERT_OK_AND_ASSIGN(Role r, iam().GetRole("R"));
  EXPECT_EQ(r.assume_role_policy_document, both);

  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK(iam().DeleteUser("alice"));
  clock_.Advance(std::chrono::seconds(1));
  NewUser("alice", "/eng/");  // a new alice: the policy does not name her
  const std::string shown =
      "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": "
      "\"Allow\",\n      \"Principal\": {\n        \"AWS\": [\n          \"" +
      alice.user_id + "\",\n          \"" + ops.arn +
      "\"\n        ]\n      },\n      \"Action\": \"sts:AssumeRole\",\n      "
      "\"Condition\": {\n        \"StringEquals\": {\n          \"aws:PrincipalArn\": \"" +
      alice.arn + "\"\n        }\n      }\n    }\n  ]\n}";
  EXPECT_THAT(iam().PolicyAsShown(both, saved), IsOkAndHolds(shown));
  ASSERT_OK_AND_ASSIGN(r, iam().GetRole("R"));
  EXPECT_EQ(r.assume_role_policy_document, shown);
  ASSERT_OK_AND_ASSIGN(ListRolesResult list, iam().ListRoles(std::nullopt, Page{}));
  for (const Role& listed : list.roles) {
    if (listed.role_name == "R") {
      EXPECT_EQ(listed.assume_role_policy_document, shown);
    }
  }
  // A policy saved after the new alice was created names her.
  EXPECT_THAT(iam().PolicyAsShown(both, clock_.Now()), IsOkAndHolds(both));
  // Saved before the first alice existed: no alice it could name.
  EXPECT_THAT(iam().PolicyAsShown(both, saved - std::chrono::hours(1)), IsOkAndHolds(both));
  // Unknown time of saving (a record from before it was kept): as stored.
  EXPECT_THAT(iam().PolicyAsShown(both, std::nullopt), IsOkAndHolds(both));

  // A deleted role, too; and the shown policy cannot be saved back.
  ASSERT_OK(iam().DeleteRole("ops"));
  ASSERT_OK_AND_ASSIGN(r, iam().GetRole("R"));
  EXPECT_THAT(r.assume_role_policy_document, ::testing::HasSubstr("\"" + ops.role_id + "\""));
  EXPECT_FALSE(iam().UpdateAssumeRolePolicy("R", r.assume_role_policy_document).ok());
  // The deleted principals survive a restart.
  Reopen();
  ASSERT_OK_AND_ASSIGN(r, iam().GetRole("R"));
  EXPECT_THAT(r.assume_role_policy_document, ::testing::HasSubstr("\"" + ops.role_id + "\""));
  EXPECT_THAT(r.assume_role_policy_document, ::testing::HasSubstr("\"" + alice.user_id + "\""));
}

TEST_F(IamTest, TrustPoliciesMayNameOnlyPrincipalsThatExist) {
  // IAM: MalformedPolicyDocument "Invalid principal in policy" for a user or role
  // that does not exist; nothing is created or changed.
  NewUser("alice", "/eng/");
  Role r = NewRole("R");
  for (const std::string& ghost : {std::string("arn:aws:iam::111122223333:user/ghost"),
                                   std::string("arn:aws:iam::111122223333:user/alice"),
                                   std::string("arn:aws:iam::111122223333:role/ghost"),
                                   std::string("arn:aws:sts::111122223333:assumed-role/ghost/s"),
                                   std::string("arn:aws:iam::444455556666:role/R")}) {
    const std::string message = "Invalid principal in policy: \"AWS\":\"" + ghost + "\"";
    CreateRoleRequest req;
    req.role_name = "New";
    req.assume_role_policy_document = testing::TrustPolicyFor(ghost);
    EXPECT_THAT(iam().CreateRole(req), IsError("MalformedPolicyDocument", message));
    EXPECT_THAT(iam().UpdateAssumeRolePolicy("R", testing::TrustPolicyFor(ghost)),
                IsError("MalformedPolicyDocument", message));
  }
  EXPECT_EQ(iam().GetRole("New").status().error_name(), "NoSuchEntity");
  EXPECT_EQ(iam().TrustPolicyOf(r.arn)->text, kTrustAccount);
  for (const std::string& ok :
       {std::string("arn:aws:iam::111122223333:user/eng/alice"),
        std::string("arn:aws:iam::111122223333:role/R"),
        std::string("arn:aws:sts::111122223333:assumed-role/R/s"),
        std::string("arn:aws:iam::444455556666:root"), std::string("444455556666")}) {
    EXPECT_OK(iam().UpdateAssumeRolePolicy("R", testing::TrustPolicyFor(ok))) << ok;
  }
}

TEST_F(IamTest, TrustPolicyOfNeedsTheRolesExactArn) {
  Role r = NewRole("R", std::nullopt, "/svc/");
  EXPECT_OK(iam().TrustPolicyOf("arn:aws:iam::111122223333:role/svc/R"));
  for (const char* arn :
       {"arn:aws:iam::111122223333:role/R", "arn:aws:iam::444455556666:role/svc/R",
        "arn:aws:iam::111122223333:role/other/R", "arn:aws:iam::111122223333:user/svc/R",
        "arn:aws:iam:111122223333:role/svc/R", "R", ""}) {
    auto t = iam().TrustPolicyOf(arn);
    ASSERT_FALSE(t.ok()) << arn;
    EXPECT_EQ(t.status().code(), StatusCode::kNotFound) << arn;
    EXPECT_EQ(t.status().error_name(), "NoSuchEntity") << arn;
  }
}

TEST_F(IamTest, DeleteRoleNeedsItsPoliciesGoneFirst) {
  Role r = NewRole("R");
  ASSERT_OK(iam().PutRolePolicy("R", "p", AllowPolicy("kms:*")));
  EXPECT_THAT(iam().DeleteRole("R"),
              IsError("DeleteConflict", "Cannot delete entity, must delete policies first."));
  ASSERT_OK(iam().DeleteRolePolicy("R", "p"));
  ASSERT_OK(iam().DeleteRole("r"));
  EXPECT_THAT(iam().GetRole("R"), IsError("NoSuchEntity", "The role with name R cannot be found."));
  EXPECT_EQ(iam().TrustPolicyOf(r.arn).status().code(), StatusCode::kNotFound);
  EXPECT_THAT(iam().DeleteRole("R"),
              IsError("NoSuchEntity", "The role with name R cannot be found."));
}

// ---- inline policies ----------------------------------------------------------------------

TEST_F(IamTest, UserPoliciesPutGetListDelete) {
  NewUser("Alice");
  std::string p1 = AllowPolicy("kms:Decrypt");
  std::string p2 = AllowPolicy("kms:Encrypt");
  ASSERT_OK(iam().PutUserPolicy("alice", "Zeta", p1));
  ASSERT_OK(iam().PutUserPolicy("ALICE", "alpha", p2));

  ASSERT_OK_AND_ASSIGN(InlinePolicy got, iam().GetUserPolicy("alice", "ZETA"));
  EXPECT_EQ(got.entity_name, "Alice");
  EXPECT_EQ(got.policy_name, "Zeta");
  EXPECT_EQ(got.policy_document, p1);

  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult list, iam().ListUserPolicies("alice", {}));
  EXPECT_THAT(list.policy_names, ElementsAre("alpha", "Zeta"));
  EXPECT_FALSE(list.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult page1,
                       iam().ListUserPolicies("alice", Page{std::nullopt, 1}));
  EXPECT_THAT(page1.policy_names, ElementsAre("alpha"));
  EXPECT_TRUE(page1.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult page2,
                       iam().ListUserPolicies("alice", Page{page1.marker, 1}));
  EXPECT_THAT(page2.policy_names, ElementsAre("Zeta"));
  EXPECT_FALSE(page2.is_truncated);
  EXPECT_THAT(iam().ListUserPolicies("alice", Page{std::string("alpha"), 1}),
              IsError("ValidationError", "Invalid Marker."));

  // Putting under an existing name replaces it.
  ASSERT_OK(iam().PutUserPolicy("alice", "zeta", p2));
  ASSERT_OK_AND_ASSIGN(InlinePolicy replaced, iam().GetUserPolicy("alice", "Zeta"));
  EXPECT_EQ(replaced.policy_document, p2);
  EXPECT_EQ(replaced.policy_name, "zeta");

  ASSERT_OK(iam().DeleteUserPolicy("alice", "ZETA"));
  EXPECT_THAT(iam().GetUserPolicy("alice", "zeta"),
              IsError("NoSuchEntity", "The user policy with name zeta cannot be found."));
  EXPECT_THAT(iam().DeleteUserPolicy("alice", "zeta"),
              IsError("NoSuchEntity", "The user policy with name zeta cannot be found."));
  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult left, iam().ListUserPolicies("alice", {}));
  EXPECT_THAT(left.policy_names, ElementsAre("alpha"));
}

TEST_F(IamTest, UserPolicyErrors) {
  EXPECT_THAT(iam().PutUserPolicy("nobody", "p", AllowPolicy("kms:*")),
              IsError("NoSuchEntity", "The user with name nobody cannot be found."));
  EXPECT_THAT(iam().GetUserPolicy("nobody", "p"),
              IsError("NoSuchEntity", "The user with name nobody cannot be found."));
  EXPECT_THAT(iam().ListUserPolicies("nobody", {}),
              IsError("NoSuchEntity", "The user with name nobody cannot be found."));
  NewUser("alice");
  // An identity policy names no principal (IAM's words).
  EXPECT_THAT(
      iam().PutUserPolicy("alice", "p", kTrustAccount),
      IsError("MalformedPolicyDocument", "Policy document should not specify a principal."));
  EXPECT_THAT(
      iam().PutUserPolicy("alice", "p",
                          R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":)"
                          R"({"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}]})"),
      IsError("MalformedPolicyDocument", "Policy document should not specify a principal."));
  // Not JSON: IAM's own words.
  EXPECT_THAT(iam().PutUserPolicy("alice", "p", "{bad"),
              IsError("MalformedPolicyDocument", "Syntax errors in policy."));
  EXPECT_THAT(iam().PutUserPolicy("alice", "bad name", AllowPolicy("kms:*")),
              IsError("ValidationError",
                      "1 validation error detected: Value 'bad name' at 'policyName' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "[\\w+=,.@-]+"));
  // Characters past U+00FF are outside the document pattern.
  std::string snowman = AllowPolicy("kms:*");
  snowman.insert(1, "\"Id\":\"\xE2\x98\x83\",");
  EXPECT_THAT(iam().PutUserPolicy("alice", "p", snowman),
              IsError("ValidationError",
                      "1 validation error detected: Value '" + snowman +
                          "' at 'policyDocument' failed to satisfy constraint: Member must "
                          "satisfy regular expression pattern: "
                          "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"));
}

TEST_F(IamTest, UserPolicySizeQuotaIsOnAllPoliciesTogether) {
  NewUser("alice");
  ASSERT_OK(iam().PutUserPolicy("alice", "a", PolicyOfSize(1000)));
  ASSERT_OK(iam().PutUserPolicy("alice", "b", PolicyOfSize(1048)));  // 2048 in all
  EXPECT_THAT(
      iam().PutUserPolicy("alice", "c", PolicyOfSize(200)),
      IsError("LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user alice"));
  // Replacing a policy counts its new size only.
  ASSERT_OK(iam().PutUserPolicy("alice", "B", PolicyOfSize(1040)));
  EXPECT_THAT(
      iam().PutUserPolicy("alice", "a", PolicyOfSize(1009)),
      IsError("LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user alice"));
}

TEST_F(IamTest, RolePoliciesPutGetListDeleteAndQuota) {
  NewRole("R");
  ASSERT_OK(iam().PutRolePolicy("r", "kms", AllowPolicy("kms:*")));
  ASSERT_OK_AND_ASSIGN(InlinePolicy got, iam().GetRolePolicy("R", "KMS"));
  EXPECT_EQ(got.entity_name, "R");
  EXPECT_EQ(got.policy_document, AllowPolicy("kms:*"));
  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult list, iam().ListRolePolicies("R", {}));
  EXPECT_THAT(list.policy_names, ElementsAre("kms"));
  EXPECT_THAT(iam().GetRolePolicy("R", "s3"),
              IsError("NoSuchEntity", "The role policy with name s3 cannot be found."));
  EXPECT_THAT(iam().GetRolePolicy("nope", "s3"),
              IsError("NoSuchEntity", "The role with name nope cannot be found."));
  ASSERT_OK(iam().PutRolePolicy("R", "big", PolicyOfSize(10240 - AllowPolicy("kms:*").size())));
  EXPECT_THAT(iam().PutRolePolicy("R", "more", PolicyOfSize(200)),
              IsError("LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role R"));
  ASSERT_OK(iam().DeleteRolePolicy("R", "kms"));
  ASSERT_OK(iam().DeleteRolePolicy("R", "big"));
  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult empty, iam().ListRolePolicies("R", {}));
  EXPECT_THAT(empty.policy_names, IsEmpty());
}

// ---- IdentityPoliciesOf --------------------------------------------------------------------

std::vector<std::string> Actions(const std::vector<policy::Policy>& policies) {
  std::vector<std::string> out;
  for (const auto& p : policies) {
    for (const auto& s : p.statements()) {
      for (const auto& a : s.actions) out.push_back(a);
    }
  }
  return out;
}

TEST_F(IamTest, IdentityPoliciesOfAUserFollowChanges) {
  policy::Principal alice = NewUser("alice");
  ASSERT_OK_AND_ASSIGN(auto none, iam().IdentityPoliciesOf(alice));  // cached: empty
  EXPECT_THAT(*none, IsEmpty());
  ASSERT_OK(iam().PutUserPolicy("alice", "a", AllowPolicy("kms:Decrypt")));
  ASSERT_OK(iam().PutUserPolicy("alice", "b", AllowPolicy("kms:Encrypt")));
  ASSERT_OK_AND_ASSIGN(auto two, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Actions(*two), ElementsAre("kms:Decrypt", "kms:Encrypt"));
  ASSERT_OK_AND_ASSIGN(auto same, iam().IdentityPoliciesOf(alice));
  EXPECT_EQ(same.get(), two.get());  // from the cache
  ASSERT_OK(iam().DeleteUserPolicy("alice", "a"));
  ASSERT_OK_AND_ASSIGN(auto one, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Actions(*one), ElementsAre("kms:Encrypt"));
}

TEST_F(IamTest, IdentityPoliciesOfARecreatedUserAreNotTheOldPrincipals) {
  policy::Principal old_alice = NewUser("alice");
  ASSERT_OK(iam().DeleteUser("alice"));
  NewUser("alice");
  ASSERT_OK(iam().PutUserPolicy("alice", "a", AllowPolicy("kms:*")));
  ASSERT_OK_AND_ASSIGN(auto stale, iam().IdentityPoliciesOf(old_alice));
  EXPECT_THAT(*stale, IsEmpty());
  ASSERT_OK_AND_ASSIGN(User now, iam().GetUser(Root(), std::string("alice")));
  ASSERT_OK_AND_ASSIGN(auto fresh,
                       iam().IdentityPoliciesOf(policy::Principal::IamUser(now.arn, now.user_id)));
  EXPECT_THAT(Actions(*fresh), ElementsAre("kms:*"));
}

TEST_F(IamTest, IdentityPoliciesOfASessionAreItsRoles) {
  Role r = NewRole("R");
  ASSERT_OK(iam().PutRolePolicy("R", "a", AllowPolicy("kms:GenerateDataKey")));
  policy::Principal session = policy::Principal::AssumedRole(r.arn, "s1", r.role_id);
  ASSERT_OK_AND_ASSIGN(auto policies, iam().IdentityPoliciesOf(session));
  EXPECT_THAT(Actions(*policies), ElementsAre("kms:GenerateDataKey"));
  // A session of a deleted role has no policies.
  ASSERT_OK(iam().DeleteRolePolicy("R", "a"));
  ASSERT_OK(iam().DeleteRole("R"));
  ASSERT_OK_AND_ASSIGN(auto gone, iam().IdentityPoliciesOf(session));
  EXPECT_THAT(*gone, IsEmpty());
}

TEST_F(IamTest, IdentityPoliciesOfRootAndServicesAreEmpty) {
  ASSERT_OK_AND_ASSIGN(auto root, iam().IdentityPoliciesOf(Root()));
  EXPECT_THAT(*root, IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto rds,
                       iam().IdentityPoliciesOf(policy::Principal::Service("rds.amazonaws.com")));
  EXPECT_THAT(*rds, IsEmpty());
}

TEST_F(IamTest, GetRoleShowsWhenASessionLastUsedTheRole) {
  Role role = NewRole("backup", std::nullopt, "/svc/");
  policy::Principal session = policy::Principal::AssumedRole(role.arn, "s1", role.role_id);
  ASSERT_OK_AND_ASSIGN(Role unused, iam().GetRole("backup"));
  EXPECT_FALSE(unused.last_used.has_value());

  clock_.Advance(std::chrono::seconds(7));
  iam().NoteRoleUse(session);
  iam().NoteRoleUse(Root());  // only sessions of roles count
  ASSERT_OK_AND_ASSIGN(Role used, iam().GetRole("BACKUP"));
  ASSERT_TRUE(used.last_used.has_value());
  EXPECT_EQ(EpochMillis(*used.last_used), kStartMillis + 7000);
  EXPECT_EQ(used.last_used_region, "us-east-1");
  ASSERT_OK(iam().FlushKeyUses());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK_AND_ASSIGN(Role kept, iam().GetRole("backup"));
  ASSERT_TRUE(kept.last_used.has_value());
  EXPECT_EQ(EpochMillis(*kept.last_used), kStartMillis + 7000);

  // A role deleted and created again under its name has not been used; nor does a
  // session of the deleted one count for it.
  ASSERT_OK(iam().DeleteRole("backup"));
  Role again = NewRole("backup", std::nullopt, "/svc/");
  iam().NoteRoleUse(session);
  ASSERT_OK_AND_ASSIGN(Role fresh, iam().GetRole("backup"));
  EXPECT_FALSE(fresh.last_used.has_value());
  ASSERT_OK(iam().FlushKeyUses());
  ASSERT_OK_AND_ASSIGN(Role still, iam().GetRole("backup"));
  EXPECT_FALSE(still.last_used.has_value());
  iam().NoteRoleUse(policy::Principal::AssumedRole(again.arn, "s2", again.role_id));
  ASSERT_OK_AND_ASSIGN(Role now_used, iam().GetRole("backup"));
  EXPECT_TRUE(now_used.last_used.has_value());
}

}  // namespace
}  // namespace coffer::iam
