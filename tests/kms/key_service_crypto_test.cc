// KeyService: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(+WithoutPlaintext),
// GenerateRandom, KeyArnOfCiphertext, and the ciphertext blob as
// docs/formats/ciphertext-blob.md specifies it: every flipped byte, every
// truncation, a wrong key, a wrong encryption context.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/aes_gcm.h"
#include "crypto/hash.h"
#include "crypto/hkdf.h"
#include "kms/ciphertext_blob.h"
#include "kms/key_records.h"
#include "kms/key_service.h"
#include "kms_fixture.h"

namespace coffer::kms {
namespace {

using ::coffer::kms::testing::BlobMaterialVersion;
using ::coffer::kms::testing::IsError;
using ::coffer::kms::testing::IsOk;
using ::coffer::kms::testing::KmsTest;
using ::coffer::kms::testing::Reveal;
using ::coffer::kms::testing::RewriteBlobHeader;
using ::coffer::kms::testing::Secret;

constexpr char kValidation[] = "ValidationException";
constexpr char kInvalidCiphertext[] = "InvalidCiphertextException";
constexpr char kIncorrectKey[] = "IncorrectKeyException";
constexpr char kIncorrectKeyMessage[] =
    "The key ID in the request does not identify a CMK that can perform this operation.";
constexpr char kDryRunMessage[] = "The request would have succeeded, but the DryRun option is set.";
constexpr char kCiphertextKeyUnknown[] =
    "The ciphertext refers to a customer master key that does not exist, does not exist in this "
    "region, or you are not allowed to access.";

std::string Validation1(std::string_view rest) {
  return "1 validation error detected: " + std::string(rest);
}

std::string AlgorithmEnumMessage(std::string_view field, std::string_view value) {
  return Validation1("Value '" + std::string(value) + "' at '" + std::string(field) +
                     "' failed to satisfy constraint: Member must satisfy enum value set: "
                     "[SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]");
}

std::string UnsupportedAlgorithmMessage(std::string_view alg) {
  return "The encryption algorithm " + std::string(alg) +
         " is not supported for this key's key spec (SYMMETRIC_DEFAULT).";
}

class CryptoTest : public KmsTest {
 protected:
  void SetUp() override {
    KmsTest::SetUp();
    if (HasFatalFailure()) return;
    key_ = NewKey();
    other_ = NewKey();
    ASSERT_OK(kms().CreateAlias("alias/crypto", key_));
  }

  // Bytes that are not text: every value, zeros included.
  Bytes PlaintextBytes(size_t n) {
    Bytes b(n);
    random_.Fill(b);
    if (n > 0) b[0] = 0;
    return b;
  }

  Result<EncryptResponse> Encrypt(std::string_view key_id, ByteView plaintext,
                                  const EncryptionContext& ctx = {}) {
    EncryptRequest req;
    req.key_id = std::string(key_id);
    req.plaintext = crypto::SecretBytes(plaintext);
    req.encryption_context = ctx;
    return kms().Encrypt(req);
  }

  // The key material of `uuid` version `version`, read from the store and
  // unsealed as the service would, for checks independent of the service.
  crypto::SecretBytes Material(const std::string& uuid, uint32_t version) {
    std::optional<std::string> stored;
    Status st = store_->View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(stored, tx.Get(kMaterialTable, MaterialKey(uuid, version)));
      return Status::Ok();
    });
    EXPECT_THAT(st, IsOk());
    if (!stored) {
      ADD_FAILURE() << "no material " << uuid << " " << version;
      return {};
    }
    auto record = DecodeMaterialRecord(*stored);
    EXPECT_THAT(record, IsOk());
    EXPECT_EQ(record->version, version);
    auto secret = vault_->Unseal(MaterialSealContext(uuid, version), record->sealed);
    EXPECT_THAT(secret, IsOk());
    return secret.ok() ? *secret : crypto::SecretBytes();
  }

  std::array<uint8_t, 16> UuidBytes(const std::string& uuid) {
    std::string hex;
    for (char c : uuid) {
      if (c != '-') hex.push_back(c);
    }
    auto bytes = HexDecode(hex);
    EXPECT_TRUE(bytes.ok() && bytes->size() == 16) << uuid;
    std::array<uint8_t, 16> out{};
    if (bytes.ok() && bytes->size() == 16) std::copy(bytes->begin(), bytes->end(), out.begin());
    return out;
  }

  std::string key_, other_;
};

// ---- Encrypt / Decrypt ---------------------------------------------------------------------

TEST_F(CryptoTest, RoundTripsEveryPlaintextSize) {
  const std::array<uint8_t, 16> id = UuidBytes(key_);
  for (size_t n : {1, 2, 15, 16, 17, 31, 32, 33, 100, 1000, 4095, 4096}) {
    Bytes plaintext = PlaintextBytes(n);
    ASSERT_OK_AND_ASSIGN(EncryptResponse enc, Encrypt(key_, plaintext));
    EXPECT_EQ(enc.key_id, Arn(key_));
    EXPECT_EQ(enc.encryption_algorithm, "SYMMETRIC_DEFAULT");
    const Bytes& blob = enc.ciphertext_blob;
    ASSERT_EQ(blob.size(), 73 + n);
    EXPECT_EQ(blob[0], 0x01);
    EXPECT_EQ(Bytes(blob.begin() + 1, blob.begin() + 17), Bytes(id.begin(), id.end()));
    EXPECT_EQ(BlobMaterialVersion(blob), 1u);
    // The plaintext does not appear in the blob.
    if (n >= 16) {
      EXPECT_EQ(std::search(blob.begin(), blob.end(), plaintext.begin(), plaintext.end()),
                blob.end());
    }

    DecryptRequest req;
    req.ciphertext_blob = blob;
    ASSERT_OK_AND_ASSIGN(DecryptResponse dec, kms().Decrypt(req));
    EXPECT_EQ(Reveal(dec.plaintext), ToString(plaintext)) << n;
    EXPECT_EQ(dec.key_id, Arn(key_));
    EXPECT_EQ(dec.encryption_algorithm, "SYMMETRIC_DEFAULT");
    EXPECT_EQ(dec.key_material_id, kms().DescribeKey(key_)->current_key_material_id);
  }
}

TEST_F(CryptoTest, LargestBlobIsUnderAwsLimit) {
  ASSERT_OK_AND_ASSIGN(EncryptResponse enc, Encrypt(key_, PlaintextBytes(4096)));
  EXPECT_EQ(enc.ciphertext_blob.size(), 4169u);
}

TEST_F(CryptoTest, PlaintextLengthLimits) {
  EXPECT_THAT(Encrypt(key_, Bytes()),
              IsError(kValidation, Validation1("Value at 'plaintext' failed to satisfy "
                                               "constraint: Member must have length greater than "
                                               "or equal to 1")));
  EXPECT_THAT(Encrypt(key_, PlaintextBytes(4097)),
              IsError(kValidation,
                      "1 validation error detected: Value at 'plaintext' failed to satisfy "
                      "constraint: Member must have length less than or equal to 4096"));
  EXPECT_THAT(Encrypt(key_, PlaintextBytes(100000)),
              IsError(kValidation,
                      "1 validation error detected: Value at 'plaintext' failed to satisfy "
                      "constraint: Member must have length less than or equal to 4096"));
}

TEST_F(CryptoTest, EveryEncryptionIsFresh) {
  std::set<Bytes> blobs, nonces;
  for (int i = 0; i < 20; ++i) {
    Bytes blob = EncryptBlob(key_, "same plaintext");
    nonces.insert(Bytes(blob.begin() + 25, blob.begin() + 57));
    blobs.insert(blob);
  }
  EXPECT_EQ(blobs.size(), 20u);
  EXPECT_EQ(nonces.size(), 20u);
}

TEST_F(CryptoTest, DecryptFindsTheKeyFromTheBlob) {
  Bytes a = EncryptBlob(key_, "under key");
  Bytes b = EncryptBlob(other_, "under other");
  DecryptRequest req;
  req.ciphertext_blob = b;
  ASSERT_OK_AND_ASSIGN(DecryptResponse out, kms().Decrypt(req));
  EXPECT_EQ(out.key_id, Arn(other_));
  EXPECT_EQ(Reveal(out.plaintext), "under other");
  req.ciphertext_blob = a;
  ASSERT_OK_AND_ASSIGN(out, kms().Decrypt(req));
  EXPECT_EQ(out.key_id, Arn(key_));
  EXPECT_EQ(Reveal(out.plaintext), "under key");
  EXPECT_EQ(kms().KeyArnOfCiphertext(a).value(), Arn(key_));
  EXPECT_EQ(kms().KeyArnOfCiphertext(b).value(), Arn(other_));
}

TEST_F(CryptoTest, DecryptWithAKeyId) {
  Bytes blob = EncryptBlob("alias/crypto", "named");
  for (const std::string& id :
       {key_, Arn(key_), std::string("alias/crypto"), AliasArn("alias/crypto")}) {
    EXPECT_EQ(DecryptText(blob, {}, id).value(), "named") << id;
  }
  EXPECT_THAT(DecryptText(blob, {}, other_), IsError(kIncorrectKey, kIncorrectKeyMessage));
  EXPECT_THAT(DecryptText(blob, {}, Arn(other_)), IsError(kIncorrectKey, kIncorrectKeyMessage));
  ASSERT_OK(kms().CreateAlias("alias/other", other_));
  EXPECT_THAT(DecryptText(blob, {}, "alias/other"), IsError(kIncorrectKey, kIncorrectKeyMessage));
  EXPECT_THAT(
      DecryptText(blob, {}, "alias/missing"),
      IsError("NotFoundException", "Alias '" + AliasArn("alias/missing") + "' is not found."));
}

TEST_F(CryptoTest, EncryptionContextMustMatchExactly) {
  const EncryptionContext ctx = {{"Department", "Payments"}, {"order", "1234"}, {"é", "ü"}};
  Bytes blob = EncryptBlob(key_, "bound", ctx);
  EXPECT_EQ(DecryptText(blob, ctx).value(), "bound");
  // The order pairs are given in does not matter.
  EncryptionContext reordered;
  reordered.emplace("é", "ü");
  reordered.emplace("order", "1234");
  reordered.emplace("Department", "Payments");
  EXPECT_EQ(DecryptText(blob, reordered).value(), "bound");

  const std::vector<EncryptionContext> wrong = {
      {},
      {{"Department", "Payments"}, {"order", "1235"}, {"é", "ü"}},             // value
      {{"Department", "Payments"}, {"order", "1234"}, {"é", "ü"}, {"x", ""}},  // extra pair
      {{"Department", "Payments"}, {"order", "1234"}},                         // missing pair
      {{"department", "Payments"}, {"order", "1234"}, {"é", "ü"}},             // key case
      {{"Department", "payments"}, {"order", "1234"}, {"é", "ü"}},             // value case
      {{"Department", "Payments "}, {"order", "1234"}, {"é", "ü"}},            // whitespace
      {{"Department", "Payments"}, {"order", "1234"}, {"e", "ü"}},             // unicode
      {{"Department", "Paymentsorder"}, {"", "1234"}, {"é", "ü"}},             // boundaries
      {{"Department", ""}, {"order", "1234"}, {"é", "ü"}, {"Payments", ""}},   // moved value
  };
  for (const EncryptionContext& c : wrong) {
    EXPECT_THAT(DecryptText(blob, c), IsError(kInvalidCiphertext, "")) << c.size();
  }
  // A blob made without a context needs none.
  Bytes plain = EncryptBlob(key_, "unbound");
  EXPECT_EQ(DecryptText(plain).value(), "unbound");
  EXPECT_THAT(DecryptText(plain, {{"a", "b"}}), IsError(kInvalidCiphertext, ""));
  EXPECT_THAT(DecryptText(plain, {{"", ""}}), IsError(kInvalidCiphertext, ""));
}

TEST_F(CryptoTest, EncryptionContextTooLargeToEncode) {
  const EncryptionContext huge = {{std::string(0x10000, 'k'), "v"}};
  EncryptRequest req;
  req.key_id = key_;
  req.plaintext = Secret("p");
  req.encryption_context = huge;
  EXPECT_THAT(kms().Encrypt(req),
              IsError(kValidation, "Encryption context key or value is too long"));
  GenerateDataKeyRequest gdk;
  gdk.key_id = key_;
  gdk.key_spec = "AES_256";
  gdk.encryption_context = huge;
  EXPECT_THAT(kms().GenerateDataKey(gdk),
              IsError(kValidation, "Encryption context key or value is too long"));
  // Decrypt cannot match such a context: the blob does not open.
  Bytes blob = EncryptBlob(key_, "p");
  EXPECT_THAT(DecryptText(blob, huge), IsError(kInvalidCiphertext, ""));
}

TEST_F(CryptoTest, AnyFlippedByteIsInvalidCiphertext) {
  const EncryptionContext ctx = {{"purpose", "flip"}};
  for (size_t n : {1, 32}) {
    Bytes blob = EncryptBlob(key_, std::string(n, 'p'), ctx);
    ASSERT_EQ(blob.size(), 73 + n);
    for (size_t i = 0; i < blob.size(); ++i) {
      for (uint8_t pattern : {0x01, 0x02, 0x10, 0x80, 0xff}) {
        Bytes damaged = blob;
        damaged[i] ^= pattern;
        auto out = DecryptText(damaged, ctx);
        EXPECT_THAT(out, IsError(kInvalidCiphertext, ""))
            << "byte " << i << " pattern " << int(pattern);
      }
    }
    EXPECT_EQ(DecryptText(blob, ctx).value(), std::string(n, 'p'));
  }
}

TEST_F(CryptoTest, TruncationsAndExtensionsAreInvalidCiphertext) {
  Bytes blob = EncryptBlob(key_, std::string(40, 't'));
  for (size_t n = 1; n < blob.size(); ++n) {
    EXPECT_THAT(DecryptText(Bytes(blob.begin(), blob.begin() + n)), IsError(kInvalidCiphertext, ""))
        << "length " << n;
    // Cut from the front too.
    EXPECT_THAT(DecryptText(Bytes(blob.begin() + n, blob.end())), IsError(kInvalidCiphertext, ""))
        << "without the first " << n;
  }
  Bytes longer = blob;
  longer.push_back(0);
  EXPECT_THAT(DecryptText(longer), IsError(kInvalidCiphertext, ""));
  EXPECT_THAT(DecryptText(Bytes()),
              IsError(kValidation, Validation1("Value at 'ciphertextBlob' failed to satisfy "
                                               "constraint: Member must have length greater than "
                                               "or equal to 1")));
  EXPECT_THAT(DecryptText(Bytes(6145, 0x01)),
              IsError(kValidation, Validation1("Value at 'ciphertextBlob' failed to satisfy "
                                               "constraint: Member must have length less than or "
                                               "equal to 6144")));
  // Bytes, not characters: 6146 bytes that would read as 3073 UTF-8 characters (regression).
  Bytes utf8_like;
  for (int i = 0; i < 3073; ++i) utf8_like.insert(utf8_like.end(), {0xc3, 0xa9});
  EXPECT_THAT(DecryptText(utf8_like),
              IsError(kValidation, Validation1("Value at 'ciphertextBlob' failed to satisfy "
                                               "constraint: Member must have length less than or "
                                               "equal to 6144")));
  // At the limit it is parsed (and is not a blob).
  EXPECT_THAT(DecryptText(Bytes(6144, 0x01)), IsError(kInvalidCiphertext, ""));
}

TEST_F(CryptoTest, GarbageIsInvalidCiphertext) {
  for (size_t n : {1, 16, 72, 73, 74, 200, 4169}) {
    Bytes garbage(n);
    random_.Fill(garbage);
    EXPECT_THAT(DecryptText(garbage), IsError(kInvalidCiphertext, "")) << n;
    garbage[0] = 0x01;  // the right version does not help
    EXPECT_THAT(DecryptText(garbage), IsError(kInvalidCiphertext, "")) << n;
    EXPECT_THAT(kms().KeyArnOfCiphertext(garbage), IsError(kInvalidCiphertext, "")) << n;
  }
}

TEST_F(CryptoTest, WellFormedHeadersNamingOtherKeys) {
  Bytes blob = EncryptBlob(key_, "moved");
  // Moved to another existing key: the tag fails.
  Bytes moved = blob;
  std::array<uint8_t, 16> other_id = UuidBytes(other_);
  RewriteBlobHeader(moved, other_id.data(), 1);
  EXPECT_THAT(DecryptText(moved), IsError(kInvalidCiphertext, ""));
  EXPECT_EQ(kms().KeyArnOfCiphertext(moved).value(), Arn(other_));
  // Naming a key that does not exist: AWS's AccessDenied.
  Bytes unknown = blob;
  std::array<uint8_t, 16> unknown_id = UuidBytes("deadbeef-0000-4000-8000-00000000cafe");
  RewriteBlobHeader(unknown, unknown_id.data(), 1);
  EXPECT_THAT(DecryptText(unknown), IsError("AccessDeniedException", kCiphertextKeyUnknown));
  EXPECT_THAT(kms().KeyArnOfCiphertext(unknown),
              IsError("AccessDeniedException", kCiphertextKeyUnknown));
  // A KeyId other than the blob's key is IncorrectKey, whether or not the blob's key exists.
  EXPECT_THAT(DecryptText(unknown, {}, key_), IsError(kIncorrectKey, kIncorrectKeyMessage));
  // Naming a disabled key: the state is checked before the material.
  ASSERT_OK(kms().DisableKey(other_));
  EXPECT_THAT(DecryptText(moved), IsError("DisabledException", Arn(other_) + " is disabled."));
}

// The blob as docs/formats/ciphertext-blob.md describes it, checked without the service.
TEST_F(CryptoTest, BlobMatchesTheFormatDocument) {
  const EncryptionContext ctx = {{"b", "2"}, {"a", "1"}};
  // count 2, then ("a","1"), ("b","2") sorted by key bytes.
  const Bytes encoded_ctx = *HexDecode(
      "0002"
      "0001"
      "61"
      "0001"
      "31"
      "0001"
      "62"
      "0001"
      "32");
  ASSERT_OK(kms().RotateKeyOnDemand(key_));  // so that the version is 2
  Bytes blob = EncryptBlob(key_, "open me independently", ctx);
  ASSERT_EQ(blob.size(), 73u + 21);

  const Bytes header(blob.begin(), blob.begin() + 25);
  const Bytes nonce(blob.begin() + 25, blob.begin() + 57);
  const Bytes sealed(blob.begin() + 57, blob.end());
  EXPECT_EQ(HexEncode(ByteView(header.data() + 17, 4)), "00000002");
  Bytes check = crypto::Sha256(ByteView(header.data(), 21));
  EXPECT_EQ(Bytes(header.begin() + 21, header.end()), Bytes(check.begin(), check.begin() + 4));

  Bytes info = ToBytes("coffer kms ciphertext v1");
  info.insert(info.end(), header.begin(), header.begin() + 21);
  ASSERT_OK_AND_ASSIGN(
      crypto::SecretBytes message_key,
      crypto::Hkdf(crypto::HashAlgorithm::kSha256, Material(key_, 2), nonce, info, 32));
  ASSERT_OK_AND_ASSIGN(auto aead, crypto::AesGcm::Create(message_key));
  Bytes aad = header;
  aad.insert(aad.end(), encoded_ctx.begin(), encoded_ctx.end());
  const std::array<uint8_t, 12> zero_iv{};
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes plain, aead->Open(zero_iv, sealed, aad));
  EXPECT_EQ(Reveal(plain), "open me independently");
  // The material of version 1 does not open it.
  ASSERT_OK_AND_ASSIGN(
      crypto::SecretBytes wrong_key,
      crypto::Hkdf(crypto::HashAlgorithm::kSha256, Material(key_, 1), nonce, info, 32));
  ASSERT_OK_AND_ASSIGN(auto wrong, crypto::AesGcm::Create(wrong_key));
  EXPECT_FALSE(wrong->Open(zero_iv, sealed, aad).ok());
}

// A blob built by hand from the format document decrypts in the service.
TEST_F(CryptoTest, ServiceOpensABlobBuiltFromTheFormatDocument) {
  const std::array<uint8_t, 16> id = UuidBytes(key_);
  Bytes blob = {0x01};
  blob.insert(blob.end(), id.begin(), id.end());
  blob.insert(blob.end(), {0x00, 0x00, 0x00, 0x01});
  Bytes check = crypto::Sha256(blob);
  blob.insert(blob.end(), check.begin(), check.begin() + 4);
  const Bytes nonce(32, 0x42);
  Bytes info = ToBytes("coffer kms ciphertext v1");
  info.insert(info.end(), blob.begin(), blob.begin() + 21);
  ASSERT_OK_AND_ASSIGN(
      crypto::SecretBytes message_key,
      crypto::Hkdf(crypto::HashAlgorithm::kSha256, Material(key_, 1), nonce, info, 32));
  Bytes aad = blob;
  const Bytes encoded_ctx = *HexDecode(
      "0001"
      "0003"
      "6b6579"
      "0005"
      "76616c7565");  // key=value
  aad.insert(aad.end(), encoded_ctx.begin(), encoded_ctx.end());
  blob.insert(blob.end(), nonce.begin(), nonce.end());
  ASSERT_OK_AND_ASSIGN(auto aead, crypto::AesGcm::Create(message_key));
  const std::array<uint8_t, 12> zero_iv{};
  ASSERT_OK_AND_ASSIGN(Bytes sealed, aead->Seal(zero_iv, AsBytes("hand made"), aad));
  blob.insert(blob.end(), sealed.begin(), sealed.end());

  EXPECT_EQ(DecryptText(blob, {{"key", "value"}}).value(), "hand made");
  EXPECT_THAT(DecryptText(blob, {{"key", "Value"}}), IsError(kInvalidCiphertext, ""));
  EXPECT_THAT(DecryptText(blob), IsError(kInvalidCiphertext, ""));
}

// ---- ReEncrypt -------------------------------------------------------------------------------

TEST_F(CryptoTest, ReEncryptToAnotherKeyWithContexts) {
  const EncryptionContext source_ctx = {{"stage", "source"}};
  const EncryptionContext dest_ctx = {{"stage", "destination"}, {"extra", "1"}};
  Bytes blob = EncryptBlob(key_, "moving", source_ctx);
  ReEncryptRequest req;
  req.ciphertext_blob = blob;
  req.source_encryption_context = source_ctx;
  req.destination_key_id = "alias/other";
  ASSERT_OK(kms().CreateAlias("alias/other", other_));
  req.destination_encryption_context = dest_ctx;
  ASSERT_OK_AND_ASSIGN(ReEncryptResponse out, kms().ReEncrypt(req));
  EXPECT_EQ(out.source_key_id, Arn(key_));
  EXPECT_EQ(out.key_id, Arn(other_));
  EXPECT_EQ(out.source_encryption_algorithm, "SYMMETRIC_DEFAULT");
  EXPECT_EQ(out.destination_encryption_algorithm, "SYMMETRIC_DEFAULT");
  EXPECT_NE(out.ciphertext_blob, blob);
  EXPECT_EQ(kms().KeyArnOfCiphertext(out.ciphertext_blob).value(), Arn(other_));
  EXPECT_EQ(DecryptText(out.ciphertext_blob, dest_ctx).value(), "moving");
  EXPECT_THAT(DecryptText(out.ciphertext_blob, source_ctx), IsError(kInvalidCiphertext, ""));
  EXPECT_THAT(DecryptText(out.ciphertext_blob, dest_ctx, key_),
              IsError(kIncorrectKey, kIncorrectKeyMessage));

  // The same key, a new blob.
  req.destination_key_id = key_;
  req.destination_encryption_context = {};
  ASSERT_OK_AND_ASSIGN(ReEncryptResponse same, kms().ReEncrypt(req));
  EXPECT_EQ(same.key_id, Arn(key_));
  EXPECT_NE(same.ciphertext_blob, blob);
  EXPECT_EQ(DecryptText(same.ciphertext_blob).value(), "moving");
}

TEST_F(CryptoTest, ReEncryptErrors) {
  const EncryptionContext ctx = {{"k", "v"}};
  Bytes blob = EncryptBlob(key_, "moving", ctx);
  auto request = [&] {
    ReEncryptRequest r;
    r.ciphertext_blob = blob;
    r.source_encryption_context = ctx;
    r.destination_key_id = other_;
    return r;
  };
  ReEncryptRequest r = request();
  r.source_key_id = "alias/crypto";
  EXPECT_OK(kms().ReEncrypt(r));
  r.source_key_id = other_;
  EXPECT_THAT(kms().ReEncrypt(r), IsError(kIncorrectKey, kIncorrectKeyMessage));

  r = request();
  r.source_encryption_context = {{"k", "V"}};
  EXPECT_THAT(kms().ReEncrypt(r), IsError(kInvalidCiphertext, ""));
  r.source_encryption_context = {};
  EXPECT_THAT(kms().ReEncrypt(r), IsError(kInvalidCiphertext, ""));

  r = request();
  r.destination_key_id = "deadbeef-0000-4000-8000-00000000cafe";
  EXPECT_THAT(kms().ReEncrypt(r),
              IsError("NotFoundException",
                      "Key '" + Arn("deadbeef-0000-4000-8000-00000000cafe") + "' does not exist"));

  r = request();
  r.dry_run = true;
  EXPECT_THAT(kms().ReEncrypt(r), IsError("DryRunOperationException", kDryRunMessage));

  r = request();
  r.ciphertext_blob[60] ^= 1;
  EXPECT_THAT(kms().ReEncrypt(r), IsError(kInvalidCiphertext, ""));

  r = request();
  r.ciphertext_blob.clear();
  EXPECT_THAT(kms().ReEncrypt(r),
              IsError(kValidation, Validation1("Value at 'ciphertextBlob' failed to satisfy "
                                               "constraint: Member must have length greater than "
                                               "or equal to 1")));
  r = request();
  r.destination_key_id = "";
  EXPECT_THAT(kms().ReEncrypt(r),
              IsError(kValidation, Validation1("Value '' at 'destinationKeyId' failed to satisfy "
                                               "constraint: Member must have length greater than "
                                               "or equal to 1")));
  r = request();
  r.source_encryption_algorithm = "RSAES_OAEP_SHA_1";
  EXPECT_THAT(kms().ReEncrypt(r),
              IsError("InvalidKeyUsageException", UnsupportedAlgorithmMessage("RSAES_OAEP_SHA_1")));
  r = request();
  r.destination_encryption_algorithm = "SM2PKE";
  EXPECT_THAT(kms().ReEncrypt(r),
              IsError("InvalidKeyUsageException", UnsupportedAlgorithmMessage("SM2PKE")));
  r = request();
  r.destination_encryption_algorithm = "AES";
  EXPECT_THAT(kms().ReEncrypt(r),
              IsError(kValidation, AlgorithmEnumMessage("destinationEncryptionAlgorithm", "AES")));
  r = request();
  r.source_encryption_algorithm = "SYMMETRIC_DEFAULT";
  r.destination_encryption_algorithm = "SYMMETRIC_DEFAULT";
  EXPECT_OK(kms().ReEncrypt(r));
}

// ---- data keys and random bytes ----------------------------------------------------------------

TEST_F(CryptoTest, GenerateDataKeyByKeySpec) {
  for (const auto& [spec, size] :
       std::vector<std::pair<std::string, size_t>>{{"AES_256", 32}, {"AES_128", 16}}) {
    GenerateDataKeyRequest req;
    req.key_id = "alias/crypto";
    req.key_spec = spec;
    req.encryption_context = {{"data", "key"}};
    ASSERT_OK_AND_ASSIGN(GenerateDataKeyResponse out, kms().GenerateDataKey(req));
    EXPECT_EQ(out.key_id, Arn(key_));
    EXPECT_EQ(out.plaintext.size(), size) << spec;
    EXPECT_EQ(out.ciphertext_blob.size(), 73 + size);
    EXPECT_EQ(DecryptText(out.ciphertext_blob, {{"data", "key"}}).value(), Reveal(out.plaintext));
    EXPECT_THAT(DecryptText(out.ciphertext_blob), IsError(kInvalidCiphertext, ""));
    ASSERT_OK_AND_ASSIGN(GenerateDataKeyResponse again, kms().GenerateDataKey(req));
    EXPECT_FALSE(again.plaintext == out.plaintext);
  }
}

TEST_F(CryptoTest, GenerateDataKeyByNumberOfBytes) {
  for (int n : {1, 2, 64, 512, 1023, 1024}) {
    GenerateDataKeyRequest req;
    req.key_id = key_;
    req.number_of_bytes = n;
    ASSERT_OK_AND_ASSIGN(GenerateDataKeyResponse out, kms().GenerateDataKey(req));
    EXPECT_EQ(out.plaintext.size(), static_cast<size_t>(n));
    EXPECT_EQ(DecryptText(out.ciphertext_blob).value(), Reveal(out.plaintext));
  }
}

TEST_F(CryptoTest, GenerateDataKeyWithoutPlaintext) {
  struct Case {
    std::optional<std::string> spec;
    std::optional<int> bytes;
    size_t size;
  };
  for (const Case& c : std::vector<Case>{{"AES_256", std::nullopt, 32},
                                         {"AES_128", std::nullopt, 16},
                                         {std::nullopt, 7, 7},
                                         {std::nullopt, 1024, 1024}}) {
    GenerateDataKeyRequest req;
    req.key_id = Arn(key_);
    req.key_spec = c.spec;
    req.number_of_bytes = c.bytes;
    req.encryption_context = {{"w", "o"}};
    ASSERT_OK_AND_ASSIGN(GenerateDataKeyResponse out, kms().GenerateDataKeyWithoutPlaintext(req));
    EXPECT_TRUE(out.plaintext.empty());
    EXPECT_EQ(out.key_id, Arn(key_));
    ASSERT_OK_AND_ASSIGN(std::string key, DecryptText(out.ciphertext_blob, {{"w", "o"}}));
    EXPECT_EQ(key.size(), c.size);
  }
}

TEST_F(CryptoTest, GenerateDataKeyValidation) {
  const std::string either = "Please specify either number of bytes or key spec.";
  struct Case {
    std::optional<std::string> spec;
    std::optional<int> bytes;
    std::string message;
  };
  const std::vector<Case> cases = {
      {std::nullopt, std::nullopt, either},
      {"AES_256", 32, either},
      {"AES_128", 16, either},
      {std::nullopt, 0,
       Validation1("Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have "
                   "value greater than or equal to 1")},
      {std::nullopt, -1,
       Validation1("Value '-1' at 'numberOfBytes' failed to satisfy constraint: Member must have "
                   "value greater than or equal to 1")},
      {std::nullopt, 1025,
       Validation1("Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must "
                   "have value less than or equal to 1024")},
      {"AES_512", std::nullopt,
       Validation1("Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must "
                   "satisfy enum value set: [AES_256, AES_128]")},
      {"aes_256", std::nullopt,
       Validation1("Value 'aes_256' at 'keySpec' failed to satisfy constraint: Member must "
                   "satisfy enum value set: [AES_256, AES_128]")},
  };
  for (const Case& c : cases) {
    GenerateDataKeyRequest req;
    req.key_id = key_;
    req.key_spec = c.spec;
    req.number_of_bytes = c.bytes;
    EXPECT_THAT(kms().GenerateDataKey(req), IsError(kValidation, c.message)) << c.message;
    EXPECT_THAT(kms().GenerateDataKeyWithoutPlaintext(req), IsError(kValidation, c.message))
        << c.message;
  }
}

TEST_F(CryptoTest, GenerateRandom) {
  for (int n : {1, 16, 32, 1000, 1024}) {
    ASSERT_OK_AND_ASSIGN(crypto::SecretBytes r, kms().GenerateRandom(n));
    EXPECT_EQ(r.size(), static_cast<size_t>(n));
  }
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes a, kms().GenerateRandom(32));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes b, kms().GenerateRandom(32));
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a == crypto::SecretBytes(32));
  EXPECT_THAT(kms().GenerateRandom(0),
              IsError(kValidation, Validation1("Value '0' at 'numberOfBytes' failed to satisfy "
                                               "constraint: Member must have value greater than "
                                               "or equal to 1")));
  EXPECT_THAT(kms().GenerateRandom(1025),
              IsError(kValidation, Validation1("Value '1025' at 'numberOfBytes' failed to satisfy "
                                               "constraint: Member must have value less than or "
                                               "equal to 1024")));
  EXPECT_THAT(kms().GenerateRandom(std::nullopt),
              IsError(kValidation, "NumberOfBytes is required."));
}

// ---- request options ------------------------------------------------------------------------

TEST_F(CryptoTest, DryRun) {
  Bytes blob = EncryptBlob(key_, "dry");
  EncryptRequest enc;
  enc.key_id = key_;
  enc.plaintext = Secret("dry");
  enc.dry_run = true;
  EXPECT_THAT(kms().Encrypt(enc), IsError("DryRunOperationException", kDryRunMessage));
  DecryptRequest dec;
  dec.ciphertext_blob = blob;
  dec.dry_run = true;
  EXPECT_THAT(kms().Decrypt(dec), IsError("DryRunOperationException", kDryRunMessage));
  GenerateDataKeyRequest gdk;
  gdk.key_id = key_;
  gdk.key_spec = "AES_256";
  gdk.dry_run = true;
  EXPECT_THAT(kms().GenerateDataKey(gdk), IsError("DryRunOperationException", kDryRunMessage));
  EXPECT_THAT(kms().GenerateDataKeyWithoutPlaintext(gdk),
              IsError("DryRunOperationException", kDryRunMessage));
  // A request that would fail reports its failure, not DryRun.
  enc.plaintext = crypto::SecretBytes();
  EXPECT_THAT(kms().Encrypt(enc),
              IsError(kValidation, Validation1("Value at 'plaintext' failed to satisfy "
                                               "constraint: Member must have length greater than "
                                               "or equal to 1")));
  dec.ciphertext_blob[5] ^= 1;  // a damaged header
  EXPECT_THAT(kms().Decrypt(dec), IsError(kInvalidCiphertext, ""));
  dec.ciphertext_blob[5] ^= 1;
  // A dry run checks the ciphertext as the call would: damage past the header and
  // a wrong encryption context fail it.
  dec.ciphertext_blob[70] ^= 1;
  EXPECT_THAT(kms().Decrypt(dec), IsError(kInvalidCiphertext, ""));
  dec.ciphertext_blob[70] ^= 1;
  dec.encryption_context = {{"not", "the context"}};
  EXPECT_THAT(kms().Decrypt(dec), IsError(kInvalidCiphertext, ""));
  dec.encryption_context = {};
  dec.key_id = other_;
  EXPECT_THAT(kms().Decrypt(dec), IsError(kIncorrectKey, kIncorrectKeyMessage));
  dec.key_id.reset();
  gdk.key_id = "alias/missing";
  EXPECT_THAT(
      kms().GenerateDataKey(gdk),
      IsError("NotFoundException", "Alias '" + AliasArn("alias/missing") + "' is not found."));
}

// The validation message for a required member left out.
std::string NullMember(const std::string& field) {
  return "1 validation error detected: Value null at '" + field +
         "' failed to satisfy constraint: Member must not be null";
}

TEST_F(CryptoTest, DryRunIgnoringTheCiphertext) {
  // DryRunModifiers IGNORE_CIPHERTEXT: only the key is checked.
  DecryptRequest dec;
  dec.ciphertext_blob = ToBytes("not a ciphertext at all");
  dec.key_id = key_;
  dec.dry_run = true;
  dec.ignore_ciphertext = true;
  EXPECT_THAT(kms().Decrypt(dec), IsError("DryRunOperationException", kDryRunMessage));
  dec.key_id = "alias/missing";
  EXPECT_THAT(
      kms().Decrypt(dec),
      IsError("NotFoundException", "Alias '" + AliasArn("alias/missing") + "' is not found."));
  ASSERT_OK(kms().DisableKey(other_));
  dec.key_id = other_;
  EXPECT_THAT(kms().Decrypt(dec), IsError("DisabledException", Arn(other_) + " is disabled."));
  // The ciphertext may be absent; the KeyId may not (kms-service-2's documentation
  // of both members), whatever the blob says.
  dec.key_id = key_;
  dec.ciphertext_blob.clear();
  EXPECT_THAT(kms().Decrypt(dec), IsError("DryRunOperationException", kDryRunMessage));
  Bytes blob = EncryptBlob(key_, "dry", {{"k", "v"}});
  dec.key_id.reset();
  for (const Bytes& b : {blob, Bytes()}) {
    dec.ciphertext_blob = b;
    EXPECT_THAT(kms().Decrypt(dec), IsError(kValidation, NullMember("keyId")));
  }
  // Not a dry run: the modifier changes nothing, and the ciphertext is required.
  dec.dry_run = false;
  dec.ciphertext_blob.clear();
  EXPECT_EQ(kms().Decrypt(dec).status().error_name(), kValidation);
  dec.ciphertext_blob = blob;
  dec.encryption_context = {{"k", "v"}};
  ASSERT_OK_AND_ASSIGN(DecryptResponse opened, kms().Decrypt(dec));
  EXPECT_EQ(Reveal(opened.plaintext), "dry");

  ReEncryptRequest re;
  re.ciphertext_blob = ToBytes("not a ciphertext at all");
  re.source_key_id = key_;
  re.destination_key_id = key_;
  re.dry_run = true;
  re.ignore_ciphertext = true;
  EXPECT_THAT(kms().ReEncrypt(re), IsError("DryRunOperationException", kDryRunMessage));
  re.destination_key_id = other_;
  EXPECT_THAT(kms().ReEncrypt(re), IsError("DisabledException", Arn(other_) + " is disabled."));
  re.destination_key_id = key_;
  re.ciphertext_blob.clear();
  EXPECT_THAT(kms().ReEncrypt(re), IsError("DryRunOperationException", kDryRunMessage));
  re.source_key_id.reset();
  re.ciphertext_blob = blob;
  EXPECT_THAT(kms().ReEncrypt(re), IsError(kValidation, NullMember("sourceKeyId")));
  re.source_key_id = key_;
  re.ciphertext_blob = ToBytes("not a ciphertext at all");
  re.ignore_ciphertext = false;
  re.destination_key_id = key_;
  EXPECT_THAT(kms().ReEncrypt(re), IsError(kInvalidCiphertext, ""));
}

TEST_F(CryptoTest, RepliesNameTheKeyMaterial) {
  const std::string material = kms().DescribeKey(key_)->current_key_material_id;
  ASSERT_EQ(material.size(), 64u);
  GenerateDataKeyRequest gdk;
  gdk.key_id = key_;
  gdk.key_spec = "AES_256";
  ASSERT_OK_AND_ASSIGN(GenerateDataKeyResponse with, kms().GenerateDataKey(gdk));
  EXPECT_EQ(with.key_material_id, material);
  ASSERT_OK_AND_ASSIGN(GenerateDataKeyResponse without, kms().GenerateDataKeyWithoutPlaintext(gdk));
  EXPECT_EQ(without.key_material_id, material);
  // ReEncrypt names the material that opened the blob and the one that sealed it:
  // after a rotation of the destination, they differ.
  ASSERT_OK(kms().RotateKeyOnDemand(key_).status());
  const std::string rotated = kms().DescribeKey(key_)->current_key_material_id;
  ASSERT_NE(rotated, material);
  ReEncryptRequest re;
  re.ciphertext_blob = without.ciphertext_blob;
  re.destination_key_id = key_;
  ASSERT_OK_AND_ASSIGN(ReEncryptResponse r, kms().ReEncrypt(re));
  EXPECT_EQ(r.source_key_material_id, material);
  EXPECT_EQ(r.destination_key_material_id, rotated);
}

TEST_F(CryptoTest, EncryptionAlgorithms) {
  EncryptRequest enc;
  enc.key_id = key_;
  enc.plaintext = Secret("alg");
  enc.encryption_algorithm = "SYMMETRIC_DEFAULT";
  ASSERT_OK_AND_ASSIGN(EncryptResponse ok, kms().Encrypt(enc));
  DecryptRequest dec;
  dec.ciphertext_blob = ok.ciphertext_blob;
  dec.encryption_algorithm = "SYMMETRIC_DEFAULT";
  EXPECT_OK(kms().Decrypt(dec));
  for (const std::string alg : {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"}) {
    enc.encryption_algorithm = alg;
    EXPECT_THAT(kms().Encrypt(enc),
                IsError("InvalidKeyUsageException", UnsupportedAlgorithmMessage(alg)));
    dec.encryption_algorithm = alg;
    EXPECT_THAT(kms().Decrypt(dec),
                IsError("InvalidKeyUsageException", UnsupportedAlgorithmMessage(alg)));
  }
  for (const std::string alg : {"AES_GCM", "symmetric_default", ""}) {
    enc.encryption_algorithm = alg;
    EXPECT_THAT(kms().Encrypt(enc),
                IsError(kValidation, AlgorithmEnumMessage("encryptionAlgorithm", alg)));
    dec.encryption_algorithm = alg;
    EXPECT_THAT(kms().Decrypt(dec),
                IsError(kValidation, AlgorithmEnumMessage("encryptionAlgorithm", alg)));
  }
}

TEST_F(CryptoTest, GrantTokens) {
  const std::string too_many = Validation1(
      "Value '11 tokens' at 'grantTokens' failed to satisfy constraint: Member must have length "
      "less than or equal to 10");
  EncryptRequest enc;
  enc.key_id = key_;
  enc.plaintext = Secret("g");
  enc.grant_tokens = std::vector<std::string>(10, "token");
  ASSERT_OK_AND_ASSIGN(EncryptResponse ok, kms().Encrypt(enc));
  enc.grant_tokens.push_back("token");
  EXPECT_THAT(kms().Encrypt(enc), IsError(kValidation, too_many));
  DecryptRequest dec;
  dec.ciphertext_blob = ok.ciphertext_blob;
  dec.grant_tokens = std::vector<std::string>(11, "token");
  EXPECT_THAT(kms().Decrypt(dec), IsError(kValidation, too_many));
  GenerateDataKeyRequest gdk;
  gdk.key_id = key_;
  gdk.key_spec = "AES_256";
  gdk.grant_tokens = std::vector<std::string>(11, "token");
  EXPECT_THAT(kms().GenerateDataKey(gdk), IsError(kValidation, too_many));
  ReEncryptRequest re;
  re.ciphertext_blob = ok.ciphertext_blob;
  re.destination_key_id = key_;
  re.grant_tokens = std::vector<std::string>(11, "token");
  EXPECT_THAT(kms().ReEncrypt(re), IsError(kValidation, too_many));
}

TEST_F(CryptoTest, ConcurrentUse) {
  // KeyService is documented safe for concurrent use: crypto on several
  // threads while another rotates the key.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const std::string text = "thread " + std::to_string(t) + " message " + std::to_string(i);
        EncryptRequest enc;
        enc.key_id = t % 2 ? key_ : "alias/crypto";
        enc.plaintext = Secret(text);
        enc.encryption_context = {{"t", std::to_string(t)}};
        auto sealed = kms().Encrypt(enc);
        if (!sealed.ok()) {
          ++failures;
          continue;
        }
        DecryptRequest dec;
        dec.ciphertext_blob = sealed->ciphertext_blob;
        dec.encryption_context = enc.encryption_context;
        auto opened = kms().Decrypt(dec);
        if (!opened.ok() || Reveal(opened->plaintext) != text) ++failures;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 20; ++i) {
      if (!kms().RotateKeyOnDemand(key_).ok()) ++failures;
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_OK_AND_ASSIGN(auto rotations, kms().ListKeyRotations(key_, 100, std::nullopt));
  EXPECT_EQ(rotations.rotations.size(), 20u);
  EXPECT_EQ(BlobMaterialVersion(EncryptBlob(key_, "after")), 21u);
}

TEST_F(CryptoTest, KeyArnOfCiphertext) {
  Bytes blob = EncryptBlob("alias/crypto", "whose");
  EXPECT_EQ(kms().KeyArnOfCiphertext(blob).value(), Arn(key_));
  // Only the header is read: damage after it is Decrypt's to find.
  Bytes damaged = blob;
  damaged.back() ^= 1;
  EXPECT_EQ(kms().KeyArnOfCiphertext(damaged).value(), Arn(key_));
  damaged[3] ^= 1;
  EXPECT_THAT(kms().KeyArnOfCiphertext(damaged), IsError(kInvalidCiphertext, ""));
  EXPECT_THAT(kms().KeyArnOfCiphertext(Bytes()), IsError(kInvalidCiphertext, ""));
}

}  // namespace
}  // namespace coffer::kms
