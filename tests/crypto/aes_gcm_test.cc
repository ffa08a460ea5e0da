#include "crypto/aes_gcm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/random.h"
#include "test_util.h"

namespace coffer::crypto {
namespace {

using testing::FromHex;
using testing::Hex;
using testing::SecretFromHex;

const Status kAuthenticationFailed(StatusCode::kDataLoss, "authentication failed");

std::unique_ptr<AesGcm> MakeAead(const SecretBytes& key) {
  Result<std::unique_ptr<AesGcm>> aead = AesGcm::Create(key);
  EXPECT_TRUE(aead.ok()) << aead.status().ToString();
  return aead.ok() ? std::move(aead).value() : nullptr;
}

struct GcmVector {
  int id;  // GCM spec test case or Wycheproof tcId
  std::string_view key;
  std::string_view iv;
  std::string_view aad;
  std::string_view plaintext;
  std::string_view ciphertext;
  std::string_view tag;
  bool valid;
};

// McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", appendix B,
// test cases 13-16: the 256-bit key cases with 96-bit IVs (17 and 18 use
// other IV lengths, which AesGcm does not accept).
constexpr GcmVector kGcmSpec[] = {
    {13, "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b", true},
    {14, "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919", true},
    {15, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c", true},
    {16, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b", true},
};

// Wycheproof testvectors_v1/aes_gcm_test.json (C2SP/wycheproof), group with
// keySize 256, ivSize 96, tagSize 128. The ids are the file's tcId.
constexpr GcmVector kWycheproof[] = {
    // tcId 91, 92: known test vectors ("Ktv"); 92 has an empty message.
    {91, "92ace3e348cd821092cd921aa3546374299ab46209691bc28b8752d17f123c20",
     "00112233445566778899aabb", "00000000ffffffff", "00010203040506070809", "e27abdd2d2a53d2f136b",
     "9a4a2579529301bcfb71c78d4060f52c", true},
    {92, "29d3a44f8723dc640239100c365423a312934ac80239212ac3df3421a2098123",
     "00112233445566778899aabb", "aabbccddeeff", "", "", "2a7d77fa526b8250cb296078926b5020", true},
    // tcId 93: empty message and empty AAD.
    {93, "80ba3192c803ce965ea371d5ff073cf0f43b6a2ab576b208426e11409c09b9b0",
     "4da5bf8dfd5852c1ea12379d", "", "", "", "4771a7c404a472966cea8f73c8bfe17a", true},
    // tcId 94: one-byte message.
    {94, "cc56b680552eb75008f5484b4cb803fa5063ebd6eab91f6ab6aef4916a766273",
     "99e23ec48985bccdeeab60f1", "", "2a", "06", "633c1e9703ef744ffffb40edf9d14355", true},
    // tcId 100: one-byte AAD, partial block message.
    {100, "b279f57e19c8f53f2f963f5f2519fdb7c1779be2ca2b3ae8e1128b7d6c627fc4",
     "98bc2c7438d5cd7665d76f6e", "c0", "fcc515b294408c8645c9183e3f4ecee5127846d1",
     "eb5500e3825952866d911253f8de860c00831c81", "ecb660e1fb0541ec41e8d68a64141b3a", true},
    // tcId 105: four whole blocks.
    {105, "5b1d1035c0b17ee0b0444767f80a25b8c1b741f4b50a4d3052226baa1c6fb701",
     "d61040a313ed492823cc065b", "",
     "d096803181beef9e008ff85d5ddc38ddacf0f09ee5f7e07f1e4079cb64d0dc8f"
     "5e6711cd4921a7887de76e2678fdc67618f1185586bfea9d4c685d50e4bb9a82",
     "c7d191b601f86c28b6a1bdef6a57b4f6ee3ae417bc125c381cdf1c4dac184ed1"
     "d84f1196206d62cad112b038845720e02c061179a8836f02b93fa7008379a6bf",
     "f15612f6c40f2e0db6dc76fc4822fcfe", true},
    // tcId 118: AAD of 65 bytes.
    {118, "52350da5a572911ee0e0fcedb115af6f4570fbf9c74a11bc184444d6a621d60f",
     "d68ad045c1b9c2923cf5404c",
     "03a94b3841292d9bbf72f413c09167c54ee10537c049afe2bbcec43b18f3890b"
     "2fcdd3bb31e6d709274e199c0c4648eb3d8b38e0c1bf7f309443bef6937cde41"
     "23",
     "4e6e6dad2c16cfc6e7cac03636a4a6d88bd6a13e", "c7764411be13cfeaaece761bd3bb13552f088048",
     "bcc2544e79f34ea1076a12b76441d6fa", true},
    // tcId 128, 129: special cases with an all-ones and an all-zero tag.
    {128, "00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f",
     "000000000000000000000000", "", "561008fa07a68f5c61285cd013464eaf",
     "23293e9b07ca7d1b0cae7cc489a973b3", "ffffffffffffffffffffffffffffffff", true},
    {129, "00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f",
     "ffffffffffffffffffffffff", "", "c6152244cea1978d3e0bc274cf8c0b3b",
     "7cb6fc7c6abc009efe9551a99f36a421", "00000000000000000000000000000000", true},
    // tcId 130, 142, 148, 152, 153, 155: result "invalid", "ModifiedTag".
    // Flipped bit 0 in tag.
    {130, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "505152535455565758595a5b", "", "202122232425262728292a2b2c2d2e2f",
     "b2061457c0759fc1749f174ee1ccadfa", "9de8fef6d8ab1bf1bf887232eab590dd", false},
    // Flipped bit 96 in tag.
    {142, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "505152535455565758595a5b", "", "202122232425262728292a2b2c2d2e2f",
     "b2061457c0759fc1749f174ee1ccadfa", "9ce8fef6d8ab1bf1bf887232ebb590dd", false},
    // Flipped bit 127 in tag.
    {148, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "505152535455565758595a5b", "", "202122232425262728292a2b2c2d2e2f",
     "b2061457c0759fc1749f174ee1ccadfa", "9ce8fef6d8ab1bf1bf887232eab5905d", false},
    // All bits of tag flipped.
    {152, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "505152535455565758595a5b", "", "202122232425262728292a2b2c2d2e2f",
     "b2061457c0759fc1749f174ee1ccadfa", "631701092754e40e40778dcd154a6f22", false},
    // Tag changed to all zero.
    {153, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "505152535455565758595a5b", "", "202122232425262728292a2b2c2d2e2f",
     "b2061457c0759fc1749f174ee1ccadfa", "00000000000000000000000000000000", false},
    // Most significant bits changed in tag.
    {155, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "505152535455565758595a5b", "", "202122232425262728292a2b2c2d2e2f",
     "b2061457c0759fc1749f174ee1ccadfa", "1c687e76582b9b713f08f2b26a35105d", false},
};

void CheckVector(const GcmVector& v) {
  SCOPED_TRACE(::testing::Message() << "vector " << v.id);
  std::unique_ptr<AesGcm> aead = MakeAead(SecretFromHex(v.key));
  ASSERT_NE(aead, nullptr);
  const Bytes iv = FromHex(v.iv);
  const Bytes aad = FromHex(v.aad);
  const Bytes plaintext = FromHex(v.plaintext);
  const Bytes ciphertext = FromHex(v.ciphertext);
  const Bytes tag = FromHex(v.tag);
  Bytes sealed = ciphertext;
  Append(sealed, tag);

  Result<SecretBytes> opened = aead->Open(iv, sealed, aad);
  Bytes out(ciphertext.size(), 0xa5);
  Status open_into = aead->OpenInto(iv, ciphertext, tag, aad, out);
  if (!v.valid) {
    EXPECT_EQ(opened.status(), kAuthenticationFailed);
    EXPECT_EQ(open_into, kAuthenticationFailed);
    EXPECT_EQ(out, Bytes(ciphertext.size(), 0));
    return;
  }
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(Hex(*opened), v.plaintext);
  ASSERT_TRUE(open_into.ok()) << open_into.ToString();
  EXPECT_EQ(HexEncode(out), v.plaintext);

  Result<Bytes> seal = aead->Seal(iv, plaintext, aad);
  ASSERT_TRUE(seal.ok()) << seal.status().ToString();
  EXPECT_EQ(HexEncode(*seal), HexEncode(sealed));

  Bytes body(plaintext.size());
  std::array<uint8_t, kAesGcmTagSize> tag_out{};
  ASSERT_TRUE(aead->SealInto(iv, plaintext, aad, body, tag_out).ok());
  EXPECT_EQ(HexEncode(body), v.ciphertext);
  EXPECT_EQ(HexEncode(tag_out), v.tag);
}

TEST(AesGcmTest, GcmSpecTestCases13To16) {
  for (const GcmVector& v : kGcmSpec) CheckVector(v);
}

TEST(AesGcmTest, Wycheproof) {
  for (const GcmVector& v : kWycheproof) CheckVector(v);
}

TEST(AesGcmTest, CreateRequiresA256BitKey) {
  for (size_t size : {0u, 16u, 24u, 31u, 33u, 64u}) {
    Result<std::unique_ptr<AesGcm>> aead = AesGcm::Create(SecretBytes(size));
    ASSERT_FALSE(aead.ok()) << size;
    EXPECT_EQ(aead.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(AesGcm::Create(SecretBytes(32)).ok());
}

// A message sealed under test case 16's key, IV and AAD: the base of the
// tampering tests below.
class AesGcmTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aead_ = MakeAead(key_);
    ASSERT_NE(aead_, nullptr);
    Result<Bytes> sealed = aead_->Seal(iv_, plaintext_, aad_);
    ASSERT_TRUE(sealed.ok());
    sealed_ = *sealed;
    ASSERT_TRUE(aead_->Open(iv_, sealed_, aad_).ok());
  }

  const SecretBytes key_ =
      SecretFromHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  const Bytes iv_ = FromHex("cafebabefacedbaddecaf888");
  const Bytes aad_ = FromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const Bytes plaintext_ = ToBytes("a message of more than one block, to cover the GHASH chain");
  std::unique_ptr<AesGcm> aead_;
  Bytes sealed_;
};

Bytes FlipBit(Bytes data, size_t bit) {
  data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  return data;
}

TEST_F(AesGcmTamperTest, EveryCiphertextAndTagBitFlipFails) {
  for (size_t bit = 0; bit < sealed_.size() * 8; ++bit) {
    EXPECT_EQ(aead_->Open(iv_, FlipBit(sealed_, bit), aad_).status(), kAuthenticationFailed)
        << "bit " << bit;
  }
}

TEST_F(AesGcmTamperTest, EveryAadBitFlipFails) {
  for (size_t bit = 0; bit < aad_.size() * 8; ++bit) {
    EXPECT_EQ(aead_->Open(iv_, sealed_, FlipBit(aad_, bit)).status(), kAuthenticationFailed)
        << "bit " << bit;
  }
}

TEST_F(AesGcmTamperTest, EveryIvBitFlipFails) {
  for (size_t bit = 0; bit < iv_.size() * 8; ++bit) {
    EXPECT_EQ(aead_->Open(FlipBit(iv_, bit), sealed_, aad_).status(), kAuthenticationFailed)
        << "bit " << bit;
  }
}

TEST_F(AesGcmTamperTest, AadIsNotOptional) {
  EXPECT_EQ(aead_->Open(iv_, sealed_, {}).status(), kAuthenticationFailed);
  Bytes longer = aad_;
  longer.push_back(0);
  EXPECT_EQ(aead_->Open(iv_, sealed_, longer).status(), kAuthenticationFailed);
}

TEST_F(AesGcmTamperTest, WrongKeyFails) {
  SecretBytes other_key = key_;
  RevealSecretMutable(other_key)[31] ^= 1;
  std::unique_ptr<AesGcm> other = MakeAead(other_key);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->Open(iv_, sealed_, aad_).status(), kAuthenticationFailed);
  EXPECT_EQ(MakeAead(SecretBytes(32))->Open(iv_, sealed_, aad_).status(), kAuthenticationFailed);
}

TEST_F(AesGcmTamperTest, TruncationAndExtensionFail) {
  for (size_t len = 0; len < sealed_.size(); ++len) {
    const Bytes truncated(sealed_.begin(), sealed_.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_EQ(aead_->Open(iv_, truncated, aad_).status(), kAuthenticationFailed) << len;
  }
  Bytes extended = sealed_;
  extended.push_back(0);
  EXPECT_EQ(aead_->Open(iv_, extended, aad_).status(), kAuthenticationFailed);
}

TEST_F(AesGcmTamperTest, OpenIntoZeroesOutputOnFailure) {
  const ByteView ciphertext = ByteView(sealed_).first(plaintext_.size());
  const ByteView tag = ByteView(sealed_).subspan(plaintext_.size());
  const Bytes zeros(plaintext_.size(), 0);

  Bytes out(plaintext_.size(), 0xa5);
  ASSERT_TRUE(aead_->OpenInto(iv_, ciphertext, tag, aad_, out).ok());
  EXPECT_EQ(out, plaintext_);

  // Decryption writes the plaintext before the tag is checked; none of it may
  // remain when the tag is wrong.
  const Bytes bad_tag = FlipBit(Bytes(tag.begin(), tag.end()), 0);
  out.assign(plaintext_.size(), 0xa5);
  EXPECT_EQ(aead_->OpenInto(iv_, ciphertext, bad_tag, aad_, out), kAuthenticationFailed);
  EXPECT_EQ(out, zeros);

  out.assign(plaintext_.size(), 0xa5);
  EXPECT_EQ(aead_->OpenInto(iv_, ciphertext, tag, ToBytes("other aad"), out),
            kAuthenticationFailed);
  EXPECT_EQ(out, zeros);

  out.assign(plaintext_.size(), 0xa5);
  EXPECT_EQ(aead_->OpenInto(iv_, ciphertext, tag.first(15), aad_, out), kAuthenticationFailed);
  EXPECT_EQ(out, zeros);

  out.assign(plaintext_.size(), 0xa5);
  EXPECT_EQ(aead_->OpenInto(ByteView(iv_).first(11), ciphertext, tag, aad_, out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(out, zeros);

  Bytes short_out(plaintext_.size() - 1, 0xa5);
  EXPECT_EQ(aead_->OpenInto(iv_, ciphertext, tag, aad_, short_out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(short_out, Bytes(short_out.size(), 0));
}

TEST(AesGcmTest, EmptyPlaintextAndAad) {
  std::unique_ptr<AesGcm> aead = MakeAead(SecretBytes(32));
  ASSERT_NE(aead, nullptr);
  const Bytes iv(12, 1);
  Result<Bytes> sealed = aead->Seal(iv, {}, {});
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), kAesGcmTagSize);
  Result<SecretBytes> opened = aead->Open(iv, *sealed, {});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(opened->empty());
  EXPECT_TRUE(aead->OpenInto(iv, {}, *sealed, {}, {}).ok());

  // An empty message still authenticates its AAD and IV.
  Result<Bytes> with_aad = aead->Seal(iv, {}, ToBytes("context"));
  ASSERT_TRUE(with_aad.ok());
  EXPECT_TRUE(aead->Open(iv, *with_aad, ToBytes("context")).ok());
  EXPECT_EQ(aead->Open(iv, *with_aad, {}).status(), kAuthenticationFailed);
  EXPECT_EQ(aead->Open(Bytes(12, 2), *sealed, {}).status(), kAuthenticationFailed);
}

TEST(AesGcmTest, IvMustBe96Bits) {
  std::unique_ptr<AesGcm> aead = MakeAead(SecretBytes(32));
  ASSERT_NE(aead, nullptr);
  for (size_t size : {0u, 8u, 11u, 13u, 16u, 60u}) {
    const Bytes iv(size, 0);
    EXPECT_EQ(aead->Seal(iv, ToBytes("m"), {}).status().code(), StatusCode::kInvalidArgument)
        << size;
    EXPECT_EQ(aead->Open(iv, Bytes(17, 0), {}).status().code(), StatusCode::kInvalidArgument)
        << size;
  }
}

TEST(AesGcmTest, SealIntoChecksTheOutputSize) {
  std::unique_ptr<AesGcm> aead = MakeAead(SecretBytes(32));
  ASSERT_NE(aead, nullptr);
  Bytes out(3);
  std::array<uint8_t, kAesGcmTagSize> tag{};
  EXPECT_EQ(aead->SealInto(Bytes(12, 0), ToBytes("four"), {}, out, tag).code(),
            StatusCode::kInvalidArgument);
}

TEST(AesGcmTest, LargeMessageRoundTrips) {
  SeededRandom random(7);
  SecretBytes key(32);
  random.Fill(RevealSecretMutable(key));
  std::unique_ptr<AesGcm> aead = MakeAead(key);
  ASSERT_NE(aead, nullptr);
  Bytes plaintext((1 << 20) + 13);
  random.Fill(plaintext);
  const Bytes iv(12, 9);
  Result<Bytes> sealed = aead->Seal(iv, plaintext, ToBytes("aad"));
  ASSERT_TRUE(sealed.ok());
  ASSERT_EQ(sealed->size(), plaintext.size() + kAesGcmTagSize);
  EXPECT_FALSE(std::equal(plaintext.begin(), plaintext.end(), sealed->begin()));
  Result<SecretBytes> opened = aead->Open(iv, *sealed, ToBytes("aad"));
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(ConstantTimeEquals(RevealSecret(*opened), plaintext));
}

TEST(AesGcmTest, SafeForConcurrentUse) {
  std::unique_ptr<AesGcm> aead = MakeAead(SecretBytes(32));
  ASSERT_NE(aead, nullptr);
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([&aead, &failures, t] {
      for (int i = 0; i < 200; ++i) {
        const Bytes iv(12, static_cast<uint8_t>(t));
        const Bytes message(static_cast<size_t>(i), static_cast<uint8_t>(i));
        Result<Bytes> sealed = aead->Seal(iv, message, {});
        if (!sealed.ok()) {
          ++failures[t];
          continue;
        }
        Result<SecretBytes> opened = aead->Open(iv, *sealed, {});
        if (!opened.ok() || !ConstantTimeEquals(RevealSecret(*opened), message)) ++failures[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(failures.size(), 0));
}

}  // namespace
}  // namespace coffer::crypto
