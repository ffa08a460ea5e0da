// IdentityService: the account, users and access keys, with AWS IAM's
// validation, limits and error texts, and FindCredential for long-term keys.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

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
using ::coffer::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> UserNames(const ListUsersResult& list) {
  std::vector<std::string> names;
  for (const User& u : list.users) names.push_back(u.user_name);
  return names;
}

// ---- the account ------------------------------------------------------------------

TEST_F(IamTest, InitializeAccountCreatesTheRootKeyOnce) {
  EXPECT_EQ(root_key_.access_key_id.size(), 20u);
  EXPECT_TRUE(root_key_.access_key_id.starts_with("AKIA"));
  EXPECT_TRUE(AllIn(root_key_.access_key_id.substr(4), kBase32Upper));
  EXPECT_EQ(root_key_.secret_access_key.size(), 40u);
  EXPECT_TRUE(AllIn(Reveal(root_key_.secret_access_key), kBase64Chars));
  EXPECT_EQ(root_key_.user_name, "");

  ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(root_key_.access_key_id));
  EXPECT_EQ(c.principal.type, policy::PrincipalType::kRoot);
  EXPECT_EQ(c.principal.arn, "arn:aws:iam::111122223333:root");
  EXPECT_TRUE(c.secret_access_key == root_key_.secret_access_key);
  EXPECT_TRUE(c.active);
  EXPECT_FALSE(c.session_token.has_value());
  EXPECT_FALSE(c.expiration.has_value());

  ASSERT_OK_AND_ASSIGN(auto again, iam().InitializeAccount());
  EXPECT_FALSE(again.has_value());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK_AND_ASSIGN(auto after_restart, iam().InitializeAccount());
  EXPECT_FALSE(after_restart.has_value());
}

TEST_F(IamTest, CreateRejectsBadOptions) {
  IamOptions bad;
  bad.account_id = "12345";
  EXPECT_THAT(IdentityService::Create(bad, *store_, *vault_, clock_, random_).status().code(),
              StatusCode::kInvalidArgument);
  bad = IamOptions{};
  bad.region = "";
  EXPECT_FALSE(IdentityService::Create(bad, *store_, *vault_, clock_, random_).ok());
  bad = IamOptions{};
  bad.max_access_keys_per_user = 0;
  EXPECT_FALSE(IdentityService::Create(bad, *store_, *vault_, clock_, random_).ok());
}

// ---- users ----------------------------------------------------------------------------

TEST_F(IamTest, CreateUserReturnsTheUser) {
  ASSERT_OK_AND_ASSIGN(User u, iam().CreateUser({"alice", std::nullopt}));
  EXPECT_EQ(u.user_name, "alice");
  EXPECT_EQ(u.path, "/");
  EXPECT_EQ(u.arn, "arn:aws:iam::111122223333:user/alice");
  EXPECT_EQ(u.user_id.size(), 21u);
  EXPECT_TRUE(u.user_id.starts_with("AIDA"));
  EXPECT_TRUE(AllIn(u.user_id.substr(4), kBase32Upper));
  EXPECT_EQ(EpochMillis(u.create_date), kStartMillis);

  ASSERT_OK_AND_ASSIGN(User b, iam().CreateUser({"bob", "/division/team/"}));
  EXPECT_EQ(b.arn, "arn:aws:iam::111122223333:user/division/team/bob");
  EXPECT_EQ(b.path, "/division/team/");
  EXPECT_NE(b.user_id, u.user_id);
}

TEST_F(IamTest, UserNamesAreUniqueWithoutRegardToCase) {
  NewUser("Alice");
  EXPECT_THAT(iam().CreateUser({"ALICE", std::nullopt}),
              IsError("EntityAlreadyExists", "User with name ALICE already exists."));
  ASSERT_OK_AND_ASSIGN(User u, iam().GetUser(Root(), std::string("alice")));
  EXPECT_EQ(u.user_name, "Alice");
  EXPECT_EQ(u.arn, "arn:aws:iam::111122223333:user/Alice");
}

TEST_F(IamTest, CreateUserValidatesAsTheModel) {
  EXPECT_THAT(iam().CreateUser({"a b", std::nullopt}),
              IsError("ValidationError",
                      "1 validation error detected: Value 'a b' at 'userName' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"));
  EXPECT_THAT(
      iam().CreateUser({std::string(65, 'a'), std::nullopt}),
      IsError("ValidationError", "1 validation error detected: Value '" + std::string(65, 'a') +
                                     "' at 'userName' failed to satisfy constraint: Member "
                                     "must have length less than or equal to 64"));
  EXPECT_THAT(
      iam().CreateUser({"", std::nullopt}),
      IsError("ValidationError",
              "2 validation errors detected: Value '' at 'userName' failed to satisfy constraint: "
              "Member must have length greater than or equal to 1; Value '' at 'userName' failed "
              "to satisfy constraint: Member must satisfy regular expression pattern: "
              "[\\w+=,.@-]+"));
  EXPECT_THAT(iam().CreateUser({"carol", "division"}),
              IsError("ValidationError",
                      "1 validation error detected: Value 'division' at 'path' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"));
  EXPECT_THAT(iam().CreateUser({"carol", "/a b/"}).status().error_name(), "ValidationError");
  EXPECT_OK(iam().CreateUser({"a+b=c,d.e@f-g_1", "/x/"}));
}

TEST_F(IamTest, UsersPerAccountQuota) {
  options_.max_users = 2;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  NewUser("u1");
  NewUser("u2");
  EXPECT_THAT(iam().CreateUser({"u3", std::nullopt}),
              IsError("LimitExceeded", "Cannot exceed quota for UsersPerAccount: 2"));
}

TEST_F(IamTest, GetUserByNameAndMissing) {
  policy::Principal alice = NewUser("alice", "/p/");
  ASSERT_OK_AND_ASSIGN(User u, iam().GetUser(Root(), std::string("alice")));
  EXPECT_EQ(u.arn, alice.arn);
  EXPECT_EQ(u.user_id, alice.user_id);
  EXPECT_EQ(u.path, "/p/");
  EXPECT_THAT(iam().GetUser(Root(), std::string("nobody")),
              IsError("NoSuchEntity", "The user with name nobody cannot be found."));
}

TEST_F(IamTest, GetUserWithoutNameIsTheCaller) {
  policy::Principal alice = NewUser("alice");
  ASSERT_OK_AND_ASSIGN(User self, iam().GetUser(alice, std::nullopt));
  EXPECT_EQ(self.user_name, "alice");
  EXPECT_EQ(self.arn, alice.arn);

  clock_.Advance(std::chrono::hours(5));  // the root's CreateDate is the account's
  ASSERT_OK_AND_ASSIGN(User root, iam().GetUser(Root(), std::nullopt));
  EXPECT_EQ(root.user_id, "111122223333");
  EXPECT_EQ(root.arn, "arn:aws:iam::111122223333:root");
  EXPECT_EQ(root.user_name, "");
  EXPECT_EQ(root.path, "");
  EXPECT_EQ(EpochMillis(root.create_date), kStartMillis);

  policy::Principal session = policy::Principal::AssumedRole("arn:aws:iam::111122223333:role/R",
                                                             "s", "AROAAAAAAAAAAAAAAAAAA");
  EXPECT_THAT(
      iam().GetUser(session, std::nullopt),
      IsError("ValidationError", "Must specify userName when calling with non-User credentials"));
}

TEST_F(IamTest, ListUsersInOrderWithPathPrefixAndPages) {
  NewUser("carol", "/eng/");
  NewUser("alice");
  NewUser("Bob", "/eng/db/");
  ASSERT_OK_AND_ASSIGN(ListUsersResult all, iam().ListUsers(std::nullopt, {}));
  EXPECT_THAT(UserNames(all), ElementsAre("alice", "Bob", "carol"));
  EXPECT_FALSE(all.is_truncated);
  EXPECT_FALSE(all.marker.has_value());

  ASSERT_OK_AND_ASSIGN(ListUsersResult eng, iam().ListUsers(std::string("/eng/"), {}));
  EXPECT_THAT(UserNames(eng), ElementsAre("Bob", "carol"));
  ASSERT_OK_AND_ASSIGN(ListUsersResult none, iam().ListUsers(std::string("/ops/"), {}));
  EXPECT_THAT(none.users, IsEmpty());

  ASSERT_OK_AND_ASSIGN(ListUsersResult p1, iam().ListUsers(std::nullopt, Page{std::nullopt, 2}));
  EXPECT_THAT(UserNames(p1), ElementsAre("alice", "Bob"));
  EXPECT_TRUE(p1.is_truncated);
  ASSERT_TRUE(p1.marker.has_value());
  ASSERT_OK_AND_ASSIGN(ListUsersResult p2, iam().ListUsers(std::nullopt, Page{p1.marker, 2}));
  EXPECT_THAT(UserNames(p2), ElementsAre("carol"));
  EXPECT_FALSE(p2.is_truncated);
  // Markers are opaque and this list's: a name, or another list's marker, is refused
  // (AWS's ValidationError), not taken for a place to start.
  for (const std::string& bad : {std::string("bob"), std::string("bogus"), std::string("%%")}) {
    EXPECT_THAT(iam().ListUsers(std::nullopt, Page{bad, 2}),
                IsError("ValidationError", "Invalid Marker."))
        << bad;
  }
  EXPECT_THAT(iam().ListRoles(std::nullopt, Page{p1.marker, 2}),
              IsError("ValidationError", "Invalid Marker."));

  // A page filled exactly by the last match is not truncated.
  ASSERT_OK_AND_ASSIGN(ListUsersResult exact,
                       iam().ListUsers(std::string("/eng/"), Page{std::nullopt, 2}));
  EXPECT_FALSE(exact.is_truncated);

  EXPECT_THAT(iam().ListUsers(std::nullopt, Page{std::nullopt, 0}),
              IsError("ValidationError",
                      "1 validation error detected: Value '0' at 'maxItems' failed to satisfy "
                      "constraint: Member must have value greater than or equal to 1"));
  EXPECT_THAT(iam().ListUsers(std::string("eng"), {}).status().error_name(), "ValidationError");
}

TEST_F(IamTest, DeleteUserNeedsItsKeysAndPoliciesGoneFirst) {
  NewUser("alice");
  ASSERT_OK_AND_ASSIGN(NewAccessKey key, iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK(iam().PutUserPolicy("alice", "p", testing::AllowPolicy("kms:*")));

  EXPECT_THAT(iam().DeleteUser("alice"),
              IsError("DeleteConflict", "Cannot delete entity, must delete access keys first."));
  ASSERT_OK(iam().DeleteAccessKey(Root(), std::string("alice"), key.access_key_id));
  EXPECT_THAT(iam().DeleteUser("ALICE"),
              IsError("DeleteConflict", "Cannot delete entity, must delete policies first."));
  ASSERT_OK(iam().DeleteUserPolicy("alice", "p"));
  ASSERT_OK(iam().DeleteUser("Alice"));
  EXPECT_THAT(iam().GetUser(Root(), std::string("alice")),
              IsError("NoSuchEntity", "The user with name alice cannot be found."));
  EXPECT_THAT(iam().DeleteUser("alice"),
              IsError("NoSuchEntity", "The user with name alice cannot be found."));
}

// ---- access keys --------------------------------------------------------------------------

TEST_F(IamTest, CreateAccessKeyForAUser) {
  policy::Principal alice = NewUser("alice");
  clock_.Advance(std::chrono::seconds(7));
  ASSERT_OK_AND_ASSIGN(NewAccessKey key, iam().CreateAccessKey(Root(), std::string("alice")));
  EXPECT_EQ(key.user_name, "alice");
  EXPECT_EQ(key.status, AccessKeyStatus::kActive);
  EXPECT_EQ(key.access_key_id.size(), 20u);
  EXPECT_TRUE(key.access_key_id.starts_with("AKIA"));
  EXPECT_TRUE(AllIn(key.access_key_id.substr(4), kBase32Upper));
  EXPECT_EQ(key.secret_access_key.size(), 40u);
  EXPECT_TRUE(AllIn(Reveal(key.secret_access_key), kBase64Chars));
  EXPECT_EQ(EpochMillis(key.create_date), kStartMillis + 7000);

  ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(key.access_key_id));
  EXPECT_EQ(c.principal.type, policy::PrincipalType::kIamUser);
  EXPECT_EQ(c.principal.arn, alice.arn);
  EXPECT_EQ(c.principal.user_id, alice.user_id);
  EXPECT_EQ(c.principal.account_id, "111122223333");
  EXPECT_TRUE(c.secret_access_key == key.secret_access_key);
  EXPECT_TRUE(c.active);
}

TEST_F(IamTest, AccessKeysPerUserQuota) {
  NewUser("alice");
  ASSERT_OK(iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK(iam().CreateAccessKey(Root(), std::string("alice")));
  EXPECT_THAT(iam().CreateAccessKey(Root(), std::string("alice")),
              IsError("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2"));
  // The root has one key already (SetUp) and the same quota.
  ASSERT_OK(iam().CreateAccessKey(Root(), std::nullopt));
  EXPECT_THAT(iam().CreateAccessKey(Root(), std::nullopt),
              IsError("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2"));
  EXPECT_THAT(iam().CreateAccessKey(Root(), std::string("nobody")),
              IsError("NoSuchEntity", "The user with name nobody cannot be found."));
}

TEST_F(IamTest, AccessKeyOperationsWithoutUserNameActOnTheCaller) {
  policy::Principal alice = NewUser("alice");
  NewUser("bob");
  ASSERT_OK_AND_ASSIGN(NewAccessKey own, iam().CreateAccessKey(alice, std::nullopt));
  EXPECT_EQ(own.user_name, "alice");
  ASSERT_OK_AND_ASSIGN(NewAccessKey bobs, iam().CreateAccessKey(Root(), std::string("bob")));

  ASSERT_OK_AND_ASSIGN(ListAccessKeysResult mine, iam().ListAccessKeys(alice, std::nullopt, {}));
  ASSERT_EQ(mine.access_key_metadata.size(), 1u);
  EXPECT_EQ(mine.access_key_metadata[0].access_key_id, own.access_key_id);

  // Another user's key is not found through the caller (nor through another name).
  EXPECT_THAT(
      iam().UpdateAccessKey(alice, std::nullopt, bobs.access_key_id, "Inactive"),
      IsError("NoSuchEntity", "The Access Key with id " + bobs.access_key_id + " cannot be found"));
  EXPECT_THAT(
      iam().DeleteAccessKey(Root(), std::string("alice"), bobs.access_key_id),
      IsError("NoSuchEntity", "The Access Key with id " + bobs.access_key_id + " cannot be found"));
  EXPECT_THAT(
      iam().DeleteAccessKey(Root(), std::nullopt, bobs.access_key_id),
      IsError("NoSuchEntity", "The Access Key with id " + bobs.access_key_id + " cannot be found"));

  ASSERT_OK_AND_ASSIGN(ListAccessKeysResult roots, iam().ListAccessKeys(Root(), std::nullopt, {}));
  ASSERT_EQ(roots.access_key_metadata.size(), 1u);
  EXPECT_EQ(roots.access_key_metadata[0].access_key_id, root_key_.access_key_id);
  EXPECT_EQ(roots.access_key_metadata[0].user_name, "");

  policy::Principal session = policy::Principal::AssumedRole("arn:aws:iam::111122223333:role/R",
                                                             "s", "AROAAAAAAAAAAAAAAAAAA");
  const char* kMust = "Must specify userName when calling with non-User credentials";
  EXPECT_THAT(iam().CreateAccessKey(session, std::nullopt), IsError("ValidationError", kMust));
  EXPECT_THAT(iam().ListAccessKeys(session, std::nullopt, {}), IsError("ValidationError", kMust));
  EXPECT_THAT(iam().UpdateAccessKey(session, std::nullopt, own.access_key_id, "Active"),
              IsError("ValidationError", kMust));
  EXPECT_THAT(iam().DeleteAccessKey(session, std::nullopt, own.access_key_id),
              IsError("ValidationError", kMust));
  EXPECT_THAT(iam().TargetUserArn(session, std::nullopt), IsError("ValidationError", kMust));
  ASSERT_OK_AND_ASSIGN(std::string arn, iam().TargetUserArn(alice, std::nullopt));
  EXPECT_EQ(arn, alice.arn);
}

TEST_F(IamTest, ListAccessKeysPages) {
  NewUser("alice");
  ASSERT_OK_AND_ASSIGN(NewAccessKey k1, iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK_AND_ASSIGN(NewAccessKey k2, iam().CreateAccessKey(Root(), std::string("alice")));
  std::vector<std::string> ids = {k1.access_key_id, k2.access_key_id};
  std::sort(ids.begin(), ids.end());
  ASSERT_OK_AND_ASSIGN(ListAccessKeysResult p1,
                       iam().ListAccessKeys(Root(), std::string("alice"), Page{std::nullopt, 1}));
  ASSERT_EQ(p1.access_key_metadata.size(), 1u);
  EXPECT_EQ(p1.access_key_metadata[0].access_key_id, ids[0]);
  EXPECT_EQ(p1.access_key_metadata[0].user_name, "alice");
  EXPECT_EQ(p1.access_key_metadata[0].status, AccessKeyStatus::kActive);
  EXPECT_TRUE(p1.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListAccessKeysResult p2,
                       iam().ListAccessKeys(Root(), std::string("alice"), Page{p1.marker, 1}));
  ASSERT_EQ(p2.access_key_metadata.size(), 1u);
  EXPECT_EQ(p2.access_key_metadata[0].access_key_id, ids[1]);
  EXPECT_FALSE(p2.is_truncated);
  // Another user's list, or a bare key id: not a marker of this list.
  ASSERT_OK(iam().CreateUser({"dave", std::nullopt}).status());
  EXPECT_THAT(iam().ListAccessKeys(Root(), std::string("dave"), Page{p1.marker, 1}),
              IsError("ValidationError", "Invalid Marker."));
  EXPECT_THAT(iam().ListAccessKeys(Root(), std::string("alice"), Page{ids[0], 1}),
              IsError("ValidationError", "Invalid Marker."));
  EXPECT_THAT(iam().ListAccessKeys(Root(), std::string("nobody"), {}),
              IsError("NoSuchEntity", "The user with name nobody cannot be found."));
}

TEST_F(IamTest, UpdateAccessKeyDeactivatesAndFindCredentialSeesIt) {
  NewUser("alice");
  ASSERT_OK_AND_ASSIGN(NewAccessKey key, iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK_AND_ASSIGN(Credential before, iam().FindCredential(key.access_key_id));  // cached
  EXPECT_TRUE(before.active);

  ASSERT_OK(iam().UpdateAccessKey(Root(), std::string("alice"), key.access_key_id, "Inactive"));
  ASSERT_OK_AND_ASSIGN(Credential after, iam().FindCredential(key.access_key_id));
  EXPECT_FALSE(after.active);
  ASSERT_OK_AND_ASSIGN(ListAccessKeysResult list,
                       iam().ListAccessKeys(Root(), std::string("alice"), {}));
  EXPECT_EQ(list.access_key_metadata[0].status, AccessKeyStatus::kInactive);

  ASSERT_OK(iam().UpdateAccessKey(Root(), std::string("alice"), key.access_key_id, "Active"));
  ASSERT_OK_AND_ASSIGN(Credential again, iam().FindCredential(key.access_key_id));
  EXPECT_TRUE(again.active);

  EXPECT_THAT(iam().UpdateAccessKey(Root(), std::string("alice"), key.access_key_id, "Off"),
              IsError("ValidationError",
                      "1 validation error detected: Value 'Off' at 'status' failed to satisfy "
                      "constraint: Member must satisfy enum value set: [Active, Inactive, "
                      "Expired]"));
  EXPECT_THAT(iam().UpdateAccessKey(Root(), std::string("alice"), "short", "Active"),
              IsError("ValidationError",
                      "1 validation error detected: Value 'short' at 'accessKeyId' failed to "
                      "satisfy constraint: Member must have length greater than or equal to 16"));
  EXPECT_THAT(
      iam().UpdateAccessKey(Root(), std::string("alice"), "AKIAAAAAAAAAAAAAAAAA", "Active"),
      IsError("NoSuchEntity", "The Access Key with id AKIAAAAAAAAAAAAAAAAA cannot be found"));
}

TEST_F(IamTest, DeleteAccessKeyForgetsTheCredential) {
  NewUser("alice");
  ASSERT_OK_AND_ASSIGN(NewAccessKey key, iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK(iam().FindCredential(key.access_key_id));  // cached
  ASSERT_OK(iam().DeleteAccessKey(Root(), std::string("alice"), key.access_key_id));
  auto gone = iam().FindCredential(key.access_key_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(gone.status().error_name(), "");
  ASSERT_OK_AND_ASSIGN(ListAccessKeysResult list,
                       iam().ListAccessKeys(Root(), std::string("alice"), {}));
  EXPECT_THAT(list.access_key_metadata, IsEmpty());
  // The quota counts only existing keys.
  ASSERT_OK(iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK(iam().CreateAccessKey(Root(), std::string("alice")));
}

TEST_F(IamTest, FindCredentialOfUnknownKeysIsNotFound) {
  for (const char* id : {"AKIAAAAAAAAAAAAAAAAA", "ASIAAAAAAAAAAAAAAAAA", "", "nonsense"}) {
    auto c = iam().FindCredential(id);
    ASSERT_FALSE(c.ok()) << id;
    EXPECT_EQ(c.status().code(), StatusCode::kNotFound) << id;
    EXPECT_EQ(c.status().error_name(), "") << id;
  }
}

TEST_F(IamTest, ArnsForAuthorizationUseTheStoredPath) {
  NewUser("alice", "/eng/");
  NewRole("R", std::nullopt, "/svc/");
  ASSERT_OK_AND_ASSIGN(std::string user, iam().ArnOfUser("ALICE"));
  EXPECT_EQ(user, "arn:aws:iam::111122223333:user/eng/alice");
  ASSERT_OK_AND_ASSIGN(std::string nobody, iam().ArnOfUser("nobody"));
  EXPECT_EQ(nobody, "arn:aws:iam::111122223333:user/nobody");
  ASSERT_OK_AND_ASSIGN(std::string role, iam().ArnOfRole("r"));
  EXPECT_EQ(role, "arn:aws:iam::111122223333:role/svc/R");
  ASSERT_OK_AND_ASSIGN(std::string none, iam().ArnOfRole("none"));
  EXPECT_EQ(none, "arn:aws:iam::111122223333:role/none");
  ASSERT_OK_AND_ASSIGN(std::string target, iam().TargetUserArn(Root(), std::string("alice")));
  EXPECT_EQ(target, "arn:aws:iam::111122223333:user/eng/alice");
  ASSERT_OK_AND_ASSIGN(std::string root, iam().TargetUserArn(Root(), std::nullopt));
  EXPECT_EQ(root, "arn:aws:iam::111122223333:root");
}

TEST_F(IamTest, ConcurrentCallsSeeConsistentState) {
  constexpr int kThreads = 4, kUsersEach = 8;
  std::vector<std::thread> threads;
  std::vector<std::vector<NewAccessKey>> keys(kThreads);
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int u = 0; u < kUsersEach; ++u) {
        std::string name = "t" + std::to_string(t) + "u" + std::to_string(u);
        if (!iam().CreateUser({name, std::nullopt}).ok()) ++failures;
        auto key = iam().CreateAccessKey(Root(), name);
        if (!key.ok()) {
          ++failures;
          continue;
        }
        if (!iam().PutUserPolicy(name, "p", testing::AllowPolicy("kms:*")).ok()) ++failures;
        auto c = iam().FindCredential(key->access_key_id);
        if (!c.ok() || !(c->secret_access_key == key->secret_access_key)) ++failures;
        auto policies = c.ok() ? iam().IdentityPoliciesOf(c->principal)
                               : Result<std::shared_ptr<const std::vector<policy::Policy>>>(
                                     InternalError("no credential"));
        if (!policies.ok() || (*policies)->size() != 1) ++failures;
        if (!iam().FindCredential(root_key_.access_key_id).ok()) ++failures;
        keys[t].push_back(std::move(key).value());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_OK_AND_ASSIGN(ListUsersResult all, iam().ListUsers(std::nullopt, {}));
  EXPECT_EQ(all.users.size(), static_cast<size_t>(kThreads * kUsersEach));
  for (const auto& per_thread : keys) {
    for (const NewAccessKey& k : per_thread) {
      ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(k.access_key_id));
      EXPECT_EQ(c.principal.arn, "arn:aws:iam::111122223333:user/" + k.user_name);
    }
  }
}

// ---- tags ---------------------------------------------------------------------------

TEST_F(IamTest, TagsOfUsersAndRoles) {
  ASSERT_OK_AND_ASSIGN(User created,
                       iam().CreateUser({"alice", std::nullopt, {{"Team", "db"}, {"Cost", ""}}}));
  EXPECT_EQ(created.tags, (std::vector<Tag>{{"Team", "db"}, {"Cost", ""}}));
  // A key already there (whatever its case) takes the new spelling and value in place.
  ASSERT_OK(iam().TagUser("ALICE", {{"team", "web"}, {"Floor", "3"}}));
  ASSERT_OK_AND_ASSIGN(User got, iam().GetUser(Root(), std::string("alice")));
  EXPECT_EQ(got.tags, (std::vector<Tag>{{"team", "web"}, {"Cost", ""}, {"Floor", "3"}}));
  ASSERT_OK(iam().UntagUser("alice", {"COST", "absent"}));
  ASSERT_OK_AND_ASSIGN(ListTagsResult list, iam().ListUserTags("alice", {}));
  EXPECT_EQ(list.tags, (std::vector<Tag>{{"team", "web"}, {"Floor", "3"}}));
  EXPECT_FALSE(list.is_truncated);
  // Pages.
  ASSERT_OK_AND_ASSIGN(ListTagsResult first, iam().ListUserTags("alice", {std::nullopt, 1}));
  EXPECT_EQ(first.tags, (std::vector<Tag>{{"team", "web"}}));
  ASSERT_TRUE(first.is_truncated && first.marker);
  ASSERT_OK_AND_ASSIGN(ListTagsResult second, iam().ListUserTags("alice", {first.marker, 1}));
  EXPECT_EQ(second.tags, (std::vector<Tag>{{"Floor", "3"}}));
  EXPECT_FALSE(second.is_truncated);
  EXPECT_THAT(iam().ListUserTags("alice", {std::string("bogus"), std::nullopt}),
              IsError("ValidationError", "Invalid Marker."));

  Role role = NewRole("reader");
  ASSERT_OK(iam().TagRole("reader", {{"Team", "db"}}));
  ASSERT_OK_AND_ASSIGN(Role got_role, iam().GetRole("reader"));
  EXPECT_EQ(got_role.tags, (std::vector<Tag>{{"Team", "db"}}));
  ASSERT_OK(iam().UntagRole("reader", {"team"}));
  ASSERT_OK_AND_ASSIGN(ListTagsResult none, iam().ListRoleTags("reader", {}));
  EXPECT_TRUE(none.tags.empty());
  EXPECT_THAT(iam().TagRole("nobody", {{"a", "b"}}),
              IsError("NoSuchEntity", "The role with name nobody cannot be found."));
}

TEST_F(IamTest, TagsAreValidatedAndRefusedWholly) {
  NewUser("alice");
  ASSERT_OK(iam().TagUser("alice", {{"keep", "1"}}));
  const std::string before = StoreSnapshot();
  EXPECT_THAT(iam().TagUser("alice", {{"a", "1"}, {"A", "2"}}),
              IsError("InvalidInput",
                      "Duplicate tag keys found. Please note that Tag keys are case insensitive."));
  EXPECT_THAT(iam().TagUser("alice", {{"aws:team", "1"}}).error_name(), "InvalidInput");
  EXPECT_THAT(iam().TagUser("alice", {{"", "1"}}).error_name(), "ValidationError");
  EXPECT_THAT(iam().TagUser("alice", {{std::string(129, 'k'), "1"}}).error_name(),
              "ValidationError");
  EXPECT_THAT(iam().TagUser("alice", {{"k", std::string(257, 'v')}}).error_name(),
              "ValidationError");
  EXPECT_THAT(iam().TagUser("alice", {{"semi;colon", "1"}}).error_name(), "ValidationError");
  std::vector<Tag> many;
  for (int i = 0; i < 50; ++i) many.push_back({"k" + std::to_string(i), ""});
  EXPECT_THAT(iam().TagUser("alice", many),
              IsError("LimitExceeded", "Cannot exceed quota for TagsPerUser: 50"));
  EXPECT_EQ(StoreSnapshot(), before);
  many.pop_back();
  EXPECT_OK(iam().TagUser("alice", many));  // 49 new and the one kept: 50
  // Letters of other scripts are letters.
  NewUser("bob");
  EXPECT_OK(iam().TagUser("bob", {{"Équipe", "base de données"}}));
}

TEST_F(IamTest, PrincipalTagsAreTheUsersOrTheSessionsRoles) {
  policy::Principal alice = NewUser("alice");
  ASSERT_OK(iam().TagUser("alice", {{"Team", "db"}}));
  ASSERT_OK_AND_ASSIGN(std::vector<Tag> tags, iam().PrincipalTagsOf(alice));
  EXPECT_EQ(tags, (std::vector<Tag>{{"Team", "db"}}));
  EXPECT_THAT(iam().PrincipalTagsOf(Root()), IsOkAndHolds(std::vector<Tag>{}));

  Role role = NewRole("reader");
  ASSERT_OK(iam().TagRole("reader", {{"Level", "2"}}));
  policy::Principal session = policy::Principal::AssumedRole(role.arn, "s", role.role_id);
  ASSERT_OK_AND_ASSIGN(tags, iam().PrincipalTagsOf(session));
  EXPECT_EQ(tags, (std::vector<Tag>{{"Level", "2"}}));

  // A user deleted and created again is another principal: the old one has no tags.
  ASSERT_OK(iam().DeleteUser("alice"));
  NewUser("alice");
  ASSERT_OK(iam().TagUser("alice", {{"Team", "db"}}));
  EXPECT_THAT(iam().PrincipalTagsOf(alice), IsOkAndHolds(std::vector<Tag>{}));
}

TEST_F(IamTest, GetAccessKeyLastUsedTracksAuthenticatedUses) {
  NewUser("alice", "/eng/");
  ASSERT_OK_AND_ASSIGN(NewAccessKey key, iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK_AND_ASSIGN(AccessKeyLastUsed never, iam().GetAccessKeyLastUsed(key.access_key_id));
  EXPECT_EQ(never.user_name, "alice");
  EXPECT_FALSE(never.last_used_date.has_value());
  EXPECT_EQ(never.service_name, "N/A");
  EXPECT_EQ(never.region, "N/A");
  ASSERT_OK_AND_ASSIGN(std::string owner, iam().ArnOfAccessKeyOwner(key.access_key_id));
  EXPECT_EQ(owner, "arn:aws:iam::111122223333:user/eng/alice");

  clock_.Advance(std::chrono::seconds(10));
  iam().NoteKeyUse(key.access_key_id, "kms", "us-east-1");
  clock_.Advance(std::chrono::seconds(5));
  iam().NoteKeyUse(key.access_key_id, "sts", "eu-west-1");
  // Seen before it is written, then after.
  ASSERT_OK_AND_ASSIGN(AccessKeyLastUsed noted, iam().GetAccessKeyLastUsed(key.access_key_id));
  ASSERT_TRUE(noted.last_used_date.has_value());
  EXPECT_EQ(EpochMillis(*noted.last_used_date), kStartMillis + 15000);
  EXPECT_EQ(noted.service_name, "sts");
  EXPECT_EQ(noted.region, "eu-west-1");
  ASSERT_OK(iam().RunScheduledWork().status());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK_AND_ASSIGN(AccessKeyLastUsed kept, iam().GetAccessKeyLastUsed(key.access_key_id));
  ASSERT_TRUE(kept.last_used_date.has_value());
  EXPECT_EQ(EpochMillis(*kept.last_used_date), kStartMillis + 15000);
  EXPECT_EQ(kept.service_name, "sts");
  EXPECT_EQ(kept.region, "eu-west-1");

  // Session keys and the root's are noted by their own rule: sessions not at all.
  iam().NoteKeyUse("ASIAAAAAAAAAAAAAAAAA", "kms", "us-east-1");
  ASSERT_OK(iam().FlushKeyUses());
  ASSERT_OK_AND_ASSIGN(AccessKeyLastUsed root, iam().GetAccessKeyLastUsed(root_key_.access_key_id));
  EXPECT_EQ(root.user_name, "");
  EXPECT_EQ(root.service_name, "N/A");
  ASSERT_OK_AND_ASSIGN(std::string root_arn, iam().ArnOfAccessKeyOwner(root_key_.access_key_id));
  EXPECT_EQ(root_arn, "arn:aws:iam::111122223333:root");

  // A deleted key's use goes with it, also one noted but not yet written.
  iam().NoteKeyUse(key.access_key_id, "iam", "us-east-1");
  ASSERT_OK(iam().DeleteAccessKey(Root(), std::string("alice"), key.access_key_id));
  ASSERT_OK(iam().FlushKeyUses());
  EXPECT_THAT(
      iam().GetAccessKeyLastUsed(key.access_key_id),
      IsError("NoSuchEntity", "The Access Key with id " + key.access_key_id + " cannot be found"));
  ASSERT_OK_AND_ASSIGN(std::string unknown, iam().ArnOfAccessKeyOwner(key.access_key_id));
  EXPECT_EQ(unknown, "arn:aws:iam::111122223333:user/");
  size_t rows = 1;
  ASSERT_OK(store_->View([&](const state::ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto entries, tx.Scan(kKeyLastUsedTable, "", "", 0));
    rows = entries.size();
    return Status::Ok();
  }));
  EXPECT_EQ(rows, 0u);
}

}  // namespace
}  // namespace coffer::iam
