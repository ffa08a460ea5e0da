#include "crypto/kdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <string>

#include "crypto/openssl_util.h"

namespace coffer::crypto {
namespace {

using internal::EvpKdfCtxPtr;
using internal::OpenSslError;
using internal::ParamData;

// The most memory one derivation may take: 1 GiB for the 128 r N table plus
// headroom for the rest, as OpenSSL's own default (1025 MiB). Checked here so
// that a refusal is kInvalidArgument, and passed to OpenSSL as its limit.
constexpr uint64_t kScryptMaxMemory = uint64_t{1025} * 1024 * 1024;

}  // namespace

Result<SecretBytes> Scrypt(const SecretBytes& passphrase, ByteView salt, const ScryptParams& params,
                           size_t length) {
  // RFC 7914 section 2: N is a power of two greater than 1; r, p positive.
  if (params.n < 2 || (params.n & (params.n - 1)) != 0) {
    return InvalidArgumentError("scrypt N must be a power of two greater than 1, got " +
                                std::to_string(params.n));
  }
  if (params.r == 0 || params.p == 0) {
    return InvalidArgumentError("scrypt r and p must be positive");
  }
  const uint64_t r64 = params.r;
  const uint64_t p64 = params.p;
  // RFC 7914 section 2: p <= (2^32 - 1) * hLen / MFLen; OpenSSL asks r * p < 2^30.
  if (r64 * p64 >= (uint64_t{1} << 30)) {
    return InvalidArgumentError("scrypt r * p must be below 2^30");
  }
  // RFC 7914 section 2: N < 2^(128 * r / 8).
  if (r64 < 4 && params.n >= (uint64_t{1} << (16 * r64))) {
    return InvalidArgumentError("scrypt N must be below 2^(16 r)");
  }
  // Memory as OpenSSL counts it: B (128 r p bytes) plus V and X (128 r (N + 2)).
  const uint64_t block_memory = 128 * r64 * p64;
  if (block_memory > kScryptMaxMemory ||
      params.n + 2 > (kScryptMaxMemory - block_memory) / (128 * r64)) {
    return InvalidArgumentError("scrypt parameters need more than 1 GiB of memory");
  }
  if (length == 0) return InvalidArgumentError("scrypt output length must be positive");

  static EVP_KDF* const kScrypt = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_SCRYPT, nullptr);
  if (kScrypt == nullptr) return OpenSslError("EVP_KDF_fetch SCRYPT");
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kScrypt));
  if (ctx == nullptr) return OpenSslError("EVP_KDF_CTX_new");

  ByteView pass = RevealSecret(passphrase);
  uint64_t n = params.n;
  uint32_t r = params.r;
  uint32_t p = params.p;
  uint64_t max_memory = kScryptMaxMemory;
  OSSL_PARAM ossl_params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, ParamData(pass), pass.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, ParamData(salt), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &max_memory),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), RevealSecretMutable(out).data(), length, ossl_params) != 1) {
    return OpenSslError("scrypt");
  }
  return out;
}

}  // namespace coffer::crypto
