#include "envelope/frame_pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "common/thread_pool.h"

namespace coffer::envelope::internal {
namespace {

// Jobs finish in the order a test dictates (here: last submitted first),
// whatever order the workers pick them up in; the pipeline must still hand
// them back in submission order.
class Gate {
 public:
  void Open(uint32_t sequence) {
    std::lock_guard lock(mu_);
    open_.push_back(sequence);
    cv_.notify_all();
  }
  void Wait(uint32_t sequence) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return std::find(open_.begin(), open_.end(), sequence) != open_.end(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint32_t> open_;
};

TEST(FramePipelineTest, ReturnsJobsInSubmissionOrderWhateverOrderTheyFinish) {
  Gate gate;
  std::atomic<int> finished{0};
  std::vector<uint32_t> finish_order;
  std::mutex order_mu;
  PipelineOptions o;
  o.workers = 4;
  o.max_in_flight = 4;
  FramePipeline pipeline(
      [&](FrameJob& job) {
        gate.Wait(job.sequence);
        {
          std::lock_guard lock(order_mu);
          finish_order.push_back(job.sequence);
        }
        ++finished;
        return job.sequence == 3 ? DataLossError("job 3 fails") : Status::Ok();
      },
      o);
  for (uint32_t seq = 1; seq <= 4; ++seq) {
    ASSERT_FALSE(pipeline.full());
    auto job = pipeline.NewJob();
    job->sequence = seq;
    pipeline.Submit(std::move(job));
  }
  EXPECT_TRUE(pipeline.full());
  EXPECT_FALSE(pipeline.OldestDone());
  // Finish 4, then 3, then 2: job 1 is still running, so nothing is ready.
  int expected_finished = 0;
  for (uint32_t seq : {4u, 3u, 2u}) {
    gate.Open(seq);
    ++expected_finished;
    while (finished.load() < expected_finished) std::this_thread::yield();
    EXPECT_FALSE(pipeline.OldestDone());
  }
  gate.Open(1);
  for (uint32_t seq = 1; seq <= 4; ++seq) {
    std::unique_ptr<FrameJob> job = pipeline.TakeOldest();
    EXPECT_EQ(job->sequence, seq);
    EXPECT_EQ(job->status.ok(), seq != 3);
    pipeline.Recycle(std::move(job));
  }
  EXPECT_TRUE(pipeline.empty());
  EXPECT_EQ(finish_order, (std::vector<uint32_t>{4, 3, 2, 1}));
}

TEST(FramePipelineTest, WithoutWorkersTheWorkRunsOnSubmit) {
  int runs = 0;
  PipelineOptions o;
  o.workers = 0;
  FramePipeline pipeline(
      [&](FrameJob&) {
        ++runs;
        return Status::Ok();
      },
      o);
  EXPECT_EQ(pipeline.max_in_flight(), 1u);
  pipeline.Submit(pipeline.NewJob());
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(pipeline.OldestDone());
  EXPECT_TRUE(pipeline.full());
  pipeline.Recycle(pipeline.TakeOldest());
  EXPECT_TRUE(pipeline.empty());
}

TEST(FramePipelineTest, SharedPoolAndLimit) {
  ThreadPool pool(2, 4);
  std::atomic<int> runs{0};
  PipelineOptions o;
  o.pool = &pool;
  FramePipeline pipeline(
      [&](FrameJob&) {
        ++runs;
        return Status::Ok();
      },
      o);
  EXPECT_EQ(pipeline.max_in_flight(), 4u);  // 2 × the pool's threads
  pipeline.LimitInFlight(2);
  EXPECT_EQ(pipeline.max_in_flight(), 2u);
  pipeline.LimitInFlight(0);
  EXPECT_EQ(pipeline.max_in_flight(), 1u);
  for (int i = 0; i < 50; ++i) {
    if (pipeline.full()) pipeline.Recycle(pipeline.TakeOldest());
    pipeline.Submit(pipeline.NewJob());
  }
  while (!pipeline.empty()) pipeline.Recycle(pipeline.TakeOldest());
  EXPECT_EQ(runs.load(), 50);
}

TEST(FrameBufferTest, ResizeKeepsThePrefix) {
  FrameBuffer b;
  b.Resize(3);
  b.data()[0] = 1;
  b.data()[1] = 2;
  b.data()[2] = 3;
  b.Resize(100000);
  EXPECT_EQ(b.size(), 100000u);
  EXPECT_EQ(b.data()[0], 1);
  EXPECT_EQ(b.data()[2], 3);
  const size_t capacity = b.capacity();
  b.Resize(10);
  EXPECT_EQ(b.capacity(), capacity);
  b.Clear();
  EXPECT_EQ(b.size(), 0u);
}

}  // namespace
}  // namespace coffer::envelope::internal
