#pragma once
// The backup stream pipeline (ARCHITECTURE "Backups"; docs/formats/backup-stream.md):
//
//   write: plaintext ─▶ [zstd] ─▶ EnvelopeWriter (keyring)  ─▶ downstream sink
//                             └▶ PlainFramedWriter (no key) ─┘
//   read:  upstream ─▶ EnvelopeReader | PlainFramedReader ─▶ [zstd -d] ─▶ plaintext
//
// One place composes the stages, so `coffer encrypt`/`decrypt` and the backup
// tasks write and read exactly the same thing. With a key the stream is an AWS
// Encryption SDK message; whether its plaintext is a zstd stream is recorded in
// the encryption context (kCompressionContextKey), so any ESDK decrypts it and
// `zstd -d` (when compressed) gives the original bytes back. Without a key it is
// the plain framed format, whose header (version 2) carries the same context;
// a reader of a version 1 stream is told the compression by its caller.
//
// The returned streams own their stages; errors are permanent and aborting the
// sink aborts the downstream, as for every stage (common/stream.h).
#include <memory>
#include <optional>
#include <string>

#include "common/random.h"
#include "common/stream.h"
#include "envelope/envelope_reader.h"
#include "envelope/envelope_writer.h"
#include "envelope/keyring.h"

namespace coffer::envelope {

// Encryption context keys coffer sets (docs/formats/backup-stream.md).
inline constexpr char kFormatVersionContextKey[] = "coffer:format-version";
inline constexpr char kFormatVersion[] = "1";
inline constexpr char kCompressionContextKey[] = "coffer:compression";

enum class Compression { kNone, kZstd };
std::string_view CompressionName(Compression compression);  // "none", "zstd"
Result<Compression> ParseCompression(std::string_view name);

struct BackupWriterOptions {
  // Null: the plain framed format (no encryption). Borrowed; used during the
  // call only.
  Keyring* keyring = nullptr;
  // The caller's encryption context; coffer adds its own keys. A plain framed
  // stream carries it too, unauthenticated (it catches mix-ups, not forgeries).
  EncryptionContext context;
  Compression compression = Compression::kZstd;
  int zstd_level = 1;
  // Input bytes per independent zstd frame (zstd_stream.h): frames compress and
  // decompress in parallel.
  size_t zstd_frame_input_size = size_t{4} << 20;
  AlgorithmSuite suite = AlgorithmSuite::kAes256GcmHkdfSha512Commit;
  uint32_t frame_length = kDefaultFrameLength;
  // Workers of the zstd and framing stages (each stage has its own unless a
  // pool is given).
  PipelineOptions pipeline;
};

// What the stream says about itself once its header is read.
struct BackupStreamInfo {
  bool encrypted = false;
  std::optional<MessageHeader> header;  // the ESDK header, when encrypted
  // The stream's context: the ESDK header's, or a plain framed stream's
  // (empty for a version 1 stream, which has none).
  EncryptionContext context;
  Compression compression = Compression::kNone;
};

// An upper bound of the stream's size for `input_size` bytes of input, for
// sizing an upload's parts before the stream exists: zstd's worst case for
// data that does not compress, each frame's IV, tag and sequence number, the
// header (at most 1 MiB with every data key and context pair) and the footer.
uint64_t MaxBackupStreamSize(uint64_t input_size, const BackupWriterOptions& options);

// A sink that writes the stream into `downstream`. `random` is borrowed and
// used during the call only. Keyring errors come back unchanged.
Result<std::unique_ptr<ByteSink>> OpenBackupWriter(std::unique_ptr<ByteSink> downstream,
                                                   Random& random,
                                                   const BackupWriterOptions& options);

struct BackupReaderOptions {
  // Needed for an encrypted stream (NoDecryptableDataKey without one).
  Keyring* keyring = nullptr;
  // Pairs the stream's context must hold (see EnvelopeReaderOptions); a plain
  // framed stream of version 1, which has no context, is not checked.
  EncryptionContext expected_context;
  // The compression of a plain framed stream of version 1 (an ESDK message and
  // a version 2 stream say their own).
  Compression plain_compression = Compression::kZstd;
  // When set, the stream must be (true) or must not be (false) encrypted.
  std::optional<bool> require_encrypted;
  PipelineOptions pipeline;
};

// A source of the original bytes of a stream read from `upstream`: the format
// is recognised from the first bytes (an ESDK message starts with version 02,
// a plain framed stream with its magic). Errors: the readers' (errors.h), and
// NotABackupStream for anything else; kInvalidArgument "NotEncrypted" or
// "Encrypted" when require_encrypted is not met.
Result<std::unique_ptr<ByteSource>> OpenBackupReader(std::unique_ptr<ByteSource> upstream,
                                                     const BackupReaderOptions& options,
                                                     BackupStreamInfo* info = nullptr);

}  // namespace coffer::envelope
