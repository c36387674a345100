// The CPU backend: the saver's contract on host memory. Reserved ranges are PROT_NONE
// mappings; "mapping" makes pages accessible, "unmapping" drops them (MADV_DONTNEED) and
// makes a stray access fault again.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "checksum.h"
#include "device.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/non_finite.h"
#include "kernels/cpu/thread_pool.h"

namespace ts {
namespace {

[[noreturn]] void fail(const std::string& call) {
  throw std::runtime_error(call + " failed: " + std::strerror(errno));
}

// x86-64-v4 (AVX-512) has a vector 64-bit multiply; without it the mixing, not memory, bounds
// the checksum's rate (measured here: 10 GB/s per thread on the baseline, 34 GB/s with it).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TS_CHECKSUM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TS_CHECKSUM_CLONES
#endif

// Ranges shorter than this many words are summed on the calling thread alone.
constexpr size_t kChecksumGrainWords = size_t{1} << 17;

// The checksum of words [begin, end) of data (whole 8-byte words, mixed with their index).
TS_CHECKSUM_CLONES uint64_t checksumWords(const unsigned char* data, size_t begin, size_t end) {
  uint64_t sum = 0;
  for (size_t i = begin; i < end; ++i) {
    uint64_t word;
    std::memcpy(&word, data + i * 8, 8);
    sum += mixWord(word, i);
  }
  return sum;
}

class CpuDevice final : public Device {
 public:
  CpuDevice() : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {}

  std::string name() const override { return "cpu"; }
  size_t granularity() const override { return page_; }

  uintptr_t reserve(size_t bytes) override {
    void* p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fail("mmap(reserve " + std::to_string(bytes) + " bytes)");
    return reinterpret_cast<uintptr_t>(p);
  }

  void unreserve(uintptr_t address, size_t bytes) override {
    if (munmap(reinterpret_cast<void*>(address), bytes) != 0) fail("munmap");
  }

  std::unique_ptr<PhysicalChunk> map(uintptr_t address, size_t bytes) override {
    if (mprotect(reinterpret_cast<void*>(address), bytes, PROT_READ | PROT_WRITE) != 0) {
      fail("mprotect(read|write)");
    }
    return std::make_unique<PhysicalChunk>();
  }

  // Private anonymous pages, new or dropped with MADV_DONTNEED, fault back in as zeros.
  bool mapsZeroed() const override { return true; }

  void unmap(uintptr_t address, size_t bytes, std::unique_ptr<PhysicalChunk>) override {
    void* p = reinterpret_cast<void*>(address);
    if (madvise(p, bytes, MADV_DONTNEED) != 0) fail("madvise(MADV_DONTNEED)");
    if (mprotect(p, bytes, PROT_NONE) != 0) fail("mprotect(none)");
  }

  size_t residentBytes(uintptr_t address, size_t bytes, size_t) const override {
    std::vector<unsigned char> pages((bytes + page_ - 1) / page_);
    if (mincore(reinterpret_cast<void*>(address), bytes, pages.data()) != 0) return 0;
    size_t resident = 0;
    for (unsigned char page : pages) resident += (page & 1) ? page_ : 0;
    return resident;
  }

  // Populated now, so the first pause pays no page faults.
  void* allocateHost(size_t bytes) override {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) fail("mmap(host backup " + std::to_string(bytes) + " bytes)");
    return p;
  }

  void freeHost(void* pointer, size_t bytes) override { munmap(pointer, bytes); }

  void copyToHost(void* destination, uintptr_t source, size_t bytes) override {
    std::memcpy(destination, reinterpret_cast<const void*>(source), bytes);
  }

  void copyFromHost(uintptr_t destination, const void* source, size_t bytes) override {
    std::memcpy(reinterpret_cast<void*>(destination), source, bytes);
  }

  void fill(uintptr_t address, size_t bytes, uint8_t value) override {
    std::memset(reinterpret_cast<void*>(address), value, bytes);
  }

  // Pieces of the range on the kernels' threads; the sum wraps mod 2^64, so the partial sums
  // add up to the same value in any order and on any number of threads.
  uint64_t checksum(uintptr_t address, size_t bytes) override {
    const auto* data = reinterpret_cast<const unsigned char*>(address);
    size_t words = bytes / 8;
    std::atomic<uint64_t> total{0};
    cpu::ThreadPool::shared().parallelRanges(words, kChecksumGrainWords, [&](size_t begin, size_t end) {
      total.fetch_add(checksumWords(data, begin, end), std::memory_order_relaxed);
    });
    uint64_t sum = total.load();
    if (bytes % 8 != 0) {
      uint64_t word = 0;
      std::memcpy(&word, data + words * 8, bytes % 8);
      sum += mixWord(word, words);
    }
    return sum;
  }

  void copyOnDevice(uintptr_t destination, uintptr_t source, size_t bytes) override {
    std::memmove(reinterpret_cast<void*>(destination), reinterpret_cast<const void*>(source), bytes);
  }

  std::vector<NonFiniteCount> countNonFinite(const std::vector<DeviceValues>& ranges) override {
    std::vector<NonFiniteCount> counts;
    counts.reserve(ranges.size());
    for (const DeviceValues& r : ranges) {
      counts.push_back(cpu::countNonFinite(reinterpret_cast<const void*>(r.address), r.elements, r.dtype));
    }
    return counts;
  }

  void synchronize() override {}

  MemoryInfo memoryInfo() const override {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    MemoryInfo info{0, 0};
    while (meminfo >> key >> kib) {
      if (key == "MemTotal:") info.total = kib * 1024;
      if (key == "MemAvailable:") info.free = kib * 1024;
      meminfo.ignore(256, '\n');
    }
    return info;
  }

  Kernels& kernels() override { return *kernels_; }
  void trimScratch() override { kernels_->trimScratch(); }

 private:
  size_t page_;
  std::unique_ptr<Kernels> kernels_ = cpu::createCpuKernels();
};

}  // namespace

std::unique_ptr<Device> createCpuDevice() { return std::make_unique<CpuDevice>(); }

}  // namespace ts
