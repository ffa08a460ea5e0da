#pragma once
// The KMS ciphertext blob, version 1 (docs/formats/ciphertext-blob.md): the
// byte layout, the parser and the encryption-context encoding. Sealing and
// opening live in the key service, which owns the key material.
#include <array>
#include <cstdint>

#include "common/bytes.h"
#include "common/status.h"
#include "kms/types.h"

namespace coffer::kms {

inline constexpr uint8_t kBlobVersion = 0x01;
inline constexpr size_t kBlobKeyIdSize = 16;
inline constexpr size_t kBlobCheckedSize = 21;  // version, key id, material version
inline constexpr size_t kBlobHeaderSize = 25;   // + header check
inline constexpr size_t kBlobNonceSize = 32;
inline constexpr size_t kBlobTagSize = 16;
inline constexpr size_t kBlobOverhead = kBlobHeaderSize + kBlobNonceSize + kBlobTagSize;
inline constexpr char kBlobKeyInfo[] = "coffer kms ciphertext v1";

struct BlobView {
  std::string key_id;  // the UUID in text form
  uint32_t material_version = 0;
  ByteView header;  // bytes 0..24, part of the AAD
  ByteView nonce;
  ByteView ciphertext;
  ByteView tag;
};

// Parses step 1 of docs/formats/ciphertext-blob.md. Any failure is
// InvalidCiphertextException. The views point into `blob`.
Result<BlobView> ParseBlob(ByteView blob);

// The header (bytes 0..24) for a new blob.
Bytes BlobHeader(std::string_view key_uuid, uint32_t material_version);

// The encoding of an encryption context (sorted pairs with u16 lengths).
// Fails (ValidationException) when a key or value is longer than 65535 bytes or
// there are more than 65535 pairs.
Result<Bytes> EncodeEncryptionContext(const EncryptionContext& context);

}  // namespace coffer::kms
