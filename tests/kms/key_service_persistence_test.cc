// KeyService across restarts: everything the API shows survives Reopen() with
// the same root key, and a different root key is refused without changing a
// byte of the data directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "kms/key_records.h"
#include "kms/key_service.h"
#include "kms_fixture.h"

namespace coffer::kms {
namespace {

using ::coffer::kms::testing::BlobMaterialVersion;
using ::coffer::kms::testing::DirectoryContents;
using ::coffer::kms::testing::IsError;
using ::coffer::kms::testing::IsOk;
using ::coffer::kms::testing::KmsTest;
using ::coffer::kms::testing::ReadFile;
using ::coffer::kms::testing::StatusOf;
using ::coffer::kms::testing::WriteFile;

std::string Millis(const std::optional<TimePoint>& t) {
  return t ? std::to_string(EpochMillis(*t)) : "-";
}
template <typename T>
std::string Opt(const std::optional<T>& v) {
  if (!v) return "-";
  std::ostringstream out;
  out << *v;
  return out.str();
}

class PersistenceTest : public KmsTest {
 protected:
  // Everything the API shows about every key and alias, as text, so that two
  // snapshots compare field by field.
  std::string Snapshot() {
    std::ostringstream out;
    auto keys = kms().ListKeys(1000, std::nullopt);
    EXPECT_THAT(keys, IsOk());
    if (!keys.ok()) return "";
    for (const KeyListEntry& e : keys->keys) {
      out << "key " << e.key_id << " " << e.key_arn << "\n";
      auto m = kms().DescribeKey(e.key_id);
      EXPECT_THAT(m, IsOk());
      if (!m.ok()) continue;
      out << " account=" << m->aws_account_id << " arn=" << m->arn
          << " created=" << Millis(m->creation_date) << " enabled=" << m->enabled
          << " description=" << m->description << " usage=" << m->key_usage
          << " state=" << KeyStateName(m->key_state) << " deletion=" << Millis(m->deletion_date)
          << " origin=" << m->origin << " manager=" << m->key_manager << " spec=" << m->key_spec
          << " material=" << m->current_key_material_id << "\n";
      auto tags = kms().ListResourceTags(e.key_id, 1000, std::nullopt);
      EXPECT_THAT(tags, IsOk());
      if (tags.ok()) {
        for (const Tag& t : tags->tags) out << " tag " << t.tag_key << "=" << t.tag_value << "\n";
      }
      auto policy = kms().GetKeyPolicy(e.key_id, std::nullopt);
      EXPECT_THAT(policy, IsOk());
      out << " policy " << (policy.ok() ? *policy : policy.status().ToString()) << "\n";
      auto rotation = kms().GetKeyRotationStatus(e.key_id);
      if (rotation.ok()) {
        out << " rotation enabled=" << rotation->key_rotation_enabled
            << " period=" << Opt(rotation->rotation_period_in_days)
            << " next=" << Millis(rotation->next_rotation_date) << "\n";
      } else {
        out << " rotation " << rotation.status().ToString() << "\n";
      }
      auto rotations = kms().ListKeyRotations(e.key_id, 1000, std::nullopt);
      EXPECT_THAT(rotations, IsOk());
      if (rotations.ok()) {
        for (const auto& r : rotations->rotations) {
          out << " rotated " << r.key_material_id << " " << Millis(r.rotation_date) << " "
              << Opt(r.rotation_type) << " " << r.key_material_state << "\n";
        }
      }
    }
    auto aliases = kms().ListAliases(std::nullopt, 100, std::nullopt);
    EXPECT_THAT(aliases, IsOk());
    if (aliases.ok()) {
      for (const auto& a : aliases->aliases) {
        out << "alias " << a.alias_name << " " << a.alias_arn << " -> " << a.target_key_id << " "
            << Millis(a.creation_date) << " " << Millis(a.last_updated_date) << "\n";
      }
    }
    return out.str();
  }

  // Files of the data directory, compared one by one so that a failure names the file.
  void ExpectSameFiles(const std::map<std::string, std::string>& before,
                       const std::map<std::string, std::string>& after) {
    std::vector<std::string> names_before, names_after;
    for (const auto& [name, content] : before) names_before.push_back(name);
    for (const auto& [name, content] : after) names_after.push_back(name);
    EXPECT_EQ(names_after, names_before);
    for (const auto& [name, content] : before) {
      auto it = after.find(name);
      if (it == after.end()) continue;
      EXPECT_TRUE(it->second == content)
          << name << " changed (" << content.size() << " → " << it->second.size() << " bytes)";
    }
  }
};

TEST_F(PersistenceTest, EverythingSurvivesARestart) {
  constexpr char kPolicy[] =
      "{\n  \"Statement\": [ {\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"*\"}, "
      "\"Action\": \"kms:*\", \"Resource\": \"*\"} ]\n}  ";
  CreateKeyRequest req;
  req.description = "the main key";
  req.policy = kPolicy;
  req.tags = {{"team", "payments"}, {"env", "prod"}};
  std::string main = NewKey(req);
  std::string disabled = NewKey(), pending = NewKey(), plain = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/main", main));
  ASSERT_OK(kms().CreateAlias("alias/main-too", main));
  ASSERT_OK(kms().CreateAlias("alias/pending", pending));
  clock_.Advance(std::chrono::hours(1));
  ASSERT_OK(kms().UpdateAlias("alias/main-too", plain));
  ASSERT_OK(kms().EnableKeyRotation(main, 180));
  const EncryptionContext ctx = {{"tenant", "42"}};
  std::vector<Bytes> blobs;
  std::vector<std::string> materials;
  for (int version = 1; version <= 3; ++version) {
    materials.push_back(kms().DescribeKey(main)->current_key_material_id);
    blobs.push_back(EncryptBlob(main, "v" + std::to_string(version), ctx));
    if (version < 3) {
      clock_.Advance(std::chrono::minutes(5));
      ASSERT_OK(kms().RotateKeyOnDemand(main));
    }
  }
  Bytes plain_blob = EncryptBlob(plain, "plain");
  ASSERT_OK(kms().DisableKey(disabled));
  ASSERT_OK(kms().ScheduleKeyDeletion(pending, 10));
  const std::string before = Snapshot();
  ASSERT_NE(before.find("rotated"), std::string::npos);  // the snapshot covers rotations

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Snapshot(), before);

  // Old ciphertexts of every material version decrypt with the reopened service.
  for (int version = 1; version <= 3; ++version) {
    DecryptRequest d;
    d.ciphertext_blob = blobs[version - 1];
    d.encryption_context = ctx;
    ASSERT_OK_AND_ASSIGN(DecryptResponse out, kms().Decrypt(d));
    EXPECT_EQ(::coffer::kms::testing::Reveal(out.plaintext), "v" + std::to_string(version));
    EXPECT_EQ(out.key_material_id, materials[version - 1]);
  }
  EXPECT_EQ(DecryptText(plain_blob).value(), "plain");
  EXPECT_EQ(BlobMaterialVersion(EncryptBlob("alias/main", "new")), 3u);
  EXPECT_THAT(DecryptText(blobs[0]), IsError("InvalidCiphertextException", ""));  // context needed

  // The states still hold.
  EXPECT_THAT(kms().Encrypt({.key_id = disabled, .plaintext = crypto::SecretBytes("x")}),
              IsError("DisabledException", Arn(disabled) + " is disabled."));
  EXPECT_EQ(kms().DescribeKey("alias/pending")->key_state, KeyState::kPendingDeletion);

  // The on-demand count survives: 2 before the restart, 23 more are allowed.
  for (int i = 0; i < 23; ++i) ASSERT_OK(kms().RotateKeyOnDemand(main)) << i;
  EXPECT_THAT(kms().RotateKeyOnDemand(main), IsError("LimitExceededException",
                                                     "The on-demand rotations limit has been "
                                                     "reached for the given keyId. No more "
                                                     "on-demand rotations can be performed for "
                                                     "this key: " +
                                                         Arn(main)));
}

TEST_F(PersistenceTest, ScheduledWorkAfterARestart) {
  std::string doomed = NewKey(), rotating = NewKey();
  Bytes blob = EncryptBlob(rotating, "still here");
  ASSERT_OK(kms().ScheduleKeyDeletion(doomed, 10));
  ASSERT_OK(kms().EnableKeyRotation(rotating, 90));
  ASSERT_NO_FATAL_FAILURE(Reopen());

  clock_.Advance(Days(10));
  ASSERT_OK_AND_ASSIGN(ScheduledWorkReport report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_deleted, 1);
  EXPECT_EQ(report.keys_rotated, 0);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_THAT(kms().DescribeKey(doomed),
              IsError("NotFoundException", "Key '" + Arn(doomed) + "' does not exist"));

  clock_.Advance(Days(80));
  ASSERT_OK_AND_ASSIGN(report, kms().RunScheduledWork());
  EXPECT_EQ(report.keys_rotated, 1);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK_AND_ASSIGN(auto rotations,
                       kms().ListKeyRotations(rotating, std::nullopt, std::nullopt));
  ASSERT_EQ(rotations.rotations.size(), 1u);
  EXPECT_EQ(rotations.rotations[0].rotation_type, "AUTOMATIC");
  EXPECT_EQ(kms().GetKeyRotationStatus(rotating)->next_rotation_date, clock_.Now() + Days(90));
  EXPECT_EQ(DecryptText(blob).value(), "still here");
  EXPECT_EQ(BlobMaterialVersion(EncryptBlob(rotating, "x")), 2u);
}

TEST_F(PersistenceTest, AnotherRootKeyIsRefusedAndChangesNothing) {
  std::string k = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/k", k));
  Bytes blob = EncryptBlob(k, "sealed under the first root key");
  Close();

  const std::string original_key = ReadFile(RootKeyPath());
  ASSERT_EQ(original_key.size(), 32u);
  std::string other_key(32, '\0');
  SeededRandom other_random(99);
  other_random.Fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(other_key.data()), 32));
  ASSERT_NE(other_key, original_key);
  WriteFile(RootKeyPath(), other_key, 0600);
  const auto before = DirectoryContents(dir_);
  ASSERT_TRUE(before.count("state.db"));
  ASSERT_TRUE(before.count("root.key"));

  {
    auto store = state::SqliteStateStore::Open(StatePath());
    ASSERT_THAT(store, IsOk());
    state::KeyFileRootKeyProvider provider(RootKeyPath(), random_);
    auto vault = state::Vault::Open(**store, provider, random_);
    ASSERT_FALSE(vault.ok());
    EXPECT_EQ(vault.status().code(), StatusCode::kFailedPrecondition) << vault.status().ToString();
  }
  ExpectSameFiles(before, DirectoryContents(dir_));

  // A missing key file is refused too, and not replaced by a new one.
  std::filesystem::remove(RootKeyPath());
  {
    auto store = state::SqliteStateStore::Open(StatePath());
    ASSERT_THAT(store, IsOk());
    state::KeyFileRootKeyProvider provider(RootKeyPath(), random_);
    auto vault = state::Vault::Open(**store, provider, random_);
    ASSERT_FALSE(vault.ok());
    EXPECT_EQ(vault.status().code(), StatusCode::kFailedPrecondition) << vault.status().ToString();
  }
  EXPECT_FALSE(std::filesystem::exists(RootKeyPath()));
  auto without_key = before;
  without_key.erase("root.key");
  ExpectSameFiles(without_key, DirectoryContents(dir_));

  // The right key opens everything again.
  WriteFile(RootKeyPath(), original_key, 0600);
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_EQ(DecryptText(blob).value(), "sealed under the first root key");
  EXPECT_EQ(kms().DescribeKey("alias/k")->key_id, k);
}

// Damage in the store is reported (kDataLoss) and never turns into plaintext.
class DamagedStoreTest : public PersistenceTest {
 protected:
  std::string Get(std::string_view table, std::string_view key) {
    std::optional<std::string> value;
    EXPECT_THAT(store_->View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(value, tx.Get(table, key));
      return Status::Ok();
    }),
                IsOk());
    EXPECT_TRUE(value.has_value()) << table << " " << key;
    return value.value_or("");
  }
  void Put(std::string_view table, std::string_view key, std::string_view value) {
    ASSERT_OK(store_->Update(
        [&](state::Transaction& tx) -> Status { return tx.Put(table, key, value); }));
  }
};

TEST_F(DamagedStoreTest, DamagedOrMovedMaterialIsDataLoss) {
  std::string a = NewKey(), b = NewKey();
  Bytes blob_a = EncryptBlob(a, "a's secret");
  Bytes blob_b = EncryptBlob(b, "b's secret");
  const std::string original = Get(kMaterialTable, MaterialKey(a, 1));
  const Status damaged = DataLossError("sealed value for " + MaterialSealContext(a, 1) +
                                       " does not open (damaged or moved)");

  ASSERT_OK_AND_ASSIGN(MaterialRecord record, DecodeMaterialRecord(original));
  record.sealed[record.sealed.size() / 2] ^= 0x01;
  Put(kMaterialTable, MaterialKey(a, 1), EncodeMaterialRecord(record));
  ASSERT_NO_FATAL_FAILURE(Reopen());  // nothing cached
  EXPECT_EQ(StatusOf(DecryptText(blob_a)), damaged);
  EXPECT_EQ(StatusOf(kms().Encrypt({.key_id = a, .plaintext = crypto::SecretBytes("x")})), damaged);

  // b's intact material moved into a's place does not open there either.
  Put(kMaterialTable, MaterialKey(a, 1), Get(kMaterialTable, MaterialKey(b, 1)));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(StatusOf(DecryptText(blob_a)), damaged);
  EXPECT_EQ(DecryptText(blob_b).value(), "b's secret");

  Put(kMaterialTable, MaterialKey(a, 1), original);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(DecryptText(blob_a).value(), "a's secret");
}

TEST_F(DamagedStoreTest, DamagedRecordsAreDataLoss) {
  std::string k = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/k", k));
  Put(kKeysTable, k, "{\"id\":");
  EXPECT_EQ(StatusOf(kms().DescribeKey(k)), DataLossError("stored key record is damaged"));
  EXPECT_EQ(StatusOf(kms().DescribeKey("alias/k")), DataLossError("stored key record is damaged"));
  Put(kAliasesTable, "alias/k", "[]");
  EXPECT_EQ(StatusOf(kms().DescribeKey("alias/k")),
            DataLossError("stored alias record is damaged"));
}

}  // namespace
}  // namespace coffer::kms
