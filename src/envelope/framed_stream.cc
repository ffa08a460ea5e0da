#include "envelope/framed_stream.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "envelope/errors.h"

namespace coffer::envelope::internal {
namespace {

// Small reads (frame headers, fields) are served from a buffer of this size.
constexpr size_t kUpstreamBufferSize = 64 * 1024;
// A frame read from upstream grows by at most this much beyond what it holds.
constexpr size_t kMinGrowth = 64 * 1024;
// The largest sequence number a regular frame may carry: the final frame,
// numbered one more, must still fit (message-body.md#framed-data).
constexpr uint32_t kLastRegularSequence = 0xFFFFFFFE;

}  // namespace

// ---------------------------------------------------------------------------
// UpstreamReader

UpstreamReader::UpstreamReader(std::unique_ptr<ByteSource> source)
    : source_(std::move(source)), buffer_(kUpstreamBufferSize) {}

Status UpstreamReader::Fill() {
  begin_ = end_ = 0;
  if (eof_) return Status::Ok();
  Result<size_t> n = source_->Read(buffer_);
  if (!n.ok()) return n.status();
  if (*n == 0) eof_ = true;
  end_ = *n;
  return Status::Ok();
}

Result<size_t> UpstreamReader::ReadFull(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    if (begin_ < end_) {
      size_t n = std::min(end_ - begin_, out.size() - done);
      std::memcpy(out.data() + done, buffer_.data() + begin_, n);
      begin_ += n;
      done += n;
      continue;
    }
    if (eof_) break;
    if (out.size() - done >= buffer_.size()) {
      // Large reads skip the buffer.
      Result<size_t> n = source_->Read(out.subspan(done));
      if (!n.ok()) return n.status();
      if (*n == 0) {
        eof_ = true;
        break;
      }
      done += *n;
    } else {
      RETURN_IF_ERROR(Fill());
    }
  }
  offset_ += done;
  return done;
}

Result<size_t> UpstreamReader::ReadAppend(FrameBuffer& buffer, size_t n) {
  const size_t start = buffer.size();
  const size_t target = start + n;
  size_t have = start;
  while (have < target) {
    // Grow to the capacity already there, or by as much as the frame holds
    // (at least kMinGrowth), never past the target.
    size_t grow_to = std::max(buffer.capacity(), have + std::max(kMinGrowth, have));
    grow_to = std::min(grow_to, target);
    buffer.Resize(grow_to);
    ASSIGN_OR_RETURN(size_t got, ReadFull(buffer.span(have, grow_to - have)));
    have += got;
    if (have < grow_to) break;  // the stream ended
  }
  buffer.Resize(have);
  return have - start;
}

Result<bool> UpstreamReader::AtEnd() {
  if (begin_ < end_) return false;
  RETURN_IF_ERROR(Fill());
  return begin_ == end_;
}

// ---------------------------------------------------------------------------
// FramedWriter

FramedWriter::FramedWriter(std::unique_ptr<FrameSealer> sealer,
                           std::unique_ptr<ByteSink> downstream, uint32_t frame_length,
                           const PipelineOptions& options)
    : frame_length_(frame_length),
      content_offset_(std::max(sealer->PrefixSize(false), sealer->PrefixSize(true))),
      sealer_(std::move(sealer)),
      downstream_(std::move(downstream)) {
  FrameSealer* sealer_ptr = sealer_.get();
  pipeline_ = std::make_unique<FramePipeline>(
      [sealer_ptr](FrameJob& job) { return sealer_ptr->Seal(job); }, options);
}

FramedWriter::~FramedWriter() { Abort(); }

Status FramedWriter::Fail(Status status) {
  if (status_.ok()) status_ = std::move(status);
  if (downstream_ != nullptr) downstream_->Abort();
  current_.reset();
  return status_;
}

Status FramedWriter::WriteRaw(ByteView bytes) {
  if (!status_.ok()) return status_;
  Status s = downstream_->Write(bytes);
  if (!s.ok()) return Fail(std::move(s));
  stream_size_ += bytes.size();
  return Status::Ok();
}

Status FramedWriter::WriteOldest() {
  std::unique_ptr<FrameJob> job = pipeline_->TakeOldest();
  if (!job->status.ok()) return Fail(job->status);
  ByteView frame = job->frame();
  sealer_->OnFrameWritten(frame);
  RETURN_IF_ERROR(WriteRaw(frame));
  pipeline_->Recycle(std::move(job));
  return Status::Ok();
}

Status FramedWriter::DrainDone() {
  while (pipeline_->OldestDone()) RETURN_IF_ERROR(WriteOldest());
  return Status::Ok();
}

Status FramedWriter::SubmitCurrent(bool final_frame) {
  if (!final_frame && next_sequence_ > kLastRegularSequence) {
    return Fail(Status(StatusCode::kResourceExhausted, kLimitExceeded,
                       "message too long: a message holds at most 2^32 - 1 frames"));
  }
  if (current_ == nullptr) {
    // An empty final frame (message-body.md#final-frame: 0 to frame length bytes).
    current_ = pipeline_->NewJob();
    current_->buffer.Resize(content_offset_ + sealer_->SuffixSize());
    current_->content_offset = content_offset_;
    current_->content_size = 0;
  }
  current_->sequence = next_sequence_++;
  current_->final_frame = final_frame;
  if (pipeline_->full()) RETURN_IF_ERROR(WriteOldest());
  pipeline_->Submit(std::move(current_));
  return DrainDone();
}

Status FramedWriter::Write(ByteView data) {
  if (!status_.ok()) return status_;
  if (closed_) return FailedPreconditionError("write to a closed stream");
  while (!data.empty()) {
    if (current_ == nullptr) {
      current_ = pipeline_->NewJob();
      current_->content_offset = content_offset_;
      current_->content_size = 0;
    }
    size_t n = std::min<size_t>(frame_length_ - current_->content_size, data.size());
    // Sized as the content arrives: a large frame length costs memory only for
    // what is written (a recycled buffer keeps its capacity).
    current_->buffer.Resize(content_offset_ + current_->content_size + n + sealer_->SuffixSize());
    std::memcpy(current_->buffer.data() + content_offset_ + current_->content_size, data.data(), n);
    current_->content_size += n;
    plaintext_size_ += n;
    data = data.subspan(n);
    // A full frame is sealed at once as a regular frame; the final frame comes
    // from Close() and may be empty.
    if (current_->content_size == frame_length_) RETURN_IF_ERROR(SubmitCurrent(false));
  }
  return Status::Ok();
}

Status FramedWriter::Close() {
  if (!status_.ok()) return status_;
  if (closed_) return FailedPreconditionError("close of a closed stream");
  RETURN_IF_ERROR(SubmitCurrent(true));
  while (!pipeline_->empty()) RETURN_IF_ERROR(WriteOldest());
  Result<Bytes> trailer = sealer_->Trailer();
  if (!trailer.ok()) return Fail(trailer.status());
  RETURN_IF_ERROR(WriteRaw(*trailer));
  Status s = downstream_->Close();
  if (!s.ok()) return Fail(std::move(s));
  closed_ = true;
  return Status::Ok();
}

void FramedWriter::Abort() {
  if (closed_) return;
  if (status_.ok()) status_ = FailedPreconditionError("stream aborted");
  if (downstream_ != nullptr) downstream_->Abort();
  current_.reset();
}

// ---------------------------------------------------------------------------
// FramedReader

FramedReader::FramedReader(std::unique_ptr<FrameOpener> opener,
                           std::unique_ptr<UpstreamReader> upstream, const PipelineOptions& options)
    : opener_(std::move(opener)), upstream_(std::move(upstream)) {
  FrameOpener* opener_ptr = opener_.get();
  pipeline_ = std::make_unique<FramePipeline>(
      [opener_ptr](FrameJob& job) { return opener_ptr->OpenFrame(job); }, options);
}

FramedReader::~FramedReader() = default;

Result<size_t> FramedReader::Fail(Status status) {
  status_ = std::move(status);
  // Nothing verified after this point is handed out; what the caller holds
  // was verified before the failure.
  if (current_ != nullptr && current_->content_size > 0) {
    std::memset(current_->buffer.data() + current_->content_offset, 0, current_->content_size);
  }
  current_.reset();
  return status_;
}

void FramedReader::ReadAhead() {
  while (pending_.ok() && !body_read_ && !pipeline_->full()) {
    std::unique_ptr<FrameJob> job = pipeline_->NewJob();
    Status s = opener_->ReadFrame(*upstream_, *job);
    // message-body.md#regular-frame-sequence-number: 1, 2, … with no gap; the
    // final frame's number is the count of frames.
    if (s.ok() && job->sequence != next_sequence_) {
      s = DataLoss(kFrameOutOfSequence, "frame " + std::to_string(job->sequence) +
                                            (job->final_frame ? " (final)" : "") + " where frame " +
                                            std::to_string(next_sequence_) + " was expected");
    }
    if (!s.ok()) {
      pending_ = std::move(s);
      pipeline_->Recycle(std::move(job));
      return;
    }
    if (job->final_frame) {
      body_read_ = true;
    } else {
      ++next_sequence_;
    }
    pipeline_->Submit(std::move(job));
  }
}

Result<size_t> FramedReader::Read(std::span<uint8_t> out) {
  if (!status_.ok()) return status_;
  if (out.empty()) return InvalidArgumentError("Read into an empty buffer");
  for (;;) {
    if (current_ != nullptr) {
      if (current_pos_ < current_->content_size) {
        size_t n = std::min(out.size(), current_->content_size - current_pos_);
        std::memcpy(out.data(), current_->buffer.data() + current_->content_offset + current_pos_,
                    n);
        current_pos_ += n;
        released_ += n;
        return n;
      }
      finished_ = current_->final_frame;
      pipeline_->Recycle(std::move(current_));
    }
    if (finished_) return size_t{0};
    ReadAhead();
    if (pipeline_->empty()) {
      // Every frame read before the error has been released.
      return Fail(pending_.ok() ? InternalError("framed reader: no frame and no error") : pending_);
    }
    std::unique_ptr<FrameJob> job = pipeline_->TakeOldest();
    if (!job->status.ok()) return Fail(job->status);
    current_ = std::move(job);
    current_pos_ = 0;
    if (current_->final_frame) {
      // The last plaintext is released only once the whole message checked
      // out: the footer's signature, and nothing after the message.
      if (Status s = opener_->Finish(*upstream_); !s.ok()) return Fail(std::move(s));
      Result<bool> at_end = upstream_->AtEnd();
      if (!at_end.ok()) return Fail(at_end.status());
      if (!*at_end) {
        return Fail(DataLoss(kTrailingData, "bytes follow the end of the message at offset " +
                                                std::to_string(upstream_->offset())));
      }
    }
  }
}

}  // namespace coffer::envelope::internal
