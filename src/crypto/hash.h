#pragma once
// SHA-2 digests and HMAC-SHA256 over OpenSSL 3 EVP.
#include <array>

#include "common/bytes.h"
#include "crypto/secret_bytes.h"

namespace coffer::crypto {

enum class HashAlgorithm { kSha256, kSha384, kSha512 };
size_t DigestSize(HashAlgorithm alg);

Bytes Sha256(ByteView data);
Bytes Sha384(ByteView data);
Bytes Sha512(ByteView data);
Bytes Digest(HashAlgorithm alg, ByteView data);

// Incremental SHA-256 (for streams and the audit chain).
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(ByteView data);
  Bytes Finish();  // the hasher is reset afterwards

 private:
  void* ctx_;  // EVP_MD_CTX
};

// HMAC with SHA-256. The key is a byte string because SigV4 chains HMACs whose
// keys are previous outputs; callers holding a SecretBytes reveal it explicitly.
Bytes HmacSha256(ByteView key, ByteView data);
Bytes Hmac(HashAlgorithm alg, ByteView key, ByteView data);

}  // namespace coffer::crypto
