#pragma once
// ECDSA on NIST P-384 with SHA-384 (the signature of the AWS Encryption SDK's
// signing suites, FIPS 186-4), over OpenSSL 3 EVP: key generation, public keys
// as compressed points (SEC 1 section 2.3.3), DER signatures (SEC 1 / RFC 3279
// Ecdsa-Sig-Value), and signers and verifiers fed incrementally, for messages
// that are streamed and never held whole.
//
// Keys are immutable after creation and safe for concurrent use; a signer or a
// verifier is one stream and is used by one thread at a time. The private scalar
// leaves an EcdsaP384PrivateKey only as a SecretBytes.
#include <memory>

#include "common/bytes.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace coffer::crypto {

// 0x02 or 0x03 (the parity of y) followed by x, 48 bytes big-endian.
inline constexpr size_t kP384CompressedPointSize = 49;
// The private scalar, big-endian.
inline constexpr size_t kP384ScalarSize = 48;
// A DER Ecdsa-Sig-Value with two 384-bit integers is at most 104 bytes.
inline constexpr size_t kP384MaxSignatureSize = 104;

// Accumulates a message and signs its SHA-384 digest.
class EcdsaP384Signer {
 public:
  ~EcdsaP384Signer();
  EcdsaP384Signer(const EcdsaP384Signer&) = delete;
  EcdsaP384Signer& operator=(const EcdsaP384Signer&) = delete;

  void Update(ByteView data);
  // The DER signature of everything passed to Update. The signer is spent
  // afterwards: a second Finish (or Update) fails.
  Result<Bytes> Finish();

 private:
  friend class EcdsaP384PrivateKey;
  explicit EcdsaP384Signer(void* ctx) : ctx_(ctx) {}
  void* ctx_;  // EVP_MD_CTX
  bool finished_ = false;
};

// Accumulates a message and verifies a signature of its SHA-384 digest.
class EcdsaP384Verifier {
 public:
  ~EcdsaP384Verifier();
  EcdsaP384Verifier(const EcdsaP384Verifier&) = delete;
  EcdsaP384Verifier& operator=(const EcdsaP384Verifier&) = delete;

  void Update(ByteView data);
  // True when `der_signature` is a valid signature of everything passed to
  // Update. A malformed signature is simply false. The verifier is spent
  // afterwards (a second Finish is false).
  bool Finish(ByteView der_signature);

 private:
  friend class EcdsaP384PublicKey;
  explicit EcdsaP384Verifier(void* ctx) : ctx_(ctx) {}
  void* ctx_;  // EVP_MD_CTX
  bool finished_ = false;
};

class EcdsaP384PublicKey {
 public:
  // From a compressed point. kInvalidArgument unless it is 49 bytes, starts
  // with 02 or 03, and x is the canonical coordinate of a point on the curve.
  static Result<std::unique_ptr<EcdsaP384PublicKey>> FromCompressedPoint(ByteView point);
  ~EcdsaP384PublicKey();
  EcdsaP384PublicKey(const EcdsaP384PublicKey&) = delete;
  EcdsaP384PublicKey& operator=(const EcdsaP384PublicKey&) = delete;

  // The 49-byte compressed point.
  const Bytes& compressed_point() const { return compressed_; }

  Result<std::unique_ptr<EcdsaP384Verifier>> NewVerifier() const;
  // One-shot: true when `der_signature` is a valid signature of `message`.
  bool Verify(ByteView message, ByteView der_signature) const;

 private:
  friend class EcdsaP384PrivateKey;
  EcdsaP384PublicKey(void* pkey, Bytes compressed)
      : pkey_(pkey), compressed_(std::move(compressed)) {}
  void* pkey_;  // EVP_PKEY
  Bytes compressed_;
};

class EcdsaP384PrivateKey {
 public:
  // A new key pair whose scalar is drawn from `random` (rejection sampling
  // into [1, n-1]); a SeededRandom gives the same key every run.
  static Result<std::unique_ptr<EcdsaP384PrivateKey>> Generate(Random& random);
  // From a 48-byte big-endian scalar. kInvalidArgument unless 1 <= d < n.
  static Result<std::unique_ptr<EcdsaP384PrivateKey>> FromScalar(const SecretBytes& scalar);
  ~EcdsaP384PrivateKey();
  EcdsaP384PrivateKey(const EcdsaP384PrivateKey&) = delete;
  EcdsaP384PrivateKey& operator=(const EcdsaP384PrivateKey&) = delete;

  const EcdsaP384PublicKey& public_key() const { return *public_key_; }

  // The signer holds its own reference to the key; it may outlive this object.
  Result<std::unique_ptr<EcdsaP384Signer>> NewSigner() const;
  // One-shot: the DER signature of `message` (randomized: k from OpenSSL's DRBG).
  Result<Bytes> Sign(ByteView message) const;

 private:
  EcdsaP384PrivateKey(void* pkey, std::unique_ptr<EcdsaP384PublicKey> public_key)
      : pkey_(pkey), public_key_(std::move(public_key)) {}
  void* pkey_;  // EVP_PKEY
  std::unique_ptr<EcdsaP384PublicKey> public_key_;
};

}  // namespace coffer::crypto
