#include "envelope/zstd_stream.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace coffer::envelope {
namespace {

using internal::FrameJob;
using internal::FramePipeline;

// The largest zstd frame header (RFC 8878 section 3.1.1.1): enough bytes to read
// a frame's declared content size.
constexpr size_t kMaxFrameHeaderSize = 18;
// The largest window (2^25 = 32 MiB) a frame may need from the streaming decoder;
// coffer's level-1 frames need well under 1 MiB.
constexpr int kMaxWindowLog = 25;
// Compressed bytes read from upstream at a time while looking for a frame's end.
constexpr size_t kReadChunk = size_t{1} << 20;

std::string ZstdError(size_t code) { return ZSTD_getErrorName(code); }

Status Corrupt(size_t code) {
  return DataLossError("compressed stream is corrupt: " + ZstdError(code));
}

// One compression and one decompression context per worker thread, reused for
// every frame it handles.
struct ThreadContexts {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ~ThreadContexts() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};
ThreadContexts& Contexts() {
  thread_local ThreadContexts contexts;
  return contexts;
}

// On a worker: the input is buffer[0, content_size); the frame goes right after it.
Status CompressFrame(FrameJob& job, int level) {
  ZSTD_CCtx* cctx = Contexts().cctx;
  if (cctx == nullptr) return InternalError("zstd: cannot allocate a compression context");
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  size_t rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  if (ZSTD_isError(rc)) return InternalError("zstd: " + ZstdError(rc));
  const size_t out = job.content_size;
  rc = ZSTD_compress2(cctx, job.buffer.data() + out, job.buffer.size() - out, job.buffer.data(),
                      job.content_size);
  if (ZSTD_isError(rc)) return InternalError("zstd compression failed: " + ZstdError(rc));
  job.frame_offset = out;
  job.frame_size = rc;
  return Status::Ok();
}

// On a worker: the frame is buffer[0, frame_size); its content goes after it.
Status DecompressFrame(FrameJob& job) {
  ZSTD_DCtx* dctx = Contexts().dctx;
  if (dctx == nullptr) return InternalError("zstd: cannot allocate a decompression context");
  ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
  size_t rc = ZSTD_decompressDCtx(dctx, job.buffer.data() + job.content_offset, job.content_size,
                                  job.buffer.data(), job.frame_size);
  if (ZSTD_isError(rc)) return Corrupt(rc);
  if (rc != job.content_size) {
    return DataLossError("compressed stream is corrupt: a frame holds " + std::to_string(rc) +
                         " bytes, not the " + std::to_string(job.content_size) + " it declares");
  }
  return Status::Ok();
}

class ZstdCompressSink final : public ByteSink {
 public:
  ZstdCompressSink(ByteSink& downstream, const ZstdOptions& options)
      : downstream_(downstream),
        frame_input_size_(options.frame_input_size),
        job_size_(options.frame_input_size + ZSTD_compressBound(options.frame_input_size)),
        pipeline_([level = options.level](FrameJob& job) { return CompressFrame(job, level); },
                  options.pipeline) {}
  ~ZstdCompressSink() override { Abort(); }

  Status Write(ByteView data) override {
    if (!error_.ok()) return error_;
    while (!data.empty()) {
      if (!current_) {
        current_ = pipeline_.NewJob();
        current_->buffer.Resize(job_size_);
        current_->content_offset = 0;
        current_->content_size = 0;
      }
      size_t n = std::min(data.size(), frame_input_size_ - current_->content_size);
      std::memcpy(current_->buffer.data() + current_->content_size, data.data(), n);
      current_->content_size += n;
      data = data.subspan(n);
      if (current_->content_size == frame_input_size_) RETURN_IF_ERROR(SubmitCurrent());
    }
    return Status::Ok();
  }

  Status Close() override {
    if (!error_.ok()) return error_;
    // An empty input still gives one (empty) frame: a valid zstd stream.
    if ((current_ && current_->content_size > 0) || frames_ == 0) {
      if (!current_) {
        current_ = pipeline_.NewJob();
        current_->buffer.Resize(job_size_);
        current_->content_offset = 0;
        current_->content_size = 0;
      }
      RETURN_IF_ERROR(SubmitCurrent());
    }
    while (!pipeline_.empty()) RETURN_IF_ERROR(WriteOldest());
    Status closed = downstream_.Close();
    error_ = closed.ok() ? FailedPreconditionError("write to a closed stream") : closed;
    return closed;
  }

  void Abort() override {
    if (!error_.ok()) return;
    error_ = FailedPreconditionError("write to an aborted stream");
    downstream_.Abort();
  }

 private:
  Status SubmitCurrent() {
    while (pipeline_.full()) RETURN_IF_ERROR(WriteOldest());
    ++frames_;
    pipeline_.Submit(std::move(current_));
    // Passes on what is finished without waiting for it.
    while (!pipeline_.empty() && pipeline_.OldestDone()) RETURN_IF_ERROR(WriteOldest());
    return Status::Ok();
  }

  Status WriteOldest() {
    std::unique_ptr<FrameJob> job = pipeline_.TakeOldest();
    if (!job->status.ok()) return Fail(job->status);
    Status written = downstream_.Write(job->frame());
    pipeline_.Recycle(std::move(job));
    if (!written.ok()) return Fail(written);
    return Status::Ok();
  }

  Status Fail(Status st) {
    error_ = st;
    downstream_.Abort();
    return st;
  }

  ByteSink& downstream_;
  const size_t frame_input_size_;
  const size_t job_size_;
  std::unique_ptr<FrameJob> current_;
  uint64_t frames_ = 0;
  Status error_;
  FramePipeline pipeline_;  // declared last: destroyed (joined) first
};

// One streaming decompressor over any zstd stream: the fallback for frames that
// do not declare a (small enough) content size.
class StreamingDecompressSource final : public ByteSource {
 public:
  explicit StreamingDecompressSource(ByteSource& upstream)
      : upstream_(upstream), dctx_(ZSTD_createDCtx()), in_(ZSTD_DStreamInSize()) {
    // Bounds the window a frame header may ask for (zstd's own limit is 128 MiB).
    if (dctx_ != nullptr) ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, kMaxWindowLog);
  }
  ~StreamingDecompressSource() override { ZSTD_freeDCtx(dctx_); }

  Result<size_t> Read(std::span<uint8_t> out) override {
    if (!error_.ok()) return error_;
    if (dctx_ == nullptr) return InternalError("zstd: cannot allocate a decompression context");
    ZSTD_outBuffer buffer{out.data(), out.size(), 0};
    while (buffer.pos == 0) {
      if (in_pos_ == in_size_) {
        if (upstream_done_) {
          if (inside_frame_) return Fail(DataLossError("compressed stream is truncated"));
          return size_t{0};
        }
        auto n = upstream_.Read(in_);
        if (!n.ok()) return Fail(n.status());
        in_pos_ = 0;
        in_size_ = *n;
        if (*n == 0) {
          upstream_done_ = true;
          continue;
        }
      }
      ZSTD_inBuffer input{in_.data(), in_size_, in_pos_};
      size_t rc = ZSTD_decompressStream(dctx_, &buffer, &input);
      if (ZSTD_isError(rc)) return Fail(Corrupt(rc));
      in_pos_ = input.pos;
      // rc == 0: a frame ended exactly here; anything after it must be another frame.
      inside_frame_ = rc != 0;
    }
    return buffer.pos;
  }

 private:
  Status Fail(Status st) {
    error_ = st;
    return st;
  }

  ByteSource& upstream_;
  ZSTD_DCtx* dctx_;
  std::vector<uint8_t> in_;
  size_t in_pos_ = 0;
  size_t in_size_ = 0;
  bool upstream_done_ = false;
  bool inside_frame_ = false;
  Status error_;
};

class ParallelDecompressSource final : public ByteSource {
 public:
  ParallelDecompressSource(ByteSource& upstream, const ZstdDecompressOptions& options)
      : upstream_(upstream),
        max_content_(options.max_frame_content_size),
        max_frame_(ZSTD_compressBound(options.max_frame_content_size)),
        pipeline_(DecompressFrame, options.pipeline) {}

  Result<size_t> Read(std::span<uint8_t> out) override {
    if (!error_.ok()) return error_;
    for (;;) {
      if (out_) {
        size_t n = std::min(out.size(), out_->content_size - out_pos_);
        std::memcpy(out.data(), out_->buffer.data() + out_->content_offset + out_pos_, n);
        out_pos_ += n;
        if (out_pos_ == out_->content_size) pipeline_.Recycle(std::move(out_));
        if (n > 0) return n;
        continue;
      }
      if (streaming_) {
        auto n = streaming_->Read(out);
        if (!n.ok()) return Fail(n.status());
        return *n;
      }
      while (!streaming_mode_ && !pipeline_.full()) {
        ASSIGN_OR_RETURN(bool submitted, SubmitNextFrame());
        if (!submitted) break;
      }
      if (!pipeline_.empty()) {
        out_ = pipeline_.TakeOldest();
        out_pos_ = 0;
        if (!out_->status.ok()) return Fail(out_->status);
        continue;
      }
      if (streaming_mode_) {
        streaming_ = std::make_unique<StreamingDecompressSource>(rest_);
        continue;
      }
      return size_t{0};
    }
  }

 private:
  // The buffered bytes, then upstream: where the streaming fallback reads.
  class Rest final : public ByteSource {
   public:
    explicit Rest(ParallelDecompressSource& self) : self_(self) {}
    Result<size_t> Read(std::span<uint8_t> out) override {
      size_t have = self_.in_.size() - self_.in_begin_;
      if (have == 0) return self_.upstream_.Read(out);
      size_t n = std::min(have, out.size());
      std::memcpy(out.data(), self_.in_.data() + self_.in_begin_, n);
      self_.in_begin_ += n;
      return n;
    }

   private:
    ParallelDecompressSource& self_;
  };

  // Reads until `n` compressed bytes are buffered or upstream ends.
  Status Need(size_t n) {
    while (in_.size() - in_begin_ < n && !eof_) {
      if (in_begin_ > 0 && in_begin_ >= in_.size() / 2) {
        in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_begin_));
        in_begin_ = 0;
      }
      size_t old = in_.size();
      size_t want = std::max(kReadChunk, n - (old - in_begin_));
      in_.resize(old + want);
      auto got = ReadFull(upstream_, std::span<uint8_t>(in_.data() + old, want));
      if (!got.ok()) {
        in_.resize(old);
        return got.status();
      }
      in_.resize(old + *got);
      if (*got < want) eof_ = true;
    }
    return Status::Ok();
  }

  // Submits the next frame; false at the end of the stream or when the rest
  // goes to the streaming decompressor (streaming_mode_).
  Result<bool> SubmitNextFrame() {
    if (Status st = Need(kMaxFrameHeaderSize); !st.ok()) return Fail(st);
    size_t avail = in_.size() - in_begin_;
    if (avail == 0) return false;
    unsigned long long content = ZSTD_getFrameContentSize(in_.data() + in_begin_, avail);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
        content > max_content_) {
      // Not a frame this stage splits (or not zstd at all): the streaming
      // decompressor takes over and says precisely what is wrong, if anything.
      streaming_mode_ = true;
      return false;
    }
    size_t frame_size;
    for (;;) {
      frame_size = ZSTD_findFrameCompressedSize(in_.data() + in_begin_, avail);
      if (!ZSTD_isError(frame_size)) break;
      if (eof_ || avail > max_frame_) {
        streaming_mode_ = true;  // truncated or corrupt: reported by the fallback
        return false;
      }
      if (Status st = Need(avail + kReadChunk); !st.ok()) return Fail(st);
      avail = in_.size() - in_begin_;
    }
    std::unique_ptr<FrameJob> job = pipeline_.NewJob();
    job->buffer.Resize(frame_size + static_cast<size_t>(content));
    std::memcpy(job->buffer.data(), in_.data() + in_begin_, frame_size);
    job->frame_offset = 0;
    job->frame_size = frame_size;
    job->content_offset = frame_size;
    job->content_size = static_cast<size_t>(content);
    in_begin_ += frame_size;
    pipeline_.Submit(std::move(job));
    return true;
  }

  Status Fail(Status st) {
    error_ = st;
    return st;
  }

  ByteSource& upstream_;
  const size_t max_content_;
  const size_t max_frame_;
  Bytes in_;  // compressed bytes read ahead; in_[in_begin_, size) are not yet in a frame
  size_t in_begin_ = 0;
  bool eof_ = false;
  bool streaming_mode_ = false;
  Rest rest_{*this};
  std::unique_ptr<ByteSource> streaming_;
  std::unique_ptr<FrameJob> out_;  // the frame being released
  size_t out_pos_ = 0;
  Status error_;
  FramePipeline pipeline_;  // declared last: destroyed (joined) first
};

}  // namespace

Result<std::unique_ptr<ByteSink>> CreateZstdCompressSink(ByteSink& downstream,
                                                         const ZstdOptions& options) {
  if (options.level < 1 || options.level > ZSTD_maxCLevel()) {
    return InvalidArgumentError("zstd level must be between 1 and " +
                                std::to_string(ZSTD_maxCLevel()) + ", not " +
                                std::to_string(options.level));
  }
  if (options.frame_input_size == 0 || options.frame_input_size > (size_t{1} << 30)) {
    return InvalidArgumentError("zstd frame input size must be between 1 byte and 1 GiB");
  }
  return std::unique_ptr<ByteSink>(std::make_unique<ZstdCompressSink>(downstream, options));
}

std::unique_ptr<ByteSource> CreateZstdDecompressSource(ByteSource& upstream,
                                                       const ZstdDecompressOptions& options) {
  return std::make_unique<ParallelDecompressSource>(upstream, options);
}

}  // namespace coffer::envelope
