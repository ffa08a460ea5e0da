// PlainFramedWriter and PlainFramedReader: layout, round trips, every rejection.
#include "envelope/plain_framed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "crypto/crc32c.h"
#include "envelope/errors.h"
#include "envelope/message_format.h"
#include "envelope_test_util.h"
#include "testing/status_matchers.h"

namespace coffer::envelope {
namespace {

namespace pf = plain_format;
using ::coffer::envelope::testing::ChunkedSource;
using ::coffer::envelope::testing::Drained;
using ::coffer::envelope::testing::DrainSource;
using ::coffer::envelope::testing::FailingSource;
using ::coffer::envelope::testing::Pattern;
using ::coffer::envelope::testing::RecordingSink;
using ::coffer::envelope::testing::SinkLog;
using ::coffer::envelope::testing::WriteAll;
using ::testing::HasSubstr;

MATCHER_P(HasErrorName, name, "") {
  *result_listener << "which is " << (arg.ok() ? std::string("OK") : arg.ToString());
  return !arg.ok() && arg.error_name() == std::string(name);
}

Result<Bytes> Write(Random& random, ByteView plain, uint32_t frame_length, size_t workers = 2,
                    size_t write_chunk = 1 << 16, size_t max_in_flight = 0) {
  Bytes out;
  PlainFramedWriterOptions o;
  o.frame_length = frame_length;
  o.pipeline.workers = workers;
  o.pipeline.max_in_flight = max_in_flight;
  ASSIGN_OR_RETURN(auto writer, PlainFramedWriter::Create(MemorySink(out), random, o));
  RETURN_IF_ERROR(WriteAll(*writer, plain, write_chunk));
  return out;
}

Drained Read(ByteView stream, size_t workers = 2, size_t read_chunk = 1 << 16,
             size_t upstream_chunk = SIZE_MAX, uint32_t max_frame_length = 64u << 20) {
  PlainFramedReaderOptions o;
  o.pipeline.workers = workers;
  o.max_frame_length = max_frame_length;
  auto reader =
      PlainFramedReader::Create(std::make_unique<ChunkedSource>(stream, upstream_chunk), o);
  if (!reader.ok()) return Drained{reader.status(), {}};
  return DrainSource(**reader, read_chunk);
}

// Offsets in a stream of frame length fl.
size_t RegularFrameOffset(uint32_t fl, size_t sequence) {
  return pf::kHeaderSize + (sequence - 1) * (pf::kRegularFrameHeaderSize + fl + pf::kChecksumSize);
}
size_t RegularFrameSize(uint32_t fl) {
  return pf::kRegularFrameHeaderSize + fl + pf::kChecksumSize;
}

void StoreU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

TEST(PlainFramedTest, KnownLayout) {
  SeededRandom random(1);
  ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, ToBytes("abcdefghij"), 4));
  // Header: magic, version 1, frame length 4, stream id, crc.
  ASSERT_GE(s.size(), pf::kHeaderSize);
  EXPECT_EQ(ToString(ByteView(s).first(8)), "COFFERPF");
  EXPECT_EQ(s[8], 1);
  EXPECT_EQ(LoadU32(s.data() + 9), 4u);
  ByteView id = ByteView(s).subspan(13, 16);
  EXPECT_EQ(LoadU32(s.data() + 29), crypto::Crc32c(ByteView(s).first(29)));
  // Frame 1: sequence 1, "abcd", crc(id ‖ frame).
  size_t f1 = pf::kHeaderSize;
  EXPECT_EQ(HexEncode(ByteView(s).subspan(f1, 8)), "00000001" + HexEncode(AsBytes("abcd")));
  EXPECT_EQ(LoadU32(s.data() + f1 + 8),
            crypto::Crc32cExtend(crypto::Crc32c(id), ByteView(s).subspan(f1, 8)));
  // Frame 2 "efgh", then the final frame: FFFFFFFF, 3, length 2, total 10, "ij", crc.
  size_t fin = f1 + 2 * 12;
  EXPECT_EQ(HexEncode(ByteView(s).subspan(fin, 22)),
            "ffffffff"
            "00000003"
            "00000002"
            "000000000000000a" +
                HexEncode(AsBytes("ij")));
  EXPECT_EQ(LoadU32(s.data() + fin + 22),
            crypto::Crc32cExtend(crypto::Crc32c(id), ByteView(s).subspan(fin, 22)));
  EXPECT_EQ(s.size(), fin + 26);
  Drained d = Read(s);
  ASSERT_OK(d.status);
  EXPECT_EQ(ToString(d.plaintext), "abcdefghij");
}

TEST(PlainFramedTest, PropertyRandomShapesRoundTrip) {
  std::mt19937_64 rng(77);
  SeededRandom random(2);
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
        size = fl * (rng() % 5);
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
    const size_t workers = std::vector<size_t>{0, 1, 2, 4}[rng() % 4];
    SCOPED_TRACE("frame " + std::to_string(fl) + " size " + std::to_string(size) + " workers " +
                 std::to_string(workers));
    Bytes plain = Pattern(size, static_cast<uint8_t>(iteration));
    ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, plain, fl, workers, 1 + rng() % 5000));
    Drained d = Read(s, workers, 1 + rng() % 5000, 1 + rng() % 3000);
    ASSERT_OK(d.status);
    ASSERT_EQ(d.plaintext, plain);
  }
}

TEST(PlainFramedTest, OutputIsIndependentOfParallelism) {
  Bytes plain = Pattern(100000 + 3);
  Bytes reference;
  for (size_t workers : {0, 1, 2, 4}) {
    for (size_t in_flight : {0, 1, 5}) {
      SeededRandom random(5);
      ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, plain, 1000, workers, 3333, in_flight));
      if (reference.empty()) reference = s;
      EXPECT_EQ(s, reference) << workers << " " << in_flight;
    }
  }
}

TEST(PlainFramedTest, RejectsWhatIsNotAPlainFramedStream) {
  Drained d = Read(ToBytes("SQLite format 3"));
  EXPECT_THAT(d.status, HasErrorName(kNotAPlainFramedStream));
  EXPECT_EQ(d.status.code(), StatusCode::kInvalidArgument);
  // An ESDK message is not one either.
  Bytes esdk = {0x02, 0x04, 0x78};
  esdk.resize(100);
  EXPECT_THAT(Read(esdk).status, HasErrorName(kNotAPlainFramedStream));
}

TEST(PlainFramedTest, RejectsHeaderProblems) {
  SeededRandom random(3);
  ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, Pattern(100), 16));
  Bytes v3 = s;
  v3[8] = 3;
  EXPECT_THAT(Read(v3).status, HasErrorName(kUnsupportedFormatVersion));
  Bytes bad_crc = s;
  bad_crc[20] ^= 1;  // the stream id
  Drained d = Read(bad_crc);
  EXPECT_THAT(d.status, HasErrorName(kHeaderChecksumMismatch));
  EXPECT_EQ(d.status.code(), StatusCode::kDataLoss);
  // Frame length 0 and over the limit, with the header checksum made right.
  Bytes zero = s;
  StoreU32(zero.data() + 9, 0);
  StoreU32(zero.data() + 29, crypto::Crc32c(ByteView(zero).first(29)));
  EXPECT_THAT(Read(zero).status, HasErrorName(kMalformedMessage));
  EXPECT_THAT(Read(s, 2, 1 << 16, SIZE_MAX, 15).status, HasErrorName(kLimitExceeded));
  EXPECT_THAT(Read(ByteView(s).first(20)).status, HasErrorName(kTruncatedMessage));
  EXPECT_THAT(Read(ByteView(s).first(0)).status, HasErrorName(kTruncatedMessage));
}

TEST(PlainFramedTest, Version2CarriesAContextUnderTheHeaderChecksum) {
  SeededRandom random(4);
  Bytes s;
  PlainFramedWriterOptions o;
  o.frame_length = 16;
  o.context = {{"coffer:file", "2-of-3"}, {"a", "b"}};
  {
    ASSERT_OK_AND_ASSIGN(auto writer, PlainFramedWriter::Create(MemorySink(s), random, o));
    ASSERT_OK(WriteAll(*writer, Pattern(100), 7));
  }
  ASSERT_OK_AND_ASSIGN(Bytes context, SerializeEncryptionContext(o.context));
  // magic, version 2, frame length, stream id, context length, context, crc.
  const size_t checked = 29 + 2 + context.size();
  EXPECT_EQ(s[8], 2);
  EXPECT_EQ(LoadU16(s.data() + 29), context.size());
  EXPECT_EQ(HexEncode(ByteView(s).subspan(31, context.size())), HexEncode(context));
  EXPECT_EQ(LoadU32(s.data() + checked), crypto::Crc32c(ByteView(s).first(checked)));
  auto reader = PlainFramedReader::Create(std::make_unique<ChunkedSource>(s, 5));
  ASSERT_OK(reader.status());
  EXPECT_EQ((*reader)->context(), o.context);
  Drained d = DrainSource(**reader, 64);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.plaintext, Pattern(100));
  // The context is under the checksum; a stream that ends inside it is truncated.
  Bytes changed = s;
  changed[31 + 4] ^= 1;
  EXPECT_THAT(Read(changed).status, HasErrorName(kHeaderChecksumMismatch));
  EXPECT_THAT(Read(ByteView(s).first(31 + 3)).status, HasErrorName(kTruncatedMessage));
  EXPECT_THAT(Read(ByteView(s).first(checked + 2)).status, HasErrorName(kTruncatedMessage));
  // A version 1 stream (no context) reads as before, with an empty context.
  ASSERT_OK_AND_ASSIGN(Bytes v1, Write(random, Pattern(100), 16));
  EXPECT_EQ(v1[8], 1);
  auto old = PlainFramedReader::Create(std::make_unique<ChunkedSource>(v1, SIZE_MAX));
  ASSERT_OK(old.status());
  EXPECT_TRUE((*old)->context().empty());
}

TEST(PlainFramedTest, RejectsADamagedFrameAndReleasesNothingFromItOn) {
  for (size_t workers : {0, 1, 2, 4}) {
    SeededRandom random(4);
    ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, Pattern(1000 * 12 + 5), 1000, workers));
    Bytes m = s;
    m[RegularFrameOffset(1000, 6) + 4 + 321] ^= 0x20;
    ASSERT_OK_AND_ASSIGN(auto reader,
                         PlainFramedReader::Create(std::make_unique<ChunkedSource>(m, 999)));
    Drained d = DrainSource(*reader, 250);
    EXPECT_THAT(d.status, HasErrorName(kFrameChecksumMismatch));
    EXPECT_EQ(d.status.code(), StatusCode::kDataLoss);
    EXPECT_EQ(d.plaintext, Pattern(5 * 1000));
    EXPECT_EQ(reader->plaintext_size(), 5000u);
    uint8_t b[1];
    EXPECT_EQ(reader->Read(b).status(), d.status);  // permanent
  }
  // The final frame's checksum and content.
  SeededRandom random(4);
  ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, Pattern(30), 16));
  Bytes m = s;
  m[m.size() - 6] ^= 1;
  Drained d = Read(m);
  EXPECT_THAT(d.status, HasErrorName(kFrameChecksumMismatch));
  EXPECT_EQ(d.plaintext.size(), 16u);
}

TEST(PlainFramedTest, RejectsReorderedDuplicatedMissingAndSplicedFrames) {
  SeededRandom random(6);
  const uint32_t fl = 10;
  ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, Pattern(fl * 4 + 3), fl));
  ByteView v(s);
  auto frame = [&](size_t seq) {
    return v.subspan(RegularFrameOffset(fl, seq), RegularFrameSize(fl));
  };
  auto head = v.first(pf::kHeaderSize);
  auto tail = v.subspan(RegularFrameOffset(fl, 5));
  auto build = [&](std::initializer_list<size_t> order) {
    Bytes out(head.begin(), head.end());
    for (size_t seq : order) Append(out, frame(seq));
    Append(out, tail);
    return out;
  };
  Drained d = Read(build({1, 3, 2, 4}));
  EXPECT_THAT(d.status, HasErrorName(kFrameOutOfSequence));
  EXPECT_EQ(d.plaintext.size(), fl);
  EXPECT_THAT(Read(build({1, 2, 2, 3, 4})).status, HasErrorName(kFrameOutOfSequence));
  EXPECT_THAT(Read(build({1, 2, 4})).status, HasErrorName(kFrameOutOfSequence));
  EXPECT_THAT(Read(build({1, 2})).status, HasErrorName(kFrameOutOfSequence));
  // A frame from another stream of the same frame length: another stream id.
  ASSERT_OK_AND_ASSIGN(Bytes other, Write(random, Pattern(fl * 4 + 3, 9), fl));
  Bytes spliced = s;
  std::copy_n(other.begin() + RegularFrameOffset(fl, 3), RegularFrameSize(fl),
              spliced.begin() + RegularFrameOffset(fl, 3));
  d = Read(spliced);
  EXPECT_THAT(d.status, HasErrorName(kFrameChecksumMismatch));
  EXPECT_EQ(d.plaintext.size(), 2u * fl);
}

TEST(PlainFramedTest, RejectsTruncationAndTrailingBytes) {
  SeededRandom random(7);
  const uint32_t fl = 10;
  ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, Pattern(fl * 3 + 4), fl));
  ByteView v(s);
  struct Case {
    size_t keep;
    const char* part;
    size_t released;
  };
  for (Case c : {Case{pf::kHeaderSize, "before the final frame", 0},
                 Case{RegularFrameOffset(fl, 2) + 5, "inside frame 2", fl},
                 Case{RegularFrameOffset(fl, 4), "before the final frame", 3 * fl},
                 Case{s.size() - 1, "inside frame 4", 3 * fl}}) {
    Drained d = Read(v.first(c.keep));
    EXPECT_THAT(d.status, HasErrorName(kTruncatedMessage)) << c.keep;
    EXPECT_THAT(d.status.message(), HasSubstr(c.part));
    EXPECT_EQ(d.plaintext.size(), c.released);
  }
  Bytes longer = s;
  longer.push_back('x');
  Drained d = Read(longer);
  EXPECT_THAT(d.status, HasErrorName(kTrailingData));
  EXPECT_EQ(d.plaintext.size(), 3u * fl);  // the final frame withheld
}

TEST(PlainFramedTest, RejectsAWrongTotalLength) {
  SeededRandom random(8);
  const uint32_t fl = 10;
  ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, Pattern(25), fl));
  const size_t fin = RegularFrameOffset(fl, 3);
  Bytes m = s;
  m[fin + 19] ^= 0x01;  // total length 25 -> 24
  ByteView id = ByteView(s).subspan(13, 16);
  const size_t checked = pf::kFinalFrameHeaderSize + 5;
  StoreU32(m.data() + fin + checked,
           crypto::Crc32cExtend(crypto::Crc32c(id), ByteView(m).subspan(fin, checked)));
  Drained d = Read(m);
  EXPECT_THAT(d.status, HasErrorName(kLengthMismatch));
  EXPECT_EQ(d.plaintext.size(), 20u);
  // A final frame longer than the frame length.
  Bytes too_long = s;
  too_long[fin + 11] = 11;
  EXPECT_THAT(Read(too_long).status, HasErrorName(kMalformedMessage));
}

TEST(PlainFramedTest, WriterAbortsDownstreamOnFailure) {
  SeededRandom random(9);
  SinkLog log;
  PlainFramedWriterOptions o;
  o.frame_length = 100;
  ASSERT_OK_AND_ASSIGN(
      auto w, PlainFramedWriter::Create(std::make_unique<RecordingSink>(log, 250), random, o));
  Status s;
  for (int i = 0; i < 10 && s.ok(); ++i) s = w->Write(Pattern(100));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(log.aborted);
  EXPECT_EQ(w->Close(), s);
  SinkLog zero_log;
  o.frame_length = 0;
  EXPECT_FALSE(
      PlainFramedWriter::Create(std::make_unique<RecordingSink>(zero_log), random, o).ok());
  EXPECT_TRUE(zero_log.aborted);
}

TEST(PlainFramedTest, UpstreamErrorsPassThrough) {
  SeededRandom random(10);
  ASSERT_OK_AND_ASSIGN(Bytes s, Write(random, Pattern(100), 10));
  Status io = UnavailableError("reset");
  ASSERT_OK_AND_ASSIGN(auto reader, PlainFramedReader::Create(std::make_unique<FailingSource>(
                                        ByteView(s).first(RegularFrameOffset(10, 4) + 2), io)));
  Drained d = DrainSource(*reader, 64);
  EXPECT_EQ(d.status, io);
  EXPECT_EQ(d.plaintext.size(), 30u);
}

}  // namespace
}  // namespace coffer::envelope
