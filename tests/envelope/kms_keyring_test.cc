#include "envelope/kms_keyring.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/random.h"
#include "envelope/errors.h"
#include "testing/status_matchers.h"

namespace coffer::envelope {
namespace {

constexpr char kArnA[] =
    "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-0000-0000-000000000000";
constexpr char kArnB[] =
    "arn:aws:kms:us-east-1:111122223333:key/bbbbbbbb-0000-0000-0000-000000000000";

// A KMS whose data keys are "wrapped" by prefixing the key ARN and the context,
// so that Decrypt checks both as KMS does. It records the calls.
class FakeKms final : public KmsDataKeys {
 public:
  Result<DataKey> GenerateDataKey(const std::string& key_id, int bytes,
                                  const EncryptionContext& context) override {
    calls.push_back("GenerateDataKey " + key_id);
    if (refuse) return *refuse;
    std::string arn = key_id == "alias/a" ? kArnA : key_id;
    DataKey key;
    key.key_arn = arn;
    Bytes plain(bytes);
    random.Fill(plain);
    key.plaintext = crypto::SecretBytes(ByteView(plain));
    key.ciphertext_blob = Wrap(arn, context, plain);
    return key;
  }
  Result<Plaintext> Decrypt(const std::string& key_id, ByteView blob,
                            const EncryptionContext& context) override {
    calls.push_back("Decrypt " + key_id);
    if (refuse) return *refuse;
    Bytes prefix = Wrap(key_id, context, {});
    if (blob.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), blob.begin())) {
      return Status(StatusCode::kInvalidArgument, "InvalidCiphertextException", "");
    }
    Plaintext out;
    out.key_arn = answer_arn.empty() ? key_id : answer_arn;
    out.plaintext = crypto::SecretBytes(blob.subspan(prefix.size()));
    return out;
  }

  static Bytes Wrap(const std::string& arn, const EncryptionContext& context, ByteView plain) {
    std::string head = arn + "|";
    for (const auto& [k, v] : context) head += k + "=" + v + ";";
    head += "|";
    Bytes out = ToBytes(head);
    Append(out, plain);
    return out;
  }

  SeededRandom random{7};
  std::vector<std::string> calls;
  std::optional<Status> refuse;
  std::string answer_arn;
};

TEST(KmsKeyringTest, EncryptsUnderTheKeyArnKmsAnswers) {
  FakeKms kms;
  KmsKeyring keyring(kms, "alias/a");
  EncryptionContext context = {{"purpose", "backup"}};
  ASSERT_OK_AND_ASSIGN(DataKeyMaterial material, keyring.OnEncrypt(context));
  EXPECT_EQ(material.data_key.size(), 32u);
  ASSERT_EQ(material.encrypted_data_keys.size(), 1u);
  EXPECT_EQ(material.encrypted_data_keys[0].provider_id, "aws-kms");
  EXPECT_EQ(ToString(material.encrypted_data_keys[0].provider_info), kArnA);
  EXPECT_EQ(kms.calls, std::vector<std::string>{"GenerateDataKey alias/a"});

  KmsKeyring discovery(kms, "");
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes key,
                       discovery.OnDecrypt(context, material.encrypted_data_keys));
  EXPECT_TRUE(key == material.data_key);
  EXPECT_EQ(kms.calls.back(), std::string("Decrypt ") + kArnA);
}

TEST(KmsKeyringTest, DiscoveryCannotEncrypt) {
  FakeKms kms;
  KmsKeyring keyring(kms, "");
  EXPECT_FALSE(keyring.OnEncrypt({}).ok());
  EXPECT_TRUE(kms.calls.empty());
}

TEST(KmsKeyringTest, KmsRefusalsComeBackUnchanged) {
  FakeKms kms;
  KmsKeyring keyring(kms, kArnA);
  ASSERT_OK_AND_ASSIGN(DataKeyMaterial material, keyring.OnEncrypt({}));
  Status denied(StatusCode::kPermissionDenied, "AccessDeniedException",
                "User: arn:aws:sts::111122223333:assumed-role/r/s is not authorized");
  kms.refuse = denied;
  EXPECT_EQ(keyring.OnEncrypt({}).status(), denied);
  EXPECT_EQ(keyring.OnDecrypt({}, material.encrypted_data_keys).status(), denied);
}

TEST(KmsKeyringTest, TriesEachKmsKeyInOrderAndSkipsOtherProviders) {
  FakeKms kms;
  KmsKeyring generator(kms, kArnB);
  ASSERT_OK_AND_ASSIGN(DataKeyMaterial material, generator.OnEncrypt({}));
  std::vector<EncryptedDataKey> edks = {
      {"raw-aes", ToBytes("x"), ToBytes("y")},
      {"aws-kms", ToBytes(kArnA), ToBytes("garbage")},
      material.encrypted_data_keys[0],
  };
  kms.calls.clear();
  KmsKeyring discovery(kms, "");
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes key, discovery.OnDecrypt({}, edks));
  EXPECT_TRUE(key == material.data_key);
  EXPECT_EQ(kms.calls, (std::vector<std::string>{std::string("Decrypt ") + kArnA,
                                                 std::string("Decrypt ") + kArnB}));
}

TEST(KmsKeyringTest, StrictModeUsesOnlyItsKey) {
  FakeKms kms;
  KmsKeyring generator(kms, kArnB);
  ASSERT_OK_AND_ASSIGN(DataKeyMaterial material, generator.OnEncrypt({}));
  kms.calls.clear();
  KmsKeyring strict(kms, kArnA);
  auto result = strict.OnDecrypt({}, material.encrypted_data_keys);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().error_name(), kNoDecryptableDataKey);
  EXPECT_NE(result.status().message().find(kArnB), std::string::npos);
  EXPECT_TRUE(kms.calls.empty()) << "strict mode must not ask KMS about another key";
}

TEST(KmsKeyringTest, RefusesAnAnswerForAnotherKey) {
  FakeKms kms;
  KmsKeyring keyring(kms, kArnA);
  ASSERT_OK_AND_ASSIGN(DataKeyMaterial material, keyring.OnEncrypt({}));
  kms.answer_arn = kArnB;
  auto result = keyring.OnDecrypt({}, material.encrypted_data_keys);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().error_name(), "KMSInvalidResponse");
}

TEST(KmsKeyringTest, NoKmsEdkIsNoDecryptableDataKey) {
  FakeKms kms;
  KmsKeyring keyring(kms, "");
  std::vector<EncryptedDataKey> edks = {{"raw-aes", ToBytes("x"), ToBytes("y")}};
  auto result = keyring.OnDecrypt({}, edks);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().error_name(), kNoDecryptableDataKey);
  EXPECT_THAT(KmsKeyArns(edks), ::testing::IsEmpty());
}

}  // namespace
}  // namespace coffer::envelope
