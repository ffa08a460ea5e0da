#pragma once
// Password-based key derivation with scrypt (RFC 7914), memory-hard.
#include <cstdint>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace coffer::crypto {

struct ScryptParams {
  uint64_t n = 1 << 17;  // CPU/memory cost: 128 MiB with r = 8
  uint32_t r = 8;
  uint32_t p = 1;
};

// Fails with kInvalidArgument on parameters RFC 7914 or OpenSSL refuse (N not
// a power of two above 1, r or p zero, r * p >= 2^30, memory over ~1 GiB) and
// on a zero `length`.
Result<SecretBytes> Scrypt(const SecretBytes& passphrase, ByteView salt, const ScryptParams& params,
                           size_t length);

}  // namespace coffer::crypto
