#pragma once
// The plain framed format: how coffer stores a backup without a key
// (docs/formats/backup-stream.md, "Unencrypted backups"). Nothing is secret,
// but everything is checked: a CRC-32C per frame over the stream id and the
// frame, sequence numbers, and a final frame that states the total length, so
// damage, truncation, reordered, duplicated or spliced frames and trailing
// bytes are all detected. It is not a defence against deliberate changes
// (anyone can recompute a CRC); the ESDK envelope is.
//
// PlainFramedWriter and PlainFramedReader behave as EnvelopeWriter and
// EnvelopeReader (envelope_writer.h, envelope_reader.h): same frame pipeline,
// same release rule (a frame's content only after its checksum matched; the
// final frame's only after the end of the stream checked out), same permanent
// errors, same memory bound. Not safe for concurrent use.
#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/random.h"
#include "common/stream.h"
#include "envelope/frame_pipeline.h"
#include "envelope/keyring.h"

namespace coffer::envelope {

namespace internal {
class FramedReader;
class FramedWriter;
}  // namespace internal

// The constants of the format (one place, as message_format.h for the ESDK).
namespace plain_format {
// stream-header, version 2 (written) = magic(8) ‖ version u8 ‖ frame length u32
//   ‖ stream id(16) ‖ context length u16 ‖ context ‖ crc32c u32
// version 1 (still read) = magic(8) ‖ version u8 ‖ frame length u32 ‖ stream id(16)
//   ‖ crc32c u32
// The crc32c covers every header byte before it; the context is serialized as
// an ESDK encryption context (message_format.h). A writer given no context
// writes version 1.
inline constexpr std::string_view kMagic = "COFFERPF";
inline constexpr uint8_t kVersion = 2;
inline constexpr uint8_t kVersion1 = 1;
inline constexpr size_t kStreamIdSize = 16;
inline constexpr size_t kHeaderFixedSize = 8 + 1 + 4 + kStreamIdSize;  // 29
inline constexpr size_t kHeaderCheckedSize = kHeaderFixedSize;         // version 1
inline constexpr size_t kHeaderSize = kHeaderCheckedSize + 4;          // 33, version 1
// regular frame = sequence u32 ‖ content(frame length) ‖ crc32c u32
// final frame   = FFFFFFFF ‖ sequence u32 ‖ content length u32 ‖ total length u64
//                 ‖ content ‖ crc32c u32
// crc32c = CRC-32C(stream id ‖ the frame's bytes before the crc)
inline constexpr uint32_t kFinalFrameMarker = 0xFFFFFFFF;
inline constexpr size_t kRegularFrameHeaderSize = 4;
inline constexpr size_t kFinalFrameHeaderSize = 4 + 4 + 4 + 8;  // 20
inline constexpr size_t kChecksumSize = 4;
inline constexpr uint32_t kDefaultFrameLength = 1u << 20;
}  // namespace plain_format

struct PlainFramedWriterOptions {
  uint32_t frame_length = plain_format::kDefaultFrameLength;  // 1 .. 2^32 - 1
  // What the stream says of itself (as an ESDK message's encryption context,
  // but neither secret nor authenticated: checked for accidents only).
  EncryptionContext context;
  PipelineOptions pipeline;
};

class PlainFramedWriter final : public ByteSink {
 public:
  // Writes the stream header downstream at once. `random` (borrowed, used only
  // here) draws the stream id. On error `downstream` is aborted.
  static Result<std::unique_ptr<PlainFramedWriter>> Create(
      std::unique_ptr<ByteSink> downstream, Random& random,
      const PlainFramedWriterOptions& options = {});
  ~PlainFramedWriter() override;

  Status Write(ByteView data) override;
  Status Close() override;
  void Abort() override;

  const std::array<uint8_t, plain_format::kStreamIdSize>& stream_id() const { return stream_id_; }
  uint64_t plaintext_size() const;
  uint64_t stream_size() const;

 private:
  PlainFramedWriter(std::array<uint8_t, plain_format::kStreamIdSize> stream_id,
                    std::unique_ptr<internal::FramedWriter> core);
  std::array<uint8_t, plain_format::kStreamIdSize> stream_id_;
  std::unique_ptr<internal::FramedWriter> core_;
};

struct PlainFramedReaderOptions {
  uint32_t max_frame_length = 64u << 20;
  size_t max_buffered_bytes = 64u << 20;
  PipelineOptions pipeline;
};

class PlainFramedReader final : public ByteSource {
 public:
  // Reads and checks the stream header. Errors: NotAPlainFramedStream (magic),
  // UnsupportedFormatVersion, HeaderChecksumMismatch, MalformedMessage (frame
  // length 0), LimitExceeded, TruncatedMessage, upstream's errors unchanged.
  // Read() adds FrameChecksumMismatch, FrameOutOfSequence, LengthMismatch,
  // TruncatedMessage, TrailingData, MalformedMessage.
  static Result<std::unique_ptr<PlainFramedReader>> Create(
      std::unique_ptr<ByteSource> upstream, const PlainFramedReaderOptions& options = {});
  ~PlainFramedReader() override;

  Result<size_t> Read(std::span<uint8_t> out) override;

  uint32_t frame_length() const { return frame_length_; }
  const std::array<uint8_t, plain_format::kStreamIdSize>& stream_id() const { return stream_id_; }
  // The header's context: empty for a version 1 stream.
  const EncryptionContext& context() const { return context_; }
  uint64_t plaintext_size() const;

 private:
  PlainFramedReader(uint32_t frame_length,
                    std::array<uint8_t, plain_format::kStreamIdSize> stream_id,
                    EncryptionContext context, std::unique_ptr<internal::FramedReader> core);
  uint32_t frame_length_;
  std::array<uint8_t, plain_format::kStreamIdSize> stream_id_;
  EncryptionContext context_;
  std::unique_ptr<internal::FramedReader> core_;
};

}  // namespace coffer::envelope
