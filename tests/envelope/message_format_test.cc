// The ESDK message format pieces: context serialization, header grammar, frame
// AAD, key derivation.
#include "envelope/message_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "envelope/errors.h"
#include "testing/status_matchers.h"

namespace coffer::envelope {
namespace {

using ::testing::HasSubstr;

Bytes Hex(std::string_view hex) {
  Result<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

MATCHER_P(HasErrorName, name, "") {
  *result_listener << "which is " << (arg.ok() ? std::string("OK") : arg.ToString());
  return !arg.ok() && arg.error_name() == std::string(name);
}

MessageHeader SampleHeader(AlgorithmSuite suite = AlgorithmSuite::kAes256GcmHkdfSha512Commit) {
  MessageHeader h;
  h.suite = suite;
  for (size_t i = 0; i < kMessageIdSize; ++i) h.message_id[i] = static_cast<uint8_t>(i);
  h.context = {{"a", "b"}};
  if (IsSigned(suite)) h.context[std::string(kPublicKeyContextKey)] = "pk";
  h.encrypted_data_keys = {{"aws-kms", ToBytes("arn:k"), ToBytes("ct")}};
  h.frame_length = 4096;
  for (size_t i = 0; i < kCommitKeySize; ++i) h.commit_key[i] = static_cast<uint8_t>(0xc0 + i);
  return h;
}

TEST(EncryptionContextTest, EmptySerializesToNothing) {
  ASSERT_OK_AND_ASSIGN(Bytes b, SerializeEncryptionContext({}));
  EXPECT_TRUE(b.empty());
}

TEST(EncryptionContextTest, KnownBytes) {
  ASSERT_OK_AND_ASSIGN(Bytes b, SerializeEncryptionContext({{"b", "2"}, {"a", "1"}}));
  // count 2, then ("a", "1") before ("b", "2").
  EXPECT_EQ(HexEncode(b),
            "0002"
            "0001"
            "61"
            "0001"
            "31"
            "0001"
            "62"
            "0001"
            "32");
}

TEST(EncryptionContextTest, SortedByUtf8Bytes) {
  // UTF-8 byte order: "z" (7a) < "été" (c3 a9) < "Ａ" (ef bc a1) < "🔑" (f0 9f 94 91).
  // UTF-16 order would put "🔑" (d83d …) before "Ａ" (ff21).
  EncryptionContext c = {
      {"\xf0\x9f\x94\x91", "1"}, {"\xef\xbc\xa1", "2"}, {"z", "3"}, {"\xc3\xa9t\xc3\xa9", "4"}};
  ASSERT_OK_AND_ASSIGN(Bytes b, SerializeEncryptionContext(c));
  std::string text = ToString(b);
  size_t z = text.find("z"), ete = text.find("\xc3\xa9t"), a = text.find("\xef\xbc\xa1"),
         key = text.find("\xf0\x9f\x94\x91");
  EXPECT_LT(z, ete);
  EXPECT_LT(ete, a);
  EXPECT_LT(a, key);
  ASSERT_OK_AND_ASSIGN(EncryptionContext back, ParseEncryptionContext(b));
  EXPECT_EQ(back, c);
}

TEST(EncryptionContextTest, TooLongIsRefused) {
  EXPECT_THAT(SerializeEncryptionContext({{std::string(65536, 'k'), "v"}}).status(),
              HasErrorName(kInvalidEncryptionContext));
  EXPECT_THAT(SerializeEncryptionContext({{"k", std::string(65536, 'v')}}).status(),
              HasErrorName(kInvalidEncryptionContext));
  // Each field fits, the whole does not.
  EXPECT_THAT(
      SerializeEncryptionContext({{"a", std::string(40000, 'v')}, {"b", std::string(40000, 'v')}})
          .status(),
      HasErrorName(kInvalidEncryptionContext));
}

TEST(EncryptionContextTest, ParseRefusesMalformedPairs) {
  EXPECT_THAT(ParseEncryptionContext(Hex("0000")).status(), HasErrorName(kMalformedMessage));
  EXPECT_THAT(ParseEncryptionContext(Hex("00")).status(), HasErrorName(kMalformedMessage));
  // Two pairs announced, one present.
  EXPECT_THAT(ParseEncryptionContext(Hex("0002000161000162")).status(),
              HasErrorName(kMalformedMessage));
  // A key length past the end.
  EXPECT_THAT(ParseEncryptionContext(Hex("000100056100016200")).status(),
              HasErrorName(kMalformedMessage));
  // Duplicate key.
  Result<EncryptionContext> dup = ParseEncryptionContext(Hex("0002000161000162000161000163"));
  EXPECT_THAT(dup.status(), HasErrorName(kMalformedMessage));
  EXPECT_THAT(dup.status().message(), HasSubstr("duplicate"));
  // Bytes after the last pair.
  EXPECT_THAT(ParseEncryptionContext(Hex("00010001610001620000")).status(),
              HasErrorName(kMalformedMessage));
  // Unsorted pairs are accepted (older SDKs sorted by UTF-16).
  ASSERT_OK_AND_ASSIGN(EncryptionContext c,
                       ParseEncryptionContext(Hex("0002000162000132000161000131")));
  EXPECT_EQ(c, (EncryptionContext{{"a", "1"}, {"b", "2"}}));
}

TEST(MessageHeaderTest, KnownLayout) {
  MessageHeader h = SampleHeader();
  ASSERT_OK_AND_ASSIGN(Bytes body, SerializeHeaderBody(h));
  std::string expected =
      "02"                                                                // version
      "0478"                                                              // suite
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"  // message id
      "0008"
      "0001"
      "0001"
      "61"
      "0001"
      "62"    // AAD
      "0001"  // EDK count
      "0007"
      "6177732d6b6d73"
      "0005"
      "61726e3a6b"
      "0002"
      "6374"                                                               // the EDK
      "02"                                                                 // framed
      "00001000"                                                           // frame length
      "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf";  // commit key
  EXPECT_EQ(HexEncode(body), expected);
}

TEST(MessageHeaderTest, ParseRoundTrips) {
  for (AlgorithmSuite suite : {AlgorithmSuite::kAes256GcmHkdfSha512Commit,
                               AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384}) {
    MessageHeader h = SampleHeader(suite);
    h.encrypted_data_keys.push_back({"raw", Bytes(300, 1), Bytes(48, 2)});
    ASSERT_OK_AND_ASSIGN(Bytes body, SerializeHeaderBody(h));
    Bytes message = body;
    Append(message, Bytes(kTagSize, 0xee));
    Append(message, ToBytes("frames follow"));
    ASSERT_OK_AND_ASSIGN(ParsedHeader p, ParseHeader(message, HeaderLimits()));
    EXPECT_EQ(p.body, body);
    EXPECT_EQ(p.size, body.size() + kTagSize);
    EXPECT_EQ(p.auth_tag,
              (std::array<uint8_t, kTagSize>{0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee,
                                             0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee}));
    EXPECT_EQ(p.header.suite, suite);
    EXPECT_EQ(p.header.message_id, h.message_id);
    EXPECT_EQ(p.header.context, h.context);
    EXPECT_EQ(p.header.encrypted_data_keys, h.encrypted_data_keys);
    EXPECT_EQ(p.header.frame_length, h.frame_length);
    EXPECT_EQ(p.header.commit_key, h.commit_key);
  }
}

TEST(MessageHeaderTest, EveryTruncationIsReported) {
  MessageHeader h = SampleHeader();
  ASSERT_OK_AND_ASSIGN(Bytes body, SerializeHeaderBody(h));
  Append(body, Bytes(kTagSize, 0));
  for (size_t keep = 0; keep < body.size(); ++keep) {
    Result<ParsedHeader> p = ParseHeader(ByteView(body).first(keep), HeaderLimits());
    EXPECT_THAT(p.status(), HasErrorName(kTruncatedMessage)) << keep;
  }
  EXPECT_OK(ParseHeader(body, HeaderLimits()).status());
}

TEST(MessageHeaderTest, FieldChecks) {
  ASSERT_OK_AND_ASSIGN(Bytes good, SerializeHeaderBody(SampleHeader()));
  Append(good, Bytes(kTagSize, 0));
  const size_t type_at = good.size() - kTagSize - 37;
  auto with = [&](size_t at, uint8_t v) {
    Bytes b = good;
    b[at] = v;
    return ParseHeader(b, HeaderLimits()).status();
  };
  EXPECT_THAT(with(0, 0x01), HasErrorName(kUnsupportedAlgorithmSuite));
  EXPECT_THAT(with(0, 0x00), HasErrorName(kNotAnEsdkMessage));
  EXPECT_THAT(with(0, 0x7b), HasErrorName(kNotAnEsdkMessage));
  EXPECT_THAT(with(2, 0x14), HasErrorName(kNotAnEsdkMessage));  // 0x0414
  EXPECT_THAT(with(type_at, kContentTypeNonFramed), HasErrorName(kUnsupportedContentType));
  EXPECT_THAT(with(type_at, 0x00), HasErrorName(kNotAnEsdkMessage));
  // EDK count (after version, suite, id, AAD length and the 8 AAD bytes).
  const size_t edk_count_at = 1 + 2 + 32 + 2 + 8;
  Bytes no_edks = good;
  no_edks[edk_count_at + 1] = 0;
  EXPECT_THAT(ParseHeader(no_edks, HeaderLimits()).status(), HasErrorName(kMalformedMessage));
  Bytes zero_frame = good;
  std::fill_n(zero_frame.begin() + type_at + 1, 4, 0);
  EXPECT_THAT(ParseHeader(zero_frame, HeaderLimits()).status(), HasErrorName(kMalformedMessage));
  Bytes huge_frame = good;
  std::fill_n(huge_frame.begin() + type_at + 1, 4, 0xff);
  EXPECT_THAT(ParseHeader(huge_frame, HeaderLimits()).status(), HasErrorName(kLimitExceeded));
  HeaderLimits any_frame;
  any_frame.max_frame_length = kMaxFrameLength;
  EXPECT_OK(ParseHeader(huge_frame, any_frame).status());
}

TEST(MessageHeaderTest, PublicKeyPresentExactlyForTheSigningSuite) {
  MessageHeader signed_without = SampleHeader(AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384);
  signed_without.context.erase(std::string(kPublicKeyContextKey));
  ASSERT_OK_AND_ASSIGN(Bytes a, SerializeHeaderBody(signed_without));
  Append(a, Bytes(kTagSize, 0));
  EXPECT_THAT(ParseHeader(a, HeaderLimits()).status(), HasErrorName(kMalformedMessage));
  MessageHeader unsigned_with = SampleHeader();
  unsigned_with.context[std::string(kPublicKeyContextKey)] = "pk";
  ASSERT_OK_AND_ASSIGN(Bytes b, SerializeHeaderBody(unsigned_with));
  Append(b, Bytes(kTagSize, 0));
  EXPECT_THAT(ParseHeader(b, HeaderLimits()).status(), HasErrorName(kMalformedMessage));
}

TEST(MessageHeaderTest, Limits) {
  MessageHeader h = SampleHeader();
  h.encrypted_data_keys.assign(5, {"raw", Bytes(10, 1), Bytes(10, 2)});
  ASSERT_OK_AND_ASSIGN(Bytes body, SerializeHeaderBody(h));
  Append(body, Bytes(kTagSize, 0));
  HeaderLimits few_keys;
  few_keys.max_encrypted_data_keys = 4;
  EXPECT_THAT(ParseHeader(body, few_keys).status(), HasErrorName(kLimitExceeded));
  HeaderLimits small;
  small.max_header_size = body.size() - 1;
  EXPECT_THAT(ParseHeader(body, small).status(), HasErrorName(kLimitExceeded));
  small.max_header_size = body.size();
  EXPECT_OK(ParseHeader(body, small).status());
}

TEST(MessageHeaderTest, SerializeRefusesWhatTheFormatCannotHold) {
  MessageHeader no_edks = SampleHeader();
  no_edks.encrypted_data_keys.clear();
  EXPECT_FALSE(SerializeHeaderBody(no_edks).ok());
  MessageHeader zero_frame = SampleHeader();
  zero_frame.frame_length = 0;
  EXPECT_FALSE(SerializeHeaderBody(zero_frame).ok());
  MessageHeader long_edk = SampleHeader();
  long_edk.encrypted_data_keys[0].ciphertext = Bytes(65536, 0);
  EXPECT_FALSE(SerializeHeaderBody(long_edk).ok());
}

TEST(FrameTest, AadAndIv) {
  Bytes id(kMessageIdSize, 0xab);
  Bytes aad = FrameAad(id, false, 7, 4096);
  std::string expected = HexEncode(id) + HexEncode(AsBytes("AWSKMSEncryptionClient Frame")) +
                         "00000007" + "0000000000001000";
  EXPECT_EQ(HexEncode(aad), expected);
  Bytes final_aad = FrameAad(id, true, 0x01020304, 0);
  EXPECT_EQ(HexEncode(final_aad), HexEncode(id) +
                                      HexEncode(AsBytes("AWSKMSEncryptionClient Final Frame")) +
                                      "01020304" + "0000000000000000");
  EXPECT_EQ(HexEncode(FrameIv(0x0a0b0c0d)), "00000000000000000a0b0c0d");
}

TEST(KeyDerivationTest, KnownAnswer) {
  // Computed independently with Python's hmac (RFC 5869 by hand): data key
  // 00..1f, message id 32 × 0x11.
  Bytes key(32);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  Bytes id(kMessageIdSize, 0x11);
  ASSERT_OK_AND_ASSIGN(MessageKeys k0478,
                       DeriveMessageKeys(AlgorithmSuite::kAes256GcmHkdfSha512Commit,
                                         crypto::SecretBytes(ByteView(key)), id));
  EXPECT_EQ(HexEncode(RevealSecret(k0478.encryption_key)),
            "2a8c83ee271629849bfa06f319182c39effe63fef1a89027d79fade2fce94e3a");
  EXPECT_EQ(HexEncode(RevealSecret(k0478.commit_key)),
            "3ae0c3fe10243fd6dec85d3228c197bc7aa32d6539e24086740dd88e8e853045");
  ASSERT_OK_AND_ASSIGN(MessageKeys k0578,
                       DeriveMessageKeys(AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384,
                                         crypto::SecretBytes(ByteView(key)), id));
  // The suite id is in the encryption key's info, not in the commit key's.
  EXPECT_EQ(HexEncode(RevealSecret(k0578.encryption_key)),
            "5669a5917c48602bd6801d8df5820f1ab02887d8952760a84ff4b33ee930b96c");
  EXPECT_EQ(RevealSecret(k0578.commit_key).size(), 32u);
  EXPECT_TRUE(k0578.commit_key == k0478.commit_key);
  EXPECT_FALSE(DeriveMessageKeys(AlgorithmSuite::kAes256GcmHkdfSha512Commit,
                                 crypto::SecretBytes(ByteView(Bytes(16, 0))), id)
                   .ok());
}

TEST(SuiteTest, Ids) {
  EXPECT_EQ(SuiteFromId(0x0478), AlgorithmSuite::kAes256GcmHkdfSha512Commit);
  EXPECT_EQ(SuiteFromId(0x0578), AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384);
  EXPECT_FALSE(SuiteFromId(0x0378));
  EXPECT_TRUE(IsVersion1SuiteId(0x0378));
  EXPECT_TRUE(IsVersion1SuiteId(0x0014));
  EXPECT_FALSE(IsVersion1SuiteId(0x0478));
  EXPECT_EQ(SuiteName(AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384), "0x0578");
}

}  // namespace
}  // namespace coffer::envelope
