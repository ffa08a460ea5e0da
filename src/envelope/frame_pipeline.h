#pragma once
// The in-order parallel frame pipeline shared by every framed backup stream
// (the ESDK envelope and the plain framed format, writers and readers): frames
// are sealed or opened on worker threads, at most a bounded number in flight,
// and handed back strictly in the order they were submitted.
//
// One thread drives a pipeline (Submit, TakeOldest, NewJob, Recycle); the work
// runs on the workers. Memory is bounded by max_in_flight() jobs plus the few
// the driver holds. Destruction waits for work in flight to finish.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"

namespace coffer::envelope {

// How a stream spreads its frames over threads.
struct PipelineOptions {
  // Shared workers (borrowed; must outlive the stream). When null, the stream
  // starts `workers` threads of its own.
  ThreadPool* pool = nullptr;
  // Threads of its own when `pool` is null; 0 processes every frame on the
  // calling thread, with no thread at all.
  size_t workers = 2;
  // Frames being sealed or opened at once; 0 means twice the number of workers
  // (at least 1).
  size_t max_in_flight = 0;
};

namespace internal {

// A byte buffer that does not zero what it allocates: a frame is overwritten
// as soon as it is sized, and zeroing a megabyte per frame would cost as much
// as copying it. Contents are left in place on destruction (plaintext, not keys).
class FrameBuffer {
 public:
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  // Keeps the first min(size(), n) bytes; the rest is unspecified.
  void Resize(size_t n);
  void Clear() { size_ = 0; }
  std::span<uint8_t> span(size_t offset, size_t n) { return {data_.get() + offset, n}; }
  std::span<const uint8_t> span(size_t offset, size_t n) const { return {data_.get() + offset, n}; }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// One frame on its way through a pipeline.
struct FrameJob {
  FrameBuffer buffer;
  // The frame as it is on the wire: buffer[frame_offset, frame_offset + frame_size).
  size_t frame_offset = 0;
  size_t frame_size = 0;
  // The content (plaintext, or ciphertext before opening) inside the buffer.
  size_t content_offset = 0;
  size_t content_size = 0;
  uint32_t sequence = 0;
  bool final_frame = false;
  Status status;  // the work's result

  std::span<uint8_t> content() { return buffer.span(content_offset, content_size); }
  std::span<const uint8_t> frame() const { return buffer.span(frame_offset, frame_size); }
};

class FramePipeline {
 public:
  // Runs on a worker (or the driver, with no workers); its Status lands in
  // job.status. `work` must be safe to call concurrently on different jobs.
  using Work = std::function<Status(FrameJob&)>;

  FramePipeline(Work work, const PipelineOptions& options);
  ~FramePipeline();
  FramePipeline(const FramePipeline&) = delete;
  FramePipeline& operator=(const FramePipeline&) = delete;

  // A job to fill: a recycled one (its buffer's capacity kept) or a new one.
  std::unique_ptr<FrameJob> NewJob();
  void Recycle(std::unique_ptr<FrameJob> job);

  size_t max_in_flight() const { return max_in_flight_; }
  // Lowers the bound (never below 1), e.g. when frames turn out to be large.
  void LimitInFlight(size_t n) {
    max_in_flight_ = n < 1 ? 1 : (n < max_in_flight_ ? n : max_in_flight_);
  }
  bool full() const { return queue_.size() >= max_in_flight_; }
  bool empty() const { return queue_.empty(); }

  // Starts `job`. Precondition: !full().
  void Submit(std::unique_ptr<FrameJob> job);
  // Whether the oldest job has finished (false when empty).
  bool OldestDone();
  // Waits for the oldest job and returns it. Precondition: !empty().
  std::unique_ptr<FrameJob> TakeOldest();

 private:
  struct Slot {
    std::unique_ptr<FrameJob> job;
    bool done = false;  // guarded by mu_
  };
  void Run(Slot* slot);

  Work work_;
  size_t max_in_flight_;
  std::deque<std::unique_ptr<Slot>> queue_;  // driver thread only
  std::vector<std::unique_ptr<FrameJob>> spare_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  size_t outstanding_ = 0;  // submitted to workers and not finished; guarded by mu_
  ThreadPool* pool_;
  std::unique_ptr<ThreadPool> own_pool_;  // declared last: joined first
};

}  // namespace internal
}  // namespace coffer::envelope
