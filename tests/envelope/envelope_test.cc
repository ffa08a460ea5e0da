// EnvelopeWriter and EnvelopeReader: round trips, every rejection, the release
// rule, parallelism.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "common/thread_pool.h"
#include "envelope/envelope_reader.h"
#include "envelope/envelope_writer.h"
#include "envelope/errors.h"
#include "envelope/message_format.h"
#include "envelope_test_util.h"
#include "testing/status_matchers.h"

namespace coffer::envelope {
namespace {

using ::coffer::envelope::testing::ChunkedSource;
using ::coffer::envelope::testing::Decrypt;
using ::coffer::envelope::testing::Drained;
using ::coffer::envelope::testing::DrainSource;
using ::coffer::envelope::testing::Encrypt;
using ::coffer::envelope::testing::FailingSource;
using ::coffer::envelope::testing::FixedKeyring;
using ::coffer::envelope::testing::NullSink;
using ::coffer::envelope::testing::Pattern;
using ::coffer::envelope::testing::RecordingSink;
using ::coffer::envelope::testing::SinkLog;
using ::coffer::envelope::testing::VectorKeyring;
using ::coffer::envelope::testing::WriteAll;
using ::testing::HasSubstr;

constexpr AlgorithmSuite k0478 = AlgorithmSuite::kAes256GcmHkdfSha512Commit;
constexpr AlgorithmSuite k0578 = AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384;

const EncryptionContext kContext = {
    {"coffer:format", "1"}, {"coffer:engine", "sqlite"}, {"coffer:database", "orders"}};

EnvelopeWriterOptions WriterOptions(AlgorithmSuite suite, uint32_t frame_length,
                                    size_t workers = 2) {
  EnvelopeWriterOptions o;
  o.suite = suite;
  o.frame_length = frame_length;
  o.pipeline.workers = workers;
  return o;
}

EnvelopeReaderOptions ReaderOptions(size_t workers = 2) {
  EnvelopeReaderOptions o;
  o.pipeline.workers = workers;
  return o;
}

// A message and where its parts are.
struct Layout {
  Bytes message;
  size_t header_size = 0;  // body and tag
  uint32_t frame_length = 0;
  size_t RegularFrameOffset(size_t sequence) const {
    return header_size + (sequence - 1) * (kRegularFrameHeaderSize + frame_length + kTagSize);
  }
  size_t RegularFrameSize() const { return kRegularFrameHeaderSize + frame_length + kTagSize; }
};

class EnvelopeTest : public ::testing::Test {
 protected:
  EnvelopeTest() : random_(1), keyring_(VectorKeyring(random_)) {}

  Layout Make(AlgorithmSuite suite, uint32_t frame_length, size_t size,
              const EncryptionContext& context = kContext) {
    Layout l;
    l.frame_length = frame_length;
    auto message =
        Encrypt(*keyring_, random_, Pattern(size), context, WriterOptions(suite, frame_length));
    EXPECT_TRUE(message.ok()) << message.status().ToString();
    if (!message.ok()) return l;
    l.message = std::move(message).value();
    auto parsed = ParseHeader(l.message, HeaderLimits());
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    if (parsed.ok()) l.header_size = parsed->size;
    return l;
  }

  Drained Open(ByteView message, const EnvelopeReaderOptions& options = ReaderOptions()) {
    return Decrypt(*keyring_, message, options);
  }

  SeededRandom random_;
  std::unique_ptr<RawAesKeyring> keyring_;
};

MATCHER_P(HasErrorName, name, "") {
  *result_listener << "which is " << (arg.ok() ? std::string("OK") : arg.ToString());
  return !arg.ok() && arg.error_name() == std::string(name);
}

// ---------------------------------------------------------------------------
// Round trips

TEST_F(EnvelopeTest, RoundTripsBothSuitesAcrossFrameLengthsAndSizes) {
  for (AlgorithmSuite suite : {k0478, k0578}) {
    for (uint32_t fl : {1u, 2u, 7u, 64u, 4096u, 1u << 20}) {
      std::vector<size_t> sizes = {
          0, 1, 2, fl - 1, fl, size_t{fl} + 1, 3 * size_t{fl}, 3 * size_t{fl} + 5};
      if (fl <= 64) sizes.push_back(1000);
      for (size_t size : sizes) {
        SCOPED_TRACE("suite " + SuiteName(suite) + " frame " + std::to_string(fl) + " size " +
                     std::to_string(size));
        Bytes plain = Pattern(size);
        ASSERT_OK_AND_ASSIGN(
            Bytes message, Encrypt(*keyring_, random_, plain, kContext, WriterOptions(suite, fl)));
        Drained d = Open(message);
        ASSERT_OK(d.status);
        EXPECT_EQ(d.plaintext, plain);
      }
    }
  }
}

TEST_F(EnvelopeTest, MessageSizeIsWhatTheFormatSays) {
  // header ‖ floor(n / fl) regular frames ‖ final frame (n mod fl bytes) ‖ footer.
  for (size_t size : {0, 1, 63, 64, 65, 640}) {
    Layout l = Make(k0478, 64, size);
    size_t regular = size / 64;
    size_t expected = l.header_size + regular * l.RegularFrameSize() + kFinalFrameHeaderSize +
                      (size % 64) + kTagSize;
    EXPECT_EQ(l.message.size(), expected) << size;
  }
}

TEST_F(EnvelopeTest, HeaderCarriesTheContextEdksAndSuite) {
  Bytes message;
  ASSERT_OK_AND_ASSIGN(auto writer,
                       EnvelopeWriter::Create(*keyring_, kContext, random_, MemorySink(message),
                                              WriterOptions(k0578, 100)));
  ASSERT_OK(WriteAll(*writer, Pattern(250), 7));
  EXPECT_EQ(writer->plaintext_size(), 250u);
  EXPECT_EQ(writer->message_size(), message.size());
  const MessageHeader& written = writer->header();
  EXPECT_TRUE(written.context.contains(std::string(kPublicKeyContextKey)));
  EXPECT_EQ(written.context.size(), kContext.size() + 1);

  ASSERT_OK_AND_ASSIGN(auto reader,
                       EnvelopeReader::Create(*keyring_, MemorySource(message), ReaderOptions()));
  const MessageHeader& read = reader->header();
  EXPECT_EQ(read.suite, k0578);
  EXPECT_EQ(read.frame_length, 100u);
  EXPECT_EQ(read.context, written.context);
  EXPECT_EQ(read.message_id, written.message_id);
  ASSERT_EQ(read.encrypted_data_keys.size(), 1u);
  EXPECT_EQ(read.encrypted_data_keys[0].provider_id, "coffer-test");
  Drained d = DrainSource(*reader, 33);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.plaintext, Pattern(250));
  EXPECT_EQ(reader->plaintext_size(), 250u);
  // After the end, Read keeps returning 0.
  uint8_t b[4];
  ASSERT_OK_AND_ASSIGN(size_t n, reader->Read(b));
  EXPECT_EQ(n, 0u);
}

// Random frame lengths, sizes (with the edges around multiples of the frame
// length), write and read chunkings, upstream chunking, suites and workers.
TEST_F(EnvelopeTest, PropertyRandomShapesRoundTrip) {
  std::mt19937_64 rng(20240611);
  for (int iteration = 0; iteration < 150; ++iteration) {
    const uint32_t fl = static_cast<uint32_t>(1 + rng() % (iteration % 3 == 0 ? 16 : 3000));
    size_t size;
    switch (rng() % 6) {
      case 0:
        size = 0;
        break;
      case 1:
        size = 1;
        break;
      case 2:
        size = fl * (rng() % 5);  // an exact multiple, 0 included
        break;
      case 3:
        size = fl * (1 + rng() % 5) + 1;
        break;
      case 4:
        size = fl * (1 + rng() % 5) - 1;
        break;
      default:
        size = rng() % 20000;
    }
    const AlgorithmSuite suite = rng() % 2 ? k0478 : k0578;
    const size_t workers = std::vector<size_t>{0, 1, 2, 4}[rng() % 4];
    const size_t write_chunk = 1 + rng() % 5000;
    const size_t read_chunk = 1 + rng() % 5000;
    const size_t upstream_chunk = 1 + rng() % 3000;
    SCOPED_TRACE("iteration " + std::to_string(iteration) + ": suite " + SuiteName(suite) +
                 " frame " + std::to_string(fl) + " size " + std::to_string(size) + " workers " +
                 std::to_string(workers));
    Bytes plain = Pattern(size, static_cast<uint8_t>(iteration));
    ASSERT_OK_AND_ASSIGN(Bytes message, Encrypt(*keyring_, random_, plain, kContext,
                                                WriterOptions(suite, fl, workers), write_chunk));
    Drained d = Decrypt(*keyring_, message, ReaderOptions(workers), read_chunk, upstream_chunk);
    ASSERT_OK(d.status);
    ASSERT_EQ(d.plaintext, plain);
  }
}

// The same seeded randomness gives byte-identical messages whatever the
// parallelism: frames come out in order, sealed the same way.
TEST_F(EnvelopeTest, OutputIsIndependentOfParallelism) {
  Bytes plain = Pattern(300 * 1000 + 17);
  Bytes reference;
  for (size_t workers : {0, 1, 2, 4}) {
    for (size_t in_flight : {0, 1, 3}) {
      SeededRandom random(99);
      auto keyring = VectorKeyring(random);
      EnvelopeWriterOptions o = WriterOptions(k0478, 4096, workers);
      o.pipeline.max_in_flight = in_flight;
      ASSERT_OK_AND_ASSIGN(Bytes message, Encrypt(*keyring, random, plain, kContext, o, 10000));
      if (reference.empty()) reference = message;
      EXPECT_EQ(message, reference) << "workers " << workers << " in flight " << in_flight;
      EnvelopeReaderOptions r = ReaderOptions(workers);
      r.pipeline.max_in_flight = in_flight;
      Drained d = Decrypt(*keyring, message, r, 777);
      ASSERT_OK(d.status);
      EXPECT_EQ(d.plaintext, plain);
    }
  }
}

TEST_F(EnvelopeTest, SharedThreadPool) {
  ThreadPool pool(3, 16);
  Bytes plain = Pattern(100000);
  EnvelopeWriterOptions w = WriterOptions(k0578, 1000);
  w.pipeline.pool = &pool;
  ASSERT_OK_AND_ASSIGN(Bytes message, Encrypt(*keyring_, random_, plain, kContext, w));
  EnvelopeReaderOptions r;
  r.pipeline.pool = &pool;
  Drained d = Decrypt(*keyring_, message, r, 4096);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.plaintext, plain);
}

TEST_F(EnvelopeTest, ExpectedContextSubsetIsAccepted) {
  Layout l = Make(k0578, 64, 100);
  EnvelopeReaderOptions o = ReaderOptions();
  o.expected_context = {{"coffer:database", "orders"}, {"coffer:engine", "sqlite"}};
  Drained d = Open(l.message, o);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.plaintext, Pattern(100));
}

TEST_F(EnvelopeTest, EmptyContextRoundTrips) {
  Layout l = Make(k0478, 64, 100, {});
  Drained d = Open(l.message);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.plaintext, Pattern(100));
}

// ---------------------------------------------------------------------------
// The writer's own refusals

TEST_F(EnvelopeTest, WriterRefusesReservedContextKeys) {
  SinkLog log;
  auto writer =
      EnvelopeWriter::Create(*keyring_, {{"aws-crypto-public-key", "x"}}, random_,
                             std::make_unique<RecordingSink>(log), WriterOptions(k0478, 64));
  EXPECT_THAT(writer.status(), HasErrorName(kInvalidEncryptionContext));
  EXPECT_EQ(writer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(log.aborted);
  EXPECT_TRUE(log.bytes.empty());
  EXPECT_THAT(EnvelopeWriter::Create(*keyring_, {{"aws-crypto-anything", "x"}}, random_,
                                     std::make_unique<NullSink>(), WriterOptions(k0478, 64))
                  .status(),
              HasErrorName(kInvalidEncryptionContext));
}

TEST_F(EnvelopeTest, WriterRefusesNonUtf8AndOversizedContexts) {
  EXPECT_THAT(EnvelopeWriter::Create(*keyring_, {{"k", std::string("\xff\xfe")}}, random_,
                                     std::make_unique<NullSink>(), WriterOptions(k0478, 64))
                  .status(),
              HasErrorName(kInvalidEncryptionContext));
  EXPECT_THAT(EnvelopeWriter::Create(*keyring_, {{"k", std::string(70000, 'v')}}, random_,
                                     std::make_unique<NullSink>(), WriterOptions(k0478, 64))
                  .status(),
              HasErrorName(kInvalidEncryptionContext));
}

TEST_F(EnvelopeTest, WriterRefusesZeroFrameLength) {
  SinkLog log;
  auto writer = EnvelopeWriter::Create(
      *keyring_, kContext, random_, std::make_unique<RecordingSink>(log), WriterOptions(k0478, 0));
  EXPECT_EQ(writer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(log.aborted);
}

TEST_F(EnvelopeTest, KeyringErrorsReachTheWriterCaller) {
  class Refusing final : public Keyring {
   public:
    Result<DataKeyMaterial> OnEncrypt(const EncryptionContext&) override {
      return Status(StatusCode::kPermissionDenied, "AccessDeniedException", "no GenerateDataKey");
    }
    Result<crypto::SecretBytes> OnDecrypt(const EncryptionContext&,
                                          std::span<const EncryptedDataKey>) override {
      return Status(StatusCode::kPermissionDenied, "AccessDeniedException", "no Decrypt");
    }
  } refusing;
  SinkLog log;
  auto writer = EnvelopeWriter::Create(
      refusing, kContext, random_, std::make_unique<RecordingSink>(log), WriterOptions(k0478, 64));
  EXPECT_THAT(writer.status(), HasErrorName("AccessDeniedException"));
  EXPECT_TRUE(log.aborted);
  Layout l = Make(k0478, 64, 10);
  EXPECT_THAT(Decrypt(refusing, l.message, ReaderOptions()).status,
              HasErrorName("AccessDeniedException"));
}

TEST_F(EnvelopeTest, DownstreamFailureIsPermanentAndAborts) {
  SinkLog log;
  ASSERT_OK_AND_ASSIGN(auto writer,
                       EnvelopeWriter::Create(*keyring_, kContext, random_,
                                              std::make_unique<RecordingSink>(log, 5000),
                                              WriterOptions(k0478, 1000)));
  Status s;
  for (int i = 0; i < 20 && s.ok(); ++i) s = writer->Write(Pattern(1000));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(log.aborted);
  EXPECT_EQ(writer->Write(Pattern(10)), s);
  EXPECT_EQ(writer->Close(), s);
  EXPECT_FALSE(log.closed);
}

TEST_F(EnvelopeTest, DestroyedWithoutCloseAborts) {
  SinkLog log;
  {
    ASSERT_OK_AND_ASSIGN(auto writer, EnvelopeWriter::Create(*keyring_, kContext, random_,
                                                             std::make_unique<RecordingSink>(log),
                                                             WriterOptions(k0478, 100)));
    ASSERT_OK(writer->Write(Pattern(1000)));
  }
  EXPECT_TRUE(log.aborted);
  EXPECT_FALSE(log.closed);
}

TEST_F(EnvelopeTest, CloseTwiceAndWriteAfterClose) {
  Bytes message;
  ASSERT_OK_AND_ASSIGN(auto writer,
                       EnvelopeWriter::Create(*keyring_, kContext, random_, MemorySink(message),
                                              WriterOptions(k0478, 100)));
  ASSERT_OK(writer->Close());
  EXPECT_EQ(writer->Write(Pattern(1)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer->Close().code(), StatusCode::kFailedPrecondition);
  writer->Abort();  // a no-op after Close
  Drained d = Open(message);
  ASSERT_OK(d.status);
  EXPECT_TRUE(d.plaintext.empty());
}

// ---------------------------------------------------------------------------
// Rejections: not an ESDK message, unsupported

TEST_F(EnvelopeTest, RejectsWhatIsNotAnEsdkMessage) {
  Bytes text = ToBytes("SQLite format 3\0 and more bytes than a header would need............");
  EXPECT_THAT(Open(text).status, HasErrorName(kNotAnEsdkMessage));
  EXPECT_EQ(Open(text).status.code(), StatusCode::kInvalidArgument);
  Layout l = Make(k0478, 64, 10);
  Bytes bad_version = l.message;
  bad_version[0] = 0x03;
  EXPECT_THAT(Open(bad_version).status, HasErrorName(kNotAnEsdkMessage));
  Bytes bad_suite = l.message;
  bad_suite[2] = 0x79;  // 0x0479
  EXPECT_THAT(Open(bad_suite).status, HasErrorName(kNotAnEsdkMessage));
  // Content type: 37 bytes (type, frame length, commit key) before the tag.
  Bytes bad_type = l.message;
  bad_type[l.header_size - kTagSize - 37] = 0x07;
  EXPECT_THAT(Open(bad_type).status, HasErrorName(kNotAnEsdkMessage));
}

TEST_F(EnvelopeTest, RejectsUnsupportedSuites) {
  Layout l = Make(k0578, 64, 10);
  EnvelopeReaderOptions only_0478 = ReaderOptions();
  only_0478.allowed_suites = {k0478};
  Drained d = Open(l.message, only_0478);
  EXPECT_THAT(d.status, HasErrorName(kUnsupportedAlgorithmSuite));
  EXPECT_EQ(d.status.code(), StatusCode::kInvalidArgument);
  // A version 1 message (suite 0x0178, no key commitment).
  Bytes v1 = {0x01, 0x80, 0x01, 0x78};
  v1.resize(64, 0);
  EXPECT_THAT(Open(v1).status, HasErrorName(kUnsupportedAlgorithmSuite));
  // A version 1 suite id in a version 2 header.
  Bytes v1_suite = l.message;
  v1_suite[1] = 0x01;
  v1_suite[2] = 0x78;
  EXPECT_THAT(Open(v1_suite).status, HasErrorName(kUnsupportedAlgorithmSuite));
}

TEST_F(EnvelopeTest, RejectsNonFramedContent) {
  Layout l = Make(k0478, 64, 10);
  Bytes m = l.message;
  m[l.header_size - kTagSize - 37] = kContentTypeNonFramed;
  EXPECT_THAT(Open(m).status, HasErrorName(kUnsupportedContentType));
}

// ---------------------------------------------------------------------------
// Rejections: header authentication, key commitment, wrong key, context

TEST_F(EnvelopeTest, RejectsAHeaderThatFailsAuthentication) {
  Layout l = Make(k0478, 64, 100);
  Bytes flipped_tag = l.message;
  flipped_tag[l.header_size - 1] ^= 0x01;
  Drained d = Open(flipped_tag);
  EXPECT_THAT(d.status, HasErrorName(kHeaderAuthenticationFailed));
  EXPECT_EQ(d.status.code(), StatusCode::kDataLoss);
  EXPECT_TRUE(d.plaintext.empty());
  // The frame length is authenticated by the tag alone (not by the keyring).
  Bytes frame_length = l.message;
  frame_length[l.header_size - kTagSize - 32 - 1] ^= 0x01;  // 64 -> 65
  EXPECT_THAT(Open(frame_length).status, HasErrorName(kHeaderAuthenticationFailed));
  // With a keyring that ignores the context, a changed context value reaches
  // the header check too.
  FixedKeyring fixed(crypto::SecretBytes(ByteView(Pattern(32))));
  ASSERT_OK_AND_ASSIGN(
      Bytes m, Encrypt(fixed, random_, Pattern(10), {{"k", "value"}}, WriterOptions(k0478, 64)));
  auto at = std::search(m.begin(), m.end(), std::begin("value"), std::end("value") - 1);
  ASSERT_NE(at, m.end());
  *at = 'V';
  EXPECT_THAT(Decrypt(fixed, m, ReaderOptions()).status, HasErrorName(kHeaderAuthenticationFailed));
}

TEST_F(EnvelopeTest, RejectsAKeyCommitmentMismatch) {
  Layout l = Make(k0478, 64, 100);
  Bytes flipped = l.message;
  flipped[l.header_size - kTagSize - 5] ^= 0x80;  // inside the commit key
  Drained d = Open(flipped);
  EXPECT_THAT(d.status, HasErrorName(kKeyCommitmentMismatch));
  EXPECT_EQ(d.status.code(), StatusCode::kDataLoss);
  // A keyring that yields another data key: the commitment catches it before
  // any tag is tried.
  FixedKeyring right(crypto::SecretBytes(ByteView(Pattern(32, 1))));
  FixedKeyring wrong(crypto::SecretBytes(ByteView(Pattern(32, 2))));
  ASSERT_OK_AND_ASSIGN(Bytes m,
                       Encrypt(right, random_, Pattern(10), kContext, WriterOptions(k0578, 64)));
  EXPECT_THAT(Decrypt(wrong, m, ReaderOptions()).status, HasErrorName(kKeyCommitmentMismatch));
  EXPECT_OK(Decrypt(right, m, ReaderOptions()).status);
}

TEST_F(EnvelopeTest, RejectsWhenNoDataKeyDecrypts) {
  Layout l = Make(k0578, 64, 100);
  SeededRandom r(5);
  ASSERT_OK_AND_ASSIGN(auto other_key,
                       RawAesKeyring::Create("coffer-test", "vector-key",
                                             crypto::SecretBytes(ByteView(Pattern(32))), r));
  Drained d = Decrypt(*other_key, l.message, ReaderOptions());
  EXPECT_THAT(d.status, HasErrorName(kNoDecryptableDataKey));
  EXPECT_EQ(d.status.code(), StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(auto other_name, RawAesKeyring::Create("coffer-test", "another-key",
                                                              testing::VectorWrappingKey(), r));
  EXPECT_THAT(Decrypt(*other_name, l.message, ReaderOptions()).status,
              HasErrorName(kNoDecryptableDataKey));
}

TEST_F(EnvelopeTest, RejectsAnEncryptionContextMismatch) {
  Layout l = Make(k0478, 64, 100);
  EnvelopeReaderOptions wrong_value = ReaderOptions();
  wrong_value.expected_context = {{"coffer:database", "customers"}};
  Drained d = Open(l.message, wrong_value);
  EXPECT_THAT(d.status, HasErrorName(kEncryptionContextMismatch));
  EXPECT_EQ(d.status.code(), StatusCode::kInvalidArgument);
  EnvelopeReaderOptions missing = ReaderOptions();
  missing.expected_context = {{"coffer:backup-type", "full"}};
  EXPECT_THAT(Open(l.message, missing).status, HasErrorName(kEncryptionContextMismatch));
  // The public key is not the caller's to expect.
  EnvelopeReaderOptions reserved = ReaderOptions();
  reserved.expected_context = {{"aws-crypto-public-key", "x"}};
  EXPECT_THAT(Open(l.message, reserved).status, HasErrorName(kInvalidEncryptionContext));
}

TEST_F(EnvelopeTest, SignedMessageWithoutUsablePublicKeyIsMalformed) {
  // 0x0578 with the public key replaced by a non-point of the same length:
  // the structure is refused before any key is asked for.
  Layout l = Make(k0578, 64, 10);
  std::string key(kPublicKeyContextKey);
  auto at = std::search(l.message.begin(), l.message.end(), key.begin(), key.end());
  ASSERT_NE(at, l.message.end());
  size_t value_at = (at - l.message.begin()) + key.size() + 2;
  Bytes m = l.message;
  for (size_t i = 0; i < 68; ++i) m[value_at + i] = 'A';  // base64 of zeros: not a point
  EXPECT_THAT(Open(m).status, HasErrorName(kMalformedMessage));
}

// ---------------------------------------------------------------------------
// Rejections: frames

TEST_F(EnvelopeTest, RejectsAFlippedBitInAnyPartOfAFrame) {
  Layout l = Make(k0478, 64, 64 * 4 + 10);
  const size_t frame2 = l.RegularFrameOffset(2);
  struct Case {
    const char* what;
    size_t offset;
  };
  const size_t final_frame = l.RegularFrameOffset(5);
  for (Case c : {Case{"iv", frame2 + 4 + 3}, Case{"ciphertext", frame2 + 16 + 20},
                 Case{"tag", frame2 + 16 + 64 + 15}, Case{"final content", final_frame + 24 + 2},
                 Case{"final tag", l.message.size() - 1}}) {
    Bytes m = l.message;
    m[c.offset] ^= 0x04;
    Drained d = Open(m);
    EXPECT_THAT(d.status, HasErrorName(kFrameAuthenticationFailed)) << c.what;
    EXPECT_EQ(d.status.code(), StatusCode::kDataLoss);
  }
  // A changed final-frame content length (still within the frame length).
  Bytes m = l.message;
  m[final_frame + 23] ^= 0x01;
  Drained d = Open(m);
  EXPECT_FALSE(d.status.ok());
  EXPECT_EQ(d.plaintext.size(), 4u * 64);  // never the final frame's bytes
}

TEST_F(EnvelopeTest, BadFrameInTheMiddleReleasesNothingFromItOn) {
  for (size_t workers : {0, 1, 2, 4}) {
    Layout l = Make(k0478, 1000, 1000 * 20 + 123);
    Bytes m = l.message;
    m[l.RegularFrameOffset(8) + 16 + 500] ^= 0x10;
    ASSERT_OK_AND_ASSIGN(auto reader,
                         EnvelopeReader::Create(*keyring_, std::make_unique<ChunkedSource>(m, 3000),
                                                ReaderOptions(workers)));
    Drained d = DrainSource(*reader, 333);
    EXPECT_THAT(d.status, HasErrorName(kFrameAuthenticationFailed)) << workers;
    // Exactly frames 1..7, verified, and nothing after.
    EXPECT_EQ(d.plaintext.size(), 7u * 1000) << workers;
    EXPECT_EQ(d.plaintext, Pattern(7 * 1000)) << workers;
    EXPECT_EQ(reader->plaintext_size(), 7u * 1000);
    // Errors are permanent.
    uint8_t buf[10];
    EXPECT_EQ(reader->Read(buf).status(), d.status);
    EXPECT_EQ(reader->Read(buf).status(), d.status);
  }
}

TEST_F(EnvelopeTest, RejectsReorderedDuplicatedAndMissingFrames) {
  Layout l = Make(k0578, 64, 64 * 5 + 3);
  const size_t fs = l.RegularFrameSize();
  ByteView m(l.message);
  auto frame = [&](size_t seq) { return m.subspan(l.RegularFrameOffset(seq), fs); };
  auto head = m.first(l.RegularFrameOffset(1));
  auto tail = m.subspan(l.RegularFrameOffset(6));  // final frame and footer

  Bytes swapped(head.begin(), head.end());
  for (size_t seq : {1, 3, 2, 4, 5}) Append(swapped, frame(seq));
  Append(swapped, tail);
  Drained d = Open(swapped);
  EXPECT_THAT(d.status, HasErrorName(kFrameOutOfSequence));
  EXPECT_EQ(d.status.code(), StatusCode::kDataLoss);
  EXPECT_EQ(d.plaintext.size(), 64u);  // frame 1 only

  Bytes duplicated(head.begin(), head.end());
  for (size_t seq : {1, 2, 2, 3, 4, 5}) Append(duplicated, frame(seq));
  Append(duplicated, tail);
  d = Open(duplicated);
  EXPECT_THAT(d.status, HasErrorName(kFrameOutOfSequence));
  EXPECT_EQ(d.plaintext.size(), 2u * 64);

  Bytes missing(head.begin(), head.end());
  for (size_t seq : {1, 2, 4, 5}) Append(missing, frame(seq));
  Append(missing, tail);
  EXPECT_THAT(Open(missing).status, HasErrorName(kFrameOutOfSequence));

  // A final frame moved up: its sequence number is not the next one.
  Bytes early_final(head.begin(), head.end());
  for (size_t seq : {1, 2}) Append(early_final, frame(seq));
  Append(early_final, tail);
  EXPECT_THAT(Open(early_final).status, HasErrorName(kFrameOutOfSequence));
}

TEST_F(EnvelopeTest, RejectsAFrameFromAnotherMessage) {
  // Same key, same frame length, same sequence number: the message id in the
  // frame AAD tells them apart.
  Layout a = Make(k0478, 64, 64 * 3);
  Layout b = Make(k0478, 64, 64 * 3);
  Bytes spliced = a.message;
  std::copy_n(b.message.begin() + b.RegularFrameOffset(2), a.RegularFrameSize(),
              spliced.begin() + a.RegularFrameOffset(2));
  Drained d = Open(spliced);
  EXPECT_THAT(d.status, HasErrorName(kFrameAuthenticationFailed));
  EXPECT_EQ(d.plaintext.size(), 64u);
}

TEST_F(EnvelopeTest, RejectsAFinalFrameLongerThanTheFrameLength) {
  Layout l = Make(k0478, 64, 10);
  Bytes m = l.message;
  const size_t length_at = l.header_size + 4 + 4 + kIvSize;
  m[length_at + 3] = 65;  // content length 65 > 64
  EXPECT_THAT(Open(m).status, HasErrorName(kMalformedMessage));
}

// ---------------------------------------------------------------------------
// Rejections: truncation and trailing bytes

TEST_F(EnvelopeTest, RejectsTruncationAnywhere) {
  Layout l = Make(k0578, 64, 64 * 3 + 10);
  ByteView m(l.message);
  const size_t final_frame = l.RegularFrameOffset(4);
  const size_t footer = final_frame + kFinalFrameHeaderSize + 10 + kTagSize;
  ASSERT_LT(footer, m.size());
  struct Case {
    const char* what;
    size_t keep;
    const char* message_part;
    size_t released;
  };
  for (Case c : {Case{"empty", 0, "empty stream", 0},
                 Case{"inside the header", 40, "inside the message header", 0},
                 Case{"at the end of the header", l.header_size, "before the final frame", 0},
                 Case{"inside frame 2", l.RegularFrameOffset(2) + 30, "inside frame 2", 64},
                 Case{"between frames", l.RegularFrameOffset(3), "before the final frame", 128},
                 Case{"inside the final frame", final_frame + 20, "inside frame 4", 192},
                 Case{"before the footer", footer, "before the footer", 192},
                 Case{"inside the footer", footer + 10, "inside the footer", 192},
                 Case{"one byte short", m.size() - 1, "inside the footer", 192}}) {
    Drained d = Open(m.first(c.keep));
    EXPECT_THAT(d.status, HasErrorName(kTruncatedMessage)) << c.what;
    EXPECT_THAT(d.status.message(), HasSubstr(c.message_part)) << c.what;
    EXPECT_EQ(d.status.code(), StatusCode::kDataLoss);
    EXPECT_EQ(d.plaintext.size(), c.released) << c.what;
  }
  // 0x0478: the message ends with the final frame.
  Layout u = Make(k0478, 64, 64 + 10);
  Drained d = Open(ByteView(u.message).first(u.message.size() - 1));
  EXPECT_THAT(d.status, HasErrorName(kTruncatedMessage));
  EXPECT_EQ(d.plaintext.size(), 64u);
}

TEST_F(EnvelopeTest, RejectsTrailingBytes) {
  for (AlgorithmSuite suite : {k0478, k0578}) {
    Layout l = Make(suite, 64, 100);
    Bytes one_more = l.message;
    one_more.push_back(0);
    Drained d = Open(one_more);
    EXPECT_THAT(d.status, HasErrorName(kTrailingData));
    EXPECT_EQ(d.status.code(), StatusCode::kDataLoss);
    // The final frame's plaintext is withheld.
    EXPECT_EQ(d.plaintext.size(), 64u);
    Bytes two_messages = l.message;
    Append(two_messages, l.message);
    EXPECT_THAT(Open(two_messages).status, HasErrorName(kTrailingData));
  }
}

// ---------------------------------------------------------------------------
// Rejections: the signature

TEST_F(EnvelopeTest, RejectsABadSignatureAndWithholdsTheFinalFrame) {
  Layout l = Make(k0578, 64, 64 * 3 + 10);
  Bytes m = l.message;
  m[m.size() - 5] ^= 0x01;  // inside the DER signature
  for (size_t workers : {0, 2}) {
    Drained d = Open(m, ReaderOptions(workers));
    EXPECT_THAT(d.status, HasErrorName(kSignatureVerificationFailed));
    EXPECT_EQ(d.status.code(), StatusCode::kDataLoss);
    // Regular frames were released (streaming, as the ESDKs do); the final
    // frame waited for the signature and never came out.
    EXPECT_EQ(d.plaintext, Pattern(64 * 3));
  }
  // The footer's length field: one more than there is is truncation; one
  // less cuts the signature, which then does not verify.
  const size_t footer = l.RegularFrameOffset(4) + kFinalFrameHeaderSize + 10 + kTagSize;
  const uint16_t length = LoadU16(l.message.data() + footer);
  ASSERT_EQ(footer + 2 + length, l.message.size());
  Bytes longer = l.message;
  longer[footer + 1] = static_cast<uint8_t>(length + 1);
  EXPECT_THAT(Open(longer).status, HasErrorName(kTruncatedMessage));
  Bytes shorter = l.message;
  shorter[footer + 1] = static_cast<uint8_t>(length - 1);
  EXPECT_THAT(Open(shorter).status, HasErrorName(kSignatureVerificationFailed));
}

TEST_F(EnvelopeTest, RejectsASignatureFromAnotherKey) {
  // Replace the footer of message A with the footer of message B (same
  // length field values are not needed: the footer carries its own length).
  Layout a = Make(k0578, 64, 10);
  Layout b = Make(k0578, 64, 10);
  auto footer_of = [](const Layout& l) {
    size_t body_end = l.header_size + kFinalFrameHeaderSize + 10 + kTagSize;
    return ByteView(l.message).subspan(body_end);
  };
  Bytes m(a.message.begin(), a.message.begin() + (a.message.size() - footer_of(a).size()));
  Append(m, footer_of(b));
  Drained d = Open(m);
  EXPECT_THAT(d.status, HasErrorName(kSignatureVerificationFailed));
  EXPECT_TRUE(d.plaintext.empty());
}

// ---------------------------------------------------------------------------
// Limits and upstream errors

TEST_F(EnvelopeTest, ReaderLimits) {
  Layout l = Make(k0478, 4096, 10);
  EnvelopeReaderOptions small_frames = ReaderOptions();
  small_frames.limits.max_frame_length = 4095;
  Drained d = Open(l.message, small_frames);
  EXPECT_THAT(d.status, HasErrorName(kLimitExceeded));
  EXPECT_EQ(d.status.code(), StatusCode::kResourceExhausted);
  EnvelopeReaderOptions small_header = ReaderOptions();
  small_header.limits.max_header_size = l.header_size - 1;
  EXPECT_THAT(Open(l.message, small_header).status, HasErrorName(kLimitExceeded));
  small_header.limits.max_header_size = l.header_size;
  EXPECT_OK(Open(l.message, small_header).status);
  EnvelopeReaderOptions no_edks = ReaderOptions();
  no_edks.limits.max_encrypted_data_keys = 0;
  EXPECT_THAT(Open(l.message, no_edks).status, HasErrorName(kLimitExceeded));
}

TEST_F(EnvelopeTest, LargeFramesAreReadWithinTheMemoryBudget) {
  // 1 MiB frames with a 1 MiB budget: one frame in flight at a time, still correct.
  Bytes plain = Pattern(5 * (1 << 20) + 3);
  ASSERT_OK_AND_ASSIGN(Bytes message, Encrypt(*keyring_, random_, plain, kContext,
                                              WriterOptions(k0578, 1 << 20, 2)));
  EnvelopeReaderOptions o = ReaderOptions(2);
  o.max_buffered_bytes = 1 << 20;
  Drained d = Decrypt(*keyring_, message, o, 1 << 16);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.plaintext, plain);
}

TEST_F(EnvelopeTest, UpstreamErrorsPassThroughUnchanged) {
  Layout l = Make(k0478, 64, 64 * 4);
  Status io = UnavailableError("connection reset");
  // In the header.
  auto r = EnvelopeReader::Create(
      *keyring_, std::make_unique<FailingSource>(ByteView(l.message).first(30), io),
      ReaderOptions());
  EXPECT_EQ(r.status(), io);
  // In frame 3: frames 1 and 2 come out, then the source's own error, for good.
  ASSERT_OK_AND_ASSIGN(
      auto reader,
      EnvelopeReader::Create(*keyring_,
                             std::make_unique<FailingSource>(
                                 ByteView(l.message).first(l.RegularFrameOffset(3) + 5), io),
                             ReaderOptions()));
  Drained d = DrainSource(*reader, 1000);
  EXPECT_EQ(d.status, io);
  EXPECT_EQ(d.plaintext.size(), 128u);
}

}  // namespace
}  // namespace coffer::envelope
