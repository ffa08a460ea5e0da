#include "kms/ciphertext_blob.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "common/bytes.h"
#include "crypto/hash.h"
#include "kms_fixture.h"

namespace coffer::kms {
namespace {

using ::coffer::kms::testing::IsError;
using ::coffer::kms::testing::IsOk;

constexpr char kUuid[] = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff";
const std::array<uint8_t, 16> kUuidBytes = {0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x49, 0x78,
                                            0x86, 0x95, 0xa4, 0xb3, 0xc2, 0xd1, 0xe0, 0xff};

Bytes Hex(std::string_view hex) {
  auto b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

// A well-formed blob: the header, a nonce of 0xaa, `n` ciphertext bytes of
// 0xcc and a tag of 0xee.
Bytes MakeBlob(uint32_t version, size_t n) {
  Bytes blob = BlobHeader(kUuid, version);
  blob.insert(blob.end(), kBlobNonceSize, 0xaa);
  blob.insert(blob.end(), n, 0xcc);
  blob.insert(blob.end(), kBlobTagSize, 0xee);
  return blob;
}

TEST(CiphertextBlobTest, ConstantsMatchTheFormatDocument) {
  EXPECT_EQ(kBlobVersion, 0x01);
  EXPECT_EQ(kBlobHeaderSize, 25u);
  EXPECT_EQ(kBlobCheckedSize, 21u);
  EXPECT_EQ(kBlobNonceSize, 32u);
  EXPECT_EQ(kBlobTagSize, 16u);
  EXPECT_EQ(kBlobOverhead, 73u);
  EXPECT_EQ(kBlobOverhead + 4096, 4169u);  // the largest blob, under AWS's 6144
  EXPECT_EQ(std::string(kBlobKeyInfo), "coffer kms ciphertext v1");
}

TEST(CiphertextBlobTest, HeaderLayout) {
  Bytes h = BlobHeader(kUuid, 0x01020304);
  ASSERT_EQ(h.size(), kBlobHeaderSize);
  EXPECT_EQ(h[0], 0x01);
  EXPECT_EQ(Bytes(h.begin() + 1, h.begin() + 17), Bytes(kUuidBytes.begin(), kUuidBytes.end()));
  EXPECT_EQ(HexEncode(ByteView(h.data() + 17, 4)), "01020304");  // big-endian
  Bytes digest = crypto::Sha256(ByteView(h.data(), 21));
  EXPECT_EQ(Bytes(h.begin() + 21, h.end()), Bytes(digest.begin(), digest.begin() + 4));
}

TEST(CiphertextBlobTest, HeaderOfAnUpperCaseUuidIsTheSame) {
  std::string upper = kUuid;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(BlobHeader(upper, 1), BlobHeader(kUuid, 1));
}

TEST(CiphertextBlobTest, ParsesAValidBlob) {
  Bytes blob = MakeBlob(7, 5);
  auto parsed = ParseBlob(blob);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->key_id, kUuid);
  EXPECT_EQ(parsed->material_version, 7u);
  EXPECT_EQ(parsed->header.data(), blob.data());
  EXPECT_EQ(parsed->header.size(), 25u);
  EXPECT_EQ(parsed->nonce.data(), blob.data() + 25);
  EXPECT_EQ(parsed->nonce.size(), 32u);
  EXPECT_EQ(parsed->ciphertext.data(), blob.data() + 57);
  EXPECT_EQ(parsed->ciphertext.size(), 5u);
  EXPECT_EQ(parsed->tag.data(), blob.data() + 62);
  EXPECT_EQ(parsed->tag.size(), 16u);
  EXPECT_EQ(ToString(parsed->ciphertext), std::string(5, '\xcc'));
  EXPECT_EQ(ToString(parsed->tag), std::string(16, '\xee'));
}

TEST(CiphertextBlobTest, ParsesTheLargestMaterialVersion) {
  auto parsed = ParseBlob(MakeBlob(0xffffffffu, 1));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->material_version, 0xffffffffu);
}

TEST(CiphertextBlobTest, MinimumLengthIsTheOverhead) {
  // 73 bytes parse (an empty ciphertext, which then fails the tag); 72 do not.
  Bytes blob = MakeBlob(1, 0);
  ASSERT_EQ(blob.size(), 73u);
  auto parsed = ParseBlob(blob);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_TRUE(parsed->ciphertext.empty());
  for (size_t n = 0; n < 73; ++n) {
    EXPECT_THAT(ParseBlob(ByteView(blob.data(), n)), IsError("InvalidCiphertextException", ""))
        << "length " << n;
  }
}

TEST(CiphertextBlobTest, RejectsOtherFormatVersions) {
  for (int version : {0x00, 0x02, 0x10, 0xff}) {
    Bytes blob = MakeBlob(1, 8);
    blob[0] = static_cast<uint8_t>(version);
    // Recompute the check so that only the version is wrong.
    Bytes digest = crypto::Sha256(ByteView(blob.data(), 21));
    std::copy(digest.begin(), digest.begin() + 4, blob.begin() + 21);
    EXPECT_THAT(ParseBlob(blob), IsError("InvalidCiphertextException", "")) << version;
  }
}

TEST(CiphertextBlobTest, RejectsABadHeaderCheck) {
  Bytes good = MakeBlob(3, 8);
  // Every byte the check covers, and the check itself.
  for (size_t i = 1; i < kBlobHeaderSize; ++i) {
    for (uint8_t pattern : {0x01, 0x80, 0xff}) {
      Bytes blob = good;
      blob[i] ^= pattern;
      EXPECT_THAT(ParseBlob(blob), IsError("InvalidCiphertextException", ""))
          << "byte " << i << " pattern " << int(pattern);
    }
  }
}

TEST(CiphertextBlobTest, BytesAfterTheHeaderAreNotChecked) {
  // The nonce, ciphertext and tag are the AEAD's to check, not the parser's.
  Bytes blob = MakeBlob(3, 8);
  for (size_t i = kBlobHeaderSize; i < blob.size(); ++i) blob[i] ^= 0x5a;
  EXPECT_THAT(ParseBlob(blob), IsOk());
}

TEST(CiphertextBlobTest, RejectsMaterialVersionZero) {
  Bytes blob = MakeBlob(0, 8);  // a correct check over version 0
  EXPECT_THAT(ParseBlob(blob), IsError("InvalidCiphertextException", ""));
}

// ---- encryption context --------------------------------------------------------

TEST(EncryptionContextEncodingTest, EmptyContextIsTwoZeroBytes) {
  auto encoded = EncodeEncryptionContext({});
  ASSERT_THAT(encoded, IsOk());
  EXPECT_EQ(HexEncode(*encoded), "0000");
}

TEST(EncryptionContextEncodingTest, OnePair) {
  auto encoded = EncodeEncryptionContext({{"purpose", "test"}});
  ASSERT_THAT(encoded, IsOk());
  EXPECT_EQ(*encoded, Hex("0001"
                          "0007"
                          "707572706f7365"
                          "0004"
                          "74657374"));
}

TEST(EncryptionContextEncodingTest, PairsAreSortedByKeyBytes) {
  // "B" (0x42) < "a" (0x61) < "aa" < "b" < "\xc3\xa9" (é, UTF-8).
  EncryptionContext ctx = {{"b", "4"}, {"\xc3\xa9", "5"}, {"aa", "3"}, {"a", "2"}, {"B", "1"}};
  auto encoded = EncodeEncryptionContext(ctx);
  ASSERT_THAT(encoded, IsOk());
  EXPECT_EQ(*encoded, Hex("0005"
                          "0001"
                          "42"
                          "0001"
                          "31"
                          "0001"
                          "61"
                          "0001"
                          "32"
                          "0002"
                          "6161"
                          "0001"
                          "33"
                          "0001"
                          "62"
                          "0001"
                          "34"
                          "0002"
                          "c3a9"
                          "0001"
                          "35"));
}

TEST(EncryptionContextEncodingTest, EmptyValuesAndKeys) {
  auto encoded = EncodeEncryptionContext({{"", ""}, {"k", ""}});
  ASSERT_THAT(encoded, IsOk());
  EXPECT_EQ(HexEncode(*encoded),
            "0002"
            "0000"
            "0000"
            "0001"
            "6b"
            "0000");
}

TEST(EncryptionContextEncodingTest, LengthLimits) {
  std::string max(0xffff, 'k');
  auto at_limit = EncodeEncryptionContext({{max, max}});
  ASSERT_THAT(at_limit, IsOk());
  EXPECT_EQ(at_limit->size(), 2u + 2 + 0xffff + 2 + 0xffff);
  EXPECT_EQ(HexEncode(ByteView(at_limit->data(), 4)), "0001ffff");

  std::string over(0x10000, 'k');
  EXPECT_THAT(EncodeEncryptionContext({{over, "v"}}),
              IsError("ValidationException", "Encryption context key or value is too long"));
  EXPECT_THAT(EncodeEncryptionContext({{"k", over}}),
              IsError("ValidationException", "Encryption context key or value is too long"));
}

TEST(EncryptionContextEncodingTest, CountLimit) {
  EncryptionContext ctx;
  for (int i = 0; i < 0xffff; ++i) ctx.emplace(std::to_string(i), "");
  auto at_limit = EncodeEncryptionContext(ctx);
  ASSERT_THAT(at_limit, IsOk());
  EXPECT_EQ(HexEncode(ByteView(at_limit->data(), 2)), "ffff");
  ctx.emplace("one more", "");
  EXPECT_THAT(EncodeEncryptionContext(ctx),
              IsError("ValidationException", "Encryption context has too many entries"));
}

// ---- UUIDs ----------------------------------------------------------------------

TEST(UuidTest, ParsesCanonicalLowerAndUpperCase) {
  std::array<uint8_t, 16> out{};
  ASSERT_TRUE(ParseUuid(kUuid, out));
  EXPECT_EQ(out, kUuidBytes);
  out = {};
  ASSERT_TRUE(ParseUuid("0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0FF", out));
  EXPECT_EQ(out, kUuidBytes);
  out = {};
  ASSERT_TRUE(ParseUuid("0f1E2d3C-4b5A-4978-8695-a4B3c2D1e0Ff", out));
  EXPECT_EQ(out, kUuidBytes);
}

TEST(UuidTest, RejectsEverythingElse) {
  std::array<uint8_t, 16> out{};
  for (std::string_view bad : {
           "",
           "0f1e2d3c4b5a49788695a4b3c2d1e0ff",       // no dashes
           "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f",    // short
           "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fff",  // long
           "0f1e2d3c-4b5a-4978-8695a-4b3c2d1e0ff",   // dash moved
           "0f1e2d3-c4b5a-4978-8695-a4b3c2d1e0ff",   // dash moved
           "0f1e2d3c_4b5a_4978_8695_a4b3c2d1e0ff",   // other separators
           "0f1e2d3g-4b5a-4978-8695-a4b3c2d1e0ff",   // not hex
           "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f ",   // space
           "{f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f}",   // braces
           "-0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f",
       }) {
    EXPECT_FALSE(ParseUuid(bad, out)) << "'" << bad << "'";
  }
}

TEST(UuidTest, FormatIsLowerCaseCanonical) {
  EXPECT_EQ(FormatUuid(kUuidBytes.data()), kUuid);
  std::array<uint8_t, 16> zeros{};
  EXPECT_EQ(FormatUuid(zeros.data()), "00000000-0000-0000-0000-000000000000");
  std::array<uint8_t, 16> ones;
  ones.fill(0xff);
  EXPECT_EQ(FormatUuid(ones.data()), "ffffffff-ffff-ffff-ffff-ffffffffffff");
}

TEST(UuidTest, RoundTrips) {
  SeededRandom random(7);
  for (int i = 0; i < 100; ++i) {
    std::array<uint8_t, 16> bytes{};
    random.Fill(bytes);
    std::string text = FormatUuid(bytes.data());
    std::array<uint8_t, 16> back{};
    ASSERT_TRUE(ParseUuid(text, back)) << text;
    EXPECT_EQ(back, bytes);
  }
}

}  // namespace
}  // namespace coffer::kms
