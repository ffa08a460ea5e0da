// IdentityService: STS AssumeRole and GetSessionToken, the temporary credentials
// they issue, their expiry on a fake clock, and GetCallerIdentity.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "iam/identity_service.h"
#include "iam_fixture.h"

namespace coffer::iam {
namespace {

using ::coffer::iam::testing::AllIn;
using ::coffer::iam::testing::IamTest;
using ::coffer::iam::testing::IsError;
using ::coffer::iam::testing::IsOk;
using ::coffer::iam::testing::kBase32Upper;
using ::coffer::iam::testing::kBase64Chars;
using ::coffer::iam::testing::kStartMillis;
using ::coffer::iam::testing::Reveal;

class StsTest : public IamTest {
 protected:
  void SetUp() override {
    IamTest::SetUp();
    role_ = NewRole("BackupRole", 7200, "/service-role/");
    alice_ = NewUser("alice");
  }

  AssumeRoleRequest Request(std::optional<int> duration = std::nullopt,
                            std::string session = "s1") {
    return AssumeRoleRequest{role_.arn, std::move(session), duration};
  }

  Role role_;
  policy::Principal alice_;
};

TEST_F(StsTest, AssumeRoleIssuesTemporaryCredentials) {
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult out, iam().AssumeRole(alice_, Request()));
  EXPECT_EQ(out.assumed_role_arn, "arn:aws:sts::111122223333:assumed-role/BackupRole/s1");
  EXPECT_EQ(out.assumed_role_id, role_.role_id + ":s1");
  EXPECT_EQ(out.access_key_id.size(), 20u);
  EXPECT_TRUE(out.access_key_id.starts_with("ASIA"));
  EXPECT_TRUE(AllIn(out.access_key_id.substr(4), kBase32Upper));
  EXPECT_EQ(out.secret_access_key.size(), 40u);
  EXPECT_TRUE(AllIn(Reveal(out.secret_access_key), kBase64Chars));
  EXPECT_GE(out.session_token.size(), 200u);
  EXPECT_EQ(EpochMillis(out.expiration), kStartMillis + 3600 * 1000);

  ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(out.access_key_id));
  EXPECT_EQ(c.principal.type, policy::PrincipalType::kAssumedRole);
  EXPECT_EQ(c.principal.arn, out.assumed_role_arn);
  EXPECT_EQ(c.principal.role_arn, role_.arn);
  EXPECT_EQ(c.principal.user_id, out.assumed_role_id);
  EXPECT_EQ(c.principal.session_name, "s1");
  EXPECT_EQ(c.principal.account_id, "111122223333");
  EXPECT_TRUE(c.secret_access_key == out.secret_access_key);
  EXPECT_TRUE(c.active);
  ASSERT_TRUE(c.session_token.has_value());
  EXPECT_TRUE(c.session_token->Matches(Reveal(out.session_token)));
  std::string wrong = Reveal(out.session_token);
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(c.session_token->Matches(wrong));
  EXPECT_FALSE(c.session_token->Matches(""));
  ASSERT_TRUE(c.expiration.has_value());
  EXPECT_EQ(*c.expiration, out.expiration);
  // aws:TokenIssueTime, and the record's sessionContext creationDate.
  EXPECT_EQ(c.principal.session_issued, FromEpochMillis(kStartMillis));

  // Each call issues new credentials.
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult second, iam().AssumeRole(alice_, Request()));
  EXPECT_NE(second.access_key_id, out.access_key_id);
  EXPECT_FALSE(second.session_token == out.session_token);
}

TEST_F(StsTest, ExpirationIsInWholeSeconds) {
  clock_.Advance(std::chrono::milliseconds(1500));
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult out, iam().AssumeRole(alice_, Request(900)));
  EXPECT_EQ(EpochMillis(out.expiration), kStartMillis + 1000 + 900 * 1000);
}

TEST_F(StsTest, DurationSecondsLimits) {
  EXPECT_OK(iam().AssumeRole(alice_, Request(900)));
  EXPECT_OK(iam().AssumeRole(alice_, Request(7200)));
  EXPECT_THAT(iam().AssumeRole(alice_, Request(899)),
              IsError("ValidationError",
                      "1 validation error detected: Value '899' at 'durationSeconds' failed to "
                      "satisfy constraint: Member must have value greater than or equal to 900"));
  EXPECT_THAT(iam().AssumeRole(alice_, Request(43201)),
              IsError("ValidationError",
                      "1 validation error detected: Value '43201' at 'durationSeconds' failed to "
                      "satisfy constraint: Member must have value less than or equal to 43200"));
  EXPECT_THAT(iam().AssumeRole(alice_, Request(7201)),
              IsError("ValidationError",
                      "The requested DurationSeconds exceeds the MaxSessionDuration set for this "
                      "role."));
  Role long_role = NewRole("Long", 43200);
  EXPECT_OK(iam().AssumeRole(alice_, AssumeRoleRequest{long_role.arn, "s9", 43200}));
}

TEST_F(StsTest, UpdateRoleChangesTheLongestSessionFromThenOn) {
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult before, iam().AssumeRole(alice_, Request(7200, "before")));
  ASSERT_OK(iam().UpdateRole("BackupRole", std::nullopt, 3600));
  EXPECT_THAT(iam().AssumeRole(alice_, Request(7200)),
              IsError("ValidationError",
                      "The requested DurationSeconds exceeds the MaxSessionDuration set for this "
                      "role."));
  EXPECT_OK(iam().AssumeRole(alice_, Request(3600)));
  // A session already issued keeps its expiry.
  ASSERT_OK_AND_ASSIGN(Credential found, iam().FindCredential(before.access_key_id));
  EXPECT_EQ(found.expiration, before.expiration);
  EXPECT_EQ(EpochMillis(before.expiration), kStartMillis + 7200 * 1000);
  ASSERT_OK(iam().UpdateRole("BackupRole", std::nullopt, 43200));
  EXPECT_OK(iam().AssumeRole(alice_, Request(43200)));
}

TEST_F(StsTest, RoleChainingIsLimitedToOneHour) {
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult first, iam().AssumeRole(alice_, Request()));
  ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(first.access_key_id));
  EXPECT_THAT(iam().AssumeRole(c.principal, Request(3601, "s2")),
              IsError("ValidationError",
                      "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                      "assumed by role chaining."));
  EXPECT_OK(iam().AssumeRole(c.principal, Request(std::nullopt, "s2")));
  EXPECT_OK(iam().AssumeRole(c.principal, Request(3600, "s3")));
}

TEST_F(StsTest, RoleSessionNameRules) {
  EXPECT_OK(iam().AssumeRole(alice_, Request(std::nullopt, "a+b=c,d.e@f-g_1")));
  EXPECT_THAT(iam().AssumeRole(alice_, Request(std::nullopt, "a b")),
              IsError("ValidationError",
                      "1 validation error detected: Value 'a b' at 'roleSessionName' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "[\\w+=,.@-]*"));
  EXPECT_THAT(iam().AssumeRole(alice_, Request(std::nullopt, "a")),
              IsError("ValidationError",
                      "1 validation error detected: Value 'a' at 'roleSessionName' failed to "
                      "satisfy constraint: Member must have length greater than or equal to 2"));
  EXPECT_THAT(
      iam().AssumeRole(alice_, Request(std::nullopt, std::string(65, 's'))).status().error_name(),
      "ValidationError");
}

TEST_F(StsTest, RootMayNotAssumeRoles) {
  EXPECT_THAT(iam().AssumeRole(Root(), Request()),
              IsError("AccessDenied", "Roles may not be assumed by root accounts."));
}

TEST_F(StsTest, AMissingRoleIsAccessDenied) {
  for (std::string arn : {"arn:aws:iam::111122223333:role/Nope",
                          "arn:aws:iam::111122223333:role/BackupRole",  // without its path
                          "arn:aws:iam::444455556666:role/service-role/BackupRole"}) {
    EXPECT_THAT(iam().AssumeRole(alice_, AssumeRoleRequest{arn, "s1", std::nullopt}),
                IsError("AccessDenied",
                        "User: arn:aws:iam::111122223333:user/alice is not "
                        "authorized to perform: sts:AssumeRole on resource: " +
                            arn));
  }
  EXPECT_THAT(iam().AssumeRole(alice_, AssumeRoleRequest{"arn:short", "s1", std::nullopt}),
              IsError("ValidationError",
                      "1 validation error detected: Value 'arn:short' at 'roleArn' failed to "
                      "satisfy constraint: Member must have length greater than or equal to 20"));
}

TEST_F(StsTest, AServiceMayAssumeARole) {
  policy::Principal rds = policy::Principal::Service("rds.amazonaws.com");
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult out, iam().AssumeRole(rds, Request(std::nullopt, "rds")));
  EXPECT_EQ(out.assumed_role_arn, "arn:aws:sts::111122223333:assumed-role/BackupRole/rds");
}

TEST_F(StsTest, ExpiredSessionsAnswerUntilTheyAreRemoved) {
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult out, iam().AssumeRole(alice_, Request(900)));
  clock_.Advance(std::chrono::seconds(901));
  ASSERT_OK_AND_ASSIGN(Credential expired, iam().FindCredential(out.access_key_id));
  ASSERT_TRUE(expired.expiration.has_value());
  EXPECT_LT(*expired.expiration, clock_.Now());

  // Kept for expired_session_retention (1 hour by default) after expiry.
  ASSERT_OK_AND_ASSIGN(int removed, iam().RunScheduledWork());
  EXPECT_EQ(removed, 0);
  EXPECT_OK(iam().FindCredential(out.access_key_id));

  clock_.Advance(std::chrono::hours(1));
  ASSERT_OK_AND_ASSIGN(removed, iam().RunScheduledWork());
  EXPECT_EQ(removed, 1);
  auto gone = iam().FindCredential(out.access_key_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(removed, iam().RunScheduledWork());
  EXPECT_EQ(removed, 0);
}

TEST_F(StsTest, OnlyExpiredSessionsAreRemoved) {
  options_.expired_session_retention = Duration::zero();
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult short_one, iam().AssumeRole(alice_, Request(900)));
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult long_one, iam().AssumeRole(alice_, Request(7200)));
  clock_.Advance(std::chrono::seconds(899));
  ASSERT_OK_AND_ASSIGN(int removed, iam().RunScheduledWork());
  EXPECT_EQ(removed, 0);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(removed, iam().RunScheduledWork());
  EXPECT_EQ(removed, 1);
  EXPECT_EQ(iam().FindCredential(short_one.access_key_id).status().code(), StatusCode::kNotFound);
  EXPECT_OK(iam().FindCredential(long_one.access_key_id));
}

TEST_F(StsTest, SessionsOfADeletedRoleKeepAuthenticatingWithoutPolicies) {
  ASSERT_OK(iam().PutRolePolicy("BackupRole", "p", testing::AllowPolicy("kms:*")));
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult out, iam().AssumeRole(alice_, Request()));
  ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(out.access_key_id));
  ASSERT_OK_AND_ASSIGN(auto before, iam().IdentityPoliciesOf(c.principal));
  EXPECT_EQ(before->size(), 1u);
  ASSERT_OK(iam().DeleteRolePolicy("BackupRole", "p"));
  ASSERT_OK(iam().DeleteRole("BackupRole"));
  EXPECT_OK(iam().FindCredential(out.access_key_id));
  ASSERT_OK_AND_ASSIGN(auto after, iam().IdentityPoliciesOf(c.principal));
  EXPECT_TRUE(after->empty());
}

TEST_F(StsTest, GetCallerIdentityOfEachKindOfCaller) {
  CallerIdentity root = GetCallerIdentity(Root());
  EXPECT_EQ(root.arn, "arn:aws:iam::111122223333:root");
  EXPECT_EQ(root.user_id, "111122223333");
  EXPECT_EQ(root.account, "111122223333");

  CallerIdentity user = GetCallerIdentity(alice_);
  EXPECT_EQ(user.arn, "arn:aws:iam::111122223333:user/alice");
  EXPECT_EQ(user.user_id, alice_.user_id);
  EXPECT_EQ(user.account, "111122223333");

  ASSERT_OK_AND_ASSIGN(AssumeRoleResult out, iam().AssumeRole(alice_, Request()));
  ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(out.access_key_id));
  CallerIdentity session = GetCallerIdentity(c.principal);
  EXPECT_EQ(session.arn, "arn:aws:sts::111122223333:assumed-role/BackupRole/s1");
  EXPECT_EQ(session.user_id, role_.role_id + ":s1");
  EXPECT_EQ(session.account, "111122223333");
}

// ---- GetSessionToken ----------------------------------------------------------------

TEST_F(StsTest, GetSessionTokenActsAsTheUser) {
  ASSERT_OK_AND_ASSIGN(SessionTokenResult out, iam().GetSessionToken(alice_, std::nullopt));
  EXPECT_TRUE(out.access_key_id.starts_with("ASIA"));
  EXPECT_EQ(out.secret_access_key.size(), 40u);
  EXPECT_GE(out.session_token.size(), 200u);
  // Twelve hours unless asked otherwise.
  EXPECT_EQ(EpochMillis(out.expiration), kStartMillis + 43200LL * 1000);

  ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(out.access_key_id));
  EXPECT_EQ(c.principal.type, policy::PrincipalType::kIamUser);
  EXPECT_EQ(c.principal.arn, alice_.arn);
  EXPECT_EQ(c.principal.user_id, alice_.user_id);
  EXPECT_EQ(c.principal.session_issued, FromEpochMillis(kStartMillis));
  ASSERT_TRUE(c.session_token.has_value());
  EXPECT_TRUE(c.session_token->Matches(Reveal(out.session_token)));
  EXPECT_TRUE(c.secret_access_key == out.secret_access_key);
  EXPECT_EQ(c.expiration, out.expiration);
  // The user's policies are the session's.
  ASSERT_OK_AND_ASSIGN(auto policies, iam().IdentityPoliciesOf(c.principal));
  ASSERT_OK_AND_ASSIGN(auto users, iam().IdentityPoliciesOf(alice_));
  EXPECT_EQ(policies->size(), users->size());
  ASSERT_OK_AND_ASSIGN(SessionTokenResult longest, iam().GetSessionToken(alice_, 129600));
  EXPECT_EQ(EpochMillis(longest.expiration), kStartMillis + 129600LL * 1000);
}

TEST_F(StsTest, GetSessionTokenDurationsAndCallers) {
  EXPECT_THAT(iam().GetSessionToken(alice_, 899),
              IsError("ValidationError",
                      "1 validation error detected: Value '899' at 'durationSeconds' failed to "
                      "satisfy constraint: Member must have value greater than or equal to 900"));
  EXPECT_THAT(iam().GetSessionToken(alice_, 129601),
              IsError("ValidationError",
                      "1 validation error detected: Value '129601' at 'durationSeconds' failed "
                      "to satisfy constraint: Member must have value less than or equal to "
                      "129600"));
  // The root's sessions last an hour at most, and by default.
  const policy::Principal root = policy::Principal::Root("111122223333");
  ASSERT_OK_AND_ASSIGN(SessionTokenResult r1, iam().GetSessionToken(root, std::nullopt));
  EXPECT_EQ(EpochMillis(r1.expiration), kStartMillis + 3600LL * 1000);
  ASSERT_OK_AND_ASSIGN(SessionTokenResult r2, iam().GetSessionToken(root, 7200));
  EXPECT_EQ(EpochMillis(r2.expiration), kStartMillis + 3600LL * 1000);
  ASSERT_OK_AND_ASSIGN(SessionTokenResult r3, iam().GetSessionToken(root, 900));
  EXPECT_EQ(EpochMillis(r3.expiration), kStartMillis + 900LL * 1000);
  ASSERT_OK_AND_ASSIGN(Credential rc, iam().FindCredential(r1.access_key_id));
  EXPECT_EQ(rc.principal.type, policy::PrincipalType::kRoot);
  EXPECT_TRUE(rc.principal.session_issued.has_value());

  // Temporary credentials get none.
  constexpr char kSession[] = "Cannot call GetSessionToken with session credentials";
  ASSERT_OK_AND_ASSIGN(Credential uc,
                       iam().FindCredential(iam().GetSessionToken(alice_, 900)->access_key_id));
  EXPECT_THAT(iam().GetSessionToken(uc.principal, std::nullopt), IsError("AccessDenied", kSession));
  EXPECT_THAT(iam().GetSessionToken(rc.principal, std::nullopt), IsError("AccessDenied", kSession));
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult assumed, iam().AssumeRole(alice_, Request()));
  ASSERT_OK_AND_ASSIGN(Credential ac, iam().FindCredential(assumed.access_key_id));
  EXPECT_THAT(iam().GetSessionToken(ac.principal, std::nullopt), IsError("AccessDenied", kSession));
}

TEST_F(StsTest, AUsersSessionEndsWithTheUser) {
  ASSERT_OK_AND_ASSIGN(SessionTokenResult out, iam().GetSessionToken(alice_, std::nullopt));
  ASSERT_OK(iam().FindCredential(out.access_key_id));
  // Sessions survive a restart.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK(iam().FindCredential(out.access_key_id));
  ASSERT_OK(iam().DeleteUser("alice"));
  EXPECT_EQ(iam().FindCredential(out.access_key_id).status().code(), StatusCode::kNotFound);
  // Nor does a new user of the same name inherit it.
  NewUser("alice");
  EXPECT_EQ(iam().FindCredential(out.access_key_id).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace coffer::iam
