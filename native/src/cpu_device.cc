// The CPU backend: the saver's contract on host memory. Reserved ranges are PROT_NONE
// mappings; "mapping" makes pages accessible, "unmapping" drops them (MADV_DONTNEED) and
// makes a stray access fault again.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "checksum.h"
#include "device.h"
#include "kernels/cpu/cpu_kernels.h"

namespace ts {
namespace {

[[noreturn]] void fail(const std::string& call) {
  throw std::runtime_error(call + " failed: " + std::strerror(errno));
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

  uint64_t checksum(uintptr_t address, size_t bytes) override {
    const auto* data = reinterpret_cast<const unsigned char*>(address);
    uint64_t sum = 0;
    size_t words = bytes / 8;
    for (size_t i = 0; i < words; ++i) {
      uint64_t word;
      std::memcpy(&word, data + i * 8, 8);
      sum += mixWord(word, i);
    }
    if (bytes % 8 != 0) {
      uint64_t word = 0;
      std::memcpy(&word, data + words * 8, bytes % 8);
      sum += mixWord(word, words);
    }
    return sum;
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

 private:
  size_t page_;
  std::unique_ptr<Kernels> kernels_ = cpu::createCpuKernels();
};

}  // namespace

std::unique_ptr<Device> createCpuDevice() { return std::make_unique<CpuDevice>(); }

}  // namespace ts
