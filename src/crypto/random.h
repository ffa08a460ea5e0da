#pragma once
// The cryptographic random source of coffer: OpenSSL's DRBG (RAND_bytes),
// seeded by the kernel. Key material and nonces come from here in a server;
// tests pass a SeededRandom instead.
#include "common/random.h"
#include "crypto/secret_bytes.h"

namespace coffer::crypto {

class OpenSslRandom final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override;  // aborts if the DRBG fails
};

// `size` random bytes from `random`, as a secret.
SecretBytes RandomSecret(Random& random, size_t size);

}  // namespace coffer::crypto
