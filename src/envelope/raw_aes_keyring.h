#pragma once
// The AWS Encryption SDK's raw AES keyring
// (aws-encryption-sdk-specification framework/raw-aes-keyring.md): the data
// key is wrapped locally with AES-256-GCM under a wrapping key the caller
// holds. Messages it writes decrypt with the ESDKs' raw AES keyrings
// (RawAesKeyringNode and the others) given the same namespace, name and key,
// and the other way round.
//
// Encrypted data key:
//   provider id   = key namespace (UTF-8)
//   provider info = key name ‖ tag length in bits u32 (128) ‖ IV length u32 (12) ‖ IV
//   ciphertext    = wrapped data key ‖ tag
// with the serialized encryption context (SerializeEncryptionContext) as AAD.
//
// Safe for concurrent use. The wrapping key is copied into a SecretBytes.
#include <memory>
#include <span>
#include <string>

#include "common/random.h"
#include "crypto/aes_gcm.h"
#include "envelope/keyring.h"

namespace coffer::envelope {

class RawAesKeyring final : public Keyring {
 public:
  // `wrapping_key` must be 32 bytes (AES-256); `key_namespace` may not be
  // "aws-kms" (reserved for the KMS keyrings) and neither name may be empty.
  // `random` (borrowed; it must outlive the keyring) supplies data keys and IVs.
  static Result<std::unique_ptr<RawAesKeyring>> Create(std::string key_namespace,
                                                       std::string key_name,
                                                       const crypto::SecretBytes& wrapping_key,
                                                       Random& random);

  Result<DataKeyMaterial> OnEncrypt(const EncryptionContext& context) override;
  // Tries, in order, each EDK whose provider id is the namespace and whose
  // provider info names this key with a 128-bit tag and a 12-byte IV. When
  // none unwraps: kInvalidArgument "NoDecryptableDataKey".
  Result<crypto::SecretBytes> OnDecrypt(const EncryptionContext& context,
                                        std::span<const EncryptedDataKey> edks) override;

  const std::string& key_namespace() const { return key_namespace_; }
  const std::string& key_name() const { return key_name_; }

 private:
  RawAesKeyring(std::string key_namespace, std::string key_name,
                std::unique_ptr<crypto::AesGcm> aead, Random& random)
      : key_namespace_(std::move(key_namespace)),
        key_name_(std::move(key_name)),
        aead_(std::move(aead)),
        random_(random) {}

  std::string key_namespace_;
  std::string key_name_;
  std::unique_ptr<crypto::AesGcm> aead_;
  Random& random_;
};

}  // namespace coffer::envelope
