#include "envelope/raw_aes_keyring.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/aes_gcm.h"
#include "envelope/errors.h"
#include "envelope/message_format.h"
#include "envelope_test_util.h"
#include "testing/status_matchers.h"

namespace coffer::envelope {
namespace {

using ::coffer::envelope::testing::VectorWrappingKey;

const EncryptionContext kContext = {{"coffer:format", "1"}, {"purpose", "test"}};

TEST(RawAesKeyringTest, EncryptedDataKeyLayout) {
  SeededRandom random(3);
  ASSERT_OK_AND_ASSIGN(auto keyring,
                       RawAesKeyring::Create("ns", "name", VectorWrappingKey(), random));
  ASSERT_OK_AND_ASSIGN(DataKeyMaterial m, keyring->OnEncrypt(kContext));
  EXPECT_EQ(m.data_key.size(), 32u);
  ASSERT_EQ(m.encrypted_data_keys.size(), 1u);
  const EncryptedDataKey& edk = m.encrypted_data_keys[0];
  EXPECT_EQ(edk.provider_id, "ns");
  // name ‖ 128 ‖ 12 ‖ IV
  ASSERT_EQ(edk.provider_info.size(), 4u + 4 + 4 + 12);
  EXPECT_EQ(HexEncode(ByteView(edk.provider_info).first(12)),
            "6e616d65"
            "00000080"
            "0000000c");
  // wrapped key ‖ tag, with the serialized context as AAD: AES-GCM by hand.
  ASSERT_EQ(edk.ciphertext.size(), 48u);
  ASSERT_OK_AND_ASSIGN(auto aead, crypto::AesGcm::Create(VectorWrappingKey()));
  ASSERT_OK_AND_ASSIGN(Bytes aad, SerializeEncryptionContext(kContext));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes unwrapped,
                       aead->Open(ByteView(edk.provider_info).last(12), edk.ciphertext, aad));
  EXPECT_TRUE(unwrapped == m.data_key);
}

TEST(RawAesKeyringTest, DecryptsItsOwnAndSkipsOthers) {
  SeededRandom random(4);
  ASSERT_OK_AND_ASSIGN(auto keyring,
                       RawAesKeyring::Create("ns", "name", VectorWrappingKey(), random));
  ASSERT_OK_AND_ASSIGN(DataKeyMaterial m, keyring->OnEncrypt(kContext));
  std::vector<EncryptedDataKey> edks = {
      {"aws-kms", ToBytes("arn:aws:kms:us-east-1:111122223333:key/x"), Bytes(100, 1)},
      {"other-ns", m.encrypted_data_keys[0].provider_info, m.encrypted_data_keys[0].ciphertext},
      m.encrypted_data_keys[0]};
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes key, keyring->OnDecrypt(kContext, edks));
  EXPECT_TRUE(key == m.data_key);
}

TEST(RawAesKeyringTest, WrongKeyNameOrContextIsNoDecryptableDataKey) {
  SeededRandom random(5);
  ASSERT_OK_AND_ASSIGN(auto keyring,
                       RawAesKeyring::Create("ns", "name", VectorWrappingKey(), random));
  ASSERT_OK_AND_ASSIGN(DataKeyMaterial m, keyring->OnEncrypt(kContext));
  auto other_context = kContext;
  other_context["purpose"] = "other";
  Result<crypto::SecretBytes> r = keyring->OnDecrypt(other_context, m.encrypted_data_keys);
  EXPECT_EQ(r.status().error_name(), kNoDecryptableDataKey);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);

  Bytes other(32, 0x55);
  ASSERT_OK_AND_ASSIGN(
      auto wrong_key,
      RawAesKeyring::Create("ns", "name", crypto::SecretBytes(ByteView(other)), random));
  EXPECT_EQ(wrong_key->OnDecrypt(kContext, m.encrypted_data_keys).status().error_name(),
            kNoDecryptableDataKey);
  ASSERT_OK_AND_ASSIGN(auto wrong_name,
                       RawAesKeyring::Create("ns", "nam", VectorWrappingKey(), random));
  EXPECT_EQ(wrong_name->OnDecrypt(kContext, m.encrypted_data_keys).status().error_name(),
            kNoDecryptableDataKey);
  EXPECT_EQ(keyring->OnDecrypt(kContext, {}).status().error_name(), kNoDecryptableDataKey);
  // A provider info claiming another tag length is not this keyring's.
  EncryptedDataKey tag96 = m.encrypted_data_keys[0];
  tag96.provider_info[4 + 3] = 96;
  EXPECT_EQ(
      keyring->OnDecrypt(kContext, std::vector<EncryptedDataKey>{tag96}).status().error_name(),
      kNoDecryptableDataKey);
}

TEST(RawAesKeyringTest, CreateValidates) {
  SeededRandom random(6);
  EXPECT_FALSE(RawAesKeyring::Create("aws-kms", "name", VectorWrappingKey(), random).ok());
  EXPECT_FALSE(RawAesKeyring::Create("", "name", VectorWrappingKey(), random).ok());
  EXPECT_FALSE(RawAesKeyring::Create("ns", "", VectorWrappingKey(), random).ok());
  EXPECT_FALSE(
      RawAesKeyring::Create("ns", "name", crypto::SecretBytes(ByteView(Bytes(16, 1))), random)
          .ok());
}

}  // namespace
}  // namespace coffer::envelope
