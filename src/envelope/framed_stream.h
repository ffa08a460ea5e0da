#pragma once
// The machinery every framed backup stream shares, written once: a writer core
// that cuts the plaintext into frames, seals them in parallel (FramePipeline)
// and writes them downstream in order, and a reader core that reads frames
// from upstream, opens them in parallel and releases their content in order,
// only once verified. A format (the ESDK envelope, the plain framed format)
// supplies a FrameSealer or a FrameOpener: the byte layout of one frame and
// what verifies it.
//
// Internal to src/envelope. Not safe for concurrent use (one driving thread).
// Errors are permanent: after a failure every later call returns it.
#include <cstdint>
#include <memory>
#include <span>

#include "common/bytes.h"
#include "common/status.h"
#include "common/stream.h"
#include "envelope/frame_pipeline.h"

namespace coffer::envelope::internal {

// Reads an upstream ByteSource through a small buffer (frame headers are a
// few bytes) and reads large spans straight into their destination.
// Upstream errors are returned unchanged.
class UpstreamReader {
 public:
  explicit UpstreamReader(std::unique_ptr<ByteSource> source);

  // Fills `out` unless the stream ends first; returns how many bytes it read.
  Result<size_t> ReadFull(std::span<uint8_t> out);
  // Appends up to `n` bytes at buffer.size(), growing the buffer as bytes
  // arrive, so that a length field promising more than the stream holds costs
  // no more memory than the bytes that came. Returns how many it appended.
  Result<size_t> ReadAppend(FrameBuffer& buffer, size_t n);
  // Whether the stream has ended (reads ahead one buffer to find out).
  Result<bool> AtEnd();
  // Bytes handed out so far.
  uint64_t offset() const { return offset_; }

 private:
  Status Fill();

  std::unique_ptr<ByteSource> source_;
  Bytes buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  uint64_t offset_ = 0;
};

// A format's half of a writer.
class FrameSealer {
 public:
  virtual ~FrameSealer() = default;
  // Frame bytes before the content, for a regular or a final frame.
  virtual size_t PrefixSize(bool final_frame) const = 0;
  // Frame bytes after the content.
  virtual size_t SuffixSize() const = 0;
  // On a worker. The job's content (plaintext) is in place at content_offset,
  // with at least PrefixSize bytes free before it and SuffixSize after; the
  // sequence and final flag are set. Seals the content in place, writes the
  // prefix and suffix, and sets frame_offset and frame_size.
  virtual Status Seal(FrameJob& job) const = 0;
  // On the driving thread, for each frame in order, just before it goes downstream.
  virtual void OnFrameWritten(ByteView frame) = 0;
  // After the final frame: what ends the stream (a footer; may be empty).
  virtual Result<Bytes> Trailer() = 0;
};

class FramedWriter {
 public:
  // `frame_length` >= 1 (checked by the format's factory).
  FramedWriter(std::unique_ptr<FrameSealer> sealer, std::unique_ptr<ByteSink> downstream,
               uint32_t frame_length, const PipelineOptions& options);
  ~FramedWriter();  // aborts unless closed

  Status Write(ByteView data);
  // Seals the final frame, writes the trailer, closes downstream.
  Status Close();
  void Abort();

  // Plaintext bytes accepted, and stream bytes sent downstream, so far.
  uint64_t plaintext_size() const { return plaintext_size_; }
  uint64_t stream_size() const { return stream_size_; }
  // For a factory that writes a header before the first frame.
  Status WriteRaw(ByteView bytes);

 private:
  Status Fail(Status status);
  Status SubmitCurrent(bool final_frame);
  Status WriteOldest();
  Status DrainDone();

  const uint32_t frame_length_;
  const size_t content_offset_;  // the largest prefix
  std::unique_ptr<FrameSealer> sealer_;
  std::unique_ptr<ByteSink> downstream_;
  std::unique_ptr<FrameJob> current_;  // the frame being filled
  uint32_t next_sequence_ = 1;
  uint64_t plaintext_size_ = 0;
  uint64_t stream_size_ = 0;
  bool closed_ = false;
  Status status_;
  std::unique_ptr<FramePipeline> pipeline_;  // declared after what its work uses
};

// A format's half of a reader.
class FrameOpener {
 public:
  virtual ~FrameOpener() = default;
  // On the driving thread: reads the next frame from `in` into `job` (its
  // wire bytes, content position, sequence number and final flag). Truncation
  // and malformed fields are errors; the sequence number is checked by the caller.
  virtual Status ReadFrame(UpstreamReader& in, FrameJob& job) = 0;
  // On a worker: verifies the frame and turns its content into plaintext in
  // place. On failure no byte of the content may be released.
  virtual Status OpenFrame(FrameJob& job) const = 0;
  // On the driving thread, once the final frame opened: reads and checks what
  // follows the body (a footer). Trailing bytes are checked by the caller.
  virtual Status Finish(UpstreamReader& in) = 0;
};

class FramedReader {
 public:
  FramedReader(std::unique_ptr<FrameOpener> opener, std::unique_ptr<UpstreamReader> upstream,
               const PipelineOptions& options);
  ~FramedReader();

  // ByteSource::Read: releases verified plaintext in order; 0 only at the end
  // of a message that verified completely (final frame, footer, no trailing bytes).
  Result<size_t> Read(std::span<uint8_t> out);
  // Plaintext bytes released so far.
  uint64_t released() const { return released_; }
  // Lowers the number of frames read ahead (memory: frames of a large frame length).
  void LimitInFlight(size_t n) { pipeline_->LimitInFlight(n); }

 private:
  Result<size_t> Fail(Status status);
  void ReadAhead();

  std::unique_ptr<FrameOpener> opener_;
  std::unique_ptr<UpstreamReader> upstream_;
  std::unique_ptr<FrameJob> current_;  // verified, being released
  size_t current_pos_ = 0;
  uint32_t next_sequence_ = 1;
  bool body_read_ = false;  // the final frame was read
  bool finished_ = false;   // everything released; Read returns 0
  Status pending_;          // an error met reading ahead, reported after earlier frames
  Status status_;
  uint64_t released_ = 0;
  std::unique_ptr<FramePipeline> pipeline_;  // declared after what its work uses
};

}  // namespace coffer::envelope::internal
