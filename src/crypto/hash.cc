#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>

#include "crypto/openssl_util.h"

namespace coffer::crypto {
namespace {

using internal::DigestName;
using internal::EvpMdCtxPtr;
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

// HMAC (RFC 2104) over the digest fetched once: H((K ^ opad) || H((K ^ ipad) || data)).
// EVP_MAC would look the digest up by name in the provider store on every call,
// which costs more than the hashing of a short message.
Bytes Hmac(HashAlgorithm alg, ByteView key, ByteView data) {
  const EVP_MD* md = FetchDigest(alg);
  const size_t block = static_cast<size_t>(EVP_MD_get_block_size(md));
  const size_t size = DigestSize(alg);
  uint8_t k[128] = {};  // a block of SHA-512 is the largest
  uint8_t pad[128];
  uint8_t inner[64];
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || block > sizeof(k)) OpenSslFatal("HMAC setup");
  unsigned int n = 0;
  if (key.size() > block) {
    // RFC 2104 section 2: a key longer than the block is hashed first.
    if (EVP_Digest(key.data(), key.size(), k, &n, md, nullptr) != 1) OpenSslFatal("HMAC key");
  } else if (!key.empty()) {
    std::memcpy(k, key.data(), key.size());
  }
  for (size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x36;
  if (EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), pad, block) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), inner, &n) != 1) {
    OpenSslFatal("HMAC inner");
  }
  for (size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x5c;
  Bytes out(size);
  if (EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), pad, block) != 1 ||
      EVP_DigestUpdate(ctx.get(), inner, size) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &n) != 1 || n != size) {
    OpenSslFatal("HMAC outer");
  }
  OPENSSL_cleanse(k, sizeof(k));
  OPENSSL_cleanse(pad, sizeof(pad));
  OPENSSL_cleanse(inner, sizeof(inner));
  return out;
}

Bytes HmacSha256(ByteView key, ByteView data) { return Hmac(HashAlgorithm::kSha256, key, data); }

}  // namespace coffer::crypto
