#pragma once
// Internal to src/crypto: helpers shared by the .cc files that call OpenSSL.
// Never include this from a public header; OpenSSL types stay in this folder.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/hash.h"

namespace coffer::crypto::internal {

struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EvpCipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct EvpMacCtxFree {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};
struct EvpKdfCtxFree {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, EvpMacCtxFree>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, EvpKdfCtxFree>;

// Drains this thread's OpenSSL error queue into "what: reason". Every failure
// path calls it, so a stale error never surfaces in a later, unrelated call.
inline std::string DrainOpenSslErrors(std::string_view what) {
  std::string out(what);
  unsigned long first = ERR_get_error();
  if (first != 0) {
    char buf[256];
    ERR_error_string_n(first, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

inline Status OpenSslError(std::string_view what) {
  return InternalError(DrainOpenSslErrors(what));
}

// For calls whose contract has no error channel (digests, HMAC, the DRBG):
// they fail only on allocation failure or a broken OpenSSL installation.
[[noreturn]] inline void OpenSslFatal(std::string_view what) {
  std::string message = DrainOpenSslErrors(what);
  std::fprintf(stderr, "coffer: fatal OpenSSL failure: %s\n", message.c_str());
  std::abort();
}

// OpenSSL's name for a digest, as EVP_MD_fetch and the KDF/MAC "digest"
// parameter take it.
inline const char* DigestName(HashAlgorithm alg) {
  switch (alg) {
    case HashAlgorithm::kSha256:
      return "SHA2-256";
    case HashAlgorithm::kSha384:
      return "SHA2-384";
    case HashAlgorithm::kSha512:
      return "SHA2-512";
  }
  return "SHA2-256";
}

// OSSL_PARAM octet strings with a null pointer are treated as absent by some
// providers; an empty input must still be a present, empty value.
inline void* ParamData(ByteView data) {
  static uint8_t empty = 0;
  return data.empty() ? &empty : const_cast<uint8_t*>(data.data());
}

}  // namespace coffer::crypto::internal
