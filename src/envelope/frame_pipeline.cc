#include "envelope/frame_pipeline.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace coffer::envelope::internal {

void FrameBuffer::Resize(size_t n) {
  if (n > capacity_) {
    // Geometric growth, so that a buffer grown piecewise (a frame read as its
    // bytes arrive) costs amortized linear time.
    size_t capacity = std::max(n, capacity_ + capacity_ / 2);
    std::unique_ptr<uint8_t[]> grown(new uint8_t[capacity]);
    if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
    data_ = std::move(grown);
    capacity_ = capacity;
  }
  size_ = n;
}

FramePipeline::FramePipeline(Work work, const PipelineOptions& options)
    : work_(std::move(work)), pool_(options.pool) {
  size_t threads = options.pool != nullptr ? options.pool->size() : options.workers;
  max_in_flight_ = options.max_in_flight != 0 ? options.max_in_flight : 2 * threads;
  if (max_in_flight_ < 1) max_in_flight_ = 1;
  if (pool_ == nullptr && options.workers > 0) {
    // Its queue never holds more than the jobs in flight, so Submit never waits.
    own_pool_ = std::make_unique<ThreadPool>(options.workers, max_in_flight_);
    pool_ = own_pool_.get();
  }
}

FramePipeline::~FramePipeline() {
  // Jobs in flight point into queue_; let them finish before it goes.
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return outstanding_ == 0; });
}

std::unique_ptr<FrameJob> FramePipeline::NewJob() {
  if (spare_.empty()) return std::make_unique<FrameJob>();
  std::unique_ptr<FrameJob> job = std::move(spare_.back());
  spare_.pop_back();
  return job;
}

void FramePipeline::Recycle(std::unique_ptr<FrameJob> job) {
  if (job == nullptr) return;
  // Keep enough spares for a full pipeline and the frames the driver holds.
  if (spare_.size() >= max_in_flight_ + 2) return;
  job->status = Status::Ok();
  job->buffer.Clear();
  spare_.push_back(std::move(job));
}

void FramePipeline::Run(Slot* slot) {
  Status status = work_(*slot->job);
  std::lock_guard lock(mu_);
  slot->job->status = std::move(status);
  slot->done = true;
  --outstanding_;
  done_cv_.notify_all();
}

void FramePipeline::Submit(std::unique_ptr<FrameJob> job) {
  auto slot = std::make_unique<Slot>();
  slot->job = std::move(job);
  Slot* raw = slot.get();
  queue_.push_back(std::move(slot));
  if (pool_ == nullptr) {
    raw->job->status = work_(*raw->job);
    raw->done = true;
    return;
  }
  {
    std::lock_guard lock(mu_);
    ++outstanding_;
  }
  if (!pool_->Submit([this, raw] { Run(raw); })) {
    // A shared pool that was shut down: do the work here rather than fail.
    Run(raw);
  }
}

bool FramePipeline::OldestDone() {
  if (queue_.empty()) return false;
  std::lock_guard lock(mu_);
  return queue_.front()->done;
}

std::unique_ptr<FrameJob> FramePipeline::TakeOldest() {
  Slot* front = queue_.front().get();
  {
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return front->done; });
  }
  std::unique_ptr<FrameJob> job = std::move(front->job);
  queue_.pop_front();
  return job;
}

}  // namespace coffer::envelope::internal
