#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto/openssl_util.h"

namespace coffer::crypto {
namespace {

using internal::DigestName;
using internal::EvpMacCtxPtr;
using internal::OpenSslFatal;

// Fetched once per process: an implicit fetch on every call (EVP_sha256())
// costs a locked lookup in the provider store. Fetched objects are immutable
// and safe to share between threads; they live until exit on purpose.
const EVP_MD* FetchDigest(HashAlgorithm alg) {
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, DigestName(HashAlgorithm::kSha256), nullptr);
  static EVP_MD* const kSha384 = EVP_MD_fetch(nullptr, DigestName(HashAlgorithm::kSha384), nullptr);
  static EVP_MD* const kSha512 = EVP_MD_fetch(nullptr, DigestName(HashAlgorithm::kSha512), nullptr);
  const EVP_MD* md = nullptr;
  switch (alg) {
    case HashAlgorithm::kSha256:
      md = kSha256;
      break;
    case HashAlgorithm::kSha384:
      md = kSha384;
      break;
    case HashAlgorithm::kSha512:
      md = kSha512;
      break;
  }
  if (md == nullptr) OpenSslFatal("EVP_MD_fetch");
  return md;
}

EVP_MAC* FetchHmac() {
  static EVP_MAC* const kHmac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (kHmac == nullptr) OpenSslFatal("EVP_MAC_fetch HMAC");
  return kHmac;
}

}  // namespace

size_t DigestSize(HashAlgorithm alg) {
  switch (alg) {
    case HashAlgorithm::kSha256:
      return 32;
    case HashAlgorithm::kSha384:
      return 48;
    case HashAlgorithm::kSha512:
      return 64;
  }
  return 0;
}

Bytes Digest(HashAlgorithm alg, ByteView data) {
  Bytes out(DigestSize(alg));
  unsigned int out_len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &out_len, FetchDigest(alg), nullptr) != 1 ||
      out_len != out.size()) {
    OpenSslFatal("EVP_Digest");
  }
  return out;
}

Bytes Sha256(ByteView data) { return Digest(HashAlgorithm::kSha256, data); }
Bytes Sha384(ByteView data) { return Digest(HashAlgorithm::kSha384, data); }
Bytes Sha512(ByteView data) { return Digest(HashAlgorithm::kSha512, data); }

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  if (ctx == nullptr ||
      EVP_DigestInit_ex2(ctx, FetchDigest(HashAlgorithm::kSha256), nullptr) != 1) {
    OpenSslFatal("EVP_DigestInit_ex2");
  }
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Hasher::Update(ByteView data) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) != 1) {
    OpenSslFatal("EVP_DigestUpdate");
  }
}

Bytes Sha256Hasher::Finish() {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  Bytes out(DigestSize(HashAlgorithm::kSha256));
  unsigned int out_len = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &out_len) != 1 || out_len != out.size()) {
    OpenSslFatal("EVP_DigestFinal_ex");
  }
  if (EVP_DigestInit_ex2(ctx, nullptr, nullptr) != 1) OpenSslFatal("EVP_DigestInit_ex2");
  return out;
}

Bytes Hmac(HashAlgorithm alg, ByteView key, ByteView data) {
  EvpMacCtxPtr ctx(EVP_MAC_CTX_new(FetchHmac()));
  if (ctx == nullptr) OpenSslFatal("EVP_MAC_CTX_new");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(DigestName(alg)),
                                       0),
      OSSL_PARAM_construct_end(),
  };
  // A null key means "keep the previous key" to EVP_MAC_init; an empty key
  // (legal in HMAC, RFC 2104 section 2) must be a non-null pointer.
  static const uint8_t kEmptyKey = 0;
  const uint8_t* key_data = key.empty() ? &kEmptyKey : key.data();
  Bytes out(DigestSize(alg));
  size_t out_len = 0;
  if (EVP_MAC_init(ctx.get(), key_data, key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1 || out_len != out.size()) {
    OpenSslFatal("HMAC");
  }
  return out;
}

Bytes HmacSha256(ByteView key, ByteView data) { return Hmac(HashAlgorithm::kSha256, key, data); }

}  // namespace coffer::crypto
