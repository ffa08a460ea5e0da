#include "envelope/kms_keyring.h"

#include "envelope/errors.h"

namespace coffer::envelope {

namespace {
// The ESDK's data keys for the suites coffer reads and writes are 32 bytes.
constexpr int kDataKeyBytes = 32;
}  // namespace

Result<DataKeyMaterial> KmsKeyring::OnEncrypt(const EncryptionContext& context) {
  if (key_id_.empty()) {
    return Status(StatusCode::kInvalidArgument, "InvalidKeyId",
                  "a KMS keyring without a key id cannot encrypt");
  }
  auto key = kms_.GenerateDataKey(key_id_, kDataKeyBytes, context);
  if (!key.ok()) return key.status();
  // aws-kms-keyring.md#onencrypt: the plaintext must be the suite's key length.
  if (key->plaintext.size() != static_cast<size_t>(kDataKeyBytes) || key->key_arn.empty()) {
    return Status(StatusCode::kInternal, "KMSInvalidResponse",
                  "GenerateDataKey answered without a 32-byte data key and a key ARN");
  }
  DataKeyMaterial material;
  material.data_key = std::move(key->plaintext);
  material.encrypted_data_keys.push_back(
      {kAwsKmsProviderId, ToBytes(key->key_arn), std::move(key->ciphertext_blob)});
  return material;
}

Result<crypto::SecretBytes> KmsKeyring::OnDecrypt(const EncryptionContext& context,
                                                  std::span<const EncryptedDataKey> edks) {
  std::optional<Status> last_error;
  for (const EncryptedDataKey& edk : edks) {
    if (edk.provider_id != kAwsKmsProviderId) continue;
    std::string key_arn = ToString(edk.provider_info);
    if (!key_id_.empty() && key_arn != key_id_) continue;
    auto answer = kms_.Decrypt(key_arn, edk.ciphertext, context);
    if (!answer.ok()) {
      last_error = answer.status();
      continue;
    }
    // aws-kms-keyring.md#ondecrypt: the answered KeyId must equal the provider info.
    if (answer->key_arn != key_arn || answer->plaintext.size() != kDataKeyBytes) {
      last_error = Status(StatusCode::kInternal, "KMSInvalidResponse",
                          "Decrypt of the data key under " + key_arn +
                              " answered with another key or a data key of the wrong size");
      continue;
    }
    return std::move(answer->plaintext);
  }
  if (last_error) return *last_error;
  std::vector<std::string> arns = KmsKeyArns(edks);
  if (arns.empty()) {
    return Invalid(kNoDecryptableDataKey,
                   "the message has no data key encrypted under a KMS key (provider aws-kms)");
  }
  std::string names;
  for (const std::string& arn : arns) names += (names.empty() ? "" : ", ") + arn;
  return Invalid(kNoDecryptableDataKey,
                 "the message's data key is encrypted under " + names + ", not under " + key_id_);
}

std::vector<std::string> KmsKeyArns(std::span<const EncryptedDataKey> edks) {
  std::vector<std::string> arns;
  for (const EncryptedDataKey& edk : edks) {
    if (edk.provider_id == kAwsKmsProviderId) arns.push_back(ToString(edk.provider_info));
  }
  return arns;
}

}  // namespace coffer::envelope
