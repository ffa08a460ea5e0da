#pragma once
// A fixed set of worker threads with a bounded queue of work.
//
// Submit() blocks while the queue is full, so a fast producer cannot buffer
// unbounded work (and memory) ahead of the workers. The destructor finishes
// the queued work and joins the threads. Safe for concurrent use.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace coffer {

// Names the calling thread as top -H, perf and gdb show it (at most 15 bytes:
// longer names are cut).
void SetCurrentThreadName(std::string_view name);

class ThreadPool {
 public:
  // `threads` >= 1 workers; at most `queue_capacity` >= 1 tasks waiting.
  ThreadPool(size_t threads, size_t queue_capacity);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`, waiting for room. Returns false after Shutdown().
  bool Submit(std::function<void()> task);
  // Blocks until every submitted task has finished.
  void WaitIdle();
  // Finishes queued work, stops the workers. Idempotent.
  void Shutdown();

  size_t size() const { return workers_.size(); }

 private:
  void WorkerLoop();

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable work_ready_;
  std::condition_variable room_ready_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace coffer
