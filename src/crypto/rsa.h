#pragma once
// RSA signatures for the audit digests (docs/formats/audit-digest.md): key
// generation, RSASSA-PKCS1-v1_5 with SHA-256 ("SHA256withRSA", deterministic),
// keys in PKCS#1 DER, and CloudTrail's public key fingerprint. Over OpenSSL 3 EVP.
//
// The private key leaves an RsaPrivateKey only as a SecretBytes (PrivateKeyDer),
// to be sealed; objects are immutable after creation and safe for concurrent use.
#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace coffer::crypto {

inline constexpr int kRsaDefaultBits = 2048;
// Keys shorter than this are refused, generated or imported.
inline constexpr int kRsaMinBits = 2048;
inline constexpr int kRsaMaxBits = 8192;

// The public half: verifies SHA256withRSA signatures.
class RsaPublicKey {
 public:
  // From a DER PKCS#1 RSAPublicKey (SEQUENCE { modulus, publicExponent }), what
  // CloudTrail's ListPublicKeys returns in Value. kInvalidArgument for anything
  // else (trailing bytes included) or a key shorter than kRsaMinBits.
  static Result<std::unique_ptr<RsaPublicKey>> FromDer(ByteView pkcs1_der);
  ~RsaPublicKey();
  RsaPublicKey(const RsaPublicKey&) = delete;
  RsaPublicKey& operator=(const RsaPublicKey&) = delete;

  // True when `signature` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of
  // `message` under this key. Any malformed signature is simply false.
  bool VerifySha256(ByteView message, ByteView signature) const;

  // The DER PKCS#1 RSAPublicKey.
  const Bytes& der() const { return der_; }
  // RsaPublicKeyFingerprint(der()).
  std::string Fingerprint() const;
  int bits() const;

 private:
  RsaPublicKey(void* pkey, Bytes der) : pkey_(pkey), der_(std::move(der)) {}
  void* pkey_;  // EVP_PKEY
  Bytes der_;
};

// The key pair: signs.
class RsaPrivateKey {
 public:
  // A new key pair from OpenSSL's DRBG. kInvalidArgument unless
  // kRsaMinBits <= bits <= kRsaMaxBits.
  static Result<std::unique_ptr<RsaPrivateKey>> Generate(int bits = kRsaDefaultBits);
  // From a DER PKCS#1 RSAPrivateKey, as PrivateKeyDer() writes it. The key is
  // checked (n = p·q, d·e ≡ 1, …). kInvalidArgument when it is not such a key or
  // is shorter than kRsaMinBits.
  static Result<std::unique_ptr<RsaPrivateKey>> FromDer(const SecretBytes& pkcs1_der);
  ~RsaPrivateKey();
  RsaPrivateKey(const RsaPrivateKey&) = delete;
  RsaPrivateKey& operator=(const RsaPrivateKey&) = delete;

  // The DER PKCS#1 RSAPrivateKey (seal it before storing it).
  Result<SecretBytes> PrivateKeyDer() const;
  // The public half (its DER is PKCS#1 RSAPublicKey).
  const RsaPublicKey& public_key() const { return *public_key_; }

  // The RSASSA-PKCS1-v1_5 SHA-256 signature of `message` (bits()/8 bytes).
  Result<Bytes> SignSha256(ByteView message) const;
  int bits() const { return public_key_->bits(); }

 private:
  RsaPrivateKey(void* pkey, std::unique_ptr<RsaPublicKey> public_key)
      : pkey_(pkey), public_key_(std::move(public_key)) {}
  void* pkey_;  // EVP_PKEY
  std::unique_ptr<RsaPublicKey> public_key_;
};

// CloudTrail's fingerprint of a public key: the lower-case hex MD5 of its DER
// PKCS#1 RSAPublicKey (32 characters). It names a key; it carries no security.
std::string RsaPublicKeyFingerprint(ByteView pkcs1_der);

}  // namespace coffer::crypto
