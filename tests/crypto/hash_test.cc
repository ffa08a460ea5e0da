#include "crypto/hash.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "test_util.h"

namespace coffer::crypto {
namespace {

using testing::FromHex;

// FIPS 180-2 appendix B / C / D example messages (the same as the NIST
// "Cryptographic Standards and Guidelines: Examples with Intermediate Values").
constexpr std::string_view kAbc = "abc";
constexpr std::string_view kMessage448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

std::string Sha256Hex(std::string_view s) { return HexEncode(Sha256(AsBytes(s))); }
std::string Sha384Hex(std::string_view s) { return HexEncode(Sha384(AsBytes(s))); }
std::string Sha512Hex(std::string_view s) { return HexEncode(Sha512(AsBytes(s))); }

TEST(DigestTest, Sizes) {
  EXPECT_EQ(DigestSize(HashAlgorithm::kSha256), 32u);
  EXPECT_EQ(DigestSize(HashAlgorithm::kSha384), 48u);
  EXPECT_EQ(DigestSize(HashAlgorithm::kSha512), 64u);
}

TEST(DigestTest, Sha256Fips180) {
  // FIPS 180-2 B.1 (one block), B.2 (multi-block); the empty string.
  EXPECT_EQ(Sha256Hex(kAbc), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex(kMessage448),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(DigestTest, Sha256OneMillionA) {
  // FIPS 180-2 B.3: one million repetitions of 'a'.
  const std::string million(1000000, 'a');
  EXPECT_EQ(Sha256Hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(DigestTest, Sha384Fips180) {
  EXPECT_EQ(Sha384Hex(kAbc),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
            "8086072ba1e7cc2358baeca134c825a7");
  EXPECT_EQ(Sha384Hex(""),
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da"
            "274edebfe76f65fbd51ad2f14898b95b");
  EXPECT_EQ(Sha384Hex(kMessage448),
            "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6"
            "b0455a8520bc4e6f5fe95b1fe3c8452b");
}

TEST(DigestTest, Sha512Fips180) {
  EXPECT_EQ(Sha512Hex(kAbc),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(Sha512Hex(""),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
  EXPECT_EQ(Sha512Hex(kMessage448),
            "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
            "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445");
}

TEST(DigestTest, GenericDigestMatchesNamedFunctions) {
  const ByteView data = AsBytes(kMessage448);
  EXPECT_EQ(Digest(HashAlgorithm::kSha256, data), Sha256(data));
  EXPECT_EQ(Digest(HashAlgorithm::kSha384, data), Sha384(data));
  EXPECT_EQ(Digest(HashAlgorithm::kSha512, data), Sha512(data));
  for (HashAlgorithm alg :
       {HashAlgorithm::kSha256, HashAlgorithm::kSha384, HashAlgorithm::kSha512}) {
    EXPECT_EQ(Digest(alg, data).size(), DigestSize(alg));
  }
}

TEST(Sha256HasherTest, EverySplitMatchesOneShot) {
  const Bytes expected = Sha256(AsBytes(kMessage448));
  Sha256Hasher hasher;
  for (size_t split = 0; split <= kMessage448.size(); ++split) {
    hasher.Update(AsBytes(kMessage448.substr(0, split)));
    hasher.Update(AsBytes(kMessage448.substr(split)));
    EXPECT_EQ(hasher.Finish(), expected) << "split at " << split;
  }
}

TEST(Sha256HasherTest, OneMillionAInChunks) {
  const std::string chunk(1000, 'a');
  Sha256Hasher hasher;
  for (int i = 0; i < 1000; ++i) hasher.Update(AsBytes(chunk));
  EXPECT_EQ(HexEncode(hasher.Finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256HasherTest, FinishResets) {
  Sha256Hasher hasher;
  hasher.Update(AsBytes(kAbc));
  EXPECT_EQ(HexEncode(hasher.Finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Nothing of "abc" carries over: the next digest is of the empty string.
  EXPECT_EQ(HexEncode(hasher.Finish()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  hasher.Update(AsBytes(kAbc));
  EXPECT_EQ(hasher.Finish(), Sha256(AsBytes(kAbc)));
}

// RFC 4231 section 4: HMAC-SHA-256 test cases. Case 5 (truncated output) is
// left out: HmacSha256 always returns the full 32 bytes.
struct HmacVector {
  int test_case;
  Bytes key;
  Bytes data;
  std::string_view hmac_sha256;
};

TEST(HmacTest, Rfc4231) {
  const HmacVector vectors[] = {
      {1, Bytes(20, 0x0b), ToBytes("Hi There"),
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {2, ToBytes("Jefe"), ToBytes("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {3, Bytes(20, 0xaa), Bytes(50, 0xdd),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {4, FromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"), Bytes(50, 0xcd),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      // Keys longer than the 64-byte block are hashed first.
      {6, Bytes(131, 0xaa), ToBytes("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {7, Bytes(131, 0xaa),
       ToBytes("This is a test using a larger than block-size key and a larger than block-size "
               "data. The key needs to be hashed before being used by the HMAC algorithm."),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const HmacVector& v : vectors) {
    EXPECT_EQ(HexEncode(HmacSha256(v.key, v.data)), v.hmac_sha256) << "test case " << v.test_case;
    EXPECT_EQ(Hmac(HashAlgorithm::kSha256, v.key, v.data), HmacSha256(v.key, v.data));
  }
}

TEST(HmacTest, Rfc4231Sha384AndSha512) {
  // RFC 4231 section 4.2, test case 1, the SHA-384 and SHA-512 columns.
  const Bytes key(20, 0x0b);
  const Bytes data = ToBytes("Hi There");
  EXPECT_EQ(HexEncode(Hmac(HashAlgorithm::kSha384, key, data)),
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
            "faea9ea9076ede7f4af152e8b2fa9cb6");
  EXPECT_EQ(HexEncode(Hmac(HashAlgorithm::kSha512, key, data)),
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
}

TEST(HmacTest, EmptyKeyIsTheZeroKey) {
  // RFC 2104 section 2: the key is padded with zeros to the block size, so an
  // empty key, a 32-byte zero key and a 64-byte zero key give the same MAC.
  const Bytes data = ToBytes("data");
  const Bytes mac = HmacSha256(ByteView(), data);
  EXPECT_EQ(mac.size(), 32u);
  EXPECT_EQ(mac, HmacSha256(Bytes(32, 0), data));
  EXPECT_EQ(mac, HmacSha256(Bytes(64, 0), data));
  EXPECT_NE(mac, HmacSha256(Bytes(65, 0), data));  // longer than a block: hashed first
}

TEST(HmacTest, EmptyData) {
  EXPECT_EQ(HmacSha256(ToBytes("key"), ByteView()).size(), 32u);
  EXPECT_NE(HmacSha256(ToBytes("key"), ByteView()), HmacSha256(ToBytes("key"), Bytes(1, 0)));
}

TEST(HmacTest, ChainsLikeSigV4) {
  // SigV4 derives its signing key by chaining HMACs, each keyed by the last
  // output; the key type must accept a previous result directly.
  Bytes key = ToBytes("AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  for (std::string_view part : {"20150830", "us-east-1", "iam", "aws4_request"}) {
    key = HmacSha256(key, AsBytes(part));
  }
  // AWS documentation, "Create a signature for AWS Signature Version 4".
  EXPECT_EQ(HexEncode(key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

}  // namespace
}  // namespace coffer::crypto
