#include "crypto/hkdf.h"

#include <gtest/gtest.h>

#include <string_view>

#include "crypto/hash.h"
#include "test_util.h"

namespace coffer::crypto {
namespace {

using testing::FromHex;
using testing::Hex;
using testing::SecretFromHex;

struct HkdfVector {
  int id;  // RFC 5869 test case or Wycheproof tcId
  std::string_view ikm;
  std::string_view salt;
  std::string_view info;
  size_t length;
  std::string_view prk;  // empty when the source does not give it
  std::string_view okm;
};

// RFC 5869 appendix A.1-A.3 (HMAC-SHA-256).
constexpr HkdfVector kRfc5869[] = {
    {1, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9", 42, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {2,
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
     "404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     82, "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    // Zero-length salt and info.
    {3, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

// Wycheproof testvectors_v1/hkdf_sha512_test.json (C2SP/wycheproof), all with
// result "valid". The ids are the file's tcId.
constexpr HkdfVector kWycheproofSha512[] = {
    // tcId 1: empty salt, empty info.
    {1, "24aeff2645e3e0f5494a9a102778c43a", "", "", 20, "",
     "dd2599840b09699c6200b5cba79002b3aa75c61b"},
    // tcId 12: a full 64-byte block of output.
    {12, "7a00817689a3d79001825a864c69c120", "08bc01c053a6406c7c4a667c9b9b3894",
     "967ccd75395be6e96a67759f070487c9e2107791", 64, "",
     "aed987bcc5ed33c4feec7b28aa9fe1c16b1181e00ff42c63cf692ec19242f6d4"
     "628604b3382db0806d5e61518f83fc651e6f3bd0a9d1322926a76869b98b75d6"},
    // tcId 23: empty salt, info longer than a block, two output blocks.
    {23, "d04f44faa4542b34f958d8a863801f2c", "",
     "ff6b5b655cbf2421a66d2f28408395a2ce57264f76bd60befd51cbfd9474faa4"
     "7a97a9aa0f0e4338635633023cb36da12a3051f1f369355b687304e74c5218b3"
     "15",
     80, "",
     "76ebb3133cbf07afb653393bea4e4ecdab9d8e8fcc5e79e67d5346312ce9e46e"
     "937b3393170b811e25f7621923f74e519b604ae2b9884fe2d7202782ee9e2010"
     "0f95341d8b6ff1f39db23bab7b7edcd6"},
    // tcId 70: 64-byte ikm and salt.
    {70,
     "9fb35c09d3efebdfe522d4875d9adac74ee7eb7b845432f1cb28a9c9a48ffe63"
     "bfea2fab94106d96eff39629cf57ef5e7c3e94fb95ff8057f0894c1f352806cd",
     "100d0324664c4c02443fc97e5186e38a256133e825398d387fd6138acc8b4783"
     "3f660f52c960b74bfeb30c38fba4b6e426c17dbef9d45e582ef2857afba229ae",
     "e7bd97cdac7d9e6b", 64, "",
     "a50e6839375e2a7eabc5a3610a12225b4e1d6a1cc0b4f600a528cd26ef5fee12"
     "336e39c57a001620c8e4cb9414316b11f11861c314c3acef48251867a2327c9d"},
    // tcId 72: four output blocks.
    {72,
     "908959c6b518c7cc6fdf24ee7d1c05327a1fdacd08b1d66cf7ad554cdeb724e0"
     "445a3741ca47d58f5e67a7514f4834107d710bbdb6a8c1e2d37349ffdad7dd2a",
     "d22c064b2b3a63abe1b4348fa38b9f5ad44167a2588a2b1af8fa862f95a11da7"
     "a5847a0db68d80815734f8260ed29a9226c678d0a60f7aa3cc39a0f9e9a02513",
     "cefa421c2bac0569", 256, "",
     "621851c73876e92e257113bcb8e8ddc810f6985910304c5b481ebd50d600a03c"
     "1f1a7720d7256aabcd74661559c629571a48cf7647acf50e800d8069814a00ab"
     "01c34725bffa515377b9bf26cc3074128e2dc0baa1d765459b92ce5851bff217"
     "895c9fa39b708743b0e6be5a80af85eea19f7861dc46e77c1dad0ec89cb7c66b"
     "42b7b6eaf7cc02d9711e70284dabbf908636ca4cee1148d094519ea8830e0c7a"
     "4bf55bb5756a556bea239f200d4faa5c2991e8e9306c65b3811ceeb881474bc8"
     "4fec0a9fffa8da7733a51dda2e95c04a3d88ebc5c429b2c700e5a1bad5739f89"
     "7c671d45e026595e13c3f71abbe37e79befcbe1ea18cfe3b2e33c387a8489659"},
    // tcId 73 and 74: an empty salt and a salt of 64 zero bytes collide.
    {73,
     "ddba77f227f237c791c07ee7e1ce9d933ecad3614212cc98d4f12afc90a3b21f"
     "4c7c3b4c54f44ad7d1e8ce45cd36aad5cb0bbf84e90cb054a1e7dc558690c5fa",
     "", "6b478027231379b6bbed6c61732aad5636b5aab2", 32, "",
     "1a4d9bb4aebb50780a57fe8e922dfbf5ba6018236b2196a0f96d704b063f739e"},
    {74,
     "ddba77f227f237c791c07ee7e1ce9d933ecad3614212cc98d4f12afc90a3b21f"
     "4c7c3b4c54f44ad7d1e8ce45cd36aad5cb0bbf84e90cb054a1e7dc558690c5fa",
     "00000000000000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000000000000000000000000000000000000000000",
     "6b478027231379b6bbed6c61732aad5636b5aab2", 32, "",
     "1a4d9bb4aebb50780a57fe8e922dfbf5ba6018236b2196a0f96d704b063f739e"},
    // tcId 75: a salt longer than the 128-byte block is hashed first.
    {75,
     "ddba77f227f237c791c07ee7e1ce9d933ecad3614212cc98d4f12afc90a3b21f"
     "4c7c3b4c54f44ad7d1e8ce45cd36aad5cb0bbf84e90cb054a1e7dc558690c5fa",
     "bd37d35e915d6a3431e8ab0fe1f1a3d129d9b6dfcdcb627ae7eb6d15068145cf"
     "f05fa37e6bca0721e9ae696281759f6f1f6784db7c8d30c4b75342ec6d6a1cc2"
     "af",
     "6b478027231379b6bbed6c61732aad5636b5aab2", 32, "",
     "54b3b9a5d7f1713194b8e0621d8d33c6f2034b5005d47bbc90e5883d6af9bc42"},
    // tcId 77: a short salt is padded with zeros.
    {77,
     "ddba77f227f237c791c07ee7e1ce9d933ecad3614212cc98d4f12afc90a3b21f"
     "4c7c3b4c54f44ad7d1e8ce45cd36aad5cb0bbf84e90cb054a1e7dc558690c5fa",
     "1264271934b6a446", "6b478027231379b6bbed6c61732aad5636b5aab2", 32, "",
     "a2d9e9a4248a1f7f42ba1f58119012d9bfac2693d8a7a7570bee13221ede1f98"},
};

void CheckVector(HashAlgorithm alg, const HkdfVector& v) {
  SCOPED_TRACE(::testing::Message() << "vector " << v.id);
  const SecretBytes ikm = SecretFromHex(v.ikm);
  const Bytes salt = FromHex(v.salt);
  const Bytes info = FromHex(v.info);

  Result<SecretBytes> okm = Hkdf(alg, ikm, salt, info, v.length);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  EXPECT_EQ(Hex(*okm), v.okm);

  // The two halves compose to the whole.
  Result<SecretBytes> prk = HkdfExtract(alg, ikm, salt);
  ASSERT_TRUE(prk.ok()) << prk.status().ToString();
  EXPECT_EQ(prk->size(), DigestSize(alg));
  if (!v.prk.empty()) {
    EXPECT_EQ(Hex(*prk), v.prk);
  }
  Result<SecretBytes> expanded = HkdfExpand(alg, *prk, info, v.length);
  ASSERT_TRUE(expanded.ok()) << expanded.status().ToString();
  EXPECT_EQ(Hex(*expanded), v.okm);
}

TEST(HkdfTest, Rfc5869Sha256) {
  for (const HkdfVector& v : kRfc5869) CheckVector(HashAlgorithm::kSha256, v);
}

TEST(HkdfTest, WycheproofSha512) {
  for (const HkdfVector& v : kWycheproofSha512) CheckVector(HashAlgorithm::kSha512, v);
}

TEST(HkdfTest, WycheproofSha512MaximalOutputSize) {
  // Wycheproof hkdf_sha512_test.json tcId 21, "maximal output size": 255 * 64
  // bytes. The expected value is the SHA-256 of that tcId's 16320-byte okm.
  Result<SecretBytes> okm =
      Hkdf(HashAlgorithm::kSha512, SecretFromHex("83c6fa101a922bf4e0ab38c1853b82f8"),
           FromHex("7ea9bd3ed65fdbec456e4859209d0e87336b0a04bd342fccede6fa4cb1233178"
                   "9a9af13d3c96e955a74550883aa5a80e055ad7682a26c8b2343088d05f15f80d"),
           FromHex("c893d162bf0036e4"), 16320);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  ASSERT_EQ(okm->size(), 16320u);
  EXPECT_EQ(HexEncode(RevealSecret(*okm)).substr(0, 64),
            "c80c2cce5fc294e1e680e665bbd7aac8f4fc270436bf0d016022ef38a2c44790");
  EXPECT_EQ(HexEncode(Sha256(RevealSecret(*okm))),
            "f1d2571780c8a83db38dd812b9cab70a8c2e66bfaf1a2fb3632a154ce63a524a");
}

TEST(HkdfTest, WycheproofSha512SizeTooLarge) {
  // Wycheproof hkdf_sha512_test.json tcId 22, result "invalid": 255 * 64 + 1.
  Result<SecretBytes> okm =
      Hkdf(HashAlgorithm::kSha512, SecretFromHex("68563b0e902eb3cc65fbf7f115845b12"),
           FromHex("c4aed79aa346a7914b43668ddc839a249652dcf11b8aa051bcd1796d1ef5e5f7"
                   "66380b4349333359a1177d0c082b1f0de90bdff1fb60646ede4f08a2b1f63786"),
           FromHex("b0aaceb3b0b8c885"), 16321);
  ASSERT_FALSE(okm.ok());
  EXPECT_EQ(okm.status().code(), StatusCode::kInvalidArgument);
}

TEST(HkdfTest, OutputLengthBounds) {
  const SecretBytes ikm(std::string_view("input keying material"));
  for (HashAlgorithm alg :
       {HashAlgorithm::kSha256, HashAlgorithm::kSha384, HashAlgorithm::kSha512}) {
    const size_t max = 255 * DigestSize(alg);
    Result<SecretBytes> at_max = Hkdf(alg, ikm, {}, {}, max);
    ASSERT_TRUE(at_max.ok()) << at_max.status().ToString();
    EXPECT_EQ(at_max->size(), max);
    EXPECT_EQ(Hkdf(alg, ikm, {}, {}, max + 1).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(Hkdf(alg, ikm, {}, {}, 0).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(Hkdf(alg, ikm, {}, {}, 1)->size(), 1u);
  }
}

TEST(HkdfTest, ShorterOutputIsAPrefix) {
  const SecretBytes ikm(std::string_view("input keying material"));
  const Bytes salt = ToBytes("salt");
  const Bytes info = ToBytes("info");
  Result<SecretBytes> long_okm = Hkdf(HashAlgorithm::kSha256, ikm, salt, info, 100);
  ASSERT_TRUE(long_okm.ok());
  for (size_t n : {1u, 31u, 32u, 33u, 64u, 99u}) {
    Result<SecretBytes> okm = Hkdf(HashAlgorithm::kSha256, ikm, salt, info, n);
    ASSERT_TRUE(okm.ok());
    EXPECT_EQ(Hex(*okm), Hex(*long_okm).substr(0, 2 * n)) << n;
  }
}

TEST(HkdfTest, ExtractIsHmacOfIkmKeyedBySalt) {
  // RFC 5869 section 2.2: PRK = HMAC-Hash(salt, IKM), salt defaulting to
  // HashLen zero bytes.
  const SecretBytes ikm(std::string_view("ikm"));
  for (HashAlgorithm alg :
       {HashAlgorithm::kSha256, HashAlgorithm::kSha384, HashAlgorithm::kSha512}) {
    const Bytes salt = ToBytes("a salt");
    Result<SecretBytes> prk = HkdfExtract(alg, ikm, salt);
    ASSERT_TRUE(prk.ok());
    EXPECT_EQ(Hex(*prk), HexEncode(Hmac(alg, salt, RevealSecret(ikm))));
    Result<SecretBytes> unsalted = HkdfExtract(alg, ikm, {});
    ASSERT_TRUE(unsalted.ok());
    EXPECT_EQ(Hex(*unsalted), HexEncode(Hmac(alg, Bytes(DigestSize(alg), 0), RevealSecret(ikm))));
  }
}

TEST(HkdfTest, EmptyIkmIsAllowed) {
  Result<SecretBytes> okm = Hkdf(HashAlgorithm::kSha256, SecretBytes(), {}, {}, 32);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  Result<SecretBytes> prk = HkdfExtract(HashAlgorithm::kSha256, SecretBytes(), {});
  ASSERT_TRUE(prk.ok());
  EXPECT_EQ(Hex(*prk), HexEncode(HmacSha256(Bytes(32, 0), ByteView())));
}

TEST(HkdfTest, ExpandRejectsAShortPrk) {
  EXPECT_EQ(HkdfExpand(HashAlgorithm::kSha256, SecretBytes(31), {}, 32).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(HkdfExpand(HashAlgorithm::kSha512, SecretBytes(32), {}, 32).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(HkdfExpand(HashAlgorithm::kSha256, SecretBytes(32), {}, 32).ok());
  EXPECT_EQ(HkdfExpand(HashAlgorithm::kSha256, SecretBytes(32), {}, 255 * 32 + 1).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(HkdfTest, InfoSeparatesOutputs) {
  const SecretBytes ikm(std::string_view("ikm"));
  Result<SecretBytes> a = Hkdf(HashAlgorithm::kSha256, ikm, {}, ToBytes("purpose a"), 32);
  Result<SecretBytes> b = Hkdf(HashAlgorithm::kSha256, ikm, {}, ToBytes("purpose b"), 32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace coffer::crypto
