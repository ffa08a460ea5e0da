#pragma once
// AES-256-GCM with a 96-bit IV and a 128-bit tag, over OpenSSL 3 EVP.
//
// An AesGcm holds its key (as a SecretBytes, wiped on destruction) and is
// safe for concurrent use: each call uses its own cipher context. Open()
// never returns plaintext for a message whose tag does not verify.
#include <memory>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace coffer::crypto {

inline constexpr size_t kAesGcmKeySize = 32;
inline constexpr size_t kAesGcmIvSize = 12;
inline constexpr size_t kAesGcmTagSize = 16;

class AesGcm {
 public:
  // Fails unless `key` is 32 bytes.
  static Result<std::unique_ptr<AesGcm>> Create(const SecretBytes& key);
  ~AesGcm();

  // Returns ciphertext ‖ tag. Fails only if `iv` is not 12 bytes or OpenSSL fails.
  Result<Bytes> Seal(ByteView iv, ByteView plaintext, ByteView aad) const;
  // Writes ciphertext to `out` (plaintext.size() bytes) and the tag to `tag`.
  Status SealInto(ByteView iv, ByteView plaintext, ByteView aad, std::span<uint8_t> out,
                  std::span<uint8_t, kAesGcmTagSize> tag) const;

  // Takes ciphertext ‖ tag. A wrong key, IV, AAD or any changed byte gives
  // kDataLoss "authentication failed" and no plaintext.
  Result<SecretBytes> Open(ByteView iv, ByteView ciphertext_and_tag, ByteView aad) const;
  // Writes plaintext into `out` (ciphertext.size() bytes); on failure `out` is zeroed.
  Status OpenInto(ByteView iv, ByteView ciphertext, ByteView tag, ByteView aad,
                  std::span<uint8_t> out) const;

 private:
  explicit AesGcm(const SecretBytes& key);
  SecretBytes key_;
};

}  // namespace coffer::crypto
