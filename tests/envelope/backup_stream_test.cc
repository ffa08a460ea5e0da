#include "envelope/backup_stream.h"

#include <gtest/gtest.h>

#include "envelope/envelope_test_util.h"
#include "envelope/errors.h"
#include "testing/status_matchers.h"

namespace coffer::envelope {
namespace {

using testing::Pattern;

struct Written {
  Bytes stream;
  Status status;
};

Written Write(ByteView plaintext, const BackupWriterOptions& options) {
  SeededRandom random(1);
  Written w;
  auto sink = OpenBackupWriter(MemorySink(w.stream), random, options);
  if (!sink.ok()) {
    w.status = sink.status();
    return w;
  }
  for (size_t pos = 0; pos < plaintext.size(); pos += 300000) {
    w.status =
        (*sink)->Write(plaintext.subspan(pos, std::min<size_t>(300000, plaintext.size() - pos)));
    if (!w.status.ok()) return w;
  }
  w.status = (*sink)->Close();
  return w;
}

Result<Bytes> Read(ByteView stream, const BackupReaderOptions& options,
                   BackupStreamInfo* info = nullptr) {
  auto source = OpenBackupReader(MemorySource(stream), options, info);
  if (!source.ok()) return source.status();
  Bytes out;
  auto sink = MemorySink(out);
  auto copied = CopyStream(**source, *sink, 65536);
  if (!copied.ok()) return copied.status();
  return out;
}

class BackupStreamTest : public ::testing::Test {
 protected:
  SeededRandom random_{3};
  std::unique_ptr<RawAesKeyring> keyring_ = testing::VectorKeyring(random_);
};

TEST_F(BackupStreamTest, EncryptedAndCompressedRoundTrip) {
  // Compressible: a repeated pattern with a little noise.
  Bytes plain;
  for (int i = 0; i < 2000; ++i) Append(plain, AsBytes("customer,order,amount,42\n"));
  Append(plain, Pattern(100001));
  BackupWriterOptions options;
  options.keyring = keyring_.get();
  options.context = {{"coffer:database", "customers"}};
  options.frame_length = 4096;
  Written w = Write(plain, options);
  ASSERT_OK(w.status);
  EXPECT_LT(w.stream.size(), plain.size());

  BackupReaderOptions read;
  read.keyring = keyring_.get();
  read.expected_context = {{"coffer:database", "customers"}};
  BackupStreamInfo info;
  ASSERT_OK_AND_ASSIGN(Bytes back, Read(w.stream, read, &info));
  EXPECT_EQ(back, plain);
  EXPECT_TRUE(info.encrypted);
  EXPECT_EQ(info.compression, Compression::kZstd);
  EXPECT_EQ(info.header->context.at(kCompressionContextKey), "zstd");
  EXPECT_EQ(info.header->context.at(kFormatVersionContextKey), "1");
}

TEST_F(BackupStreamTest, EncryptedWithoutCompressionHoldsThePlaintextAsIs) {
  Bytes plain = Pattern(70000);
  BackupWriterOptions options;
  options.keyring = keyring_.get();
  options.compression = Compression::kNone;
  Written w = Write(plain, options);
  ASSERT_OK(w.status);
  // The ESDK reader alone (any ESDK) gives the original bytes.
  auto reader = EnvelopeReader::Create(*keyring_, MemorySource(w.stream));
  ASSERT_OK(reader.status());
  Bytes out(plain.size() + 10);
  ASSERT_OK_AND_ASSIGN(size_t n, ReadFull(**reader, out));
  out.resize(n);
  EXPECT_EQ(out, plain);
  EXPECT_EQ((*reader)->header().context.at(kCompressionContextKey), "none");
}

TEST_F(BackupStreamTest, PlainRoundTripWithBothCompressions) {
  for (Compression compression : {Compression::kZstd, Compression::kNone}) {
    Bytes plain = Pattern(250000);
    BackupWriterOptions options;
    options.compression = compression;
    options.frame_length = 10000;
    options.context = {{"coffer:database", "orders"}};
    Written w = Write(plain, options);
    ASSERT_OK(w.status);
    EXPECT_EQ(AsChars(ByteView(w.stream).first(8)), "COFFERPF");
    // The stream says its own compression (version 2): the reader's guess is not used.
    BackupReaderOptions read;
    read.plain_compression =
        compression == Compression::kZstd ? Compression::kNone : Compression::kZstd;
    BackupStreamInfo info;
    ASSERT_OK_AND_ASSIGN(Bytes back, Read(w.stream, read, &info));
    EXPECT_EQ(back, plain);
    EXPECT_FALSE(info.encrypted);
    EXPECT_EQ(info.compression, compression);
    EXPECT_EQ(info.context.at("coffer:database"), "orders");
    EXPECT_EQ(info.context.at(kCompressionContextKey), CompressionName(compression));
    // And it is checked against what the reader expects, as an encrypted one is.
    BackupReaderOptions other;
    other.expected_context = {{"coffer:database", "items"}};
    EXPECT_EQ(Read(w.stream, other).status().error_name(), kEncryptionContextMismatch);
  }
}

TEST_F(BackupStreamTest, CallerMayNotSetCofferKeys) {
  BackupWriterOptions options;
  options.keyring = keyring_.get();
  options.context = {{kCompressionContextKey, "none"}};
  Written w = Write(Pattern(10), options);
  EXPECT_EQ(w.status.error_name(), kInvalidEncryptionContext);
  EXPECT_TRUE(w.stream.empty());
}

TEST_F(BackupStreamTest, RecognisesFormatsAndRequirements) {
  auto not_a_stream = Read(AsBytes("PK\x03\x04 a zip file"), {});
  EXPECT_EQ(not_a_stream.status().error_name(), "NotABackupStream");
  EXPECT_EQ(Read({}, {}).status().error_name(), "NotABackupStream");

  BackupWriterOptions encrypted;
  encrypted.keyring = keyring_.get();
  Written e = Write(Pattern(1000), encrypted);
  ASSERT_OK(e.status);
  EXPECT_EQ(Read(e.stream, {}).status().error_name(), kNoDecryptableDataKey);
  BackupReaderOptions must_be_plain;
  must_be_plain.require_encrypted = false;
  must_be_plain.keyring = keyring_.get();
  EXPECT_EQ(Read(e.stream, must_be_plain).status().error_name(), "Encrypted");

  Written p = Write(Pattern(1000), {});
  ASSERT_OK(p.status);
  BackupReaderOptions must_be_encrypted;
  must_be_encrypted.require_encrypted = true;
  EXPECT_EQ(Read(p.stream, must_be_encrypted).status().error_name(), "NotEncrypted");
}

TEST_F(BackupStreamTest, DamageIsDetectedThroughTheWholePipeline) {
  BackupWriterOptions options;
  options.keyring = keyring_.get();
  options.frame_length = 1000;
  Bytes plain = Pattern(50000);
  Written w = Write(plain, options);
  ASSERT_OK(w.status);
  BackupReaderOptions read;
  read.keyring = keyring_.get();
  Bytes flipped = w.stream;
  flipped[flipped.size() / 2] ^= 0x04;
  EXPECT_EQ(Read(flipped, read).status().code(), StatusCode::kDataLoss);
  Bytes truncated(w.stream.begin(), w.stream.end() - 3);
  EXPECT_EQ(Read(truncated, read).status().error_name(), kTruncatedMessage);
  Bytes wrong_context_stream = w.stream;
  read.expected_context = {{"coffer:database", "other"}};
  EXPECT_EQ(Read(wrong_context_stream, read).status().error_name(), kEncryptionContextMismatch);
}

TEST_F(BackupStreamTest, AbortLeavesNothingDownstream) {
  SeededRandom random(5);
  BackupWriterOptions options;
  options.keyring = keyring_.get();
  Bytes out;
  ASSERT_OK_AND_ASSIGN(auto sink, OpenBackupWriter(MemorySink(out), random, options));
  ASSERT_OK(sink->Write(Pattern(3 << 20)));
  sink->Abort();
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(sink->Write(Pattern(10)).ok());
}

TEST_F(BackupStreamTest, MaxStreamSizeBoundsTheStream) {
  // Incompressible input, small frames, both suites, with and without zstd.
  SeededRandom random(9);
  Bytes noise(300'001);
  random.Fill(noise);
  for (Compression compression : {Compression::kZstd, Compression::kNone}) {
    for (uint32_t frame_length : {64u, 4096u, 1u << 20}) {
      for (size_t size : {size_t{0}, size_t{1}, noise.size()}) {
        BackupWriterOptions options;
        options.keyring = keyring_.get();
        options.compression = compression;
        options.frame_length = frame_length;
        options.zstd_frame_input_size = 100'000;
        options.suite = AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384;
        Written w = Write(ByteView(noise).first(size), options);
        ASSERT_OK(w.status);
        EXPECT_LE(w.stream.size(), MaxBackupStreamSize(size, options))
            << size << " bytes, frames of " << frame_length;
      }
    }
  }
}

TEST(CompressionTest, Names) {
  EXPECT_EQ(CompressionName(Compression::kZstd), "zstd");
  EXPECT_EQ(*ParseCompression("none"), Compression::kNone);
  EXPECT_FALSE(ParseCompression("gzip").ok());
}

}  // namespace
}  // namespace coffer::envelope
