#pragma once
// The KMS keyring: data keys from a KMS key, as the AWS Encryption SDK's
// AWS KMS keyring makes them (framework/aws-kms/aws-kms-keyring.md), so that a
// message coffer writes is read by any ESDK's KMS keyring and the reverse.
//
//   OnEncrypt: GenerateDataKey {KeyId, NumberOfBytes: 32, EncryptionContext}
//              -> one EDK {provider id "aws-kms", provider info = the key ARN
//                 KMS answered with, ciphertext = the CiphertextBlob}
//   OnDecrypt: for each "aws-kms" EDK, in order: Decrypt {KeyId: its provider
//              info, CiphertextBlob, EncryptionContext}; the first success
//              whose answered KeyId equals the provider info gives the data key
//
// The KMS calls go through a KmsDataKeys (below): the coffer client's signed
// calls to an endpoint, or the server's in-process path, which authorizes and
// audits each call as the endpoint does. Either way the caller's permissions
// on the key decide: a refusal (AccessDeniedException, DisabledException, …)
// is returned unchanged, with its AWS error name and message.
//
// Safe for concurrent use when the KmsDataKeys is.
#include <memory>
#include <string>

#include "envelope/keyring.h"

namespace coffer::envelope {

inline constexpr char kAwsKmsProviderId[] = "aws-kms";

// The two KMS operations a keyring needs.
class KmsDataKeys {
 public:
  virtual ~KmsDataKeys() = default;

  struct DataKey {
    std::string key_arn;            // the KeyId of KMS's answer: always a key ARN
    crypto::SecretBytes plaintext;  // the data key
    Bytes ciphertext_blob;          // the data key under the KMS key
  };
  // GenerateDataKey {KeyId: key_id, NumberOfBytes: bytes, EncryptionContext}.
  virtual Result<DataKey> GenerateDataKey(const std::string& key_id, int bytes,
                                          const EncryptionContext& context) = 0;

  struct Plaintext {
    std::string key_arn;  // the KeyId of KMS's answer
    crypto::SecretBytes plaintext;
  };
  // Decrypt {KeyId: key_id, CiphertextBlob, EncryptionContext}.
  virtual Result<Plaintext> Decrypt(const std::string& key_id, ByteView ciphertext_blob,
                                    const EncryptionContext& context) = 0;
};

class KmsKeyring final : public Keyring {
 public:
  // Encrypts under `key_id` (a key id, key ARN, alias name or alias ARN) and,
  // as the ESDK's strict mode, decrypts only EDKs whose provider info equals
  // it (so give a key ARN). An empty key id is the ESDK's discovery mode: it
  // cannot encrypt and decrypts with whichever key the message names. `kms` is
  // borrowed and must outlive the keyring.
  KmsKeyring(KmsDataKeys& kms, std::string key_id) : kms_(kms), key_id_(std::move(key_id)) {}

  Result<DataKeyMaterial> OnEncrypt(const EncryptionContext& context) override;
  // Errors: the last KMS error when no EDK could be decrypted;
  // NoDecryptableDataKey when the message has no "aws-kms" EDK this keyring
  // may use (naming the key ARNs the message has).
  Result<crypto::SecretBytes> OnDecrypt(const EncryptionContext& context,
                                        std::span<const EncryptedDataKey> edks) override;

 private:
  KmsDataKeys& kms_;
  const std::string key_id_;
};

// The key ARNs of a message's "aws-kms" EDKs, for messages that say which key
// a restore needs.
std::vector<std::string> KmsKeyArns(std::span<const EncryptedDataKey> edks);

}  // namespace coffer::envelope
