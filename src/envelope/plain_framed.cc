#include "envelope/plain_framed.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "crypto/crc32c.h"
#include "envelope/errors.h"
#include "envelope/framed_stream.h"
#include "envelope/message_format.h"

namespace coffer::envelope {
namespace {

namespace pf = plain_format;
using internal::FrameJob;
using internal::UpstreamReader;
using StreamId = std::array<uint8_t, pf::kStreamIdSize>;

// CRC-32C(stream id ‖ frame bytes before the checksum).
uint32_t FrameChecksum(const StreamId& stream_id, ByteView frame_before_crc) {
  return crypto::Crc32cExtend(crypto::Crc32c(stream_id), frame_before_crc);
}

// Total plaintext bytes of a stream whose final frame is number `sequence`
// with `content_size` bytes: every earlier frame is full.
uint64_t TotalLength(uint32_t frame_length, uint32_t sequence, uint64_t content_size) {
  return (uint64_t{sequence} - 1) * frame_length + content_size;
}

class PlainSealer final : public internal::FrameSealer {
 public:
  PlainSealer(const StreamId& stream_id, uint32_t frame_length)
      : stream_id_(stream_id), frame_length_(frame_length) {}

  size_t PrefixSize(bool final_frame) const override {
    return final_frame ? pf::kFinalFrameHeaderSize : pf::kRegularFrameHeaderSize;
  }
  size_t SuffixSize() const override { return pf::kChecksumSize; }

  Status Seal(FrameJob& job) const override {
    const size_t prefix = PrefixSize(job.final_frame);
    uint8_t* frame = job.buffer.data() + job.content_offset - prefix;
    uint8_t* p = frame;
    if (job.final_frame) {
      StoreU32(p, pf::kFinalFrameMarker);
      StoreU32(p + 4, job.sequence);
      StoreU32(p + 8, static_cast<uint32_t>(job.content_size));
      StoreU64(p + 12, TotalLength(frame_length_, job.sequence, job.content_size));
    } else {
      StoreU32(p, job.sequence);
    }
    const size_t checked = prefix + job.content_size;
    StoreU32(frame + checked, FrameChecksum(stream_id_, ByteView(frame, checked)));
    job.frame_offset = job.content_offset - prefix;
    job.frame_size = checked + pf::kChecksumSize;
    return Status::Ok();
  }

  void OnFrameWritten(ByteView) override {}
  Result<Bytes> Trailer() override { return Bytes(); }

 private:
  StreamId stream_id_;
  uint32_t frame_length_;
};

class PlainOpener final : public internal::FrameOpener {
 public:
  PlainOpener(const StreamId& stream_id, uint32_t frame_length)
      : stream_id_(stream_id), frame_length_(frame_length) {}

  Status ReadFrame(UpstreamReader& in, FrameJob& job) override {
    job.buffer.Clear();
    job.buffer.Resize(pf::kFinalFrameHeaderSize);
    uint8_t* p = job.buffer.data();
    ASSIGN_OR_RETURN(size_t got, in.ReadFull(std::span<uint8_t>(p, 4)));
    if (got == 0) {
      return DataLoss(kTruncatedMessage, "stream ends before the final frame (after " +
                                             std::to_string(frames_read_) + " frames)");
    }
    if (got < 4) return TruncatedInFrame();
    job.final_frame = LoadU32(p) == pf::kFinalFrameMarker;
    const size_t prefix = job.final_frame ? pf::kFinalFrameHeaderSize : pf::kRegularFrameHeaderSize;
    ASSIGN_OR_RETURN(got, in.ReadFull(std::span<uint8_t>(p + 4, prefix - 4)));
    if (got < prefix - 4) return TruncatedInFrame();
    uint64_t content_size = frame_length_;
    if (job.final_frame) {
      job.sequence = LoadU32(p + 4);
      content_size = LoadU32(p + 8);
      if (content_size > frame_length_) {
        return DataLoss(kMalformedMessage,
                        "final frame content length " + std::to_string(content_size) +
                            " exceeds the frame length " + std::to_string(frame_length_));
      }
    } else {
      job.sequence = LoadU32(p);
    }
    job.buffer.Resize(prefix);
    ASSIGN_OR_RETURN(got, in.ReadAppend(job.buffer, content_size + pf::kChecksumSize));
    if (got < content_size + pf::kChecksumSize) return TruncatedInFrame();
    job.frame_offset = 0;
    job.frame_size = job.buffer.size();
    job.content_offset = prefix;
    job.content_size = content_size;
    ++frames_read_;
    return Status::Ok();
  }

  Status OpenFrame(FrameJob& job) const override {
    const uint8_t* frame = job.buffer.data();
    const size_t checked = job.content_offset + job.content_size;
    if (LoadU32(frame + checked) != FrameChecksum(stream_id_, ByteView(frame, checked))) {
      return DataLoss(kFrameChecksumMismatch,
                      std::string(job.final_frame ? "final frame " : "frame ") +
                          std::to_string(job.sequence) +
                          " checksum mismatch: damaged, or not of this stream");
    }
    if (job.final_frame) {
      const uint64_t stated = LoadU64(frame + 12);
      const uint64_t counted = TotalLength(frame_length_, job.sequence, job.content_size);
      if (stated != counted) {
        return DataLoss(kLengthMismatch, "the final frame states " + std::to_string(stated) +
                                             " bytes in all, the frames hold " +
                                             std::to_string(counted));
      }
    }
    return Status::Ok();
  }

  Status Finish(UpstreamReader&) override { return Status::Ok(); }

 private:
  Status TruncatedInFrame() const {
    return DataLoss(kTruncatedMessage,
                    "stream ends inside frame " + std::to_string(frames_read_ + 1));
  }

  StreamId stream_id_;
  uint32_t frame_length_;
  uint32_t frames_read_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------
// PlainFramedWriter

Result<std::unique_ptr<PlainFramedWriter>> PlainFramedWriter::Create(
    std::unique_ptr<ByteSink> downstream, Random& random, const PlainFramedWriterOptions& options) {
  if (downstream == nullptr) return InvalidArgumentError("plain framed writer: no downstream sink");
  if (options.frame_length == 0) {
    downstream->Abort();
    return InvalidArgumentError("plain framed writer: frame length must be at least 1");
  }
  auto context = SerializeEncryptionContext(options.context);
  if (!context.ok() || context->size() > 0xFFFF) {
    downstream->Abort();
    return context.ok() ? Invalid(kInvalidEncryptionContext,
                                  "plain framed writer: the context is longer than 65535 bytes")
                        : context.status();
  }
  StreamId stream_id;
  random.Fill(stream_id);
  // Version 2 when there is a context to carry; version 1's header otherwise.
  const bool with_context = !context->empty();
  Bytes header;
  Append(header, AsBytes(pf::kMagic));
  header.push_back(with_context ? pf::kVersion : pf::kVersion1);
  AppendU32(header, options.frame_length);
  Append(header, stream_id);
  if (with_context) {
    AppendU16(header, static_cast<uint16_t>(context->size()));
    Append(header, *context);
  }
  AppendU32(header, crypto::Crc32c(header));
  auto core = std::make_unique<internal::FramedWriter>(
      std::make_unique<PlainSealer>(stream_id, options.frame_length), std::move(downstream),
      options.frame_length, options.pipeline);
  RETURN_IF_ERROR(core->WriteRaw(header));
  return std::unique_ptr<PlainFramedWriter>(new PlainFramedWriter(stream_id, std::move(core)));
}

PlainFramedWriter::PlainFramedWriter(StreamId stream_id,
                                     std::unique_ptr<internal::FramedWriter> core)
    : stream_id_(stream_id), core_(std::move(core)) {}

PlainFramedWriter::~PlainFramedWriter() = default;

Status PlainFramedWriter::Write(ByteView data) { return core_->Write(data); }
Status PlainFramedWriter::Close() { return core_->Close(); }
void PlainFramedWriter::Abort() { core_->Abort(); }
uint64_t PlainFramedWriter::plaintext_size() const { return core_->plaintext_size(); }
uint64_t PlainFramedWriter::stream_size() const { return core_->stream_size(); }

// ---------------------------------------------------------------------------
// PlainFramedReader

Result<std::unique_ptr<PlainFramedReader>> PlainFramedReader::Create(
    std::unique_ptr<ByteSource> upstream, const PlainFramedReaderOptions& options) {
  if (upstream == nullptr) return InvalidArgumentError("plain framed reader: no upstream source");
  auto in = std::make_unique<UpstreamReader>(std::move(upstream));
  Bytes header(pf::kHeaderFixedSize);
  ASSIGN_OR_RETURN(size_t got, in->ReadFull(header));
  // The magic first: a stream that is something else entirely says so, even
  // when it is shorter than a header.
  const size_t magic_seen = std::min(got, pf::kMagic.size());
  if (!std::equal(header.begin(), header.begin() + magic_seen, pf::kMagic.begin())) {
    return Invalid(kNotAPlainFramedStream, "not a coffer plain framed stream (bad magic)");
  }
  auto truncated = [](size_t at) {
    return DataLoss(kTruncatedMessage, at == 0 ? std::string("empty stream: no stream header")
                                               : "stream ends inside the stream header (after " +
                                                     std::to_string(at) + " bytes)");
  };
  if (got < header.size()) return truncated(got);
  const uint8_t version = header[8];
  if (version != pf::kVersion && version != pf::kVersion1) {
    return Invalid(kUnsupportedFormatVersion, "plain framed stream version " +
                                                  std::to_string(version) +
                                                  " (this reader knows versions 1 and 2)");
  }
  // The rest of the header: version 2's context, then the checksum.
  auto read_more = [&](size_t n) -> Status {
    const size_t at = header.size();
    header.resize(at + n);
    ASSIGN_OR_RETURN(size_t more, in->ReadFull(std::span<uint8_t>(header.data() + at, n)));
    if (more < n) return truncated(at + more);
    return Status::Ok();
  };
  size_t context_size = 0;
  if (version == pf::kVersion) {
    RETURN_IF_ERROR(read_more(2));
    context_size = LoadU16(header.data() + pf::kHeaderFixedSize);
    RETURN_IF_ERROR(read_more(context_size));
  }
  const size_t checked = header.size();
  RETURN_IF_ERROR(read_more(pf::kChecksumSize));
  if (LoadU32(header.data() + checked) != crypto::Crc32c(ByteView(header.data(), checked))) {
    return DataLoss(kHeaderChecksumMismatch, "stream header checksum mismatch");
  }
  EncryptionContext context;
  if (context_size > 0) {
    ASSIGN_OR_RETURN(context, ParseEncryptionContext(ByteView(
                                  header.data() + pf::kHeaderFixedSize + 2, context_size)));
  }
  const uint32_t frame_length = LoadU32(header.data() + 9);
  if (frame_length == 0) return DataLoss(kMalformedMessage, "frame length 0");
  if (frame_length > options.max_frame_length) {
    return LimitExceeded("frame length " + std::to_string(frame_length) + " (the limit is " +
                         std::to_string(options.max_frame_length) + ")");
  }
  StreamId stream_id;
  std::copy_n(header.begin() + 13, pf::kStreamIdSize, stream_id.begin());
  auto core = std::make_unique<internal::FramedReader>(
      std::make_unique<PlainOpener>(stream_id, frame_length), std::move(in), options.pipeline);
  const uint64_t per_frame = uint64_t{frame_length} + pf::kFinalFrameHeaderSize + pf::kChecksumSize;
  core->LimitInFlight(
      static_cast<size_t>(std::max<uint64_t>(1, options.max_buffered_bytes / per_frame)));
  return std::unique_ptr<PlainFramedReader>(
      new PlainFramedReader(frame_length, stream_id, std::move(context), std::move(core)));
}

PlainFramedReader::PlainFramedReader(uint32_t frame_length, StreamId stream_id,
                                     EncryptionContext context,
                                     std::unique_ptr<internal::FramedReader> core)
    : frame_length_(frame_length),
      stream_id_(stream_id),
      context_(std::move(context)),
      core_(std::move(core)) {}

PlainFramedReader::~PlainFramedReader() = default;

Result<size_t> PlainFramedReader::Read(std::span<uint8_t> out) { return core_->Read(out); }

uint64_t PlainFramedReader::plaintext_size() const { return core_->released(); }

}  // namespace coffer::envelope
