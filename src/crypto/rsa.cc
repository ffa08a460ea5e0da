#include "crypto/rsa.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/openssl_util.h"

namespace coffer::crypto {
namespace {

using internal::DrainOpenSslErrors;
using internal::EvpMdCtxPtr;
using internal::OpenSslError;
using internal::OpenSslFatal;

struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct EvpPkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxFree>;

constexpr const char* kSha256Name = "SHA2-256";

EVP_PKEY* AsPkey(void* p) { return static_cast<EVP_PKEY*>(p); }

Status CheckBits(int bits) {
  if (bits < kRsaMinBits || bits > kRsaMaxBits) {
    return InvalidArgumentError("RSA key of " + std::to_string(bits) + " bits: must be " +
                                std::to_string(kRsaMinBits) + " to " + std::to_string(kRsaMaxBits));
  }
  return Status::Ok();
}

// The DER PKCS#1 RSAPublicKey of `pkey`.
Result<Bytes> PublicDer(EVP_PKEY* pkey) {
  int len = i2d_PublicKey(pkey, nullptr);
  if (len <= 0) return OpenSslError("i2d_PublicKey");
  Bytes der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  if (i2d_PublicKey(pkey, &p) != len) return OpenSslError("i2d_PublicKey");
  return der;
}

}  // namespace

std::string RsaPublicKeyFingerprint(ByteView pkcs1_der) {
  // Fetched once; immutable and shared, it lives until exit (as in hash.cc).
  static EVP_MD* const kMd5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  if (kMd5 == nullptr) OpenSslFatal("EVP_MD_fetch(MD5)");
  uint8_t out[16];
  unsigned int out_len = 0;
  if (EVP_Digest(pkcs1_der.data(), pkcs1_der.size(), out, &out_len, kMd5, nullptr) != 1 ||
      out_len != sizeof out) {
    OpenSslFatal("EVP_Digest(MD5)");
  }
  return HexEncode(ByteView(out, sizeof out));
}

// ---------------------------------------------------------------------------
// RsaPublicKey

Result<std::unique_ptr<RsaPublicKey>> RsaPublicKey::FromDer(ByteView pkcs1_der) {
  const unsigned char* p = pkcs1_der.data();
  EvpPkeyPtr pkey(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(pkcs1_der.size())));
  if (pkey == nullptr) {
    return InvalidArgumentError(DrainOpenSslErrors("not a DER PKCS#1 RSAPublicKey"));
  }
  if (p != pkcs1_der.data() + pkcs1_der.size()) {
    return InvalidArgumentError("not a DER PKCS#1 RSAPublicKey: trailing bytes");
  }
  RETURN_IF_ERROR(CheckBits(EVP_PKEY_get_bits(pkey.get())));
  // Keep the DER as it was given: its fingerprint must match the one the signer
  // computed over the same bytes.
  Bytes der(pkcs1_der.begin(), pkcs1_der.end());
  return std::unique_ptr<RsaPublicKey>(new RsaPublicKey(pkey.release(), std::move(der)));
}

RsaPublicKey::~RsaPublicKey() { EVP_PKEY_free(AsPkey(pkey_)); }

int RsaPublicKey::bits() const { return EVP_PKEY_get_bits(AsPkey(pkey_)); }

std::string RsaPublicKey::Fingerprint() const { return RsaPublicKeyFingerprint(der_); }

bool RsaPublicKey::VerifySha256(ByteView message, ByteView signature) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) OpenSslFatal("EVP_MD_CTX_new");
  if (EVP_DigestVerifyInit_ex(ctx.get(), nullptr, kSha256Name, nullptr, nullptr, AsPkey(pkey_),
                              nullptr) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(EVP_MD_CTX_get_pkey_ctx(ctx.get()), RSA_PKCS1_PADDING) != 1) {
    OpenSslFatal("EVP_DigestVerifyInit_ex");
  }
  int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                            message.size());
  // A bad signature leaves errors in the queue; they must not surface later.
  ERR_clear_error();
  return rc == 1;
}

// ---------------------------------------------------------------------------
// RsaPrivateKey

Result<std::unique_ptr<RsaPrivateKey>> RsaPrivateKey::Generate(int bits) {
  RETURN_IF_ERROR(CheckBits(bits));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) != 1) {
    return OpenSslError("RSA key generation setup");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) != 1) return OpenSslError("EVP_PKEY_generate");
  EvpPkeyPtr pkey(raw);
  ASSIGN_OR_RETURN(Bytes der, PublicDer(pkey.get()));
  ASSIGN_OR_RETURN(std::unique_ptr<RsaPublicKey> public_key, RsaPublicKey::FromDer(der));
  return std::unique_ptr<RsaPrivateKey>(new RsaPrivateKey(pkey.release(), std::move(public_key)));
}

Result<std::unique_ptr<RsaPrivateKey>> RsaPrivateKey::FromDer(const SecretBytes& pkcs1_der) {
  ByteView der = RevealSecret(pkcs1_der);
  const unsigned char* p = der.data();
  EvpPkeyPtr pkey(d2i_PrivateKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(der.size())));
  if (pkey == nullptr) {
    // The reason may quote the input; say only what failed.
    ERR_clear_error();
    return InvalidArgumentError("not a DER PKCS#1 RSAPrivateKey");
  }
  if (p != der.data() + der.size()) {
    return InvalidArgumentError("not a DER PKCS#1 RSAPrivateKey: trailing bytes");
  }
  RETURN_IF_ERROR(CheckBits(EVP_PKEY_get_bits(pkey.get())));
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (check == nullptr) return OpenSslError("EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_check(check.get()) != 1) {
    ERR_clear_error();
    return InvalidArgumentError("RSA private key is inconsistent (EVP_PKEY_check failed)");
  }
  ASSIGN_OR_RETURN(Bytes public_der, PublicDer(pkey.get()));
  ASSIGN_OR_RETURN(std::unique_ptr<RsaPublicKey> public_key, RsaPublicKey::FromDer(public_der));
  return std::unique_ptr<RsaPrivateKey>(new RsaPrivateKey(pkey.release(), std::move(public_key)));
}

RsaPrivateKey::~RsaPrivateKey() { EVP_PKEY_free(AsPkey(pkey_)); }

Result<SecretBytes> RsaPrivateKey::PrivateKeyDer() const {
  int len = i2d_PrivateKey(AsPkey(pkey_), nullptr);
  if (len <= 0) return OpenSslError("i2d_PrivateKey");
  SecretBytes der(static_cast<size_t>(len));
  unsigned char* p = RevealSecretMutable(der).data();
  if (i2d_PrivateKey(AsPkey(pkey_), &p) != len) return OpenSslError("i2d_PrivateKey");
  return der;
}

Result<Bytes> RsaPrivateKey::SignSha256(ByteView message) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) OpenSslFatal("EVP_MD_CTX_new");
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, kSha256Name, nullptr, nullptr, AsPkey(pkey_),
                            nullptr) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(EVP_MD_CTX_get_pkey_ctx(ctx.get()), RSA_PKCS1_PADDING) != 1) {
    return OpenSslError("EVP_DigestSignInit_ex");
  }
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) != 1) {
    return OpenSslError("EVP_DigestSign");
  }
  Bytes signature(len);
  if (EVP_DigestSign(ctx.get(), signature.data(), &len, message.data(), message.size()) != 1) {
    return OpenSslError("EVP_DigestSign");
  }
  signature.resize(len);
  return signature;
}

}  // namespace coffer::crypto
