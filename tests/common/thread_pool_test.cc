#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>

namespace coffer {
namespace {

TEST(ThreadPoolTest, RunsEveryTask) {
  ThreadPool pool(2, 4);
  std::atomic<int> count{0};
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(pool.Submit([&] { ++count; }));
  pool.WaitIdle();
  EXPECT_EQ(count.load(), 1000);
}

TEST(ThreadPoolTest, QueueIsBounded) {
  ThreadPool pool(1, 2);
  std::atomic<int> max_waiting{0}, submitted{0}, started{0};
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(pool.Submit([&] {
      ++started;
      // submitted - started counts tasks queued but not yet running.
      int waiting = submitted.load() - started.load();
      int prev = max_waiting.load();
      while (waiting > prev && !max_waiting.compare_exchange_weak(prev, waiting)) {
      }
    }));
    ++submitted;
  }
  pool.WaitIdle();
  EXPECT_LE(max_waiting.load(), 3);  // capacity + the one being handed over
}

TEST(ThreadPoolTest, ShutdownFinishesQueuedWorkAndRefusesMore) {
  std::atomic<int> count{0};
  ThreadPool pool(2, 100);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool.Submit([&] { ++count; }));
  pool.Shutdown();
  EXPECT_EQ(count.load(), 100);
  EXPECT_FALSE(pool.Submit([] {}));
  pool.Shutdown();  // idempotent
}

}  // namespace
}  // namespace coffer
