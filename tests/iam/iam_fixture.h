#pragma once
// The fixture of the IAM/STS engine tests (and of the Query codec tests): an
// IdentityService over a real SqliteStateStore and a key-file Vault in a fresh
// temporary directory, with a FakeClock and a SeededRandom, so that every test
// is hermetic and deterministic and time moves only when a test advances the
// clock. The account is initialized in SetUp (root_key_ holds the root's key).
// Reopen() destroys the service, the vault and the store and opens them again
// from the same directory, as a restarted server would.
//
// Also: matchers for Status/Result (IsOk, IsError(name, message)), a snapshot of
// every IAM/STS table (to prove a refused call changed nothing), and policy
// documents for tests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "iam/identity_service.h"
#include "iam/records.h"
#include "iam/types.h"
#include "state/root_key.h"
#include "state/sqlite_state_store.h"
#include "testing/files.h"
#include "testing/status_matchers.h"

namespace coffer::iam::testing {

// 2026-01-01T00:00:00Z.
inline constexpr int64_t kStartMillis = 1767225600000;
inline constexpr char kStartIso[] = "2026-01-01T00:00:00Z";
inline constexpr char kAccount[] = "111122223333";

using ::coffer::testing::IsError;
using ::coffer::testing::IsOk;
using ::coffer::testing::StatusOf;

inline std::string Reveal(const crypto::SecretBytes& s) {
  return ToString(crypto::RevealSecret(s));
}

// True when every character of `s` is in `alphabet`.
inline bool AllIn(std::string_view s, std::string_view alphabet) {
  return s.find_first_not_of(alphabet) == std::string_view::npos;
}
inline constexpr std::string_view kBase32Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
inline constexpr std::string_view kBase64Chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// ---- policy documents -------------------------------------------------------------

inline std::string TrustPolicyFor(std::string_view principal_arn) {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":")" +
         std::string(principal_arn) + R"("},"Action":"sts:AssumeRole"}]})";
}
inline const std::string kTrustAccount = TrustPolicyFor("arn:aws:iam::111122223333:root");
inline const std::string kTrustRds =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole"}]})";
inline std::string AllowPolicy(std::string_view action, std::string_view resource = "*") {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":")" +
         std::string(action) + R"(","Resource":")" + std::string(resource) + R"("}]})";
}
// An Allow document of `n` characters without white space (padding in the Sid).
inline std::string PolicyOfSize(size_t n) {
  const std::string head = R"({"Version":"2012-10-17","Statement":[{"Sid":")";
  const std::string tail = R"(","Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]})";
  if (n <= head.size() + tail.size()) {
    ADD_FAILURE() << "no policy of " << n << " characters";
    return "";
  }
  return head + std::string(n - head.size() - tail.size(), 'S') + tail;
}

// ---- the fixture ---------------------------------------------------------------------

class IamTest : public ::testing::Test {
 protected:
  IamTest() : clock_(FromEpochMillis(kStartMillis)), random_(0x69616d) {}

  void SetUp() override {
    temp_.emplace();
    dir_ = temp_->path();
    ASSERT_NO_FATAL_FAILURE(Open());
    auto key = service_->InitializeAccount();
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    ASSERT_TRUE(key->has_value());
    root_key_ = std::move(**key);
  }

  void TearDown() override {
    Close();
    temp_.reset();
  }

  std::string StatePath() const { return dir_ + "/state.db"; }
  std::string RootKeyPath() const { return dir_ + "/root.key"; }

  void Open() {
    auto store = state::SqliteStateStore::Open(StatePath());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    provider_ = std::make_unique<state::KeyFileRootKeyProvider>(RootKeyPath(), random_);
    auto vault = state::Vault::Open(*store_, *provider_, random_);
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    vault_ = std::move(vault).value();
    auto service = IdentityService::Create(options_, *store_, *vault_, clock_, random_);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(service).value();
  }

  void Close() {
    service_.reset();
    vault_.reset();
    provider_.reset();
    store_.reset();
  }

  void Reopen() {
    Close();
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  IdentityService& iam() { return *service_; }

  policy::Principal Root() const { return policy::Principal::Root(kAccount); }

  // Creates a user (failing the test on error) and returns its principal.
  policy::Principal NewUser(const std::string& name, std::optional<std::string> path = {}) {
    auto user = service_->CreateUser(CreateUserRequest{name, std::move(path)});
    if (!user.ok()) {
      ADD_FAILURE() << "CreateUser " << name << ": " << user.status().ToString();
      return {};
    }
    return policy::Principal::IamUser(user->arn, user->user_id);
  }

  // Creates a role trusting the account (failing the test on error).
  Role NewRole(const std::string& name, std::optional<int> max_session = {},
               std::optional<std::string> path = {}) {
    CreateRoleRequest req;
    req.role_name = name;
    req.assume_role_policy_document = kTrustAccount;
    req.max_session_duration = max_session;
    req.path = std::move(path);
    auto role = service_->CreateRole(req);
    if (!role.ok()) {
      ADD_FAILURE() << "CreateRole " << name << ": " << role.status().ToString();
      return {};
    }
    return *role;
  }

  // Every entry of every IAM/STS table, as text.
  std::string StoreSnapshot() {
    std::string out;
    Status st = store_->View([&](const state::ReadTransaction& tx) -> Status {
      for (const char* table :
           {kAccountTable, kUsersTable, kRolesTable, kAccessKeysTable, kOwnerKeysTable,
            kUserPoliciesTable, kRolePoliciesTable, kSessionsTable, kPoliciesTable,
            kUserAttachedTable, kRoleAttachedTable, kPolicyEntitiesTable, kKeyLastUsedTable,
            kRoleLastUsedTable, kGroupsTable, kGroupMembersTable, kUserGroupsTable,
            kGroupPoliciesTable, kGroupAttachedTable}) {
        ASSIGN_OR_RETURN(auto entries, tx.Scan(table, "", "", 0));
        for (const auto& e : entries) {
          out += std::string(table) + " " + e.key + " = " + e.value + "\n";
        }
      }
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  IamOptions options_;
  FakeClock clock_;
  SeededRandom random_;
  std::optional<::coffer::testing::TempDir> temp_;
  std::string dir_;
  std::unique_ptr<state::SqliteStateStore> store_;
  std::unique_ptr<state::KeyFileRootKeyProvider> provider_;
  std::unique_ptr<state::Vault> vault_;
  std::unique_ptr<IdentityService> service_;
  NewAccessKey root_key_;
};

}  // namespace coffer::iam::testing
