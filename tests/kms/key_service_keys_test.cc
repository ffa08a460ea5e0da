// KeyService: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription,
// EnableKey, DisableKey, the forms of key ids every operation accepts, and the
// service's own construction.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "kms/ciphertext_blob.h"
#include "kms/key_service.h"
#include "kms_fixture.h"
#include "policy/policy.h"

namespace coffer::kms {
namespace {

using ::coffer::kms::testing::IsError;
using ::coffer::kms::testing::IsOk;
using ::coffer::kms::testing::KmsTest;
using ::coffer::kms::testing::Secret;
using ::coffer::kms::testing::StatusFrom;
using ::testing::ElementsAre;

constexpr char kUnknownUuid[] = "deadbeef-0000-4000-8000-00000000cafe";
constexpr char kNotFound[] = "NotFoundException";
constexpr char kValidation[] = "ValidationException";

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string LengthError(std::string_view field, std::string_view value, std::string_view bound) {
  return "1 validation error detected: Value '" + std::string(value) + "' at '" +
         std::string(field) + "' failed to satisfy constraint: Member must have length " +
         std::string(bound);
}

class KeysTest : public KmsTest {};

// ---- CreateKey ------------------------------------------------------------------

TEST_F(KeysTest, CreateKeyDefaults) {
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().CreateKey({}));
  std::array<uint8_t, 16> raw{};
  EXPECT_TRUE(ParseUuid(m.key_id, raw)) << m.key_id;
  EXPECT_EQ(m.key_id, FormatUuid(raw.data()));  // lower case
  EXPECT_EQ(m.aws_account_id, "111122223333");
  EXPECT_EQ(m.arn, "arn:aws:kms:us-east-1:111122223333:key/" + m.key_id);
  EXPECT_EQ(m.creation_date, clock_.Now());
  EXPECT_TRUE(m.enabled);
  EXPECT_EQ(m.description, "");
  EXPECT_EQ(m.key_usage, "ENCRYPT_DECRYPT");
  EXPECT_EQ(m.key_state, KeyState::kEnabled);
  EXPECT_FALSE(m.deletion_date.has_value());
  EXPECT_EQ(m.origin, "AWS_KMS");
  EXPECT_EQ(m.key_manager, "CUSTOMER");
  EXPECT_EQ(m.key_spec, "SYMMETRIC_DEFAULT");
  EXPECT_THAT(m.encryption_algorithms, ElementsAre("SYMMETRIC_DEFAULT"));
  EXPECT_FALSE(m.multi_region);
  EXPECT_EQ(m.current_key_material_id.size(), 64u);
  EXPECT_TRUE(HexDecode(m.current_key_material_id).ok());
  EXPECT_EQ(m.current_key_material_id, HexEncode(*HexDecode(m.current_key_material_id)));

  // DescribeKey returns the same.
  ASSERT_OK_AND_ASSIGN(KeyMetadata d, kms().DescribeKey(m.key_id));
  EXPECT_EQ(d.key_id, m.key_id);
  EXPECT_EQ(d.arn, m.arn);
  EXPECT_EQ(d.creation_date, m.creation_date);
  EXPECT_EQ(d.current_key_material_id, m.current_key_material_id);
  EXPECT_EQ(d.key_state, KeyState::kEnabled);
}

TEST_F(KeysTest, CreateKeyWithEveryAcceptedOption) {
  CreateKeyRequest req;
  req.description = "payments";
  req.key_usage = "ENCRYPT_DECRYPT";
  req.key_spec = "SYMMETRIC_DEFAULT";
  req.origin = "AWS_KMS";
  req.multi_region = false;
  req.bypass_policy_lockout_safety_check = true;
  req.tags = {{"team", "pay"}};
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().CreateKey(req));
  EXPECT_EQ(m.description, "payments");
  ASSERT_OK_AND_ASSIGN(auto tags, kms().ListResourceTags(m.key_id, std::nullopt, std::nullopt));
  EXPECT_THAT(tags.tags, ElementsAre(Tag{"team", "pay"}));

  CreateKeyRequest legacy;
  legacy.customer_master_key_spec = "SYMMETRIC_DEFAULT";
  EXPECT_OK(kms().CreateKey(legacy));
}

TEST_F(KeysTest, KeysAreDistinctAndCreationDateIsTheClock) {
  ASSERT_OK_AND_ASSIGN(KeyMetadata a, kms().CreateKey({}));
  clock_.Advance(std::chrono::seconds(90));
  ASSERT_OK_AND_ASSIGN(KeyMetadata b, kms().CreateKey({}));
  EXPECT_NE(a.key_id, b.key_id);
  EXPECT_NE(a.current_key_material_id, b.current_key_material_id);
  EXPECT_EQ(b.creation_date - a.creation_date, std::chrono::seconds(90));
}

TEST_F(KeysTest, CreateKeyRejectsWhatCofferDoesNotSupport) {
  struct Case {
    std::function<void(CreateKeyRequest&)> set;
    std::string name;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.key_spec = "RSA_2048"; }, "UnsupportedOperationException",
       "KeySpec RSA_2048 is not supported by coffer; only SYMMETRIC_DEFAULT keys are."},
      {[](auto& r) { r.customer_master_key_spec = "HMAC_256"; }, "UnsupportedOperationException",
       "KeySpec HMAC_256 is not supported by coffer; only SYMMETRIC_DEFAULT keys are."},
      {[](auto& r) {
         r.key_spec = "SYMMETRIC_DEFAULT";
         r.customer_master_key_spec = "SYMMETRIC_DEFAULT";
       },
       kValidation,
       "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
       "CustomerMasterKeySpec is deprecated."},
      {[](auto& r) { r.key_usage = "SIGN_VERIFY"; }, kValidation,
       "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT"},
      {[](auto& r) { r.key_usage = "DECRYPT"; }, kValidation,
       "1 validation error detected: Value 'DECRYPT' at 'keyUsage' failed to satisfy constraint: "
       "Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, "
       "KEY_AGREEMENT]"},
      {[](auto& r) { r.origin = "EXTERNAL"; }, "UnsupportedOperationException",
       "Origin EXTERNAL is not supported by coffer."},
      {[](auto& r) { r.origin = "SOMEWHERE"; }, kValidation,
       "1 validation error detected: Value 'SOMEWHERE' at 'origin' failed to satisfy constraint: "
       "Member must satisfy enum value set: [AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]"},
      {[](auto& r) { r.custom_key_store_id = "cks-1234567890abcdef0"; },
       "UnsupportedOperationException", "Custom key stores are not supported by coffer."},
      {[](auto& r) { r.xks_key_id = "xks-1"; }, "UnsupportedOperationException",
       "Custom key stores are not supported by coffer."},
      {[](auto& r) { r.custom_key_store_id = ""; }, kValidation,
       LengthError("customKeyStoreId", "", "greater than or equal to 1")},
      {[](auto& r) { r.multi_region = true; }, "UnsupportedOperationException",
       "Multi-Region keys are not supported by coffer."},
      {[](auto& r) { r.description = std::string(8193, 'd'); }, kValidation,
       LengthError("description", std::string(8193, 'd'), "less than or equal to 8192")},
      {[](auto& r) { r.policy = ""; }, kValidation,
       LengthError("policy", "", "greater than or equal to 1")},
      {[](auto& r) { r.policy = "{"; }, "MalformedPolicyDocumentException",
       policy::Policy::Parse("{", policy::PolicyKind::kKeyPolicy).status().message()},
      {[](auto& r) {
         r.tags = {{"aws:x", "y"}};
       },
       "TagException", "Tags beginning with aws: are reserved"},
  };
  for (const Case& c : cases) {
    CreateKeyRequest req;
    c.set(req);
    EXPECT_THAT(kms().CreateKey(req), IsError(c.name, c.message)) << c.message;
  }
  // Nothing was created.
  ASSERT_OK_AND_ASSIGN(auto listed, kms().ListKeys(std::nullopt, std::nullopt));
  EXPECT_TRUE(listed.keys.empty());
}

TEST_F(KeysTest, DescriptionUpTo8192Characters) {
  CreateKeyRequest req;
  req.description = std::string(8192, 'd');
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().CreateKey(req));
  EXPECT_EQ(m.description, std::string(8192, 'd'));
  req.description = "";
  EXPECT_OK(kms().CreateKey(req));
  // Characters, not bytes.
  std::string accented;
  for (int i = 0; i < 8192; ++i) accented += "\xc3\xa9";
  req.description = accented;
  ASSERT_OK_AND_ASSIGN(m, kms().CreateKey(req));
  EXPECT_EQ(m.description, accented);
  ASSERT_OK(kms().UpdateKeyDescription(m.key_id, accented));
  EXPECT_THAT(kms().UpdateKeyDescription(m.key_id, accented + "x"),
              IsError(kValidation,
                      LengthError("description", accented + "x", "less than or equal to 8192")));
}

// ---- UpdateKeyDescription, EnableKey, DisableKey -------------------------------------

TEST_F(KeysTest, UpdateKeyDescription) {
  std::string k = NewKey();
  ASSERT_OK(kms().UpdateKeyDescription(k, "new description"));
  EXPECT_EQ(kms().DescribeKey(k)->description, "new description");
  ASSERT_OK(kms().UpdateKeyDescription(Arn(k), std::string(8192, 'x')));
  EXPECT_EQ(kms().DescribeKey(k)->description, std::string(8192, 'x'));
  ASSERT_OK(kms().UpdateKeyDescription(k, ""));
  EXPECT_EQ(kms().DescribeKey(k)->description, "");

  EXPECT_THAT(kms().UpdateKeyDescription(k, std::string(8193, 'x')),
              IsError(kValidation, LengthError("description", std::string(8193, 'x'),
                                               "less than or equal to 8192")));
  EXPECT_EQ(kms().DescribeKey(k)->description, "");
}

TEST_F(KeysTest, DisableAndEnable) {
  std::string k = NewKey();
  ASSERT_OK(kms().DisableKey(k));
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().DescribeKey(k));
  EXPECT_EQ(m.key_state, KeyState::kDisabled);
  EXPECT_FALSE(m.enabled);
  ASSERT_OK(kms().DisableKey(k));  // idempotent
  EXPECT_EQ(StateOf(k), KeyState::kDisabled);

  ASSERT_OK(kms().EnableKey(k));
  ASSERT_OK_AND_ASSIGN(m, kms().DescribeKey(k));
  EXPECT_EQ(m.key_state, KeyState::kEnabled);
  EXPECT_TRUE(m.enabled);
  ASSERT_OK(kms().EnableKey(k));  // idempotent
  EXPECT_EQ(StateOf(k), KeyState::kEnabled);
}

TEST_F(KeysTest, DisablingOneKeyLeavesOthersAlone) {
  std::string a = NewKey(), b = NewKey();
  ASSERT_OK(kms().DisableKey(a));
  EXPECT_EQ(StateOf(a), KeyState::kDisabled);
  EXPECT_EQ(StateOf(b), KeyState::kEnabled);
}

// ---- ListKeys --------------------------------------------------------------------------

TEST_F(KeysTest, ListKeysEmpty) {
  ASSERT_OK_AND_ASSIGN(auto listed, kms().ListKeys(std::nullopt, std::nullopt));
  EXPECT_TRUE(listed.keys.empty());
  EXPECT_FALSE(listed.truncated);
  EXPECT_FALSE(listed.next_marker.has_value());
}

TEST_F(KeysTest, ListKeysPagesThrough250Keys) {
  std::vector<std::string> created;
  for (int i = 0; i < 250; ++i) created.push_back(NewKey());
  std::vector<std::string> sorted = created;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_EQ(std::set<std::string>(created.begin(), created.end()).size(), 250u);

  // Default page: 100.
  ASSERT_OK_AND_ASSIGN(auto first, kms().ListKeys(std::nullopt, std::nullopt));
  EXPECT_EQ(first.keys.size(), 100u);
  EXPECT_TRUE(first.truncated);

  std::vector<std::string> seen;
  std::optional<std::string> marker;
  std::vector<size_t> page_sizes;
  for (int page = 0; page < 10; ++page) {
    ASSERT_OK_AND_ASSIGN(auto listed, kms().ListKeys(100, marker));
    page_sizes.push_back(listed.keys.size());
    for (const auto& e : listed.keys) {
      EXPECT_EQ(e.key_arn, Arn(e.key_id));
      seen.push_back(e.key_id);
    }
    EXPECT_EQ(listed.truncated, listed.next_marker.has_value());
    if (!listed.truncated) break;
    EXPECT_EQ(*listed.next_marker, listed.keys.back().key_id);
    marker = listed.next_marker;
  }
  EXPECT_THAT(page_sizes, ElementsAre(100u, 100u, 50u));
  EXPECT_EQ(seen, sorted);

  // Every key at once, and odd page sizes.
  ASSERT_OK_AND_ASSIGN(auto all, kms().ListKeys(1000, std::nullopt));
  EXPECT_EQ(all.keys.size(), 250u);
  EXPECT_FALSE(all.truncated);
  ASSERT_OK_AND_ASSIGN(auto exact, kms().ListKeys(250, std::nullopt));
  EXPECT_EQ(exact.keys.size(), 250u);
  EXPECT_FALSE(exact.truncated);
  ASSERT_OK_AND_ASSIGN(auto one_short, kms().ListKeys(249, std::nullopt));
  EXPECT_EQ(one_short.keys.size(), 249u);
  EXPECT_TRUE(one_short.truncated);
  ASSERT_OK_AND_ASSIGN(auto last, kms().ListKeys(7, one_short.next_marker));
  ASSERT_EQ(last.keys.size(), 1u);
  EXPECT_EQ(last.keys[0].key_id, sorted.back());
  EXPECT_FALSE(last.truncated);

  seen.clear();
  marker.reset();
  for (int page = 0; page < 100; ++page) {
    ASSERT_OK_AND_ASSIGN(auto listed, kms().ListKeys(7, marker));
    for (const auto& e : listed.keys) seen.push_back(e.key_id);
    if (!listed.truncated) break;
    marker = listed.next_marker;
  }
  EXPECT_EQ(seen, sorted);
}

TEST_F(KeysTest, ListKeysMarkerNeedNotBeAnExistingKey) {
  std::vector<std::string> keys = {NewKey(), NewKey(), NewKey()};
  std::sort(keys.begin(), keys.end());
  ASSERT_OK_AND_ASSIGN(auto from_zero,
                       kms().ListKeys(std::nullopt, "00000000-0000-0000-0000-000000000000"));
  EXPECT_EQ(from_zero.keys.size(), 3u);
  ASSERT_OK_AND_ASSIGN(auto after_all,
                       kms().ListKeys(std::nullopt, "ffffffff-ffff-ffff-ffff-ffffffffffff"));
  EXPECT_TRUE(after_all.keys.empty());
  ASSERT_OK_AND_ASSIGN(auto after_first, kms().ListKeys(std::nullopt, keys[0]));
  ASSERT_EQ(after_first.keys.size(), 2u);
  EXPECT_EQ(after_first.keys[0].key_id, keys[1]);
}

TEST_F(KeysTest, ListKeysIncludesKeysInEveryState) {
  std::string a = NewKey(), b = NewKey(), c = NewKey();
  SetState(b, KeyState::kDisabled);
  SetState(c, KeyState::kPendingDeletion);
  ASSERT_OK_AND_ASSIGN(auto listed, kms().ListKeys(std::nullopt, std::nullopt));
  EXPECT_EQ(listed.keys.size(), 3u);
}

TEST_F(KeysTest, ListKeysRejectsBadLimitsAndMarkers) {
  NewKey();
  EXPECT_THAT(kms().ListKeys(0, std::nullopt),
              IsError(kValidation,
                      "1 validation error detected: Value '0' at 'limit' failed to satisfy "
                      "constraint: Member must have value greater than or equal to 1"));
  EXPECT_THAT(kms().ListKeys(-5, std::nullopt),
              IsError(kValidation,
                      "1 validation error detected: Value '-5' at 'limit' failed to satisfy "
                      "constraint: Member must have value greater than or equal to 1"));
  EXPECT_THAT(kms().ListKeys(1001, std::nullopt),
              IsError(kValidation,
                      "1 validation error detected: Value '1001' at 'limit' failed to satisfy "
                      "constraint: Member must have value less than or equal to 1000"));
  EXPECT_THAT(kms().ListKeys(1, "garbage"), IsError("InvalidMarkerException", "Invalid marker"));
  EXPECT_THAT(kms().ListKeys(1, "alias/x"), IsError("InvalidMarkerException", "Invalid marker"));
  EXPECT_THAT(kms().ListKeys(1, ""),
              IsError(kValidation, LengthError("marker", "", "greater than or equal to 1")));
  std::string long_marker(1025, 'm');
  EXPECT_THAT(
      kms().ListKeys(1, long_marker),
      IsError(kValidation, LengthError("marker", long_marker, "less than or equal to 1024")));
}

// ---- key ids -------------------------------------------------------------------------

TEST_F(KeysTest, EveryKeyIdFormNamesTheKey) {
  std::string k = NewKey();
  NewKey();  // another key, so that resolution has a choice
  ASSERT_OK(kms().CreateAlias("alias/app", k));
  const std::vector<std::string> forms = {
      k,           Arn(k),
      "alias/app", AliasArn("alias/app"),
      Upper(k),    "arn:aws:kms:us-east-1:111122223333:key/" + Upper(k),
  };
  for (const std::string& form : forms) {
    ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().DescribeKey(form));
    EXPECT_EQ(m.key_id, k) << form;
    EXPECT_EQ(m.arn, Arn(k)) << form;
    ASSERT_OK_AND_ASSIGN(std::string arn, kms().ResolveKeyArn(form));
    EXPECT_EQ(arn, Arn(k)) << form;
    // Crypto responses name the key by ARN whatever the request used.
    EncryptRequest req;
    req.key_id = form;
    req.plaintext = Secret("x");
    ASSERT_OK_AND_ASSIGN(EncryptResponse enc, kms().Encrypt(req));
    EXPECT_EQ(enc.key_id, Arn(k)) << form;
  }
}

TEST_F(KeysTest, ArnsAndAliasArns) {
  EXPECT_EQ(kms().KeyArn("1234abcd-12ab-34cd-56ef-1234567890ab"),
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
  EXPECT_EQ(kms().AliasArn("alias/ExampleAlias"),
            "arn:aws:kms:us-east-1:111122223333:alias/ExampleAlias");
}

// Every operation that names a key, with each kind of id that names no key.
class KeyIdErrorsTest : public KmsTest {
 protected:
  struct Operation {
    std::string name;
    std::string field;  // the request member, for validation errors
    // Alias forms are refused before resolution with this error (empty: resolved).
    std::function<Status(const std::string&)> alias_form_error;
    std::function<Status(const std::string&)> run;
  };

  void SetUp() override {
    KmsTest::SetUp();
    if (HasFatalFailure()) return;
    key_ = NewKey();
    ASSERT_OK(kms().CreateAlias("alias/existing", key_));
    blob_ = EncryptBlob(key_, "secret");
  }

  std::vector<Operation> Operations() {
    auto none = std::function<Status(const std::string&)>();
    auto not_alias = [](const std::string&) {
      return Status(StatusCode::kInvalidArgument, "ValidationException",
                    "Aliases must refer to keys. Not aliases");
    };
    auto invalid_key_id = [](const std::string& id) {
      return Status(StatusCode::kNotFound, "NotFoundException", "Invalid keyId '" + id + "'");
    };
    const std::string policy = kms().DefaultKeyPolicy();
    return {
        {"DescribeKey", "keyId", none,
         [this](const std::string& id) { return StatusFrom(kms().DescribeKey(id)); }},
        {"UpdateKeyDescription", "keyId", invalid_key_id,
         [this](const std::string& id) { return kms().UpdateKeyDescription(id, "d"); }},
        {"EnableKey", "keyId", invalid_key_id,
         [this](const std::string& id) { return kms().EnableKey(id); }},
        {"DisableKey", "keyId", invalid_key_id,
         [this](const std::string& id) { return kms().DisableKey(id); }},
        {"ScheduleKeyDeletion", "keyId", invalid_key_id,
         [this](const std::string& id) {
           return StatusFrom(kms().ScheduleKeyDeletion(id, std::nullopt));
         }},
        {"CancelKeyDeletion", "keyId", invalid_key_id,
         [this](const std::string& id) { return StatusFrom(kms().CancelKeyDeletion(id)); }},
        {"CreateAlias", "targetKeyId", not_alias,
         [this](const std::string& id) {
           return kms().CreateAlias("alias/new-" + std::to_string(++counter_), id);
         }},
        {"UpdateAlias", "targetKeyId", not_alias,
         [this](const std::string& id) { return kms().UpdateAlias("alias/existing", id); }},
        {"ListAliases", "keyId", invalid_key_id,
         [this](const std::string& id) {
           return StatusFrom(kms().ListAliases(id, std::nullopt, std::nullopt));
         }},
        {"TagResource", "keyId", invalid_key_id,
         [this](const std::string& id) {
           return kms().TagResource(id, {{"k", "v"}});
         }},
        {"UntagResource", "keyId", invalid_key_id,
         [this](const std::string& id) { return kms().UntagResource(id, {"k"}); }},
        {"ListResourceTags", "keyId", invalid_key_id,
         [this](const std::string& id) {
           return StatusFrom(kms().ListResourceTags(id, std::nullopt, std::nullopt));
         }},
        {"GetKeyPolicy", "keyId", invalid_key_id,
         [this](const std::string& id) { return StatusFrom(kms().GetKeyPolicy(id, "default")); }},
        {"PutKeyPolicy", "keyId", invalid_key_id,
         [this, policy](const std::string& id) {
           return kms().PutKeyPolicy(id, "default", policy);
         }},
        {"ListKeyPolicies", "keyId", invalid_key_id,
         [this](const std::string& id) { return StatusFrom(kms().ListKeyPolicies(id)); }},
        {"EnableKeyRotation", "keyId", invalid_key_id,
         [this](const std::string& id) { return kms().EnableKeyRotation(id, std::nullopt); }},
        {"DisableKeyRotation", "keyId", invalid_key_id,
         [this](const std::string& id) { return kms().DisableKeyRotation(id); }},
        {"GetKeyRotationStatus", "keyId", invalid_key_id,
         [this](const std::string& id) { return StatusFrom(kms().GetKeyRotationStatus(id)); }},
        {"RotateKeyOnDemand", "keyId", invalid_key_id,
         [this](const std::string& id) { return StatusFrom(kms().RotateKeyOnDemand(id)); }},
        {"ListKeyRotations", "keyId", invalid_key_id,
         [this](const std::string& id) {
           return StatusFrom(kms().ListKeyRotations(id, std::nullopt, std::nullopt));
         }},
        {"Encrypt", "keyId", none,
         [this](const std::string& id) {
           EncryptRequest r;
           r.key_id = id;
           r.plaintext = Secret("p");
           return StatusFrom(kms().Encrypt(r));
         }},
        {"Decrypt", "keyId", none,
         [this](const std::string& id) {
           DecryptRequest r;
           r.ciphertext_blob = blob_;
           r.key_id = id;
           return StatusFrom(kms().Decrypt(r));
         }},
        {"ReEncrypt(destination)", "destinationKeyId", none,
         [this](const std::string& id) {
           ReEncryptRequest r;
           r.ciphertext_blob = blob_;
           r.destination_key_id = id;
           return StatusFrom(kms().ReEncrypt(r));
         }},
        {"ReEncrypt(source)", "sourceKeyId", none,
         [this](const std::string& id) {
           ReEncryptRequest r;
           r.ciphertext_blob = blob_;
           r.source_key_id = id;
           r.destination_key_id = key_;
           return StatusFrom(kms().ReEncrypt(r));
         }},
        {"GenerateDataKey", "keyId", none,
         [this](const std::string& id) {
           GenerateDataKeyRequest r;
           r.key_id = id;
           r.key_spec = "AES_256";
           return StatusFrom(kms().GenerateDataKey(r));
         }},
        {"GenerateDataKeyWithoutPlaintext", "keyId", none,
         [this](const std::string& id) {
           GenerateDataKeyRequest r;
           r.key_id = id;
           r.number_of_bytes = 16;
           return StatusFrom(kms().GenerateDataKeyWithoutPlaintext(r));
         }},
        {"ResolveKeyArn", "keyId", none,
         [this](const std::string& id) { return StatusFrom(kms().ResolveKeyArn(id)); }},
    };
  }

  std::string key_;
  Bytes blob_;
  int counter_ = 0;
};

TEST_F(KeyIdErrorsTest, EveryOperationReportsIdsThatNameNoKey) {
  const std::string other_region = "arn:aws:kms:eu-west-1:111122223333:key/" + key_;
  const std::string other_account = "arn:aws:kms:us-east-1:444455556666:key/" + key_;
  const std::string other_partition = "arn:aws-cn:kms:us-east-1:111122223333:key/" + key_;
  const std::string other_alias_arn = "arn:aws:kms:eu-west-1:111122223333:alias/existing";
  const std::string unknown_arn = Arn(kUnknownUuid);
  struct Case {
    std::string id;
    bool alias_form;
    std::string message;
  };
  const std::vector<Case> cases = {
      {kUnknownUuid, false, "Key '" + unknown_arn + "' does not exist"},
      {Upper(kUnknownUuid), false, "Key '" + unknown_arn + "' does not exist"},
      {unknown_arn, false, "Key '" + unknown_arn + "' does not exist"},
      {other_region, false, "Invalid arn eu-west-1"},  // AWS names the region
      {other_account, false, "Key '" + other_account + "' does not exist"},
      {other_partition, false, "Key '" + other_partition + "' does not exist"},
      {"alias/unknown", true, "Alias '" + AliasArn("alias/unknown") + "' is not found."},
      {AliasArn("alias/unknown"), true, "Alias '" + AliasArn("alias/unknown") + "' is not found."},
      {other_alias_arn, true, "Alias '" + other_alias_arn + "' is not found."},
      {"not-a-key-id", false, "Invalid keyId 'not-a-key-id'"},
      {key_.substr(1), false, "Invalid keyId '" + key_.substr(1) + "'"},
      {"arn:aws:kms:us-east-1:111122223333:key/not-a-uuid", false,
       "Invalid keyId 'arn:aws:kms:us-east-1:111122223333:key/not-a-uuid'"},
      {"arn:aws:kms:us-east-1:111122223333:grant/x", false,
       "Invalid keyId 'arn:aws:kms:us-east-1:111122223333:grant/x'"},
      {"arn:aws:s3:::bucket", false, "Invalid keyId 'arn:aws:s3:::bucket'"},
  };
  for (const Operation& op : Operations()) {
    for (const Case& c : cases) {
      Status st = op.run(c.id);
      if (c.alias_form && op.alias_form_error) {
        EXPECT_EQ(st, op.alias_form_error(c.id)) << op.name << " " << c.id;
      } else {
        EXPECT_THAT(st, IsError(kNotFound, c.message)) << op.name << " " << c.id;
      }
    }
  }
  // Nothing happened to the key.
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().DescribeKey(key_));
  EXPECT_EQ(m.key_state, KeyState::kEnabled);
  EXPECT_EQ(m.description, "");
  ASSERT_OK_AND_ASSIGN(auto aliases, kms().ListAliases(std::nullopt, std::nullopt, std::nullopt));
  ASSERT_EQ(aliases.aliases.size(), 1u);
  EXPECT_EQ(aliases.aliases[0].target_key_id, key_);
}

TEST_F(KeyIdErrorsTest, EveryOperationValidatesTheLengthOfTheId) {
  const std::string too_long = "alias/" + std::string(2043, 'a');  // 2049 characters
  for (const Operation& op : Operations()) {
    EXPECT_THAT(op.run(""),
                IsError(kValidation, LengthError(op.field, "", "greater than or equal to 1")))
        << op.name;
    EXPECT_THAT(op.run(too_long),
                IsError(kValidation, LengthError(op.field, too_long, "less than or equal to 2048")))
        << op.name;
  }
}

// ---- the service itself ----------------------------------------------------------

TEST_F(KeysTest, CreateValidatesOptions) {
  KmsOptions bad_account;
  bad_account.account_id = "12345678901";
  auto service = KeyService::Create(bad_account, *store_, *vault_, clock_, random_);
  EXPECT_EQ(service.status(),
            InvalidArgumentError("account id must be 12 digits, got '12345678901'"));
  bad_account.account_id = "12345678901a";
  service = KeyService::Create(bad_account, *store_, *vault_, clock_, random_);
  EXPECT_EQ(service.status(),
            InvalidArgumentError("account id must be 12 digits, got '12345678901a'"));
  KmsOptions bad_region;
  bad_region.region = "";
  service = KeyService::Create(bad_region, *store_, *vault_, clock_, random_);
  EXPECT_EQ(service.status(), InvalidArgumentError("region must not be empty"));
}

TEST_F(KeysTest, AccountAndRegionComeFromTheOptions) {
  KmsOptions options;
  options.account_id = "444455556666";
  options.region = "eu-central-1";
  ASSERT_OK_AND_ASSIGN(auto other, KeyService::Create(options, *store_, *vault_, clock_, random_));
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, other->CreateKey({}));
  EXPECT_EQ(m.aws_account_id, "444455556666");
  EXPECT_EQ(m.arn, "arn:aws:kms:eu-central-1:444455556666:key/" + m.key_id);
  EXPECT_EQ(other->AliasArn("alias/a"), "arn:aws:kms:eu-central-1:444455556666:alias/a");
  EXPECT_EQ(
      other->DefaultKeyPolicy(),
      R"({"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}]})");
  ASSERT_OK_AND_ASSIGN(std::string policy, other->GetKeyPolicy(m.key_id, std::nullopt));
  EXPECT_EQ(policy, other->DefaultKeyPolicy());
  // An ARN of this service's account and region is another account's to the first one.
  EXPECT_THAT(kms().DescribeKey(m.arn), IsError(kNotFound, "Invalid arn eu-central-1"));
}

}  // namespace
}  // namespace coffer::kms
