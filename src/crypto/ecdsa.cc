#include "crypto/ecdsa.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <utility>

#include "crypto/openssl_util.h"

namespace coffer::crypto {
namespace {

using internal::EvpMdCtxPtr;
using internal::OpenSslError;
using internal::OpenSslFatal;

constexpr const char* kSha384Name = "SHA2-384";
constexpr const char* kCurveName = "P-384";

struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct EvpPkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct EcGroupFree {
  void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
};
struct EcPointFree {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};
struct BnClearFree {
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
struct BnCtxFree {
  void operator()(BN_CTX* p) const { BN_CTX_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxFree>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, EcGroupFree>;
using EcPointPtr = std::unique_ptr<EC_POINT, EcPointFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnClearFree>;
using BnCtxPtr = std::unique_ptr<BN_CTX, BnCtxFree>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamFree>;

EVP_PKEY* AsPkey(void* p) { return static_cast<EVP_PKEY*>(p); }
EVP_MD_CTX* AsMdCtx(void* p) { return static_cast<EVP_MD_CTX*>(p); }

Result<EcGroupPtr> NewGroup() {
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_secp384r1));
  if (group == nullptr) return OpenSslError("EC_GROUP_new_by_curve_name(P-384)");
  return group;
}

// SEC 1 section 2.3.3: the compressed encoding of `point`.
Result<Bytes> Compress(const EC_GROUP* group, const EC_POINT* point, BN_CTX* bn_ctx) {
  Bytes out(kP384CompressedPointSize);
  size_t n =
      EC_POINT_point2oct(group, point, POINT_CONVERSION_COMPRESSED, out.data(), out.size(), bn_ctx);
  if (n != out.size()) return OpenSslError("EC_POINT_point2oct");
  return out;
}

// An EVP_PKEY on P-384 from the encoded public point and, for a key pair, the scalar.
Result<EvpPkeyPtr> BuildPkey(ByteView encoded_point, const BIGNUM* scalar) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kCurveName, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, encoded_point.data(),
                                       encoded_point.size()) != 1 ||
      (scalar != nullptr &&
       OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, scalar) != 1)) {
    return OpenSslError("OSSL_PARAM_BLD (EC key)");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (params == nullptr) return OpenSslError("OSSL_PARAM_BLD_to_param");
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return OpenSslError("EVP_PKEY_fromdata_init");
  }
  EVP_PKEY* raw = nullptr;
  int selection = scalar != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) {
    return OpenSslError("EVP_PKEY_fromdata");
  }
  return EvpPkeyPtr(raw);
}

Result<EvpMdCtxPtr> NewDigestContext(EVP_PKEY* pkey, bool sign) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return OpenSslError("EVP_MD_CTX_new");
  int rc =
      sign ? EVP_DigestSignInit_ex(ctx.get(), nullptr, kSha384Name, nullptr, nullptr, pkey, nullptr)
           : EVP_DigestVerifyInit_ex(ctx.get(), nullptr, kSha384Name, nullptr, nullptr, pkey,
                                     nullptr);
  if (rc != 1) return OpenSslError(sign ? "EVP_DigestSignInit_ex" : "EVP_DigestVerifyInit_ex");
  return ctx;
}

}  // namespace

// ---------------------------------------------------------------------------
// EcdsaP384Signer / EcdsaP384Verifier

EcdsaP384Signer::~EcdsaP384Signer() { EVP_MD_CTX_free(AsMdCtx(ctx_)); }

void EcdsaP384Signer::Update(ByteView data) {
  if (finished_ || data.empty()) return;
  // Hashing fails only on a broken OpenSSL; the contract has no error channel here.
  if (EVP_DigestSignUpdate(AsMdCtx(ctx_), data.data(), data.size()) != 1) {
    OpenSslFatal("EVP_DigestSignUpdate");
  }
}

Result<Bytes> EcdsaP384Signer::Finish() {
  if (finished_) return FailedPreconditionError("ECDSA signer already finished");
  finished_ = true;
  size_t len = 0;
  if (EVP_DigestSignFinal(AsMdCtx(ctx_), nullptr, &len) != 1) {
    return OpenSslError("EVP_DigestSignFinal");
  }
  Bytes signature(len);
  if (EVP_DigestSignFinal(AsMdCtx(ctx_), signature.data(), &len) != 1) {
    return OpenSslError("EVP_DigestSignFinal");
  }
  signature.resize(len);
  return signature;
}

EcdsaP384Verifier::~EcdsaP384Verifier() { EVP_MD_CTX_free(AsMdCtx(ctx_)); }

void EcdsaP384Verifier::Update(ByteView data) {
  if (finished_ || data.empty()) return;
  if (EVP_DigestVerifyUpdate(AsMdCtx(ctx_), data.data(), data.size()) != 1) {
    OpenSslFatal("EVP_DigestVerifyUpdate");
  }
}

bool EcdsaP384Verifier::Finish(ByteView der_signature) {
  if (finished_) return false;
  finished_ = true;
  int rc = EVP_DigestVerifyFinal(AsMdCtx(ctx_), der_signature.data(), der_signature.size());
  // A bad or malformed signature leaves errors in the queue; they must not
  // surface in a later, unrelated call.
  ERR_clear_error();
  return rc == 1;
}

// ---------------------------------------------------------------------------
// EcdsaP384PublicKey

Result<std::unique_ptr<EcdsaP384PublicKey>> EcdsaP384PublicKey::FromCompressedPoint(
    ByteView point) {
  if (point.size() != kP384CompressedPointSize || (point[0] != 0x02 && point[0] != 0x03)) {
    return InvalidArgumentError(
        "not a compressed P-384 point: want 49 bytes starting with 02 or 03");
  }
  ASSIGN_OR_RETURN(EcGroupPtr group, NewGroup());
  BnCtxPtr bn_ctx(BN_CTX_new());
  EcPointPtr decoded(EC_POINT_new(group.get()));
  if (bn_ctx == nullptr || decoded == nullptr) return OpenSslError("EC_POINT_new");
  if (EC_POINT_oct2point(group.get(), decoded.get(), point.data(), point.size(), bn_ctx.get()) !=
      1) {
    ERR_clear_error();
    return InvalidArgumentError("not a compressed P-384 point: x is not on the curve");
  }
  // Re-encoding must give the input back (x < p): one point, one encoding.
  ASSIGN_OR_RETURN(Bytes canonical, Compress(group.get(), decoded.get(), bn_ctx.get()));
  if (!std::equal(canonical.begin(), canonical.end(), point.begin(), point.end())) {
    return InvalidArgumentError("not a compressed P-384 point: non-canonical encoding");
  }
  Result<EvpPkeyPtr> pkey = BuildPkey(point, nullptr);
  if (!pkey.ok()) {
    ERR_clear_error();
    return InvalidArgumentError("not a compressed P-384 point: " + pkey.status().message());
  }
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey->get(), nullptr));
  if (check == nullptr) return OpenSslError("EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return InvalidArgumentError("not a valid P-384 public key (EVP_PKEY_public_check failed)");
  }
  return std::unique_ptr<EcdsaP384PublicKey>(
      new EcdsaP384PublicKey(pkey->release(), std::move(canonical)));
}

EcdsaP384PublicKey::~EcdsaP384PublicKey() { EVP_PKEY_free(AsPkey(pkey_)); }

Result<std::unique_ptr<EcdsaP384Verifier>> EcdsaP384PublicKey::NewVerifier() const {
  ASSIGN_OR_RETURN(EvpMdCtxPtr ctx, NewDigestContext(AsPkey(pkey_), /*sign=*/false));
  return std::unique_ptr<EcdsaP384Verifier>(new EcdsaP384Verifier(ctx.release()));
}

bool EcdsaP384PublicKey::Verify(ByteView message, ByteView der_signature) const {
  Result<std::unique_ptr<EcdsaP384Verifier>> verifier = NewVerifier();
  if (!verifier.ok()) return false;
  (*verifier)->Update(message);
  return (*verifier)->Finish(der_signature);
}

// ---------------------------------------------------------------------------
// EcdsaP384PrivateKey

Result<std::unique_ptr<EcdsaP384PrivateKey>> EcdsaP384PrivateKey::FromScalar(
    const SecretBytes& scalar) {
  if (scalar.size() != kP384ScalarSize) {
    return InvalidArgumentError("P-384 private scalar must be 48 bytes");
  }
  ASSIGN_OR_RETURN(EcGroupPtr group, NewGroup());
  ByteView bytes = RevealSecret(scalar);
  BnPtr d(BN_secure_new());
  if (d == nullptr) return OpenSslError("BN_secure_new");
  if (BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), d.get()) == nullptr) {
    return OpenSslError("BN_bin2bn");
  }
  const BIGNUM* order = EC_GROUP_get0_order(group.get());
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), order) >= 0) {
    return InvalidArgumentError("P-384 private scalar out of range [1, n-1]");
  }
  BnCtxPtr bn_ctx(BN_CTX_new());
  EcPointPtr q(EC_POINT_new(group.get()));
  if (bn_ctx == nullptr || q == nullptr) return OpenSslError("EC_POINT_new");
  if (EC_POINT_mul(group.get(), q.get(), d.get(), nullptr, nullptr, bn_ctx.get()) != 1) {
    return OpenSslError("EC_POINT_mul");
  }
  ASSIGN_OR_RETURN(Bytes compressed, Compress(group.get(), q.get(), bn_ctx.get()));
  ASSIGN_OR_RETURN(EvpPkeyPtr pkey, BuildPkey(compressed, d.get()));
  ASSIGN_OR_RETURN(std::unique_ptr<EcdsaP384PublicKey> public_key,
                   EcdsaP384PublicKey::FromCompressedPoint(compressed));
  return std::unique_ptr<EcdsaP384PrivateKey>(
      new EcdsaP384PrivateKey(pkey.release(), std::move(public_key)));
}

Result<std::unique_ptr<EcdsaP384PrivateKey>> EcdsaP384PrivateKey::Generate(Random& random) {
  // FIPS 186-4 B.4.2 (testing candidates): draw 384 bits, keep them if 1 <= d < n.
  // n is within 2^-190 of 2^384, so a retry is practically never needed.
  for (int attempt = 0; attempt < 64; ++attempt) {
    SecretBytes scalar(kP384ScalarSize);
    random.Fill(RevealSecretMutable(scalar));
    Result<std::unique_ptr<EcdsaP384PrivateKey>> key = FromScalar(scalar);
    if (key.ok() || key.status().code() != StatusCode::kInvalidArgument) return key;
  }
  return InternalError("P-384 key generation: the random source gave no scalar in range");
}

EcdsaP384PrivateKey::~EcdsaP384PrivateKey() { EVP_PKEY_free(AsPkey(pkey_)); }

Result<std::unique_ptr<EcdsaP384Signer>> EcdsaP384PrivateKey::NewSigner() const {
  ASSIGN_OR_RETURN(EvpMdCtxPtr ctx, NewDigestContext(AsPkey(pkey_), /*sign=*/true));
  return std::unique_ptr<EcdsaP384Signer>(new EcdsaP384Signer(ctx.release()));
}

Result<Bytes> EcdsaP384PrivateKey::Sign(ByteView message) const {
  ASSIGN_OR_RETURN(std::unique_ptr<EcdsaP384Signer> signer, NewSigner());
  signer->Update(message);
  return signer->Finish();
}

}  // namespace coffer::crypto
