#include "crypto/ecdsa.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "common/random.h"
#include "crypto/test_util.h"
#include "testing/files.h"
#include "testing/status_matchers.h"

namespace coffer::crypto {
namespace {

using ::coffer::crypto::testing::FromHex;
using ::coffer::crypto::testing::SecretFromHex;
using ::coffer::testing::ReadFile;
using ::coffer::testing::TempDir;
using ::coffer::testing::WriteFile;

// A key made with `openssl ecparam -name secp384r1 -genkey`; the public point is
// what `openssl ec -text -conv_form compressed` printed for it, and kCliSignature
// is `openssl dgst -sha384 -sign` over kMessage.
constexpr std::string_view kScalarHex =
    "95bc94780af9045f28f41e271e1ae57b8b9390bce514c39d3abe57be04c71dd53bd1d334b1a0151c15c23d9fb27957"
    "da";
constexpr std::string_view kPublicHex =
    "03b28b0c1d48bd942b846752864b7b4197080f5f5429c1cd69d9227fb1e08b65accef9eb3ff375fe9e020ac6b8dcbf"
    "cb08";
constexpr std::string_view kMessage = "coffer ECDSA P-384 known answer";
constexpr std::string_view kCliSignatureHex =
    "3065023025a8efc334fa3f37402acc79ebbb5d19baf9e26aa7627bc85616d4ec805bb808885a84dde9791517b20cde"
    "bd185a52df023100b320e17cfdec02cfb825e80150fde26106cc7748fd15bc623ca29245903633a864e20ab7f70b74"
    "d572de5b4017984f75";

// The base point G of P-384 (FIPS 186-4 D.1.2.4): y is odd, so 1·G compresses to 03 ‖ x.
constexpr std::string_view kGeneratorCompressedHex =
    "03aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e387276"
    "0ab7";
// The group order n.
constexpr std::string_view kOrderHex =
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc529"
    "73";

std::unique_ptr<EcdsaP384PrivateKey> KnownKey() {
  auto key = EcdsaP384PrivateKey::FromScalar(SecretFromHex(kScalarHex));
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return key.ok() ? std::move(key).value() : nullptr;
}

TEST(EcdsaP384Test, ScalarGivesTheKnownPublicPoint) {
  auto key = KnownKey();
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(HexEncode(key->public_key().compressed_point()), kPublicHex);
}

TEST(EcdsaP384Test, ScalarOneGivesTheGenerator) {
  Bytes one(kP384ScalarSize, 0);
  one.back() = 1;
  ASSERT_OK_AND_ASSIGN(auto key, EcdsaP384PrivateKey::FromScalar(SecretBytes(ByteView(one))));
  EXPECT_EQ(HexEncode(key->public_key().compressed_point()), kGeneratorCompressedHex);
  // n - 1 is -1: the same x, the other parity.
  Bytes order_minus_one = FromHex(kOrderHex);
  order_minus_one.back() -= 1;
  ASSERT_OK_AND_ASSIGN(auto minus,
                       EcdsaP384PrivateKey::FromScalar(SecretBytes(ByteView(order_minus_one))));
  Bytes expected = FromHex(kGeneratorCompressedHex);
  expected[0] = 0x02;
  EXPECT_EQ(minus->public_key().compressed_point(), expected);
}

TEST(EcdsaP384Test, ScalarOutOfRangeIsRefused) {
  Bytes zero(kP384ScalarSize, 0);
  EXPECT_EQ(EcdsaP384PrivateKey::FromScalar(SecretBytes(ByteView(zero))).status().code(),
            StatusCode::kInvalidArgument);
  Bytes order = FromHex(kOrderHex);
  EXPECT_EQ(EcdsaP384PrivateKey::FromScalar(SecretBytes(ByteView(order))).status().code(),
            StatusCode::kInvalidArgument);
  Bytes all_ones(kP384ScalarSize, 0xff);
  EXPECT_EQ(EcdsaP384PrivateKey::FromScalar(SecretBytes(ByteView(all_ones))).status().code(),
            StatusCode::kInvalidArgument);
  Bytes short_scalar(47, 1);
  EXPECT_EQ(EcdsaP384PrivateKey::FromScalar(SecretBytes(ByteView(short_scalar))).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(EcdsaP384Test, VerifiesTheOpensslCliSignature) {
  ASSERT_OK_AND_ASSIGN(auto pub, EcdsaP384PublicKey::FromCompressedPoint(FromHex(kPublicHex)));
  Bytes signature = FromHex(kCliSignatureHex);
  EXPECT_TRUE(pub->Verify(AsBytes(kMessage), signature));
  // Incrementally, in uneven pieces.
  ASSERT_OK_AND_ASSIGN(auto verifier, pub->NewVerifier());
  verifier->Update(AsBytes(kMessage.substr(0, 5)));
  verifier->Update(AsBytes(kMessage.substr(5, 0)));
  verifier->Update(AsBytes(kMessage.substr(5)));
  EXPECT_TRUE(verifier->Finish(signature));
}

TEST(EcdsaP384Test, RejectsEveryFlippedBit) {
  ASSERT_OK_AND_ASSIGN(auto pub, EcdsaP384PublicKey::FromCompressedPoint(FromHex(kPublicHex)));
  Bytes signature = FromHex(kCliSignatureHex);
  Bytes message(kMessage.begin(), kMessage.end());
  for (size_t bit = 0; bit < signature.size() * 8; ++bit) {
    Bytes bad = signature;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(pub->Verify(message, bad)) << "signature bit " << bit;
  }
  for (size_t bit = 0; bit < message.size() * 8; ++bit) {
    Bytes bad = message;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(pub->Verify(bad, signature)) << "message bit " << bit;
  }
  EXPECT_FALSE(pub->Verify(message, Bytes()));
  Bytes truncated(signature.begin(), signature.end() - 1);
  EXPECT_FALSE(pub->Verify(message, truncated));
  Bytes extended = signature;
  extended.push_back(0);
  EXPECT_FALSE(pub->Verify(message, extended));
}

TEST(EcdsaP384Test, SignThenVerifyIncrementally) {
  auto key = KnownKey();
  ASSERT_NE(key, nullptr);
  Bytes message(100000);
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<uint8_t>(i * 7 + 3);
  ASSERT_OK_AND_ASSIGN(auto signer, key->NewSigner());
  for (size_t at = 0; at < message.size(); at += 4096) {
    signer->Update(ByteView(message).subspan(at, std::min<size_t>(4096, message.size() - at)));
  }
  ASSERT_OK_AND_ASSIGN(Bytes signature, signer->Finish());
  EXPECT_LE(signature.size(), kP384MaxSignatureSize);
  EXPECT_EQ(signature[0], 0x30);
  EXPECT_TRUE(key->public_key().Verify(message, signature));
  // A spent signer refuses a second Finish.
  EXPECT_EQ(signer->Finish().status().code(), StatusCode::kFailedPrecondition);

  ASSERT_OK_AND_ASSIGN(Bytes one_shot, key->Sign(message));
  EXPECT_TRUE(key->public_key().Verify(message, one_shot));
  ASSERT_OK_AND_ASSIGN(auto verifier, key->public_key().NewVerifier());
  verifier->Update(message);
  EXPECT_TRUE(verifier->Finish(one_shot));
  EXPECT_FALSE(verifier->Finish(one_shot));  // spent
}

TEST(EcdsaP384Test, WrongKeyRejects) {
  SeededRandom random(7);
  ASSERT_OK_AND_ASSIGN(auto a, EcdsaP384PrivateKey::Generate(random));
  ASSERT_OK_AND_ASSIGN(auto b, EcdsaP384PrivateKey::Generate(random));
  EXPECT_NE(a->public_key().compressed_point(), b->public_key().compressed_point());
  ASSERT_OK_AND_ASSIGN(Bytes signature, a->Sign(AsBytes(kMessage)));
  EXPECT_TRUE(a->public_key().Verify(AsBytes(kMessage), signature));
  EXPECT_FALSE(b->public_key().Verify(AsBytes(kMessage), signature));
}

TEST(EcdsaP384Test, GenerateIsDeterministicUnderASeededRandom) {
  SeededRandom r1(42), r2(42);
  ASSERT_OK_AND_ASSIGN(auto a, EcdsaP384PrivateKey::Generate(r1));
  ASSERT_OK_AND_ASSIGN(auto b, EcdsaP384PrivateKey::Generate(r2));
  EXPECT_EQ(a->public_key().compressed_point(), b->public_key().compressed_point());
}

TEST(EcdsaP384Test, PublicKeyRoundTripsThroughTheCompressedPoint) {
  auto key = KnownKey();
  ASSERT_NE(key, nullptr);
  ASSERT_OK_AND_ASSIGN(
      auto pub, EcdsaP384PublicKey::FromCompressedPoint(key->public_key().compressed_point()));
  EXPECT_EQ(pub->compressed_point(), key->public_key().compressed_point());
  ASSERT_OK_AND_ASSIGN(Bytes signature, key->Sign(AsBytes(kMessage)));
  EXPECT_TRUE(pub->Verify(AsBytes(kMessage), signature));
}

TEST(EcdsaP384Test, MalformedPointsAreRefused) {
  Bytes good = FromHex(kPublicHex);
  auto refused = [](const Bytes& point) {
    return EcdsaP384PublicKey::FromCompressedPoint(point).status().code() ==
           StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(refused(Bytes()));
  EXPECT_TRUE(refused(Bytes(good.begin(), good.end() - 1)));
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_TRUE(refused(longer));
  Bytes uncompressed_prefix = good;
  uncompressed_prefix[0] = 0x04;
  EXPECT_TRUE(refused(uncompressed_prefix));
  Bytes infinity(kP384CompressedPointSize, 0);
  EXPECT_TRUE(refused(infinity));
  // x = p is not a field element.
  Bytes x_is_p = FromHex(
      "02fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ff"
      "ffffff");
  EXPECT_TRUE(refused(x_is_p));
  Bytes all_ff(kP384CompressedPointSize, 0xff);
  all_ff[0] = 0x02;
  EXPECT_TRUE(refused(all_ff));
  // About half of all x are not on the curve; find one by scanning small x.
  int not_on_curve = 0;
  for (uint8_t x = 1; x < 40; ++x) {
    Bytes point(kP384CompressedPointSize, 0);
    point[0] = 0x02;
    point.back() = x;
    if (!EcdsaP384PublicKey::FromCompressedPoint(point).ok()) ++not_on_curve;
  }
  EXPECT_GT(not_on_curve, 0);
}

// A signature made here verifies with the openssl command line, when it is installed.
TEST(EcdsaP384Test, OpensslCliVerifiesOurSignature) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl command";
  auto key = KnownKey();
  ASSERT_NE(key, nullptr);
  ASSERT_OK_AND_ASSIGN(Bytes signature, key->Sign(AsBytes(kMessage)));
  // SubjectPublicKeyInfo { id-ecPublicKey, secp384r1 } with the compressed point.
  Bytes spki = FromHex("3046301006072a8648ce3d020106052b81040022033200");
  Append(spki, key->public_key().compressed_point());
  TempDir dir;
  WriteFile(dir.File("pub.der"), ToString(spki));
  WriteFile(dir.File("sig.der"), ToString(signature));
  WriteFile(dir.File("msg"), std::string(kMessage));
  std::string verify = "openssl dgst -sha384 -keyform DER -verify " + dir.File("pub.der") +
                       " -signature " + dir.File("sig.der") + " " + dir.File("msg") +
                       " >/dev/null 2>&1";
  EXPECT_EQ(std::system(verify.c_str()), 0);
  std::string changed(kMessage);
  changed.push_back('.');
  WriteFile(dir.File("msg"), changed);
  EXPECT_NE(std::system(verify.c_str()), 0);
}

}  // namespace
}  // namespace coffer::crypto
