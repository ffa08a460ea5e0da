#pragma once
// Keyrings: where the data key of a backup comes from and how it is wrapped,
// after the AWS Encryption SDK's keyring interface
// (aws-encryption-sdk-specification framework/keyring-interface.md).
//
// A writer asks its keyring for a fresh data key and the encrypted data keys
// (EDKs) to store in the message header; a reader hands the keyring the EDKs of
// the message and gets the data key back. The encryption context given to a
// keyring is the message's whole context, reserved keys ("aws-crypto-public-key")
// included, exactly as the header carries it; keyrings that wrap under AAD bind
// it, as the ESDK's keyrings do.
//
// Keyrings are safe for concurrent use: several backups may share one.
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace coffer::envelope {

// Non-secret, authenticated key-value pairs bound to a message. std::map's
// order (std::string compares bytes as unsigned char) is the ESDK's order:
// sorted by the UTF-8 bytes of the key.
using EncryptionContext = std::map<std::string, std::string>;

// One wrapped copy of the data key (message-header.md#encrypted-data-key).
struct EncryptedDataKey {
  std::string provider_id;  // UTF-8: "aws-kms", or a raw keyring's key namespace
  Bytes provider_info;      // "aws-kms": the key ARN; raw AES: see raw_aes_keyring.h
  Bytes ciphertext;         // the wrapped data key

  friend bool operator==(const EncryptedDataKey&, const EncryptedDataKey&) = default;
};

// What a keyring returns to a writer.
struct DataKeyMaterial {
  crypto::SecretBytes data_key;                       // 32 bytes for the suites coffer writes
  std::vector<EncryptedDataKey> encrypted_data_keys;  // at least one
};

class Keyring {
 public:
  virtual ~Keyring() = default;

  // A fresh data key for a message with this context, and its EDKs. An error
  // (the key service refused, say) is returned unchanged to the writer's caller.
  virtual Result<DataKeyMaterial> OnEncrypt(const EncryptionContext& context) = 0;

  // The data key from the first EDK this keyring can unwrap. When none can,
  // an error: raw keyrings return kInvalidArgument "NoDecryptableDataKey";
  // a KMS keyring may return its service's error. Errors reach the reader's
  // caller unchanged.
  virtual Result<crypto::SecretBytes> OnDecrypt(const EncryptionContext& context,
                                                std::span<const EncryptedDataKey> edks) = 0;
};

}  // namespace coffer::envelope
