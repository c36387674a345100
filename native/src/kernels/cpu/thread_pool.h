// A fixed set of worker threads for the heavy CPU kernels. One job runs at a time (concurrent
// callers queue); the calling thread works too. Size: TS_CPU_THREADS, else the hardware's.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ts::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The process-wide pool, started on first use and never stopped.
  static ThreadPool& shared();
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs body(i) for every i in [0, count) and returns when all are done; rethrows the first
  // exception a body threw. Called from inside a body, it runs inline.
  void parallelFor(size_t count, const std::function<void(size_t)>& body);

  // Splits [0, n) into pieces of at least `grain` items and runs body(begin, end) on each.
  void parallelRanges(size_t n, size_t grain, const std::function<void(size_t, size_t)>& body);

 private:
  void workerLoop();
  void runItems();

  std::vector<std::thread> workers_;
  std::mutex submit_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(size_t)>* body_ = nullptr;
  size_t count_ = 0;
  std::atomic<size_t> next_{0};
  size_t busyWorkers_ = 0;
  unsigned long long generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace ts::cpu
