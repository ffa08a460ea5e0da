#include "crypto/aes_gcm.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "crypto/openssl_util.h"

namespace coffer::crypto {
namespace {

using internal::EvpCipherCtxPtr;
using internal::OpenSslError;

// NIST SP 800-38D section 5.2.1.1: at most 2^39 - 256 bits of plaintext per
// invocation, i.e. 2^36 - 32 bytes.
constexpr uint64_t kMaxPlaintextSize = (uint64_t{1} << 36) - 32;
// EVP_*Update take an int length; longer inputs are fed in chunks.
constexpr size_t kMaxChunk = size_t{1} << 30;

Status AuthenticationFailed() { return DataLossError("authentication failed"); }

Status CheckIv(ByteView iv) {
  if (iv.size() != kAesGcmIvSize) {
    return InvalidArgumentError("AES-GCM IV must be " + std::to_string(kAesGcmIvSize) +
                                " bytes, got " + std::to_string(iv.size()));
  }
  return Status::Ok();
}

Status CheckLength(size_t size) {
  if (static_cast<uint64_t>(size) > kMaxPlaintextSize) {
    return InvalidArgumentError("AES-GCM message longer than 2^36 - 32 bytes");
  }
  return Status::Ok();
}

const EVP_CIPHER* FetchAes256Gcm() {
  // Fetched once: EVP_aes_256_gcm() would make every Init do an implicit fetch.
  static EVP_CIPHER* const kCipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return kCipher;
}

// A cipher context keyed with `key` and `iv` for encryption (`enc` = 1) or
// decryption (0). The default IV length of AES-GCM in OpenSSL is 96 bits.
Result<EvpCipherCtxPtr> NewContext(ByteView key, ByteView iv, int enc) {
  const EVP_CIPHER* cipher = FetchAes256Gcm();
  if (cipher == nullptr) return OpenSslError("EVP_CIPHER_fetch AES-256-GCM");
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return OpenSslError("EVP_CIPHER_CTX_new");
  if (EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), iv.data(), enc, nullptr) != 1) {
    return OpenSslError("EVP_CipherInit_ex2");
  }
  return ctx;
}

// Feeds `aad` (out == nullptr) or message bytes through EVP_CipherUpdate.
bool Update(EVP_CIPHER_CTX* ctx, ByteView in, uint8_t* out) {
  while (!in.empty()) {
    const size_t n = std::min(in.size(), kMaxChunk);
    int out_len = 0;
    if (EVP_CipherUpdate(ctx, out, &out_len, in.data(), static_cast<int>(n)) != 1) return false;
    if (out != nullptr) {
      if (static_cast<size_t>(out_len) != n) return false;
      out += n;
    }
    in = in.subspan(n);
  }
  return true;
}

}  // namespace

AesGcm::AesGcm(const SecretBytes& key) : key_(key) {}

AesGcm::~AesGcm() = default;

Result<std::unique_ptr<AesGcm>> AesGcm::Create(const SecretBytes& key) {
  if (key.size() != kAesGcmKeySize) {
    return InvalidArgumentError("AES-256-GCM key must be " + std::to_string(kAesGcmKeySize) +
                                " bytes, got " + std::to_string(key.size()));
  }
  return std::unique_ptr<AesGcm>(new AesGcm(key));
}

Result<Bytes> AesGcm::Seal(ByteView iv, ByteView plaintext, ByteView aad) const {
  Bytes out(plaintext.size() + kAesGcmTagSize);
  std::span<uint8_t> body(out.data(), plaintext.size());
  std::span<uint8_t, kAesGcmTagSize> tag(out.data() + plaintext.size(), kAesGcmTagSize);
  RETURN_IF_ERROR(SealInto(iv, plaintext, aad, body, tag));
  return out;
}

Status AesGcm::SealInto(ByteView iv, ByteView plaintext, ByteView aad, std::span<uint8_t> out,
                        std::span<uint8_t, kAesGcmTagSize> tag) const {
  RETURN_IF_ERROR(CheckIv(iv));
  RETURN_IF_ERROR(CheckLength(plaintext.size()));
  if (out.size() != plaintext.size()) {
    return InvalidArgumentError("AES-GCM output buffer must be as long as the plaintext");
  }
  ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewContext(RevealSecret(key_), iv, /*enc=*/1));
  int final_len = 0;
  if (!Update(ctx.get(), aad, nullptr) || !Update(ctx.get(), plaintext, out.data()) ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + out.size(), &final_len) != 1 || final_len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()),
                          tag.data()) != 1) {
    return OpenSslError("AES-GCM encrypt");
  }
  return Status::Ok();
}

Result<SecretBytes> AesGcm::Open(ByteView iv, ByteView ciphertext_and_tag, ByteView aad) const {
  RETURN_IF_ERROR(CheckIv(iv));
  if (ciphertext_and_tag.size() < kAesGcmTagSize) return AuthenticationFailed();
  const size_t body_size = ciphertext_and_tag.size() - kAesGcmTagSize;
  SecretBytes plaintext(body_size);
  // On failure OpenInto zeroes the buffer, and `plaintext` is wiped on return.
  RETURN_IF_ERROR(OpenInto(iv, ciphertext_and_tag.first(body_size),
                           ciphertext_and_tag.subspan(body_size), aad,
                           RevealSecretMutable(plaintext)));
  return plaintext;
}

Status AesGcm::OpenInto(ByteView iv, ByteView ciphertext, ByteView tag, ByteView aad,
                        std::span<uint8_t> out) const {
  // Plaintext is written to `out` before the tag is checked; every failure
  // path after that must go through `fail` so no unverified byte survives.
  auto fail = [&out](Status status) {
    if (!out.empty()) OPENSSL_cleanse(out.data(), out.size());
    return status;
  };
  if (Status s = CheckIv(iv); !s.ok()) return fail(std::move(s));
  if (Status s = CheckLength(ciphertext.size()); !s.ok()) return fail(std::move(s));
  if (out.size() != ciphertext.size()) {
    return fail(InvalidArgumentError("AES-GCM output buffer must be as long as the ciphertext"));
  }
  if (tag.size() != kAesGcmTagSize) return fail(AuthenticationFailed());

  Result<EvpCipherCtxPtr> ctx = NewContext(RevealSecret(key_), iv, /*enc=*/0);
  if (!ctx.ok()) return fail(ctx.status());
  if (!Update(ctx->get(), aad, nullptr) || !Update(ctx->get(), ciphertext, out.data()) ||
      EVP_CIPHER_CTX_ctrl(ctx->get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()),
                          const_cast<uint8_t*>(tag.data())) != 1) {
    return fail(OpenSslError("AES-GCM decrypt"));
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx->get(), out.data() + out.size(), &final_len) != 1 || final_len != 0) {
    // A tag mismatch is an expected outcome, not an OpenSSL fault; clear the
    // queue in case the provider left something in it.
    ERR_clear_error();
    return fail(AuthenticationFailed());
  }
  return Status::Ok();
}

}  // namespace coffer::crypto
