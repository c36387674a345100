#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <cstdlib>

namespace ts::cpu {
namespace {

thread_local bool insideJob = false;

int configuredThreads() {
  if (const char* value = std::getenv("TS_CPU_THREADS")) {
    char* end = nullptr;
    long threads = std::strtol(value, &end, 10);
    if (end != value && *end == '\0' && threads > 0) return static_cast<int>(std::min(threads, 1024L));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

ThreadPool& ThreadPool::shared() {
  static ThreadPool* pool = new ThreadPool(configuredThreads());
  return *pool;
}

void ThreadPool::parallelFor(size_t count, const std::function<void(size_t)>& body) {
  if (count == 0) return;
  if (count == 1 || workers_.empty() || insideJob) {
    for (size_t i = 0; i < count; ++i) body(i);
    return;
  }
  std::lock_guard<std::mutex> job(submit_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    count_ = count;
    next_.store(0);
    busyWorkers_ = workers_.size();
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  runItems();
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return busyWorkers_ == 0; });
    body_ = nullptr;
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

void ThreadPool::parallelRanges(size_t n, size_t grain, const std::function<void(size_t, size_t)>& body) {
  size_t pieces = std::min<size_t>((n + grain - 1) / std::max<size_t>(grain, 1), 4 * threads());
  if (pieces <= 1) {
    if (n > 0) body(0, n);
    return;
  }
  size_t step = (n + pieces - 1) / pieces;
  parallelFor(pieces, [&](size_t piece) {
    size_t begin = piece * step;
    if (begin < n) body(begin, std::min(n, begin + step));
  });
}

void ThreadPool::workerLoop() {
  unsigned long long seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    runItems();
    std::lock_guard<std::mutex> lock(mutex_);
    if (--busyWorkers_ == 0) done_.notify_one();
  }
}

void ThreadPool::runItems() {
  insideJob = true;
  for (size_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) {
    try {
      (*body_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  insideJob = false;
}

}  // namespace ts::cpu
