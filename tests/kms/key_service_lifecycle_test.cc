// KeyService: the key state × operation matrix, state transitions, scheduled
// deletion, and rotation (automatic and on demand). Time moves only through
// the FakeClock and RunScheduledWork().
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "kms/ciphertext_blob.h"
#include "kms/key_records.h"
#include "kms/key_service.h"
#include "kms_fixture.h"

namespace coffer::kms {
namespace {

using ::coffer::kms::testing::BlobMaterialVersion;
using ::coffer::kms::testing::IsError;
using ::coffer::kms::testing::IsOk;
using ::coffer::kms::testing::KmsTest;
using ::coffer::kms::testing::RewriteBlobHeader;
using ::coffer::kms::testing::Secret;
using ::coffer::kms::testing::StatusFrom;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kValidation[] = "ValidationException";
constexpr char kNotFound[] = "NotFoundException";
constexpr char kInvalidState[] = "KMSInvalidStateException";
constexpr char kCiphertextKeyUnknown[] =
    "The ciphertext refers to a customer master key that does not exist, does not exist in this "
    "region, or you are not allowed to access.";

std::string RangeMessage(std::string_view field, long long value, std::string_view constraint) {
  return "1 validation error detected: Value '" + std::to_string(value) + "' at '" +
         std::string(field) + "' failed to satisfy constraint: " + std::string(constraint);
}

// ---- the key state × operation matrix ----------------------------------------------------

enum class Expect { kOk, kDisabled, kPendingDeletion, kNotPendingDeletion, kDryRun };

class KeyStateMatrixTest : public KmsTest {
 protected:
  // What one operation runs against: a key `k` in the state under test, made
  // while it was enabled: a blob under it, the alias `alias_on_k`; and an
  // enabled key `other` with a blob and the alias `alias_on_other`.
  struct Subject {
    std::string k, other;
    Bytes blob_k, blob_other;
    std::string alias_on_k, alias_on_other, new_alias;
  };

  struct Operation {
    std::string name;
    std::function<Status(KeyService&, const Subject&)> run;
    Expect enabled, disabled, pending_deletion;
  };

  void MakeSubject(KeyState state, Subject& s) {
    const std::string n = std::to_string(++counter_);
    s.k = NewKey();
    s.other = NewKey();
    s.blob_k = EncryptBlob(s.k, "plaintext of k");
    s.blob_other = EncryptBlob(s.other, "plaintext of other");
    s.alias_on_k = "alias/on-k-" + n;
    s.alias_on_other = "alias/on-other-" + n;
    s.new_alias = "alias/new-" + n;
    ASSERT_OK(kms().CreateAlias(s.alias_on_k, s.k));
    ASSERT_OK(kms().CreateAlias(s.alias_on_other, s.other));
    ASSERT_NO_FATAL_FAILURE(SetState(s.k, state));
  }

  static std::vector<Operation> Operations() {
    using E = Expect;
    auto encrypt = [](bool dry_run) {
      return [dry_run](KeyService& kms, const Subject& s) {
        EncryptRequest r;
        r.key_id = s.k;
        r.plaintext = Secret("p");
        r.dry_run = dry_run;
        return StatusFrom(kms.Encrypt(r));
      };
    };
    auto decrypt = [](bool dry_run) {
      return [dry_run](KeyService& kms, const Subject& s) {
        DecryptRequest r;
        r.ciphertext_blob = s.blob_k;
        r.dry_run = dry_run;
        return StatusFrom(kms.Decrypt(r));
      };
    };
    auto reencrypt_from_k = [](bool dry_run) {
      return [dry_run](KeyService& kms, const Subject& s) {
        ReEncryptRequest r;
        r.ciphertext_blob = s.blob_k;
        r.destination_key_id = s.other;
        r.dry_run = dry_run;
        return StatusFrom(kms.ReEncrypt(r));
      };
    };
    auto reencrypt_to_k = [](bool dry_run) {
      return [dry_run](KeyService& kms, const Subject& s) {
        ReEncryptRequest r;
        r.ciphertext_blob = s.blob_other;
        r.destination_key_id = s.k;
        r.dry_run = dry_run;
        return StatusFrom(kms.ReEncrypt(r));
      };
    };
    auto data_key = [](bool dry_run, bool without_plaintext) {
      return [dry_run, without_plaintext](KeyService& kms, const Subject& s) {
        GenerateDataKeyRequest r;
        r.key_id = s.k;
        r.key_spec = "AES_256";
        r.dry_run = dry_run;
        return StatusFrom(without_plaintext ? kms.GenerateDataKeyWithoutPlaintext(r)
                                            : kms.GenerateDataKey(r));
      };
    };
    return {
        {"DescribeKey",
         [](KeyService& kms, const Subject& s) { return StatusFrom(kms.DescribeKey(s.k)); }, E::kOk,
         E::kOk, E::kOk},
        {"UpdateKeyDescription",
         [](KeyService& kms, const Subject& s) { return kms.UpdateKeyDescription(s.k, "changed"); },
         E::kOk, E::kOk, E::kPendingDeletion},
        {"EnableKey", [](KeyService& kms, const Subject& s) { return kms.EnableKey(s.k); }, E::kOk,
         E::kOk, E::kPendingDeletion},
        {"DisableKey", [](KeyService& kms, const Subject& s) { return kms.DisableKey(s.k); },
         E::kOk, E::kOk, E::kPendingDeletion},
        {"ScheduleKeyDeletion",
         [](KeyService& kms, const Subject& s) {
           return StatusFrom(kms.ScheduleKeyDeletion(s.k, 10));
         },
         E::kOk, E::kOk, E::kPendingDeletion},
        {"CancelKeyDeletion",
         [](KeyService& kms, const Subject& s) { return StatusFrom(kms.CancelKeyDeletion(s.k)); },
         E::kNotPendingDeletion, E::kNotPendingDeletion, E::kOk},
        {"CreateAlias",
         [](KeyService& kms, const Subject& s) { return kms.CreateAlias(s.new_alias, s.k); },
         E::kOk, E::kOk, E::kPendingDeletion},
        {"UpdateAlias(onto the key)",
         [](KeyService& kms, const Subject& s) { return kms.UpdateAlias(s.alias_on_other, s.k); },
         E::kOk, E::kOk, E::kPendingDeletion},
        {"UpdateAlias(away from the key)",
         [](KeyService& kms, const Subject& s) { return kms.UpdateAlias(s.alias_on_k, s.other); },
         E::kOk, E::kOk, E::kOk},
        {"DeleteAlias",
         [](KeyService& kms, const Subject& s) { return kms.DeleteAlias(s.alias_on_k); }, E::kOk,
         E::kOk, E::kOk},
        {"ListAliases",
         [](KeyService& kms, const Subject& s) {
           return StatusFrom(kms.ListAliases(s.k, std::nullopt, std::nullopt));
         },
         E::kOk, E::kOk, E::kOk},
        {"TagResource",
         [](KeyService& kms, const Subject& s) {
           return kms.TagResource(s.k, {{"t", "v"}});
         },
         E::kOk, E::kOk, E::kPendingDeletion},
        {"UntagResource",
         [](KeyService& kms, const Subject& s) { return kms.UntagResource(s.k, {"t"}); }, E::kOk,
         E::kOk, E::kPendingDeletion},
        {"ListResourceTags",
         [](KeyService& kms, const Subject& s) {
           return StatusFrom(kms.ListResourceTags(s.k, std::nullopt, std::nullopt));
         },
         E::kOk, E::kOk, E::kOk},
        {"GetKeyPolicy",
         [](KeyService& kms, const Subject& s) {
           return StatusFrom(kms.GetKeyPolicy(s.k, std::nullopt));
         },
         E::kOk, E::kOk, E::kOk},
        {"PutKeyPolicy",
         [](KeyService& kms, const Subject& s) {
           return kms.PutKeyPolicy(s.k, std::nullopt, kms.DefaultKeyPolicy());
         },
         E::kOk, E::kOk, E::kOk},
        {"ListKeyPolicies",
         [](KeyService& kms, const Subject& s) { return StatusFrom(kms.ListKeyPolicies(s.k)); },
         E::kOk, E::kOk, E::kOk},
        {"EnableKeyRotation",
         [](KeyService& kms, const Subject& s) { return kms.EnableKeyRotation(s.k, std::nullopt); },
         E::kOk, E::kDisabled, E::kPendingDeletion},
        {"DisableKeyRotation",
         [](KeyService& kms, const Subject& s) { return kms.DisableKeyRotation(s.k); }, E::kOk,
         E::kDisabled, E::kPendingDeletion},
        {"GetKeyRotationStatus",
         [](KeyService& kms, const Subject& s) {
           return StatusFrom(kms.GetKeyRotationStatus(s.k));
         },
         E::kOk, E::kOk, E::kOk},
        {"RotateKeyOnDemand",
         [](KeyService& kms, const Subject& s) { return StatusFrom(kms.RotateKeyOnDemand(s.k)); },
         E::kOk, E::kDisabled, E::kPendingDeletion},
        {"ListKeyRotations",
         [](KeyService& kms, const Subject& s) {
           return StatusFrom(kms.ListKeyRotations(s.k, std::nullopt, std::nullopt));
         },
         E::kOk, E::kOk, E::kOk},
        {"Encrypt", encrypt(false), E::kOk, E::kDisabled, E::kPendingDeletion},
        {"Encrypt(DryRun)", encrypt(true), E::kDryRun, E::kDisabled, E::kPendingDeletion},
        {"Decrypt", decrypt(false), E::kOk, E::kDisabled, E::kPendingDeletion},
        {"Decrypt(DryRun)", decrypt(true), E::kDryRun, E::kDisabled, E::kPendingDeletion},
        {"ReEncrypt(from the key)", reencrypt_from_k(false), E::kOk, E::kDisabled,
         E::kPendingDeletion},
        {"ReEncrypt(from the key, DryRun)", reencrypt_from_k(true), E::kDryRun, E::kDisabled,
         E::kPendingDeletion},
        {"ReEncrypt(to the key)", reencrypt_to_k(false), E::kOk, E::kDisabled, E::kPendingDeletion},
        {"ReEncrypt(to the key, DryRun)", reencrypt_to_k(true), E::kDryRun, E::kDisabled,
         E::kPendingDeletion},
        {"GenerateDataKey", data_key(false, false), E::kOk, E::kDisabled, E::kPendingDeletion},
        {"GenerateDataKey(DryRun)", data_key(true, false), E::kDryRun, E::kDisabled,
         E::kPendingDeletion},
        {"GenerateDataKeyWithoutPlaintext", data_key(false, true), E::kOk, E::kDisabled,
         E::kPendingDeletion},
        {"GenerateDataKeyWithoutPlaintext(DryRun)", data_key(true, true), E::kDryRun, E::kDisabled,
         E::kPendingDeletion},
        {"ListKeys",
         [](KeyService& kms, const Subject&) {
           return StatusFrom(kms.ListKeys(std::nullopt, std::nullopt));
         },
         E::kOk, E::kOk, E::kOk},
        {"ResolveKeyArn",
         [](KeyService& kms, const Subject& s) { return StatusFrom(kms.ResolveKeyArn(s.k)); },
         E::kOk, E::kOk, E::kOk},
        {"KeyArnOfCiphertext",
         [](KeyService& kms, const Subject& s) {
           return StatusFrom(kms.KeyArnOfCiphertext(s.blob_k));
         },
         E::kOk, E::kOk, E::kOk},
    };
  }

  void RunMatrix(KeyState state) {
    for (const Operation& op : Operations()) {
      SCOPED_TRACE(op.name + " on a key in state " + std::string(KeyStateName(state)));
      Subject s;
      ASSERT_NO_FATAL_FAILURE(MakeSubject(state, s));
      const Expect expect = state == KeyState::kEnabled    ? op.enabled
                            : state == KeyState::kDisabled ? op.disabled
                                                           : op.pending_deletion;
      const std::string arn = Arn(s.k);
      Status st = op.run(kms(), s);
      switch (expect) {
        case Expect::kOk:
          EXPECT_THAT(st, IsOk());
          continue;  // the operation may have changed the state
        case Expect::kDisabled:
          EXPECT_THAT(st, IsError("DisabledException", arn + " is disabled."));
          break;
        case Expect::kPendingDeletion:
          EXPECT_THAT(st, IsError(kInvalidState, arn + " is pending deletion."));
          break;
        case Expect::kNotPendingDeletion:
          EXPECT_THAT(st, IsError(kInvalidState, arn + " is not pending deletion"));
          break;
        case Expect::kDryRun:
          EXPECT_THAT(st, IsError("DryRunOperationException",
                                  "The request would have succeeded, but the DryRun option is "
                                  "set."));
          break;
      }
      // A refused operation changed nothing.
      EXPECT_EQ(StateOf(s.k), state);
      EXPECT_EQ(kms().DescribeKey(s.alias_on_k)->key_id, s.k);
      EXPECT_EQ(kms().DescribeKey(s.alias_on_other)->key_id, s.other);
      EXPECT_THAT(kms().DescribeKey(s.new_alias),
                  IsError(kNotFound, "Alias '" + AliasArn(s.new_alias) + "' is not found."));
      EXPECT_EQ(kms().DescribeKey(s.k)->description, "");
      ASSERT_OK_AND_ASSIGN(auto rotations, kms().ListKeyRotations(s.k, std::nullopt, std::nullopt));
      EXPECT_THAT(rotations.rotations, IsEmpty());
    }
  }

  int counter_ = 0;
};

TEST_F(KeyStateMatrixTest, Enabled) { RunMatrix(KeyState::kEnabled); }
TEST_F(KeyStateMatrixTest, Disabled) { RunMatrix(KeyState::kDisabled); }
TEST_F(KeyStateMatrixTest, PendingDeletion) { RunMatrix(KeyState::kPendingDeletion); }

TEST_F(KeyStateMatrixTest, AllowedOperationsTakeEffect) {
  // A few of the allowed cells, checked for their effect and not only their status.
  Subject s;
  ASSERT_NO_FATAL_FAILURE(MakeSubject(KeyState::kPendingDeletion, s));
  ASSERT_OK(kms().UpdateAlias(s.alias_on_k, s.other));
  EXPECT_EQ(kms().DescribeKey(s.alias_on_k)->key_id, s.other);
  ASSERT_OK(kms().DeleteAlias(s.alias_on_other));
  EXPECT_THAT(kms().ListAliases(s.other, std::nullopt, std::nullopt)->aliases.size(), 1u);
  const std::string policy =
      R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]})";
  ASSERT_OK(kms().PutKeyPolicy(s.k, std::nullopt, policy));
  EXPECT_EQ(kms().GetKeyPolicy(s.k, std::nullopt).value(), policy);

  Subject d;
  ASSERT_NO_FATAL_FAILURE(MakeSubject(KeyState::kDisabled, d));
  ASSERT_OK(kms().TagResource(d.k, {{"team", "x"}}));
  EXPECT_THAT(kms().ListResourceTags(d.k, std::nullopt, std::nullopt)->tags,
              ElementsAre(Tag{"team", "x"}));
  ASSERT_OK(kms().UpdateKeyDescription(d.k, "disabled but described"));
  EXPECT_EQ(kms().DescribeKey(d.k)->description, "disabled but described");
  ASSERT_OK(kms().CreateAlias(d.new_alias, d.k));
  EXPECT_EQ(kms().DescribeKey(d.new_alias)->key_id, d.k);
  ASSERT_OK_AND_ASSIGN(KeyRotationStatus rs, kms().GetKeyRotationStatus(d.k));
  EXPECT_FALSE(rs.key_rotation_enabled);
}

// ---- transitions -------------------------------------------------------------------------

class LifecycleTest : public KmsTest {};

TEST_F(LifecycleTest, ScheduleKeyDeletionDefaultsToThirtyDays) {
  std::string k = NewKey();
  ASSERT_OK_AND_ASSIGN(ScheduleKeyDeletionResponse r, kms().ScheduleKeyDeletion(k, std::nullopt));
  EXPECT_EQ(r.key_id, Arn(k));
  EXPECT_EQ(r.deletion_date, clock_.Now() + Days(30));
  EXPECT_EQ(r.key_state, KeyState::kPendingDeletion);
  EXPECT_EQ(r.pending_window_in_days, 30);
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().DescribeKey(k));
  EXPECT_EQ(m.key_state, KeyState::kPendingDeletion);
  EXPECT_FALSE(m.enabled);
  EXPECT_EQ(m.deletion_date, clock_.Now() + Days(30));
}

TEST_F(LifecycleTest, PendingWindowRange) {
  for (int days : {7, 8, 29, 30}) {
    std::string k = NewKey();
    ASSERT_OK_AND_ASSIGN(ScheduleKeyDeletionResponse r, kms().ScheduleKeyDeletion(Arn(k), days));
    EXPECT_EQ(r.pending_window_in_days, days);
    EXPECT_EQ(r.deletion_date, clock_.Now() + Days(days));
    EXPECT_EQ(kms().DescribeKey(k)->deletion_date, clock_.Now() + Days(days));
  }
  std::string k = NewKey();
  for (int days : {1, 6, 31, 365}) {
    EXPECT_THAT(kms().ScheduleKeyDeletion(k, days),
                IsError(kValidation, "PendingWindowInDays must be between 7 and 30"))
        << days;
  }
  EXPECT_THAT(kms().ScheduleKeyDeletion(k, 0),
              IsError(kValidation, RangeMessage("pendingWindowInDays", 0,
                                                "Member must have value greater than or equal to "
                                                "1")));
  EXPECT_THAT(kms().ScheduleKeyDeletion(k, -7),
              IsError(kValidation, RangeMessage("pendingWindowInDays", -7,
                                                "Member must have value greater than or equal to "
                                                "1")));
  EXPECT_THAT(kms().ScheduleKeyDeletion(k, 366),
              IsError(kValidation, RangeMessage("pendingWindowInDays", 366,
                                                "Member must have value less than or equal to "
                                                "365")));
  EXPECT_EQ(StateOf(k), KeyState::kEnabled);
}

TEST_F(LifecycleTest, EveryTransition) {
  std::string k = NewKey();
  Bytes blob = EncryptBlob(k, "survives every transition");
  // Enabled → Disabled → Enabled
  ASSERT_OK(kms().DisableKey(k));
  EXPECT_EQ(StateOf(k), KeyState::kDisabled);
  ASSERT_OK(kms().EnableKey(k));
  EXPECT_EQ(StateOf(k), KeyState::kEnabled);
  // Enabled → PendingDeletion → (cancel) Disabled
  ASSERT_OK(kms().ScheduleKeyDeletion(k, 7));
  EXPECT_EQ(StateOf(k), KeyState::kPendingDeletion);
  ASSERT_OK_AND_ASSIGN(std::string arn, kms().CancelKeyDeletion(k));
  EXPECT_EQ(arn, Arn(k));
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().DescribeKey(k));
  EXPECT_EQ(m.key_state, KeyState::kDisabled);
  EXPECT_FALSE(m.enabled);
  EXPECT_FALSE(m.deletion_date.has_value());
  EXPECT_THAT(kms().CancelKeyDeletion(k),
              IsError(kInvalidState, Arn(k) + " is not pending deletion"));
  // Disabled → PendingDeletion → (cancel) Disabled → Enabled
  ASSERT_OK(kms().ScheduleKeyDeletion(k, 30));
  EXPECT_EQ(StateOf(k), KeyState::kPendingDeletion);
  ASSERT_OK(kms().CancelKeyDeletion(Arn(k)));
  EXPECT_EQ(StateOf(k), KeyState::kDisabled);
  ASSERT_OK(kms().EnableKey(k));
  EXPECT_EQ(StateOf(k), KeyState::kEnabled);
  // The key and its old ciphertexts work again.
  EXPECT_EQ(DecryptText(blob).value(), "survives every transition");
  EXPECT_EQ(DecryptText(EncryptBlob(k, "new")).value(), "new");
}

// AWS's API reference: ScheduleKeyDeletion and CancelKeyDeletion take a key id
// or key ARN, not an alias; an alias is refused and the key is untouched.
TEST_F(LifecycleTest, DeletionIsScheduledAndCancelledByKeyNotAlias) {
  std::string k = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/doomed", k));
  for (const std::string& alias : {std::string("alias/doomed"), AliasArn("alias/doomed")}) {
    EXPECT_THAT(kms().ScheduleKeyDeletion(alias, std::nullopt),
                IsError(kNotFound, "Invalid keyId '" + alias + "'"));
  }
  EXPECT_EQ(StateOf(k), KeyState::kEnabled);
  ASSERT_OK(kms().ScheduleKeyDeletion(k, std::nullopt));
  EXPECT_THAT(kms().CancelKeyDeletion("alias/doomed"),
              IsError(kNotFound, "Invalid keyId 'alias/doomed'"));
  EXPECT_EQ(StateOf(k), KeyState::kPendingDeletion);
  ASSERT_OK_AND_ASSIGN(std::string arn, kms().CancelKeyDeletion(Arn(k)));
  EXPECT_EQ(arn, Arn(k));
  EXPECT_EQ(StateOf(k), KeyState::kDisabled);
}

TEST_F(LifecycleTest, RescheduleAfterCancelUsesTheNewDate) {
  std::string k = NewKey();
  ASSERT_OK(kms().ScheduleKeyDeletion(k, 7));
  ASSERT_OK(kms().CancelKeyDeletion(k));
  clock_.Advance(Days(3));
  ASSERT_OK_AND_ASSIGN(auto r, kms().ScheduleKeyDeletion(k, 7));
  EXPECT_EQ(r.deletion_date, clock_.Now() + Days(7));
  clock_.Advance(Days(7) - std::chrono::seconds(1));  // past the first date, not the second
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 0);
  EXPECT_EQ(StateOf(k), KeyState::kPendingDeletion);
}

// ---- deletion at DeletionDate ------------------------------------------------------------

class DeletionTest : public KmsTest {
 protected:
  // Entries in `table` whose key starts with `prefix`.
  size_t CountEntries(std::string_view table, std::string_view prefix) {
    size_t n = 0;
    Status st = store_->View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto entries, tx.Scan(table, prefix, "", 0));
      n = entries.size();
      return Status::Ok();
    });
    EXPECT_THAT(st, IsOk());
    return n;
  }
};

TEST_F(DeletionTest, DeletedExactlyAtDeletionDate) {
  std::string k = NewKey(), keep = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/doomed-1", k));
  ASSERT_OK(kms().CreateAlias("alias/doomed-2", k));
  ASSERT_OK(kms().CreateAlias("alias/kept", keep));
  ASSERT_OK(kms().TagResource(k, {{"t", "v"}}));
  ASSERT_OK(kms().RotateKeyOnDemand(k));
  Bytes blob_v1 = EncryptBlob(k, "old");
  ASSERT_OK(kms().RotateKeyOnDemand(k));
  Bytes blob_v3 = EncryptBlob(k, "newer", {{"ctx", "1"}});
  Bytes kept_blob = EncryptBlob(keep, "kept");
  EXPECT_EQ(DecryptText(blob_v1).value(), "old");  // fills the material cache
  EXPECT_EQ(CountEntries(kMaterialTable, k + "/"), 3u);

  ASSERT_OK_AND_ASSIGN(auto scheduled, kms().ScheduleKeyDeletion(k, 7));
  const TimePoint deletion_date = scheduled.deletion_date;
  ASSERT_EQ(deletion_date, clock_.Now() + Days(7));

  // One second before: still there.
  clock_.Set(deletion_date - std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 0);
  EXPECT_EQ(report.keys_rotated, 0);
  EXPECT_EQ(StateOf(k), KeyState::kPendingDeletion);
  EXPECT_EQ(kms().DescribeKey("alias/doomed-1")->key_id, k);

  // At DeletionDate: gone.
  clock_.Set(deletion_date);
  ASSERT_OK_AND_ASSIGN(report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 1);
  EXPECT_EQ(report.keys_rotated, 0);

  const std::string missing = "Key '" + Arn(k) + "' does not exist";
  EXPECT_THAT(kms().DescribeKey(k), IsError(kNotFound, missing));
  EXPECT_THAT(kms().DescribeKey(Arn(k)), IsError(kNotFound, missing));
  EXPECT_THAT(kms().CancelKeyDeletion(k), IsError(kNotFound, missing));
  EXPECT_THAT(kms().GetKeyPolicy(k, std::nullopt), IsError(kNotFound, missing));
  EXPECT_THAT(kms().ListResourceTags(k, std::nullopt, std::nullopt), IsError(kNotFound, missing));
  EXPECT_THAT(kms().ListKeyRotations(k, std::nullopt, std::nullopt), IsError(kNotFound, missing));
  EXPECT_THAT(kms().ListAliases(k, std::nullopt, std::nullopt), IsError(kNotFound, missing));
  for (const char* alias : {"alias/doomed-1", "alias/doomed-2"}) {
    EXPECT_THAT(kms().DescribeKey(alias),
                IsError(kNotFound, "Alias '" + AliasArn(alias) + "' is not found."));
  }
  ASSERT_OK_AND_ASSIGN(auto aliases, kms().ListAliases(std::nullopt, std::nullopt, std::nullopt));
  ASSERT_EQ(aliases.aliases.size(), 1u);
  EXPECT_EQ(aliases.aliases[0].alias_name, "alias/kept");
  ASSERT_OK_AND_ASSIGN(auto keys, kms().ListKeys(std::nullopt, std::nullopt));
  ASSERT_EQ(keys.keys.size(), 1u);
  EXPECT_EQ(keys.keys[0].key_id, keep);

  // Its ciphertexts can never be decrypted again, even with the material cached before.
  for (const Bytes* blob : {&blob_v1, &blob_v3}) {
    EXPECT_THAT(DecryptText(*blob, {{"ctx", "1"}}),
                IsError("AccessDeniedException", kCiphertextKeyUnknown));
    EXPECT_THAT(DecryptText(*blob), IsError("AccessDeniedException", kCiphertextKeyUnknown));
    EXPECT_THAT(kms().KeyArnOfCiphertext(*blob),
                IsError("AccessDeniedException", kCiphertextKeyUnknown));
    ReEncryptRequest re;
    re.ciphertext_blob = *blob;
    re.destination_key_id = keep;
    EXPECT_THAT(kms().ReEncrypt(re), IsError("AccessDeniedException", kCiphertextKeyUnknown));
  }
  // The material, tags and policy are gone from the store.
  EXPECT_EQ(CountEntries(kMaterialTable, k + "/"), 0u);
  EXPECT_EQ(CountEntries(kTagsTable, k), 0u);
  EXPECT_EQ(CountEntries(kPoliciesTable, k), 0u);
  EXPECT_EQ(CountEntries(kKeysTable, k), 0u);

  // The other key is untouched.
  EXPECT_EQ(DecryptText(kept_blob).value(), "kept");
  EXPECT_EQ(CountEntries(kMaterialTable, keep + "/"), 1u);

  // Nothing more to do.
  ASSERT_OK_AND_ASSIGN(report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 0);
}

TEST_F(DeletionTest, EachKeyAtItsOwnDate) {
  std::string a = NewKey(), b = NewKey(), c = NewKey();
  SetState(c, KeyState::kDisabled);
  ASSERT_OK(kms().ScheduleKeyDeletion(a, 7));
  ASSERT_OK(kms().ScheduleKeyDeletion(b, 30));
  ASSERT_OK(kms().ScheduleKeyDeletion(c, 7));  // scheduled while disabled
  clock_.Advance(Days(7));
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 2);
  EXPECT_FALSE(StateOf(a).has_value());
  EXPECT_FALSE(StateOf(c).has_value());
  EXPECT_EQ(StateOf(b), KeyState::kPendingDeletion);
  clock_.Advance(Days(23) - std::chrono::milliseconds(1));
  ASSERT_OK_AND_ASSIGN(report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 0);
  clock_.Advance(std::chrono::milliseconds(1));
  ASSERT_OK_AND_ASSIGN(report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 1);
  EXPECT_FALSE(StateOf(b).has_value());
}

TEST_F(DeletionTest, LateRunStillDeletes) {
  std::string k = NewKey();
  ASSERT_OK(kms().ScheduleKeyDeletion(k, 7));
  clock_.Advance(Days(400));
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 1);
  EXPECT_FALSE(StateOf(k).has_value());
}

TEST_F(DeletionTest, CancelledKeyIsNotDeleted) {
  std::string k = NewKey();
  Bytes blob = EncryptBlob(k, "kept");
  ASSERT_OK(kms().ScheduleKeyDeletion(k, 7));
  clock_.Advance(Days(6));
  ASSERT_OK(kms().CancelKeyDeletion(k));
  clock_.Advance(Days(30));
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 0);
  EXPECT_EQ(StateOf(k), KeyState::kDisabled);
  ASSERT_OK(kms().EnableKey(k));
  EXPECT_EQ(DecryptText(blob).value(), "kept");
}

TEST_F(DeletionTest, NothingDueDoesNothing) {
  std::string k = NewKey();
  ASSERT_OK(kms().EnableKeyRotation(k, 90));
  clock_.Advance(Days(89));
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 0);
  EXPECT_EQ(report.keys_rotated, 0);
}

// ---- rotation --------------------------------------------------------------------------------

class RotationTest : public KmsTest {
 protected:
  std::vector<RotationsListEntry> Rotations(const std::string& key) {
    auto listed = kms().ListKeyRotations(key, 1000, std::nullopt);
    EXPECT_THAT(listed, IsOk());
    if (!listed.ok()) return {};
    EXPECT_FALSE(listed->truncated);
    return listed->rotations;
  }
  std::string CurrentMaterial(const std::string& key) {
    auto m = kms().DescribeKey(key);
    EXPECT_THAT(m, IsOk());
    return m.ok() ? m->current_key_material_id : "";
  }
};

TEST_F(RotationTest, StatusOfANewKey) {
  std::string k = NewKey();
  ASSERT_OK_AND_ASSIGN(KeyRotationStatus s, kms().GetKeyRotationStatus(k));
  EXPECT_FALSE(s.key_rotation_enabled);
  EXPECT_EQ(s.key_id, Arn(k));
  EXPECT_FALSE(s.rotation_period_in_days.has_value());
  EXPECT_FALSE(s.next_rotation_date.has_value());
  EXPECT_FALSE(s.on_demand_rotation_start_date.has_value());
  EXPECT_THAT(Rotations(k), IsEmpty());
}

TEST_F(RotationTest, EnableWithTheDefaultPeriod) {
  std::string k = NewKey();
  clock_.Advance(Days(2));
  ASSERT_OK(kms().EnableKeyRotation(k, std::nullopt));
  ASSERT_OK_AND_ASSIGN(KeyRotationStatus s, kms().GetKeyRotationStatus(Arn(k)));
  EXPECT_TRUE(s.key_rotation_enabled);
  EXPECT_EQ(s.key_id, Arn(k));
  EXPECT_EQ(s.rotation_period_in_days, 365);
  EXPECT_EQ(s.next_rotation_date, clock_.Now() + Days(365));
}

TEST_F(RotationTest, PeriodRange) {
  std::string k = NewKey();
  for (int days : {90, 91, 2559, 2560}) {
    ASSERT_OK(kms().EnableKeyRotation(k, days)) << days;
    EXPECT_EQ(kms().GetKeyRotationStatus(k)->rotation_period_in_days, days);
  }
  for (int days : {89, 0, -1}) {
    EXPECT_THAT(kms().EnableKeyRotation(k, days),
                IsError(kValidation, RangeMessage("rotationPeriodInDays", days,
                                                  "Member must have value greater than or equal "
                                                  "to 90")))
        << days;
  }
  for (int days : {2561, 36500}) {
    EXPECT_THAT(kms().EnableKeyRotation(k, days),
                IsError(kValidation, RangeMessage("rotationPeriodInDays", days,
                                                  "Member must have value less than or equal to "
                                                  "2560")))
        << days;
  }
  EXPECT_EQ(kms().GetKeyRotationStatus(k)->rotation_period_in_days, 2560);
}

TEST_F(RotationTest, ReEnablingKeepsTheScheduleAndAChangedPeriodCountsFromTheLastRotation) {
  std::string k = NewKey();
  const TimePoint enabled_at = clock_.Now();
  ASSERT_OK(kms().EnableKeyRotation(k, 365));
  clock_.Advance(Days(10));
  ASSERT_OK(kms().EnableKeyRotation(k, 365));  // same period: unchanged
  EXPECT_EQ(kms().GetKeyRotationStatus(k)->next_rotation_date, enabled_at + Days(365));
  ASSERT_OK(kms().EnableKeyRotation(k, 100));
  EXPECT_EQ(kms().GetKeyRotationStatus(k)->next_rotation_date, enabled_at + Days(100));
  EXPECT_EQ(kms().GetKeyRotationStatus(k)->rotation_period_in_days, 100);

  ASSERT_OK(kms().DisableKeyRotation(k));
  ASSERT_OK_AND_ASSIGN(KeyRotationStatus off, kms().GetKeyRotationStatus(k));
  EXPECT_FALSE(off.key_rotation_enabled);
  EXPECT_FALSE(off.rotation_period_in_days.has_value());
  EXPECT_FALSE(off.next_rotation_date.has_value());
  ASSERT_OK(kms().DisableKeyRotation(k));  // idempotent

  // Enabled again: counts from now.
  ASSERT_OK(kms().EnableKeyRotation(k, 100));
  EXPECT_EQ(kms().GetKeyRotationStatus(k)->next_rotation_date, clock_.Now() + Days(100));
}

TEST_F(RotationTest, AutomaticRotationWhenDue) {
  std::string k = NewKey();
  const std::string original = CurrentMaterial(k);
  Bytes v1 = EncryptBlob(k, "v1");
  ASSERT_OK(kms().EnableKeyRotation(k, 90));
  const TimePoint due = clock_.Now() + Days(90);

  clock_.Set(due - std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_rotated, 0);
  EXPECT_EQ(CurrentMaterial(k), original);
  EXPECT_THAT(Rotations(k), IsEmpty());

  clock_.Set(due);
  ASSERT_OK_AND_ASSIGN(report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_rotated, 1);
  EXPECT_EQ(report.keys_deleted, 0);
  const std::string second = CurrentMaterial(k);
  EXPECT_NE(second, original);
  EXPECT_EQ(second.size(), 64u);
  std::vector<RotationsListEntry> rotations = Rotations(k);
  ASSERT_EQ(rotations.size(), 1u);
  EXPECT_EQ(rotations[0].key_id, Arn(k));
  EXPECT_EQ(rotations[0].key_material_id, second);
  EXPECT_EQ(rotations[0].rotation_date, due);
  EXPECT_EQ(rotations[0].rotation_type, "AUTOMATIC");
  EXPECT_EQ(rotations[0].key_material_state, "CURRENT");
  ASSERT_OK_AND_ASSIGN(KeyRotationStatus s, kms().GetKeyRotationStatus(k));
  EXPECT_EQ(s.next_rotation_date, due + Days(90));

  // Not again until the next date.
  clock_.Advance(Days(90) - std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_rotated, 0);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_rotated, 1);
  rotations = Rotations(k);
  ASSERT_EQ(rotations.size(), 2u);
  EXPECT_EQ(rotations[0].key_material_id, second);
  EXPECT_EQ(rotations[0].key_material_state, "NON_CURRENT");
  EXPECT_EQ(rotations[1].key_material_state, "CURRENT");
  EXPECT_EQ(rotations[1].rotation_type, "AUTOMATIC");
  EXPECT_EQ(rotations[1].key_material_id, CurrentMaterial(k));

  // New blobs use the newest material; the oldest still decrypts.
  EXPECT_EQ(BlobMaterialVersion(EncryptBlob(k, "v3")), 3u);
  EXPECT_EQ(DecryptText(v1).value(), "v1");
}

TEST_F(RotationTest, DisabledAndPendingDeletionKeysAreNotRotated) {
  std::string disabled = NewKey(), pending = NewKey(), off = NewKey();
  ASSERT_OK(kms().EnableKeyRotation(disabled, 90));
  ASSERT_OK(kms().EnableKeyRotation(pending, 90));
  SetState(disabled, KeyState::kDisabled);
  ASSERT_OK(kms().ScheduleKeyDeletion(pending, 30));
  clock_.Advance(Days(20));
  ASSERT_OK(kms().CancelKeyDeletion(pending));  // comes back Disabled
  clock_.Advance(Days(100));
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_rotated, 0);
  EXPECT_THAT(Rotations(disabled), IsEmpty());
  EXPECT_THAT(Rotations(pending), IsEmpty());
  EXPECT_THAT(Rotations(off), IsEmpty());

  // Enabled again with the date passed: rotated at the next run, as AWS does.
  ASSERT_OK(kms().EnableKey(disabled));
  ASSERT_OK_AND_ASSIGN(report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_rotated, 1);
  EXPECT_EQ(Rotations(disabled).size(), 1u);
  EXPECT_EQ(kms().GetKeyRotationStatus(disabled)->next_rotation_date, clock_.Now() + Days(90));
}

TEST_F(RotationTest, KeysPendingDeletionAreNotRotated) {
  std::string k = NewKey();
  ASSERT_OK(kms().EnableKeyRotation(k, 90));
  clock_.Advance(Days(85));
  ASSERT_OK(kms().ScheduleKeyDeletion(k, 30));
  clock_.Advance(Days(10));  // rotation due, deletion not
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_rotated, 0);
  EXPECT_EQ(report.keys_deleted, 0);
  EXPECT_THAT(Rotations(k), IsEmpty());
}

TEST_F(RotationTest, OnDemandUpToTwentyFiveTimes) {
  std::string k = NewKey();
  std::vector<std::string> materials = {CurrentMaterial(k)};
  for (int i = 0; i < 25; ++i) {
    clock_.Advance(std::chrono::minutes(1));
    ASSERT_OK_AND_ASSIGN(std::string arn, kms().RotateKeyOnDemand(i % 2 ? Arn(k) : k));
    EXPECT_EQ(arn, Arn(k));
    materials.push_back(CurrentMaterial(k));
  }
  EXPECT_EQ(std::set<std::string>(materials.begin(), materials.end()).size(), 26u);
  const std::string limit =
      "The on-demand rotations limit has been reached for the given keyId. No more on-demand "
      "rotations can be performed for this key: " +
      Arn(k);
  EXPECT_THAT(kms().RotateKeyOnDemand(k), IsError("LimitExceededException", limit));
  EXPECT_EQ(CurrentMaterial(k), materials.back());

  std::vector<RotationsListEntry> rotations = Rotations(k);
  ASSERT_EQ(rotations.size(), 25u);
  for (size_t i = 0; i < rotations.size(); ++i) {
    EXPECT_EQ(rotations[i].rotation_type, "ON_DEMAND");
    EXPECT_EQ(rotations[i].key_material_id, materials[i + 1]);
    EXPECT_EQ(rotations[i].rotation_date,
              FromEpochMillis(::coffer::kms::testing::kStartMillis) + std::chrono::minutes(i + 1));
    EXPECT_EQ(rotations[i].key_material_state,
              i + 1 == rotations.size() ? "CURRENT" : "NON_CURRENT");
  }

  // Automatic rotations do not count against the on-demand limit.
  ASSERT_OK(kms().EnableKeyRotation(k, 90));
  clock_.Advance(Days(90));
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_rotated, 1);
  EXPECT_EQ(Rotations(k).size(), 26u);
  EXPECT_EQ(Rotations(k).back().rotation_type, "AUTOMATIC");
  EXPECT_THAT(kms().RotateKeyOnDemand(k), IsError("LimitExceededException", limit));

  // The limit is per key.
  std::string other = NewKey();
  EXPECT_OK(kms().RotateKeyOnDemand(other));
}

TEST_F(RotationTest, OnDemandLimitComesFromTheOptions) {
  KmsOptions options;
  options.max_on_demand_rotations = 1;
  ASSERT_OK_AND_ASSIGN(auto strict, KeyService::Create(options, *store_, *vault_, clock_, random_));
  std::string k = NewKey();
  ASSERT_OK(strict->RotateKeyOnDemand(k));
  EXPECT_THAT(strict->RotateKeyOnDemand(k),
              IsError("LimitExceededException",
                      "The on-demand rotations limit has been reached for the given keyId. No "
                      "more on-demand rotations can be performed for this key: " +
                          Arn(k)));
}

TEST_F(RotationTest, OnDemandDoesNotMoveTheAutomaticSchedule) {
  std::string k = NewKey();
  ASSERT_OK(kms().EnableKeyRotation(k, 90));
  const auto next = kms().GetKeyRotationStatus(k)->next_rotation_date;
  clock_.Advance(Days(30));
  ASSERT_OK(kms().RotateKeyOnDemand(k));
  EXPECT_EQ(kms().GetKeyRotationStatus(k)->next_rotation_date, next);
  EXPECT_TRUE(kms().GetKeyRotationStatus(k)->key_rotation_enabled);
}

TEST_F(RotationTest, EveryVersionStillDecryptsAndNewBlobsUseTheNewest) {
  std::string k = NewKey();
  const EncryptionContext ctx = {{"purpose", "rotation"}};
  std::vector<Bytes> blobs;
  std::vector<std::string> materials;
  for (int version = 1; version <= 4; ++version) {
    materials.push_back(CurrentMaterial(k));
    blobs.push_back(EncryptBlob(k, "version " + std::to_string(version), ctx));
    ASSERT_EQ(BlobMaterialVersion(blobs.back()), static_cast<uint32_t>(version));
    if (version < 4) {
      ASSERT_OK(kms().RotateKeyOnDemand(k));
    }
  }
  for (int version = 1; version <= 4; ++version) {
    const Bytes& blob = blobs[version - 1];
    EXPECT_EQ(HexEncode(ByteView(blob.data() + 17, 4)), "0000000" + std::to_string(version));
    DecryptRequest req;
    req.ciphertext_blob = blob;
    req.encryption_context = ctx;
    ASSERT_OK_AND_ASSIGN(DecryptResponse out, kms().Decrypt(req));
    EXPECT_EQ(::coffer::kms::testing::Reveal(out.plaintext), "version " + std::to_string(version));
    EXPECT_EQ(out.key_id, Arn(k));
    EXPECT_EQ(out.key_material_id, materials[version - 1]) << version;
  }
  // Data keys and re-encryptions use the newest material too.
  GenerateDataKeyRequest gdk;
  gdk.key_id = k;
  gdk.number_of_bytes = 32;
  ASSERT_OK_AND_ASSIGN(GenerateDataKeyResponse dk, kms().GenerateDataKey(gdk));
  EXPECT_EQ(BlobMaterialVersion(dk.ciphertext_blob), 4u);
  ReEncryptRequest re;
  re.ciphertext_blob = blobs[0];
  re.source_encryption_context = ctx;
  re.destination_key_id = k;
  ASSERT_OK_AND_ASSIGN(ReEncryptResponse moved, kms().ReEncrypt(re));
  EXPECT_EQ(BlobMaterialVersion(moved.ciphertext_blob), 4u);
  EXPECT_EQ(DecryptText(moved.ciphertext_blob).value(), "version 1");
}

TEST_F(RotationTest, BlobNamingAMaterialVersionThatDoesNotExist) {
  std::string k = NewKey();
  ASSERT_OK(kms().RotateKeyOnDemand(k));
  Bytes blob = EncryptBlob(k, "x");
  ASSERT_EQ(BlobMaterialVersion(blob), 2u);
  for (uint32_t version : {3u, 4u, 1000u, 0xffffffffu}) {
    Bytes forged = blob;
    RewriteBlobHeader(forged, blob.data() + 1, version);
    EXPECT_THAT(DecryptText(forged), IsError("InvalidCiphertextException", "")) << version;
  }
  // Version 1 exists but is not the material this blob was sealed with.
  Bytes older = blob;
  RewriteBlobHeader(older, blob.data() + 1, 1);
  EXPECT_THAT(DecryptText(older), IsError("InvalidCiphertextException", ""));
  EXPECT_EQ(DecryptText(blob).value(), "x");
}

TEST_F(RotationTest, ListKeyRotationsPages) {
  std::string k = NewKey();
  for (int i = 0; i < 12; ++i) ASSERT_OK(kms().RotateKeyOnDemand(k));
  const std::vector<RotationsListEntry> all = Rotations(k);
  ASSERT_EQ(all.size(), 12u);
  std::vector<std::string> seen;
  std::vector<size_t> sizes;
  std::optional<std::string> marker;
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(auto page, kms().ListKeyRotations(k, 5, marker));
    sizes.push_back(page.rotations.size());
    for (const auto& r : page.rotations) seen.push_back(r.key_material_id);
    EXPECT_EQ(page.truncated, page.next_marker.has_value());
    if (!page.truncated) break;
    marker = page.next_marker;
  }
  EXPECT_THAT(sizes, ElementsAre(5u, 5u, 2u));
  ASSERT_EQ(seen.size(), 12u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], all[i].key_material_id);

  ASSERT_OK_AND_ASSIGN(auto exact, kms().ListKeyRotations(k, 12, std::nullopt));
  EXPECT_EQ(exact.rotations.size(), 12u);
  EXPECT_FALSE(exact.truncated);
  ASSERT_OK_AND_ASSIGN(auto dflt, kms().ListKeyRotations(k, std::nullopt, std::nullopt));
  EXPECT_EQ(dflt.rotations.size(), 12u);

  for (const char* bad : {"abc", "0", "-1", "5x", "99999999999"}) {
    EXPECT_THAT(kms().ListKeyRotations(k, 5, bad),
                IsError("InvalidMarkerException", "Invalid marker"))
        << bad;
  }
  EXPECT_THAT(kms().ListKeyRotations(k, 0, std::nullopt),
              IsError(kValidation, RangeMessage("limit", 0,
                                                "Member must have value greater than or equal to "
                                                "1")));
  EXPECT_THAT(kms().ListKeyRotations(k, 1001, std::nullopt),
              IsError(kValidation, RangeMessage("limit", 1001,
                                                "Member must have value less than or equal to "
                                                "1000")));
}

}  // namespace
}  // namespace coffer::kms
