// Known answers from the real AWS Encryption SDK: messages written by the SDK
// for JavaScript (testdata/generate_js_vectors.mjs, @aws-crypto/client-node
// 5.0.2, RawAesKeyringNode) decrypt with coffer's reader and raw AES keyring.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "envelope/envelope_reader.h"
#include "envelope/errors.h"
#include "envelope_test_util.h"
#include "testing/files.h"
#include "testing/status_matchers.h"

#ifndef COFFER_ENVELOPE_TESTDATA_DIR
#error "COFFER_ENVELOPE_TESTDATA_DIR must name tests/envelope/testdata"
#endif

namespace coffer::envelope {
namespace {

using ::coffer::envelope::testing::ChunkedSource;
using ::coffer::envelope::testing::Decrypt;
using ::coffer::envelope::testing::Drained;
using ::coffer::envelope::testing::DrainSource;
using ::coffer::envelope::testing::Pattern;
using ::coffer::envelope::testing::VectorKeyring;

constexpr AlgorithmSuite k0478 = AlgorithmSuite::kAes256GcmHkdfSha512Commit;
constexpr AlgorithmSuite k0578 = AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384;

const EncryptionContext kBackupContext = {
    {"coffer:format", "1"}, {"coffer:engine", "sqlite"}, {"coffer:database", "orders"}};

struct Vector {
  const char* name;
  AlgorithmSuite suite;
  uint32_t frame_length;
  size_t size;
  EncryptionContext context;  // without the public key
};

const Vector kVectors[] = {
    {"js-0478-frame64-200", k0478, 64, 200, kBackupContext},
    {"js-0578-frame64-200", k0578, 64, 200, kBackupContext},
    {"js-0578-frame64-128", k0578, 64, 128, kBackupContext},
    {"js-0478-frame4096-0", k0478, 4096, 0, {}},
    {"js-0578-frame1-5", k0578, 1, 5, {{"a", "b"}}},
    {"js-0578-frame4096-5000",
     k0578,
     4096,
     5000,
     {{"z", "last ascii"},
      {"\xc3\xa9t\xc3\xa9", "summer"},
      {"\xf0\x9f\x94\x91", "key"},
      {"\xef\xbc\xa1", "fullwidth A"}}},
};

Bytes ReadVector(const std::string& file) {
  std::string path = COFFER_ENVELOPE_TESTDATA_DIR;
  path.append("/").append(file);
  return ToBytes(coffer::testing::ReadFile(path));
}

TEST(EsdkInteropTest, DecryptsMessagesOfTheJavaScriptSdk) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.name);
    Bytes message = ReadVector(std::string(v.name) + ".esdk");
    Bytes plain = ReadVector(std::string(v.name) + ".plain");
    ASSERT_FALSE(message.empty());
    ASSERT_EQ(plain, Pattern(v.size));
    for (size_t workers : {0, 1, 4}) {
      for (size_t chunk : {size_t{1}, size_t{7}, size_t{1} << 16}) {
        SeededRandom random(1);
        auto keyring = VectorKeyring(random);
        EnvelopeReaderOptions o;
        o.pipeline.workers = workers;
        o.expected_context = v.context;
        ASSERT_OK_AND_ASSIGN(
            auto reader,
            EnvelopeReader::Create(*keyring, std::make_unique<ChunkedSource>(message, chunk), o));
        EXPECT_EQ(reader->header().suite, v.suite);
        EXPECT_EQ(reader->header().frame_length, v.frame_length);
        EncryptionContext context = reader->header().context;
        EXPECT_EQ(context.erase(std::string(kPublicKeyContextKey)), v.suite == k0578 ? 1u : 0u);
        EXPECT_EQ(context, v.context);
        ASSERT_EQ(reader->header().encrypted_data_keys.size(), 1u);
        EXPECT_EQ(reader->header().encrypted_data_keys[0].provider_id, "coffer-test");
        Drained d = DrainSource(*reader, chunk);
        ASSERT_OK(d.status) << "workers " << workers << " chunk " << chunk;
        EXPECT_EQ(d.plaintext, plain);
      }
    }
  }
}

TEST(EsdkInteropTest, DamagedJavaScriptMessagesAreRefused) {
  SeededRandom random(1);
  auto keyring = VectorKeyring(random);
  // The last byte: the final frame's tag (0x0478) or the signature (0x0578).
  Bytes unsigned_message = ReadVector("js-0478-frame64-200.esdk");
  unsigned_message.back() ^= 1;
  EXPECT_EQ(Decrypt(*keyring, unsigned_message, {}).status.error_name(),
            kFrameAuthenticationFailed);
  Bytes signed_message = ReadVector("js-0578-frame64-200.esdk");
  signed_message.back() ^= 1;
  Drained d = Decrypt(*keyring, signed_message, {});
  EXPECT_EQ(d.status.error_name(), kSignatureVerificationFailed);
  EXPECT_EQ(d.plaintext, Pattern(192));  // three regular frames; the final one withheld
  EnvelopeReaderOptions wrong;
  wrong.expected_context = {{"coffer:database", "customers"}};
  EXPECT_EQ(Decrypt(*keyring, ReadVector("js-0578-frame64-200.esdk"), wrong).status.error_name(),
            kEncryptionContextMismatch);
}

}  // namespace
}  // namespace coffer::envelope
