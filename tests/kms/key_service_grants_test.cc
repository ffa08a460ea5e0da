// KeyService grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
// RevokeGrant, and the rules that decide what a grant allows (GrantAllows,
// GrantPermitsChild). Who may call them is api/'s to decide (tested there and by
// the interop suites).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "kms/grants.h"
#include "kms/key_records.h"
#include "kms/key_service.h"
#include "kms_fixture.h"

namespace coffer::kms {
namespace {

using ::coffer::kms::testing::IsError;
using ::coffer::kms::testing::IsOk;
using ::coffer::kms::testing::KmsTest;
using ::coffer::kms::testing::ReadFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kUser[] = "arn:aws:iam::111122223333:user/app";
constexpr char kRetirer[] = "arn:aws:iam::111122223333:user/ops";
constexpr char kDryRun[] = "The request would have succeeded, but the DryRun option is set.";
constexpr char kBadToken[] = "The grant token is not valid.";
constexpr char kNeitherTokenNorId[] =
    "Either a grant token, or both a key ID and a grant ID, must be specified.";

CreateGrantRequest Request(std::string key_id, std::vector<std::string> operations) {
  CreateGrantRequest r;
  r.key_id = std::move(key_id);
  r.grantee_principal = kUser;
  r.operations = std::move(operations);
  return r;
}

class GrantsTest : public KmsTest {
 protected:
  std::vector<std::string> GrantIds(std::string_view key_id) {
    auto listed = kms().ListGrants(key_id, std::nullopt, std::nullopt, std::nullopt, std::nullopt);
    EXPECT_TRUE(listed.ok()) << listed.status().ToString();
    std::vector<std::string> ids;
    if (listed.ok()) {
      for (const Grant& g : listed->grants) ids.push_back(g.grant_id);
    }
    return ids;
  }
};

TEST_F(GrantsTest, CreateListAndRevoke) {
  const std::string key = NewKey();
  CreateGrantRequest req = Request(key, {"Encrypt", "Decrypt"});
  req.retiring_principal = kRetirer;
  req.constraints = GrantConstraints{.encryption_context_subset = EncryptionContext{{"app", "x"}}};
  auto created = kms().CreateGrant(req);
  ASSERT_OK(created);
  EXPECT_TRUE(IsGrantId(created->grant_id)) << created->grant_id;
  auto parts = ParseGrantToken(created->grant_token);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->key_uuid, key);
  EXPECT_EQ(parts->grant_id, created->grant_id);

  auto listed = kms().ListGrants(Arn(key), std::nullopt, std::nullopt, std::nullopt, std::nullopt);
  ASSERT_OK(listed);
  ASSERT_THAT(listed->grants, SizeIs(1));
  const Grant& g = listed->grants[0];
  EXPECT_EQ(g.key_id, Arn(key));
  EXPECT_EQ(g.grant_id, created->grant_id);
  EXPECT_EQ(g.grantee_principal, kUser);
  EXPECT_EQ(g.retiring_principal, std::optional<std::string>(kRetirer));
  EXPECT_EQ(g.issuing_account, "arn:aws:iam::111122223333:root");
  EXPECT_THAT(g.operations, ElementsAre("Encrypt", "Decrypt"));
  EXPECT_EQ(g.constraints, req.constraints);
  EXPECT_EQ(g.creation_date, clock_.Now());
  EXPECT_FALSE(g.name.has_value());
  EXPECT_FALSE(listed->truncated);

  // Grants survive a restart; revoking one removes it.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_THAT(GrantIds(key), ElementsAre(created->grant_id));
  EXPECT_THAT(kms().RevokeGrant(key, created->grant_id, /*dry_run=*/true),
              IsError("DryRunOperationException", kDryRun));
  EXPECT_THAT(GrantIds(key), SizeIs(1));
  ASSERT_OK(kms().RevokeGrant(key, created->grant_id, false));
  EXPECT_THAT(GrantIds(key), IsEmpty());
  EXPECT_THAT(kms().RevokeGrant(key, created->grant_id, false),
              IsError("NotFoundException", "Grant ID " + created->grant_id + " not found"));
  EXPECT_THAT(kms().RevokeGrant(key, "nope", false),
              IsError("InvalidGrantIdException", "Invalid grant ID 'nope'"));
}

TEST_F(GrantsTest, CreateGrantChecks) {
  const std::string key = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/app", key));
  EXPECT_THAT(kms().CreateGrant(Request("alias/app", {"Encrypt"})),
              IsError("InvalidArnException", "Key Aliases are not supported for this operation."));
  EXPECT_THAT(kms().CreateGrant(Request(key, {})),
              IsError("ValidationException", "Grants must contain at least one operation."));
  EXPECT_THAT(
      kms().CreateGrant(Request(key, {"CreateGrant"})),
      IsError("ValidationException", "Grants must not contain only the CreateGrant operation."));
  EXPECT_THAT(kms().CreateGrant(Request(key, {"Encrypt", "Sign"})),
              IsError("ValidationException",
                      "Grant operation Sign is not valid for a symmetric encryption KMS key."));
  CreateGrantRequest both = Request(key, {"Encrypt"});
  both.constraints = GrantConstraints{.encryption_context_subset = EncryptionContext{},
                                      .encryption_context_equals = EncryptionContext{}};
  EXPECT_THAT(kms().CreateGrant(both),
              IsError("ValidationException", "More than one constraint supplied"));
  CreateGrantRequest many = Request(key, {"Encrypt"});
  many.constraints = GrantConstraints{.encryption_context_equals = EncryptionContext{}};
  for (int i = 0; i < 9; ++i) {
    (*many.constraints->encryption_context_equals)["k" + std::to_string(i)] = "v";
  }
  EXPECT_THAT(kms().CreateGrant(many),
              IsError("ValidationException",
                      "A grant constraint may hold at most 8 encryption context pairs."));
  CreateGrantRequest dry = Request(key, {"Encrypt"});
  dry.dry_run = true;
  EXPECT_THAT(kms().CreateGrant(dry), IsError("DryRunOperationException", kDryRun));
  EXPECT_THAT(GrantIds(key), IsEmpty());

  // Key states: a disabled key or one pending deletion takes no new grant, but its
  // grants are still listed and revoked.
  ASSERT_OK(kms().CreateGrant(Request(key, {"Encrypt"})));
  ASSERT_OK(kms().DisableKey(key));
  EXPECT_THAT(kms().CreateGrant(Request(key, {"Encrypt"})),
              IsError("DisabledException", Arn(key) + " is disabled."));
  ASSERT_OK(kms().ScheduleKeyDeletion(key, 7));
  EXPECT_THAT(kms().CreateGrant(Request(key, {"Encrypt"})),
              IsError("KMSInvalidStateException", Arn(key) + " is pending deletion."));
  std::vector<std::string> ids = GrantIds(key);
  ASSERT_THAT(ids, SizeIs(1));
  ASSERT_OK(kms().RevokeGrant(key, ids[0], false));
}

TEST_F(GrantsTest, NamedRequestRetriedGivesTheSameGrant) {
  const std::string key = NewKey();
  CreateGrantRequest req = Request(key, {"Encrypt"});
  req.name = "nightly";
  auto first = kms().CreateGrant(req);
  auto again = kms().CreateGrant(req);
  ASSERT_OK(first);
  ASSERT_OK(again);
  EXPECT_EQ(first->grant_id, again->grant_id);
  EXPECT_NE(first->grant_token, again->grant_token);
  // The same operations in another order are the same request.
  req.operations = {"Encrypt", "Decrypt"};
  auto both = kms().CreateGrant(req);
  req.operations = {"Decrypt", "Encrypt"};
  auto reordered = kms().CreateGrant(req);
  ASSERT_OK(both);
  ASSERT_OK(reordered);
  EXPECT_EQ(both->grant_id, reordered->grant_id);
  ASSERT_OK(kms().RevokeGrant(key, both->grant_id, false));
  req.operations = {"Encrypt"};
  // "All grant tokens for the same grant ID can be used interchangeably": the
  // first token retires it as well as the newest would.
  RetireGrantRequest retire;
  retire.grant_token = first->grant_token;
  ASSERT_OK(kms().RetireGrant(retire));
  EXPECT_THAT(GrantIds(key), IsEmpty());
  retire.grant_token = again->grant_token;
  EXPECT_THAT(kms().RetireGrant(retire),
              IsError("NotFoundException", "Grant ID " + first->grant_id + " not found"));
  // Another request under the same name is another grant.
  ASSERT_OK(kms().CreateGrant(req));
  req.operations = {"Decrypt"};
  ASSERT_OK(kms().CreateGrant(req));
  EXPECT_THAT(GrantIds(key), SizeIs(2));
}

TEST_F(GrantsTest, RetireByTokenOrByKeyAndId) {
  const std::string key = NewKey(), other = NewKey();
  auto a = kms().CreateGrant(Request(key, {"Encrypt"}));
  auto b = kms().CreateGrant(Request(key, {"Decrypt"}));
  ASSERT_OK(a);
  ASSERT_OK(b);

  RetireGrantRequest none;
  EXPECT_THAT(kms().RetireGrant(none), IsError("ValidationException", kNeitherTokenNorId));
  RetireGrantRequest garbage;
  garbage.grant_token = "bm90IGEgdG9rZW4=";
  EXPECT_THAT(kms().RetireGrant(garbage), IsError("InvalidGrantTokenException", kBadToken));
  // A token of the right shape for a real grant, but not one the key service gave.
  RetireGrantRequest forged;
  forged.grant_token = NewGrantToken(key, a->grant_id, random_);
  EXPECT_THAT(kms().RetireGrant(forged), IsError("InvalidGrantTokenException", kBadToken));
  // A token with another key named beside it.
  RetireGrantRequest mismatched;
  mismatched.grant_token = a->grant_token;
  mismatched.key_id = other;
  EXPECT_THAT(kms().RetireGrant(mismatched), IsError("InvalidGrantTokenException", kBadToken));
  EXPECT_THAT(GrantIds(key), SizeIs(2));

  RetireGrantRequest by_token;
  by_token.grant_token = a->grant_token;
  auto grant = kms().GrantToRetire(by_token);
  ASSERT_OK(grant);
  EXPECT_EQ(grant->grant_id, a->grant_id);
  by_token.dry_run = true;
  EXPECT_THAT(kms().RetireGrant(by_token), IsError("DryRunOperationException", kDryRun));
  by_token.dry_run = false;
  ASSERT_OK(kms().RetireGrant(by_token));
  EXPECT_THAT(kms().RetireGrant(by_token),
              IsError("NotFoundException", "Grant ID " + a->grant_id + " not found"));

  RetireGrantRequest by_id;
  by_id.key_id = Arn(key);
  by_id.grant_id = b->grant_id;
  ASSERT_OK(kms().RetireGrant(by_id));
  EXPECT_THAT(GrantIds(key), IsEmpty());
}

TEST_F(GrantsTest, ListingPagesAndRetirableGrants) {
  const std::string k1 = NewKey(), k2 = NewKey();
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    CreateGrantRequest req = Request(i % 2 == 0 ? k1 : k2, {"Encrypt"});
    if (i != 4) req.retiring_principal = kRetirer;
    auto created = kms().CreateGrant(req);
    ASSERT_OK(created);
    if (i % 2 == 0) ids.insert(created->grant_id);
  }
  std::vector<std::string> seen;
  std::optional<std::string> marker;
  do {
    auto page = kms().ListGrants(k1, 2, marker, std::nullopt, std::nullopt);
    ASSERT_OK(page);
    EXPECT_LE(page->grants.size(), 2u);
    for (const Grant& g : page->grants) seen.push_back(g.grant_id);
    EXPECT_EQ(page->truncated, page->next_marker.has_value());
    marker = page->next_marker;
  } while (marker);
  EXPECT_EQ(seen, std::vector<std::string>(ids.begin(), ids.end()));
  // Another key's marker is refused.
  auto first = kms().ListGrants(k1, 1, std::nullopt, std::nullopt, std::nullopt);
  ASSERT_OK(first);
  EXPECT_THAT(kms().ListGrants(k2, 1, first->next_marker, std::nullopt, std::nullopt),
              IsError("InvalidMarkerException", "Invalid marker"));
  // Filters.
  auto one = kms().ListGrants(k1, std::nullopt, std::nullopt, seen[1], std::nullopt);
  ASSERT_OK(one);
  ASSERT_THAT(one->grants, SizeIs(1));
  EXPECT_EQ(one->grants[0].grant_id, seen[1]);
  auto nobody = kms().ListGrants(k1, std::nullopt, std::nullopt, std::nullopt,
                                 std::string("arn:aws:iam::111122223333:user/nobody"));
  ASSERT_OK(nobody);
  EXPECT_THAT(nobody->grants, IsEmpty());
  EXPECT_THAT(kms().ListGrants(k1, std::nullopt, std::nullopt, std::string("x"), std::nullopt),
              IsError("InvalidGrantIdException", "Invalid grant ID 'x'"));

  // Retirable: the four with a retiring principal, over both keys, in pages.
  std::vector<std::string> retirable;
  marker.reset();
  do {
    auto page = kms().ListRetirableGrants(kRetirer, 3, marker);
    ASSERT_OK(page);
    for (const Grant& g : page->grants) {
      EXPECT_EQ(g.retiring_principal, std::optional<std::string>(kRetirer));
      retirable.push_back(g.grant_id);
    }
    marker = page->next_marker;
  } while (marker);
  EXPECT_THAT(retirable, SizeIs(4));
  EXPECT_EQ(std::set<std::string>(retirable.begin(), retirable.end()).size(), 4u);
}

TEST_F(GrantsTest, GrantsGoWithTheirKey) {
  const std::string key = NewKey();
  ASSERT_OK(kms().CreateGrant(Request(key, {"Encrypt"})));
  ASSERT_OK(kms().ScheduleKeyDeletion(key, 7));
  clock_.Advance(Days(8));
  auto report = kms().RunScheduledWork();
  ASSERT_OK(report);
  EXPECT_EQ(report->keys_deleted, 1);
  // Nothing of the grant is left in the state store.
  int left = -1;
  ASSERT_OK(store_->View([&](const state::ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Scan(kGrantsTable, "", "", 0));
    left = static_cast<int>(rows.size());
    return Status::Ok();
  }));
  EXPECT_EQ(left, 0);
}

TEST_F(GrantsTest, TheStoreKeepsNoToken) {
  const std::string key = NewKey();
  auto created = kms().CreateGrant(Request(key, {"Encrypt"}));
  ASSERT_OK(created);
  Close();
  std::string db = ReadFile(StatePath());
  if (std::filesystem::exists(StatePath() + "-wal")) db += ReadFile(StatePath() + "-wal");
  EXPECT_EQ(db.find(created->grant_token), std::string::npos);
  EXPECT_NE(db.find(GrantTokenDigest(created->grant_token)), std::string::npos);
  ASSERT_NO_FATAL_FAILURE(Open());
}

// ---- what a grant allows -------------------------------------------------------------------

Grant WithConstraints(std::vector<std::string> ops, std::optional<GrantConstraints> c) {
  Grant g;
  g.operations = std::move(ops);
  g.constraints = std::move(c);
  return g;
}

TEST(GrantAllowsTest, OperationsAndConstraints) {
  const EncryptionContext app{{"app", "x"}}, more{{"app", "x"}, {"row", "7"}}, other{{"app", "y"}};
  Grant plain = WithConstraints({"Encrypt", "DescribeKey"}, std::nullopt);
  EXPECT_TRUE(GrantAllows(plain, "Encrypt", &other));
  EXPECT_TRUE(GrantAllows(plain, "DescribeKey", nullptr));
  EXPECT_FALSE(GrantAllows(plain, "Decrypt", &app));

  Grant subset = WithConstraints({"Encrypt", "DescribeKey"},
                                 GrantConstraints{.encryption_context_subset = app});
  EXPECT_TRUE(GrantAllows(subset, "Encrypt", &app));
  EXPECT_TRUE(GrantAllows(subset, "Encrypt", &more));
  EXPECT_FALSE(GrantAllows(subset, "Encrypt", &other));
  const EncryptionContext empty;
  EXPECT_FALSE(GrantAllows(subset, "Encrypt", &empty));
  // In a constraint the key is compared without case, the value with it
  // (GrantConstraints in the KMS API reference).
  const EncryptionContext upper_key{{"APP", "x"}}, upper_value{{"app", "X"}};
  EXPECT_TRUE(GrantAllows(subset, "Encrypt", &upper_key));
  EXPECT_FALSE(GrantAllows(subset, "Encrypt", &upper_value));
  // An operation without an encryption context is not constrained.
  EXPECT_TRUE(GrantAllows(subset, "DescribeKey", nullptr));

  Grant equals = WithConstraints({"Decrypt"}, GrantConstraints{.encryption_context_equals = app});
  EXPECT_TRUE(GrantAllows(equals, "Decrypt", &app));
  EXPECT_FALSE(GrantAllows(equals, "Decrypt", &more));
  EXPECT_FALSE(GrantAllows(equals, "Decrypt", &empty));
  EXPECT_TRUE(GrantAllows(equals, "Decrypt", &upper_key));
  EXPECT_FALSE(GrantAllows(equals, "Decrypt", &upper_value));
  // Two constraint keys that differ only in case do not make room for a pair
  // the constraint does not name.
  Grant twice = WithConstraints(
      {"Decrypt"},
      GrantConstraints{.encryption_context_equals = EncryptionContext{{"a", "1"}, {"A", "1"}}});
  const EncryptionContext extra{{"a", "1"}, {"x", "anything"}};
  EXPECT_FALSE(GrantAllows(twice, "Decrypt", &extra));
}

TEST(GrantAllowsTest, ChildGrantsAreNarrower) {
  const EncryptionContext app{{"app", "x"}}, more{{"app", "x"}, {"row", "7"}};
  CreateGrantRequest child;
  child.operations = {"Decrypt"};
  Grant open = WithConstraints({"CreateGrant", "Decrypt", "Encrypt"}, std::nullopt);
  EXPECT_TRUE(GrantPermitsChild(open, child));
  child.operations = {"Decrypt", "GenerateDataKey"};
  EXPECT_FALSE(GrantPermitsChild(open, child));

  Grant subset = WithConstraints({"CreateGrant", "Decrypt"},
                                 GrantConstraints{.encryption_context_subset = app});
  child.operations = {"Decrypt"};
  child.constraints.reset();
  EXPECT_FALSE(GrantPermitsChild(subset, child));
  child.constraints = GrantConstraints{.encryption_context_subset = more};
  EXPECT_TRUE(GrantPermitsChild(subset, child));
  child.constraints = GrantConstraints{.encryption_context_equals = more};
  EXPECT_TRUE(GrantPermitsChild(subset, child));
  child.constraints =
      GrantConstraints{.encryption_context_subset = EncryptionContext{{"row", "7"}}};
  EXPECT_FALSE(GrantPermitsChild(subset, child));

  Grant equals = WithConstraints({"CreateGrant", "Decrypt"},
                                 GrantConstraints{.encryption_context_equals = app});
  child.constraints = GrantConstraints{.encryption_context_equals = app};
  EXPECT_TRUE(GrantPermitsChild(equals, child));
  child.constraints = GrantConstraints{.encryption_context_subset = app};
  EXPECT_FALSE(GrantPermitsChild(equals, child));
  child.constraints = GrantConstraints{.encryption_context_equals = more};
  EXPECT_FALSE(GrantPermitsChild(equals, child));
  // Keys without case, values with it, as when the grant is used.
  child.constraints =
      GrantConstraints{.encryption_context_equals = EncryptionContext{{"App", "x"}}};
  EXPECT_TRUE(GrantPermitsChild(equals, child));
  child.constraints =
      GrantConstraints{.encryption_context_equals = EncryptionContext{{"app", "X"}}};
  EXPECT_FALSE(GrantPermitsChild(equals, child));
  child.constraints =
      GrantConstraints{.encryption_context_subset = EncryptionContext{{"APP", "x"}}};
  EXPECT_TRUE(GrantPermitsChild(subset, child));
}

TEST(GrantTokenTest, RoundTripAndRejects) {
  SeededRandom random(7);
  const std::string uuid = "1e085cf2-93e0-4baa-8d41-99c1638f8cf7";
  const std::string id(64, 'a');
  std::string token = NewGrantToken(uuid, id, random);
  auto parts = ParseGrantToken(token);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->key_uuid, uuid);
  EXPECT_EQ(parts->grant_id, id);
  EXPECT_NE(NewGrantToken(uuid, id, random), token);
  EXPECT_FALSE(ParseGrantToken("").has_value());
  EXPECT_FALSE(ParseGrantToken("not base64!").has_value());
  EXPECT_FALSE(ParseGrantToken(token.substr(0, token.size() - 4)).has_value());
  EXPECT_TRUE(IsGrantId(id));
  EXPECT_FALSE(IsGrantId(std::string(64, 'A')));
  EXPECT_FALSE(IsGrantId(std::string(63, 'a')));
}

TEST(GrantRecordTest, EncodesAndDecodes) {
  GrantRecord r;
  r.key = "1e085cf2-93e0-4baa-8d41-99c1638f8cf7";
  r.grant_id = std::string(64, 'b');
  r.name = "n";
  r.creation_date = FromEpochMillis(1767225600123);
  r.grantee_principal = kUser;
  r.retiring_principal = kRetirer;
  r.operations = {"Encrypt", "RetireGrant"};
  r.constraints = GrantConstraints{.encryption_context_equals = EncryptionContext{{"a", "b"}}};
  r.token_sha256s = {std::string(64, 'c'), std::string(64, 'd')};
  auto back = DecodeGrantRecord(EncodeGrantRecord(r));
  ASSERT_OK(back);
  EXPECT_EQ(back->key, r.key);
  EXPECT_EQ(back->grant_id, r.grant_id);
  EXPECT_EQ(back->name, r.name);
  EXPECT_EQ(back->creation_date, r.creation_date);
  EXPECT_EQ(back->grantee_principal, r.grantee_principal);
  EXPECT_EQ(back->retiring_principal, r.retiring_principal);
  EXPECT_EQ(back->operations, r.operations);
  EXPECT_EQ(back->constraints, r.constraints);
  EXPECT_EQ(back->token_sha256s, r.token_sha256s);
  // The newest is token_sha256, which a record of one token has alone.
  EXPECT_THAT(EncodeGrantRecord(r), HasSubstr("\"token_sha256\":\"" + std::string(64, 'd')));
  r.token_sha256s.resize(1);
  back = DecodeGrantRecord(EncodeGrantRecord(r));
  ASSERT_OK(back);
  EXPECT_EQ(back->token_sha256s, r.token_sha256s);
  EXPECT_FALSE(DecodeGrantRecord("{\"key\":1}").ok());
}

}  // namespace
}  // namespace coffer::kms
