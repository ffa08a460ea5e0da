#include "crypto/hkdf.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "crypto/hash.h"

namespace coffer::crypto {
namespace {

// HKDF (RFC 5869) over crypto::Hmac. EVP_KDF would look the digest up by name on
// every call; a KMS blob derives a key per message, so this is on the hot path.
SecretBytes Extract(HashAlgorithm alg, ByteView ikm, ByteView salt) {
  // Section 2.2: without a salt, HashLen zero bytes.
  Bytes zeros(DigestSize(alg), 0);
  Bytes prk = Hmac(alg, salt.empty() ? ByteView(zeros) : salt, ikm);
  SecretBytes out{ByteView(prk)};
  OPENSSL_cleanse(prk.data(), prk.size());
  return out;
}

SecretBytes Expand(HashAlgorithm alg, ByteView prk, ByteView info, size_t length) {
  // Section 2.3: T(i) = HMAC(PRK, T(i-1) | info | i), OKM = first L bytes of T(1) | T(2) | ….
  SecretBytes out(length);
  std::span<uint8_t> okm = RevealSecretMutable(out);
  Bytes block;  // T(i-1) | info | i
  Bytes t;
  size_t done = 0;
  for (uint8_t i = 1; done < length; ++i) {
    block.assign(t.begin(), t.end());
    block.insert(block.end(), info.begin(), info.end());
    block.push_back(i);
    OPENSSL_cleanse(t.data(), t.size());
    t = Hmac(alg, prk, block);
    size_t take = std::min(t.size(), length - done);
    std::memcpy(okm.data() + done, t.data(), take);
    done += take;
  }
  OPENSSL_cleanse(t.data(), t.size());
  OPENSSL_cleanse(block.data(), block.size());
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
  SecretBytes prk = Extract(alg, RevealSecret(ikm), salt);
  return Expand(alg, RevealSecret(prk), info, length);
}

Result<SecretBytes> HkdfExtract(HashAlgorithm alg, const SecretBytes& ikm, ByteView salt) {
  return Extract(alg, RevealSecret(ikm), salt);
}

Result<SecretBytes> HkdfExpand(HashAlgorithm alg, const SecretBytes& prk, ByteView info,
                               size_t length) {
  // RFC 5869 section 2.3: PRK is "a pseudorandom key of at least HashLen octets".
  if (prk.size() < DigestSize(alg)) {
    return InvalidArgumentError("HKDF PRK must be at least " + std::to_string(DigestSize(alg)) +
                                " bytes, got " + std::to_string(prk.size()));
  }
  RETURN_IF_ERROR(CheckOutputLength(alg, length));
  return Expand(alg, RevealSecret(prk), info, length);
}

}  // namespace coffer::crypto
