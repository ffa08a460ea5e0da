#include "envelope/raw_aes_keyring.h"

#include <algorithm>
#include <utility>

#include "crypto/random.h"
#include "envelope/errors.h"
#include "envelope/message_format.h"

namespace coffer::envelope {
namespace {

using crypto::SecretBytes;

// raw-aes-keyring.md#authentication-tag-length and #iv-length.
constexpr uint32_t kTagLengthBits = 128;
constexpr uint32_t kWrappingIvSize = 12;

}  // namespace

Result<std::unique_ptr<RawAesKeyring>> RawAesKeyring::Create(std::string key_namespace,
                                                             std::string key_name,
                                                             const SecretBytes& wrapping_key,
                                                             Random& random) {
  if (key_namespace.empty() || key_name.empty()) {
    return InvalidArgumentError("raw AES keyring: key namespace and key name must not be empty");
  }
  // structures.md#key-provider-id: "aws-kms" belongs to the KMS keyrings.
  if (key_namespace == "aws-kms") {
    return InvalidArgumentError("raw AES keyring: the key namespace 'aws-kms' is reserved");
  }
  if (key_namespace.size() > kMaxFieldLength ||
      key_name.size() + 8 + kWrappingIvSize > kMaxFieldLength) {
    return InvalidArgumentError("raw AES keyring: key namespace or key name too long");
  }
  if (wrapping_key.size() != crypto::kAesGcmKeySize) {
    return InvalidArgumentError("raw AES keyring: the wrapping key must be 32 bytes (AES-256)");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesGcm> aead, crypto::AesGcm::Create(wrapping_key));
  return std::unique_ptr<RawAesKeyring>(
      new RawAesKeyring(std::move(key_namespace), std::move(key_name), std::move(aead), random));
}

Result<DataKeyMaterial> RawAesKeyring::OnEncrypt(const EncryptionContext& context) {
  ASSIGN_OR_RETURN(Bytes aad, SerializeEncryptionContext(context));
  DataKeyMaterial material;
  material.data_key = crypto::RandomSecret(random_, kDataKeySize);
  std::array<uint8_t, kWrappingIvSize> iv;
  random_.Fill(iv);
  // raw-aes-keyring.md#on-encrypt
  ASSIGN_OR_RETURN(Bytes wrapped, aead_->Seal(iv, RevealSecret(material.data_key), aad));
  EncryptedDataKey edk;
  edk.provider_id = key_namespace_;
  Append(edk.provider_info, AsBytes(key_name_));
  AppendU32(edk.provider_info, kTagLengthBits);
  AppendU32(edk.provider_info, kWrappingIvSize);
  Append(edk.provider_info, iv);
  edk.ciphertext = std::move(wrapped);
  material.encrypted_data_keys.push_back(std::move(edk));
  return material;
}

Result<SecretBytes> RawAesKeyring::OnDecrypt(const EncryptionContext& context,
                                             std::span<const EncryptedDataKey> edks) {
  ASSIGN_OR_RETURN(Bytes aad, SerializeEncryptionContext(context));
  const size_t info_size = key_name_.size() + 8 + kWrappingIvSize;
  size_t candidates = 0;
  // raw-aes-keyring.md#on-decrypt: each EDK in turn until one unwraps.
  for (const EncryptedDataKey& edk : edks) {
    if (edk.provider_id != key_namespace_ || edk.provider_info.size() != info_size) continue;
    ByteView info(edk.provider_info);
    if (AsChars(info.first(key_name_.size())) != key_name_) continue;
    if (LoadU32(info.data() + key_name_.size()) != kTagLengthBits ||
        LoadU32(info.data() + key_name_.size() + 4) != kWrappingIvSize) {
      continue;
    }
    if (edk.ciphertext.size() != kDataKeySize + crypto::kAesGcmTagSize) continue;
    ++candidates;
    Result<SecretBytes> key = aead_->Open(info.last(kWrappingIvSize), edk.ciphertext, aad);
    if (key.ok()) return key;
  }
  return Invalid(kNoDecryptableDataKey,
                 "none of the " + std::to_string(edks.size()) +
                     " encrypted data keys can be decrypted by raw AES key '" + key_namespace_ +
                     "/" + key_name_ + "' (" + std::to_string(candidates) +
                     " named this key and failed to unwrap: another wrapping key or "
                     "encryption context)");
}

}  // namespace coffer::envelope
