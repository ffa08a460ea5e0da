#include "crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <string>

#include "crypto/openssl_util.h"

namespace coffer::crypto {
namespace {

using internal::DigestName;
using internal::EvpKdfCtxPtr;
using internal::OpenSslError;
using internal::ParamData;

// Runs OpenSSL's HKDF in `mode` (EVP_KDF_HKDF_MODE_*). `salt` and `info` are
// left out when empty: RFC 5869 section 2.2 treats an absent salt as HashLen
// zero bytes, which is what OpenSSL does without one.
Result<SecretBytes> RunHkdf(int mode, HashAlgorithm alg, ByteView key, ByteView salt, ByteView info,
                            size_t length) {
  static EVP_KDF* const kHkdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr);
  if (kHkdf == nullptr) return OpenSslError("EVP_KDF_fetch HKDF");
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kHkdf));
  if (ctx == nullptr) return OpenSslError("EVP_KDF_CTX_new");

  OSSL_PARAM params[6];
  OSSL_PARAM* p = params;
  *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
  *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(DigestName(alg)),
                                          0);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ParamData(key), key.size());
  if (!salt.empty()) {
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, ParamData(salt), salt.size());
  }
  if (!info.empty()) {
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, ParamData(info), info.size());
  }
  *p = OSSL_PARAM_construct_end();

  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), RevealSecretMutable(out).data(), length, params) != 1) {
    return OpenSslError("HKDF");
  }
  return out;
}

Status CheckOutputLength(HashAlgorithm alg, size_t length) {
  // RFC 5869 section 2.3: L <= 255 * HashLen.
  if (length == 0 || length > 255 * DigestSize(alg)) {
    return InvalidArgumentError("HKDF output length must be in [1, 255 * " +
                                std::to_string(DigestSize(alg)) + "], got " +
                                std::to_string(length));
  }
  return Status::Ok();
}

}  // namespace

Result<SecretBytes> Hkdf(HashAlgorithm alg, const SecretBytes& ikm, ByteView salt, ByteView info,
                         size_t length) {
  RETURN_IF_ERROR(CheckOutputLength(alg, length));
  return RunHkdf(EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND, alg, RevealSecret(ikm), salt, info, length);
}

Result<SecretBytes> HkdfExtract(HashAlgorithm alg, const SecretBytes& ikm, ByteView salt) {
  return RunHkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, alg, RevealSecret(ikm), salt, {}, DigestSize(alg));
}

Result<SecretBytes> HkdfExpand(HashAlgorithm alg, const SecretBytes& prk, ByteView info,
                               size_t length) {
  // RFC 5869 section 2.3: PRK is "a pseudorandom key of at least HashLen octets".
  if (prk.size() < DigestSize(alg)) {
    return InvalidArgumentError("HKDF PRK must be at least " + std::to_string(DigestSize(alg)) +
                                " bytes, got " + std::to_string(prk.size()));
  }
  RETURN_IF_ERROR(CheckOutputLength(alg, length));
  return RunHkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, alg, RevealSecret(prk), {}, info, length);
}

}  // namespace coffer::crypto
