// Fuzz target: the readers of backup streams (docs/formats/backup-stream.md):
// EnvelopeReader (ESDK messages: header, frames, footer) with a fixed raw AES
// keyring, and PlainFramedReader.
//
// Input: a control byte, then the rest.
//   control bit 0     format: 0 an ESDK message, 1 a plain framed stream
//           bit 1     mode: 0 raw, the rest is the stream as it is;
//                           1 synthesized, a valid stream is written and then damaged,
//                             so that frames with valid tags reach the frame logic
//           bits 2-3  worker threads: 0, 1, 2, 4
//           bits 4-6  size of each Read: 1, 3, 16, 100, 4096, 65536, 7, 1 MiB
//           bit 7     upstream hands out 5 bytes per read (else all it has)
// Synthesized mode, after the control byte:
//   byte 1            frame length - 1 (frames of 1 to 256 bytes)
//   byte 2            bit 0: suite 0x0578 (else 0x0478); bits 1-2: number of edits (0-3)
//   3 bytes per edit  position u16 (modulo the stream size), operation byte b:
//                     b & 3 = 0: XOR the byte with (b >> 2) | 1
//                             1: truncate at the position
//                             2: duplicate (b >> 2) + 1 bytes at the position
//                             3: delete (b >> 2) + 1 bytes at the position
//   the rest          the plaintext (at most 8 KiB)
// The keyring is the one of the JavaScript SDK's vectors (tests/envelope/testdata:
// namespace "coffer-test", name "vector-key", key 00..1f), so those messages are seeds.
//
// Properties (besides no crash, no leak, no sanitizer report):
//  - every failure carries one of the reader's error names (errors.h), never an
//    internal error;
//  - the outcome and the bytes released do not depend on the worker count or the
//    read size: a second pass with no workers and large reads gives the same;
//  - the bytes released never exceed the plaintext_size() the reader reports;
//  - synthesized ESDK: a message read to its end yields exactly the plaintext written
//    (tags and signature cannot be forged by edits); an unedited stream of either
//    format reads back to its plaintext.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "common/random.h"
#include "common/stream.h"
#include "envelope/envelope_reader.h"
#include "envelope/envelope_writer.h"
#include "envelope/errors.h"
#include "envelope/plain_framed.h"
#include "envelope/raw_aes_keyring.h"
#include "fuzz_util.h"

namespace coffer::fuzz {
namespace {

using namespace coffer::envelope;

bool IsReaderError(const Status& s) {
  static const std::set<std::string, std::less<>> kNames = {kNotAnEsdkMessage,
                                                            kNotAPlainFramedStream,
                                                            kUnsupportedAlgorithmSuite,
                                                            kUnsupportedContentType,
                                                            kUnsupportedFormatVersion,
                                                            kMalformedMessage,
                                                            kHeaderAuthenticationFailed,
                                                            kHeaderChecksumMismatch,
                                                            kKeyCommitmentMismatch,
                                                            kNoDecryptableDataKey,
                                                            kEncryptionContextMismatch,
                                                            kFrameAuthenticationFailed,
                                                            kFrameChecksumMismatch,
                                                            kFrameOutOfSequence,
                                                            kTruncatedMessage,
                                                            kTrailingData,
                                                            kSignatureVerificationFailed,
                                                            kLengthMismatch,
                                                            kLimitExceeded};
  return kNames.contains(s.error_name());
}

struct Outcome {
  Status status;
  Bytes released;
};

Keyring& FuzzKeyring() {
  static SeededRandom* random = new SeededRandom(1);
  static RawAesKeyring* keyring = [] {
    Bytes key(32);
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
    auto k = RawAesKeyring::Create("coffer-test", "vector-key", crypto::SecretBytes(ByteView(key)),
                                   *random);
    FUZZ_CHECK(k.ok());
    return std::move(k).value().release();
  }();
  return *keyring;
}

PipelineOptions Workers(size_t n) {
  PipelineOptions p;
  p.workers = n;
  return p;
}

Outcome ReadStream(bool plain, ByteView stream, size_t workers, size_t read_size,
                   size_t upstream_chunk) {
  Outcome out;
  auto source = std::make_unique<ChunkedSource>(stream, upstream_chunk);
  std::unique_ptr<ByteSource> reader;
  if (plain) {
    PlainFramedReaderOptions o;
    o.max_frame_length = 1 << 20;
    o.max_buffered_bytes = 4 << 20;
    o.pipeline = Workers(workers);
    auto r = PlainFramedReader::Create(std::move(source), o);
    if (!r.ok()) {
      out.status = r.status();
      return out;
    }
    reader = std::move(r).value();
  } else {
    EnvelopeReaderOptions o;
    o.limits.max_frame_length = 1 << 20;
    o.limits.max_header_size = 64 << 10;
    o.limits.max_encrypted_data_keys = 8;
    o.max_buffered_bytes = 4 << 20;
    o.pipeline = Workers(workers);
    auto r = EnvelopeReader::Create(FuzzKeyring(), std::move(source), o);
    if (!r.ok()) {
      out.status = r.status();
      return out;
    }
    reader = std::move(r).value();
  }
  Bytes buf(read_size);
  for (;;) {
    Result<size_t> n = reader->Read(buf);
    if (!n.ok()) {
      out.status = n.status();
      // Errors are permanent.
      Result<size_t> again = reader->Read(buf);
      FUZZ_CHECK_MSG(!again.ok() && again.status() == out.status, again.status().ToString());
      break;
    }
    if (*n == 0) break;
    FUZZ_CHECK(*n <= buf.size());
    out.released.insert(out.released.end(), buf.begin(), buf.begin() + *n);
  }
  const uint64_t reported = plain ? static_cast<PlainFramedReader*>(reader.get())->plaintext_size()
                                  : static_cast<EnvelopeReader*>(reader.get())->plaintext_size();
  FUZZ_CHECK(reported == out.released.size());
  return out;
}

// Writes a valid stream of `plaintext`, deterministically.
Bytes Synthesize(bool plain, bool signed_suite, uint32_t frame_length, ByteView plaintext) {
  SeededRandom random(7);
  Bytes stream;
  Status s;
  if (plain) {
    PlainFramedWriterOptions o;
    o.frame_length = frame_length;
    o.pipeline = Workers(0);
    auto w = PlainFramedWriter::Create(MemorySink(stream), random, o);
    FUZZ_CHECK_MSG(w.ok(), w.status().ToString());
    s = (*w)->Write(plaintext);
    if (s.ok()) s = (*w)->Close();
  } else {
    EnvelopeWriterOptions o;
    o.suite = signed_suite ? AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384
                           : AlgorithmSuite::kAes256GcmHkdfSha512Commit;
    o.frame_length = frame_length;
    o.pipeline = Workers(0);
    auto w = EnvelopeWriter::Create(FuzzKeyring(), {{"coffer:format", "1"}}, random,
                                    MemorySink(stream), o);
    FUZZ_CHECK_MSG(w.ok(), w.status().ToString());
    s = (*w)->Write(plaintext);
    if (s.ok()) s = (*w)->Close();
  }
  FUZZ_CHECK_MSG(s.ok(), s.ToString());
  return stream;
}

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer;
  using namespace coffer::fuzz;
  if (size < 1) return 0;
  const uint8_t control = data[0];
  ByteView rest(data + 1, size - 1);
  const bool plain = (control & 1) != 0;
  const bool synthesized = (control & 2) != 0;
  static constexpr size_t kWorkers[] = {0, 1, 2, 4};
  static constexpr size_t kReadSizes[] = {1, 3, 16, 100, 4096, 65536, 7, 1 << 20};
  const size_t workers = kWorkers[(control >> 2) & 3];
  const size_t read_size = kReadSizes[(control >> 4) & 7];
  const size_t upstream_chunk = (control & 0x80) != 0 ? 5 : SIZE_MAX;

  Bytes stream;
  Bytes plaintext;
  bool edited = false;
  if (synthesized) {
    if (rest.size() < 2) return 0;
    const uint32_t frame_length = uint32_t{rest[0]} + 1;
    const bool signed_suite = (rest[1] & 1) != 0;
    const size_t edits = (rest[1] >> 1) & 3;
    rest = rest.subspan(2);
    if (rest.size() < 3 * edits) return 0;
    ByteView edit_bytes = rest.first(3 * edits);
    rest = rest.subspan(3 * edits);
    plaintext.assign(rest.begin(), rest.begin() + std::min<size_t>(rest.size(), 8192));
    stream = Synthesize(plain, signed_suite, frame_length, plaintext);
    for (size_t i = 0; i < edits; ++i) {
      const uint8_t* e = edit_bytes.data() + 3 * i;
      EditStream(stream, static_cast<uint16_t>(e[0] << 8 | e[1]), e[2]);
    }
    edited = edits > 0;
  } else {
    stream.assign(rest.begin(), rest.end());
  }

  Outcome first = ReadStream(plain, stream, workers, read_size, upstream_chunk);
  if (!first.status.ok()) {
    FUZZ_CHECK_MSG(IsReaderError(first.status), first.status.ToString());
  }
  // The same stream, no workers, large reads: the same outcome, the same bytes.
  Outcome second = ReadStream(plain, stream, 0, 1 << 16, SIZE_MAX);
  FUZZ_CHECK_MSG(first.status == second.status,
                 first.status.ToString() + " vs " + second.status.ToString());
  FUZZ_CHECK(first.released == second.released);

  if (synthesized) {
    if (!edited) {
      FUZZ_CHECK_MSG(first.status.ok(), first.status.ToString());
      FUZZ_CHECK(first.released == plaintext);
    } else if (first.status.ok() && !plain) {
      // An ESDK message that verified is the one that was written.
      FUZZ_CHECK(first.released == plaintext);
    }
  }
  return 0;
}
