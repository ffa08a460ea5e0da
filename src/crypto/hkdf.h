#pragma once
// HKDF (RFC 5869) with SHA-256 or SHA-512 over OpenSSL 3 EVP_KDF.
#include "common/bytes.h"
#include "common/status.h"
#include "crypto/hash.h"
#include "crypto/secret_bytes.h"

namespace coffer::crypto {

// Extract-then-expand. Fails with kInvalidArgument if `length` is 0 or
// > 255 * digest size (RFC 5869 section 2.3). An empty salt means HashLen zero
// bytes (section 2.2).
Result<SecretBytes> Hkdf(HashAlgorithm alg, const SecretBytes& ikm, ByteView salt, ByteView info,
                         size_t length);
// The two halves, for formats that reuse one PRK (the AWS Encryption SDK).
// HkdfExtract returns a PRK of digest-size bytes; HkdfExpand fails with
// kInvalidArgument if `prk` is shorter than the digest or `length` is out of
// range as for Hkdf.
Result<SecretBytes> HkdfExtract(HashAlgorithm alg, const SecretBytes& ikm, ByteView salt);
Result<SecretBytes> HkdfExpand(HashAlgorithm alg, const SecretBytes& prk, ByteView info,
                               size_t length);

}  // namespace coffer::crypto
