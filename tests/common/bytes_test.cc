#include "common/bytes.h"

#include <gtest/gtest.h>

namespace coffer {
namespace {

TEST(HexTest, RoundTripAndCase) {
  Bytes b = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(HexEncode(b), "0001abff");
  auto d = HexDecode("0001ABff");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, b);
}

TEST(HexTest, RejectsBadInput) {
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

// RFC 4648 section 10 test vectors.
TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<std::string, std::string> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : cases) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), encoded);
    auto d = Base64Decode(encoded);
    ASSERT_TRUE(d.ok()) << encoded;
    EXPECT_EQ(ToString(*d), plain);
  }
}

TEST(Base64Test, RejectsMalformed) {
  EXPECT_FALSE(Base64Decode("Zg=").ok());       // length
  EXPECT_FALSE(Base64Decode("Zm9v!A==").ok());  // alphabet
  EXPECT_FALSE(Base64Decode("Zh==").ok());      // non-canonical trailing bits
  EXPECT_FALSE(Base64Decode("Zm9=Zm9v").ok());  // padding in the middle
  EXPECT_FALSE(Base64Decode("Zm 9v").ok());
}

TEST(Base64Test, AllByteValuesRoundTrip) {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(i);
  for (size_t n = 0; n <= all.size(); n += 37) {
    Bytes part(all.begin(), all.begin() + n);
    auto d = Base64Decode(Base64Encode(part));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, part);
  }
}

TEST(BigEndianTest, AppendAndLoad) {
  Bytes out;
  AppendU16(out, 0x0102);
  AppendU32(out, 0x03040506);
  AppendU64(out, 0x0708090a0b0c0d0eULL);
  EXPECT_EQ(HexEncode(out), "0102030405060708090a0b0c0d0e");
  ByteReader r(out);
  uint16_t a;
  uint32_t b;
  uint64_t c;
  ASSERT_TRUE(r.ReadU16(a) && r.ReadU32(b) && r.ReadU64(c));
  EXPECT_EQ(a, 0x0102);
  EXPECT_EQ(b, 0x03040506u);
  EXPECT_EQ(c, 0x0708090a0b0c0d0eULL);
  uint8_t extra;
  EXPECT_FALSE(r.ReadU8(extra));
}

TEST(ByteReaderTest, ShortReadsFailWithoutMoving) {
  Bytes data = {1, 2, 3};
  ByteReader r(data);
  uint32_t v;
  EXPECT_FALSE(r.ReadU32(v));
  EXPECT_EQ(r.position(), 0u);
  ByteView view;
  EXPECT_FALSE(r.ReadBytes(4, view));
  ASSERT_TRUE(r.ReadBytes(3, view));
  EXPECT_EQ(r.remaining(), 0u);
}

}  // namespace
}  // namespace coffer
