#include "crypto/rsa.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "crypto/hash.h"
#include "crypto/test_util.h"
#include "testing/files.h"

namespace coffer::crypto {
namespace {

using ::coffer::crypto::testing::FromHex;
using ::coffer::testing::ReadFile;
using ::coffer::testing::TempDir;
using ::coffer::testing::WriteFile;

// A 2048-bit key made with `openssl genrsa 2048`, exported with `openssl rsa
// -traditional -outform DER` (PKCS#1 RSAPrivateKey) and `openssl rsa
// -RSAPublicKey_out -outform DER` (PKCS#1 RSAPublicKey); the signature is
// `openssl dgst -sha256 -sign` over kMessage. PKCS#1 v1.5 is deterministic, so
// the same key must produce exactly this signature.
constexpr std::string_view kPrivateDerHex =
    "308204a40201000282010100e1b965be7c4141576afd9a9c6b608888187c829aca964a936fb1663d"
    "ad4fbbc16e5dd3b33cbd431a759e694c8933b5c307674b1e537a5c1c5cb187aafba4b25ddba375b4"
    "c8c2424739bc45fc713577f14d911212b4ad643a08bb6d90fe7306ec09efff8df5952a443680d0f6"
    "a75bf6201c22eb5a7abd536d5d8a8a27189dd6a94e71006f950aa5311bfbbd2ad12f86da593f69a3"
    "1cae90bee9c89b0f91d85cbac03bb91ab8ba82f7558fdad72caf799744fefaf871ae38b7b527ecd5"
    "f2eea48b58f9e44bc36474b3ddeb30c30d21a806c1b2685cd5390475d2fea0180c83d58368292d0d"
    "19307763ca57cc83983498ce07a9aed49f833eabbe84bb380766f38b02030100010282010002c1d1"
    "78d4aab5621c77f18a0493bec72ec9628d0279787ab98c08ac2b3044a255b746ad334a3a8619b6b0"
    "2193b1728069d83ca627ade06f2640b2e00747d937e545675c28719afea4b9647f73608c5101ba0a"
    "66f916ff18e85f65b4b62ef0803494de61bd04afe9fa62736af7db5b33c43436fcb97013934be7b3"
    "cd4b732e1a886e84c7ffe68d7e744fa4508b1329dd289ba144a6ee8339819ccb4679cbfadf914e36"
    "2920367d527aed95f52eab9732a3168b1b32d87c0124b9717f39965537f51e0d864efdb5e23bc6d7"
    "77c0e2eccd45a410f6460f189e0902c49bb68d0432660db996444ac012a750689f1efa9f67c4cf5d"
    "95fbba40e82af40e2c0c98c33d02818100fae894d97f6473831df7bd3573beb940e02a6a04b24964"
    "c4429b28e698b2fe95b25ab2887fd0bfb996d2676bf2d04bf2a44366f7cbbf3759010ad2695d5bce"
    "bb26717f0dec1fa24ab3db7ace1885d4e154b061c0694c97d0d3dceb435ff507d62a4e20dfd654a0"
    "01ebaeed50b8e205139be01675b7edaed600710c3d328931a502818100e64dfd16e7e6aae1b3ca8e"
    "35d70ef6c02d84541da1d3eebb398cc84288c018bb9f756c7ac1e91ca28fde44528f7dae73209856"
    "86052cef42a5dad5741298d048a7938b05b600e78917cf086f535f52860615802faecdaacdbaead2"
    "94060749f23d0441bef805238685e52cbda229adfc8d00f433a1a1d4c6ea9e1deac16b296f028181"
    "00eea74aed95be7620c0e06397f3fff535400317d45fc06f983dc257a4fe99428e20972439b1595d"
    "03a9f1776db6076a35e1083b6876e3ea413e3c8ce6ab6627bcdb541905a51271cb9c47a707614bea"
    "b0695d5b9d288b31dbefa8b21de3a7ad4c87f0c85420095e2875846d35daa5212f05949fc858aa3b"
    "22524934db00b67e0102818100e22b24a922043d3c79bc29fc65bea444066f35cc03e88542083a61"
    "5035cbb07e511297fdd6007fc68552d9f5da44aad514e585d307b221256a8b85a3ffbf628c774545"
    "f9cdcb0596747334ed5f0af597f8d194993f296adbaefc7ce0312b674b24f0d1402181aa69a9846e"
    "73ac9511f03ae8fce8d78a7dd2fb055c8bf676aeb1028180648fb7d181a2d1132c1ac29791e23d7d"
    "0215770490f14112490bcab6b0cf0c67090067648356e38469ab0381d24b9367fe93004a24929c25"
    "d0da08c8245ff7b734838e5cc561686f1de90b6d59da761904f398e6be3d2bf6c5785adb5b7f5249"
    "75e7dac29ccd3439368d038a1bce19382e68d43f0104895e7b003189b76720a0";
constexpr std::string_view kPublicDerHex =
    "3082010a0282010100e1b965be7c4141576afd9a9c6b608888187c829aca964a936fb1663dad4fbb"
    "c16e5dd3b33cbd431a759e694c8933b5c307674b1e537a5c1c5cb187aafba4b25ddba375b4c8c242"
    "4739bc45fc713577f14d911212b4ad643a08bb6d90fe7306ec09efff8df5952a443680d0f6a75bf6"
    "201c22eb5a7abd536d5d8a8a27189dd6a94e71006f950aa5311bfbbd2ad12f86da593f69a31cae90"
    "bee9c89b0f91d85cbac03bb91ab8ba82f7558fdad72caf799744fefaf871ae38b7b527ecd5f2eea4"
    "8b58f9e44bc36474b3ddeb30c30d21a806c1b2685cd5390475d2fea0180c83d58368292d0d193077"
    "63ca57cc83983498ce07a9aed49f833eabbe84bb380766f38b0203010001";
constexpr std::string_view kMessage = "coffer digest vector\n";
constexpr std::string_view kOpenSslSignatureHex =
    "1e079853d8c359ec8e7d0942988f9a9b2eeec54e8ffad55f904ea2d538b0ac25cf865f69cb271b15"
    "2ee7602094655feea5e53f8678af30553913f7177b7dd3e3004779930a1b11fa1cf030074068deeb"
    "56c29f287f0d83927e48d15e3019ba6eaed5b45a64a4c2c48e4170507c92a20593cedc43154866b4"
    "d02391025060031aa8a4a4b0a39ec73fd0e4a7133f411729a48973e064a5ccf394dfdf520392ff73"
    "c1f1581a38a2f8cf1fb301e40d98d8d79bf30527b7ab49e89e4f8af3f67815cd6198dc322d6b8aa0"
    "c37178e89764f3195eb28d19982a9ee901d4244adb3dd679a0e639e7b9a37dab8e33aea5910468ac"
    "0f722e528be46fc9c0b5b434d18d2295";
// md5sum of the public key DER.
constexpr std::string_view kFingerprint = "ada273172502ff785b11bbadcb40721d";

// The example key of AWS's `aws cloudtrail list-public-keys` documentation and
// the Fingerprint listed beside it.
constexpr std::string_view kAwsExampleKeyBase64 =
    "MIIBCgKCAQEAlSS3cl92HDycr/"
    "MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3m0wG3J+"
    "kUl1xboEcEPHYoIYMbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804c83nvHUEFYThr1PfyP/"
    "8HwrCtR3FX5OANtQCP61C1nJtSSkC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iuiAKkipEHWmUl8/"
    "P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/"
    "EXYuePGEtBdrKD9Dz+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB";
constexpr std::string_view kAwsExampleFingerprint = "7f3f401420072e50a65a141430817ab3";

std::unique_ptr<RsaPrivateKey> VectorKey() {
  auto key = RsaPrivateKey::FromDer(SecretBytes(FromHex(kPrivateDerHex)));
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return key.ok() ? std::move(key).value() : nullptr;
}

TEST(RsaTest, FingerprintOfAwsExampleKey) {
  Result<Bytes> der = Base64Decode(kAwsExampleKeyBase64);
  ASSERT_TRUE(der.ok());
  EXPECT_EQ(RsaPublicKeyFingerprint(*der), kAwsExampleFingerprint);
  auto key = RsaPublicKey::FromDer(*der);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key.value()->Fingerprint(), kAwsExampleFingerprint);
  EXPECT_EQ(key.value()->bits(), 2048);
  EXPECT_EQ(key.value()->der(), *der);
}

TEST(RsaTest, ImportedKeyReproducesOpenSslSignature) {
  auto key = VectorKey();
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->bits(), 2048);
  EXPECT_EQ(HexEncode(key->public_key().der()), kPublicDerHex);
  EXPECT_EQ(key->public_key().Fingerprint(), kFingerprint);
  Result<Bytes> signature = key->SignSha256(AsBytes(kMessage));
  ASSERT_TRUE(signature.ok()) << signature.status().ToString();
  EXPECT_EQ(HexEncode(*signature), kOpenSslSignatureHex);
}

TEST(RsaTest, VerifiesOpenSslSignatureAndRejectsChanges) {
  auto key = RsaPublicKey::FromDer(FromHex(kPublicDerHex));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  Bytes signature = FromHex(kOpenSslSignatureHex);
  EXPECT_TRUE(key.value()->VerifySha256(AsBytes(kMessage), signature));

  std::string other(kMessage);
  other[0] ^= 1;
  EXPECT_FALSE(key.value()->VerifySha256(AsBytes(other), signature));
  for (size_t i : {size_t{0}, size_t{100}, signature.size() - 1}) {
    Bytes bad = signature;
    bad[i] ^= 0x01;
    EXPECT_FALSE(key.value()->VerifySha256(AsBytes(kMessage), bad)) << "byte " << i;
  }
  EXPECT_FALSE(key.value()->VerifySha256(AsBytes(kMessage), ByteView()));
  Bytes shorter(signature.begin(), signature.end() - 1);
  EXPECT_FALSE(key.value()->VerifySha256(AsBytes(kMessage), shorter));
  Bytes longer = signature;
  longer.push_back(0);
  EXPECT_FALSE(key.value()->VerifySha256(AsBytes(kMessage), longer));

  // Another key does not verify it.
  auto aws = RsaPublicKey::FromDer(*Base64Decode(kAwsExampleKeyBase64));
  ASSERT_TRUE(aws.ok());
  EXPECT_FALSE(aws.value()->VerifySha256(AsBytes(kMessage), signature));
}

TEST(RsaTest, GenerateSignVerifyAndExportRoundTrip) {
  auto key = RsaPrivateKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key.value()->bits(), 2048);
  Result<Bytes> signature = key.value()->SignSha256(AsBytes("hello"));
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(signature->size(), 256u);
  EXPECT_TRUE(key.value()->public_key().VerifySha256(AsBytes("hello"), *signature));
  EXPECT_FALSE(key.value()->public_key().VerifySha256(AsBytes("hellO"), *signature));

  Result<SecretBytes> der = key.value()->PrivateKeyDer();
  ASSERT_TRUE(der.ok());
  auto again = RsaPrivateKey::FromDer(*der);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again.value()->public_key().der(), key.value()->public_key().der());
  Result<Bytes> signature2 = again.value()->SignSha256(AsBytes("hello"));
  ASSERT_TRUE(signature2.ok());
  EXPECT_EQ(*signature2, *signature);  // deterministic

  auto public_key = RsaPublicKey::FromDer(key.value()->public_key().der());
  ASSERT_TRUE(public_key.ok());
  EXPECT_TRUE(public_key.value()->VerifySha256(AsBytes("hello"), *signature));

  // Two generated keys differ.
  auto other = RsaPrivateKey::Generate();
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other.value()->public_key().der(), key.value()->public_key().der());
  EXPECT_NE(other.value()->public_key().Fingerprint(), key.value()->public_key().Fingerprint());
}

TEST(RsaTest, ExportsPkcs1PrivateKeyDer) {
  auto key = VectorKey();
  ASSERT_NE(key, nullptr);
  Result<SecretBytes> der = key->PrivateKeyDer();
  ASSERT_TRUE(der.ok());
  EXPECT_EQ(HexEncode(RevealSecret(*der)), kPrivateDerHex);
}

TEST(RsaTest, GenerateRefusesBadSizes) {
  EXPECT_EQ(RsaPrivateKey::Generate(1024).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RsaPrivateKey::Generate(0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RsaPrivateKey::Generate(16384).status().code(), StatusCode::kInvalidArgument);
}

TEST(RsaTest, RefusesMalformedKeys) {
  Bytes public_der = FromHex(kPublicDerHex);
  EXPECT_EQ(RsaPublicKey::FromDer(ByteView()).status().code(), StatusCode::kInvalidArgument);
  Bytes truncated(public_der.begin(), public_der.end() - 1);
  EXPECT_EQ(RsaPublicKey::FromDer(truncated).status().code(), StatusCode::kInvalidArgument);
  Bytes trailing = public_der;
  trailing.push_back(0);
  EXPECT_EQ(RsaPublicKey::FromDer(trailing).status().code(), StatusCode::kInvalidArgument);
  // A private key is not a public key, and the other way round.
  EXPECT_FALSE(RsaPublicKey::FromDer(FromHex(kPrivateDerHex)).ok());
  EXPECT_EQ(RsaPrivateKey::FromDer(SecretBytes(public_der)).status().code(),
            StatusCode::kInvalidArgument);

  Bytes private_der = FromHex(kPrivateDerHex);
  Bytes private_trailing = private_der;
  private_trailing.push_back(0);
  EXPECT_EQ(RsaPrivateKey::FromDer(SecretBytes(private_trailing)).status().code(),
            StatusCode::kInvalidArgument);
  // A changed byte deep in the private exponent: still DER, but inconsistent.
  Bytes inconsistent = private_der;
  inconsistent[600] ^= 0x01;
  EXPECT_EQ(RsaPrivateKey::FromDer(SecretBytes(inconsistent)).status().code(),
            StatusCode::kInvalidArgument);
}

// Interoperability with the openssl command line, when it is installed: it
// verifies a signature made here with the public key exported here.
TEST(RsaTest, OpenSslCommandVerifiesOurSignature) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no openssl command";
  }
  TempDir dir;
  auto key = RsaPrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  std::string message = "signed by coffer\n";
  Result<Bytes> signature = key.value()->SignSha256(AsBytes(message));
  ASSERT_TRUE(signature.ok());
  WriteFile(dir.File("pub.der"), AsChars(key.value()->public_key().der()));
  WriteFile(dir.File("msg"), message);
  WriteFile(dir.File("sig"), AsChars(*signature));
  std::string convert = "openssl rsa -RSAPublicKey_in -inform DER -in " + dir.File("pub.der") +
                        " -pubout -out " + dir.File("pub.pem") + " 2>/dev/null";
  ASSERT_EQ(std::system(convert.c_str()), 0);
  std::string verify = "openssl dgst -sha256 -verify " + dir.File("pub.pem") + " -signature " +
                       dir.File("sig") + " " + dir.File("msg") + " >/dev/null 2>&1";
  EXPECT_EQ(std::system(verify.c_str()), 0);
  WriteFile(dir.File("msg"), "signed by coffeR\n");
  EXPECT_NE(std::system(verify.c_str()), 0);
}

}  // namespace
}  // namespace coffer::crypto
