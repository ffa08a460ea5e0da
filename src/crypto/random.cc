#include "crypto/random.h"

#include <openssl/rand.h>

#include <algorithm>
#include <climits>

#include "crypto/openssl_util.h"

namespace coffer::crypto {

void OpenSslRandom::Fill(std::span<uint8_t> out) {
  // RAND_bytes takes an int length.
  constexpr size_t kMaxChunk = INT_MAX;
  while (!out.empty()) {
    const size_t n = std::min(out.size(), kMaxChunk);
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) internal::OpenSslFatal("RAND_bytes");
    out = out.subspan(n);
  }
}

SecretBytes RandomSecret(Random& random, size_t size) {
  SecretBytes secret(size);
  random.Fill(RevealSecretMutable(secret));
  return secret;
}

}  // namespace coffer::crypto
