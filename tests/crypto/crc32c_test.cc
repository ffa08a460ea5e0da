#include "crypto/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace coffer::crypto {
namespace {

Bytes Filled(size_t n, uint8_t (*byte)(size_t)) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = byte(i);
  return b;
}

// RFC 3720 §B.4 (iSCSI) test vectors; the RFC lists the CRC bytes as stored
// (little-endian), so "aa 36 91 8a" is 0x8A9136AA.
TEST(Crc32cTest, Rfc3720Vectors) {
  EXPECT_EQ(Crc32c(Filled(32, [](size_t) -> uint8_t { return 0x00; })), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(Filled(32, [](size_t) -> uint8_t { return 0xFF; })), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(Filled(32, [](size_t i) -> uint8_t { return static_cast<uint8_t>(i); })),
            0x46DD794Eu);
  EXPECT_EQ(Crc32c(Filled(32, [](size_t i) -> uint8_t { return static_cast<uint8_t>(31 - i); })),
            0x113FDB5Cu);
  const Bytes iscsi_read = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                            0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                            0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                            0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(Crc32c(iscsi_read), 0xD9963A56u);
}

TEST(Crc32cTest, CheckValueAndEmpty) {
  EXPECT_EQ(Crc32c(AsBytes("123456789")), 0xE3069283u);
  EXPECT_EQ(Crc32c(ByteView()), 0u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::mt19937 rng(7);
  Bytes data(1000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  const uint32_t whole = Crc32c(data);
  for (size_t cut = 0; cut <= data.size(); cut += 37) {
    ByteView all(data);
    EXPECT_EQ(Crc32cExtend(Crc32c(all.first(cut)), all.subspan(cut)), whole) << cut;
  }
}

// The table and the instruction agree on every length and alignment.
TEST(Crc32cTest, PortableAndHardwareAgree) {
  std::mt19937 rng(11);
  Bytes data(300);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  // A bytewise reference straight from the definition.
  auto reference = [](ByteView d) {
    uint32_t c = 0xFFFFFFFF;
    for (uint8_t b : d) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? 0x82F63B78 : 0);
    }
    return ~c;
  };
  for (size_t start = 0; start < 9; ++start) {
    for (size_t n = 0; start + n <= data.size(); n += (n < 40 ? 1 : 13)) {
      ByteView part = ByteView(data).subspan(start, n);
      uint32_t want = reference(part);
      ASSERT_EQ(internal::Crc32cPortable(0, part), want) << start << " " << n;
      if (internal::Crc32cHardwareAvailable()) {
        ASSERT_EQ(internal::Crc32cHardware(0, part), want) << start << " " << n;
      }
      ASSERT_EQ(Crc32c(part), want);
    }
  }
}

TEST(Crc32cTest, DetectsEverySingleBitFlip) {
  Bytes data = ToBytes("an audit record payload of some length, {\"eventName\":\"Decrypt\"}");
  const uint32_t good = Crc32c(data);
  for (size_t i = 0; i < data.size() * 8; ++i) {
    data[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
    EXPECT_NE(Crc32c(data), good) << i;
    data[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
  }
}

}  // namespace
}  // namespace coffer::crypto
