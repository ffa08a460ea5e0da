// IdentityService across restarts and at rest: everything survives Reopen(),
// no secret access key or session token is stored in the clear, and a refused
// call changes nothing in the store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "iam/identity_service.h"
#include "iam_fixture.h"

namespace coffer::iam {
namespace {

using ::coffer::iam::testing::AllowPolicy;
using ::coffer::iam::testing::IamTest;
using ::coffer::iam::testing::IsOk;
using ::coffer::iam::testing::kTrustAccount;
using ::coffer::iam::testing::Reveal;

class PersistenceTest : public IamTest {
 protected:
  // Everything the API shows, as text.
  std::string ApiSnapshot() {
    std::ostringstream out;
    auto users = iam().ListUsers(std::nullopt, {});
    EXPECT_THAT(users, IsOk());
    if (!users.ok()) return "";
    for (const User& u : users->users) {
      out << "user " << u.user_name << " " << u.path << " " << u.user_id << " " << u.arn << " "
          << EpochMillis(u.create_date) << "\n";
      auto keys = iam().ListAccessKeys(Root(), u.user_name, {});
      EXPECT_THAT(keys, IsOk());
      if (keys.ok()) {
        for (const auto& k : keys->access_key_metadata) {
          out << " key " << k.access_key_id << " " << AccessKeyStatusName(k.status) << " "
              << EpochMillis(k.create_date) << "\n";
        }
      }
      auto policies = iam().ListUserPolicies(u.user_name, {});
      EXPECT_THAT(policies, IsOk());
      if (policies.ok()) {
        for (const auto& name : policies->policy_names) {
          auto p = iam().GetUserPolicy(u.user_name, name);
          EXPECT_THAT(p, IsOk());
          if (p.ok()) out << " policy " << p->policy_name << " " << p->policy_document << "\n";
        }
      }
    }
    auto roles = iam().ListRoles(std::nullopt, {});
    EXPECT_THAT(roles, IsOk());
    if (!roles.ok()) return "";
    for (const Role& r : roles->roles) {
      out << "role " << r.role_name << " " << r.path << " " << r.role_id << " " << r.arn << " "
          << EpochMillis(r.create_date) << " " << r.assume_role_policy_document << " "
          << r.description.value_or("-") << " " << r.max_session_duration << "\n";
      auto policies = iam().ListRolePolicies(r.role_name, {});
      EXPECT_THAT(policies, IsOk());
      if (policies.ok()) {
        for (const auto& name : policies->policy_names) {
          auto p = iam().GetRolePolicy(r.role_name, name);
          EXPECT_THAT(p, IsOk());
          if (p.ok()) out << " policy " << p->policy_name << " " << p->policy_document << "\n";
        }
      }
    }
    return out.str();
  }

  // Every byte of every file in the data directory.
  std::string AllFileBytes() {
    std::string all;
    for (const auto& [name, content] : ::coffer::testing::DirectoryContents(dir_)) all += content;
    return all;
  }
};

TEST_F(PersistenceTest, EverythingSurvivesARestart) {
  policy::Principal alice = NewUser("alice", "/eng/");
  ASSERT_OK_AND_ASSIGN(NewAccessKey key, iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK(iam().UpdateAccessKey(Root(), std::string("alice"), key.access_key_id, "Inactive"));
  ASSERT_OK(iam().PutUserPolicy("alice", "kms", AllowPolicy("kms:Decrypt")));
  CreateRoleRequest req{"R", kTrustAccount, "/svc/", "a role", 7200};
  ASSERT_OK_AND_ASSIGN(Role role, iam().CreateRole(req));
  ASSERT_OK(iam().PutRolePolicy("R", "s3", AllowPolicy("s3:GetObject")));
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult session,
                       iam().AssumeRole(alice, AssumeRoleRequest{role.arn, "s1", 7200}));
  const std::string before = ApiSnapshot();
  ASSERT_NE(before, "");

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ApiSnapshot(), before);

  ASSERT_OK_AND_ASSIGN(Credential root, iam().FindCredential(root_key_.access_key_id));
  EXPECT_TRUE(root.secret_access_key == root_key_.secret_access_key);
  ASSERT_OK_AND_ASSIGN(Credential user, iam().FindCredential(key.access_key_id));
  EXPECT_TRUE(user.secret_access_key == key.secret_access_key);
  EXPECT_FALSE(user.active);
  EXPECT_EQ(user.principal.arn, "arn:aws:iam::111122223333:user/eng/alice");
  ASSERT_OK_AND_ASSIGN(Credential temp, iam().FindCredential(session.access_key_id));
  EXPECT_TRUE(temp.secret_access_key == session.secret_access_key);
  ASSERT_TRUE(temp.session_token.has_value());
  EXPECT_TRUE(temp.session_token->Matches(Reveal(session.session_token)));
  EXPECT_EQ(temp.expiration, session.expiration);
  // Ids that cannot be access key ids (the model: 16 to 128 word characters) name
  // nothing, like unknown ones.
  for (const std::string& bad :
       {std::string("AKIA"), std::string(129, 'A'), std::string("AKIA-") + std::string(15, 'A'),
        std::string("ASIA") + std::string(15, 'A') + "/", std::string(16, ' ')}) {
    EXPECT_EQ(iam().FindCredential(bad).status().code(), StatusCode::kNotFound) << bad;
  }
  // When the user and the role were created, and the trust policy saved, for
  // binding policies to the principals of their time.
  ASSERT_OK_AND_ASSIGN(User stored_alice, iam().GetUser(Root(), std::string("alice")));
  EXPECT_EQ(user.principal.created, stored_alice.create_date);
  EXPECT_EQ(temp.principal.created, role.create_date);
  ASSERT_OK_AND_ASSIGN(policy::SavedPolicy trust, iam().TrustPolicyOf(role.arn));
  EXPECT_EQ(trust.text, kTrustAccount);
  EXPECT_EQ(trust.saved, role.create_date);
  ASSERT_OK_AND_ASSIGN(auto policies, iam().IdentityPoliciesOf(temp.principal));
  EXPECT_EQ(policies->size(), 1u);
}

TEST_F(PersistenceTest, SecretsAreSealedAtRest) {
  policy::Principal alice = NewUser("alice");
  ASSERT_OK_AND_ASSIGN(NewAccessKey key, iam().CreateAccessKey(Root(), std::string("alice")));
  Role role = NewRole("R");
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult session,
                       iam().AssumeRole(alice, AssumeRoleRequest{role.arn, "s1", std::nullopt}));
  for (bool reopened : {false, true}) {
    if (reopened) {
      ASSERT_NO_FATAL_FAILURE(Reopen());  // checkpointed into the main file too
    }
    const std::string bytes = AllFileBytes();
    // The ids are stored (so this search does reach the records) …
    EXPECT_NE(bytes.find(key.access_key_id), std::string::npos);
    EXPECT_NE(bytes.find(session.access_key_id), std::string::npos);
    // … the secrets are not.
    EXPECT_EQ(bytes.find(Reveal(root_key_.secret_access_key)), std::string::npos);
    EXPECT_EQ(bytes.find(Reveal(key.secret_access_key)), std::string::npos);
    EXPECT_EQ(bytes.find(Reveal(session.secret_access_key)), std::string::npos);
    EXPECT_EQ(bytes.find(Reveal(session.session_token)), std::string::npos);
    EXPECT_EQ(bytes.find(Reveal(session.session_token).substr(0, 32)), std::string::npos);
  }
}

TEST_F(PersistenceTest, SealedSecretsAreBoundToTheirKey) {
  // A sealed secret copied onto another key's record does not open there.
  NewUser("alice");
  ASSERT_OK_AND_ASSIGN(NewAccessKey k1, iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK_AND_ASSIGN(NewAccessKey k2, iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK(store_->Update([&](state::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto r1, tx.Get(kAccessKeysTable, k1.access_key_id));
    ASSIGN_OR_RETURN(auto r2, tx.Get(kAccessKeysTable, k2.access_key_id));
    ASSIGN_OR_RETURN(AccessKeyRecord a, DecodeAccessKeyRecord(*r1));
    ASSIGN_OR_RETURN(AccessKeyRecord b, DecodeAccessKeyRecord(*r2));
    b.sealed_secret = a.sealed_secret;
    return tx.Put(kAccessKeysTable, b.id, EncodeAccessKeyRecord(b));
  }));
  ASSERT_NO_FATAL_FAILURE(Reopen());  // an empty cache
  EXPECT_OK(iam().FindCredential(k1.access_key_id));
  EXPECT_EQ(iam().FindCredential(k2.access_key_id).status().code(), StatusCode::kDataLoss);
}

TEST_F(PersistenceTest, RefusedCallsChangeNothing) {
  policy::Principal alice = NewUser("alice");
  ASSERT_OK(iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK(iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK(iam().PutUserPolicy("alice", "big", AllowPolicy("kms:*")));
  Role role = NewRole("R");
  ASSERT_OK(iam().PutRolePolicy("R", "p", AllowPolicy("kms:*")));
  const std::string before = StoreSnapshot();
  ASSERT_NE(before, "");

  std::vector<Status> refused;
  refused.push_back(iam().CreateUser({"ALICE", std::nullopt}).status());
  refused.push_back(iam().CreateUser({"bad name", std::nullopt}).status());
  refused.push_back(iam().DeleteUser("alice"));
  refused.push_back(iam().DeleteUser("nobody"));
  refused.push_back(iam().CreateAccessKey(Root(), std::string("alice")).status());
  refused.push_back(
      iam().UpdateAccessKey(Root(), std::string("alice"), root_key_.access_key_id, "Inactive"));
  refused.push_back(iam().DeleteAccessKey(Root(), std::string("alice"), root_key_.access_key_id));
  refused.push_back(iam().PutUserPolicy("alice", "p", kTrustAccount));
  refused.push_back(iam().PutUserPolicy("alice", "more", std::string(3000, ' ') + "x"));
  refused.push_back(iam().DeleteUserPolicy("alice", "none"));
  refused.push_back(
      iam().CreateRole({"r", kTrustAccount, std::nullopt, std::nullopt, std::nullopt}).status());
  refused.push_back(iam().UpdateAssumeRolePolicy("R", AllowPolicy("kms:*")));
  refused.push_back(iam().DeleteRole("R"));
  refused.push_back(iam().PutRolePolicy("R", "p", "{}"));
  refused.push_back(iam().AssumeRole(Root(), {role.arn, "s1", std::nullopt}).status());
  refused.push_back(iam().AssumeRole(alice, {role.arn, "s1", 7200}).status());
  refused.push_back(
      iam()
          .AssumeRole(alice, {"arn:aws:iam::111122223333:role/Nope", "s1", std::nullopt})
          .status());
  for (size_t i = 0; i < refused.size(); ++i) {
    EXPECT_FALSE(refused[i].ok()) << "call " << i;
  }
  EXPECT_EQ(StoreSnapshot(), before);
}

}  // namespace
}  // namespace coffer::iam
