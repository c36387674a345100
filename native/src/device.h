// A device backend: virtual ranges reserved once, physical memory mapped and unmapped in
// chunks at fixed addresses, host backups, copies and the few kernels the saver needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace ts {

class Kernels;

// NaN and ±Inf among some values.
struct NonFiniteCount {
  size_t count = 0;
  // Element index of the first non-finite value; meaningful only when count > 0.
  size_t first = 0;
};

// `elements` values of `dtype` in device memory.
struct DeviceValues {
  uintptr_t address;
  size_t elements;
  DType dtype;
};

struct MemoryInfo {
  uint64_t free;
  uint64_t total;
};

// Physical memory behind one chunk of a reserved range; opaque to the saver.
struct PhysicalChunk {
  virtual ~PhysicalChunk() = default;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string name() const = 0;
  // Sizes and chunk boundaries are multiples of this.
  virtual size_t granularity() const = 0;

  virtual uintptr_t reserve(size_t bytes) = 0;
  virtual void unreserve(uintptr_t address, size_t bytes) = 0;
  // Backs [address, address + bytes) with physical memory; throws on failure, mapping nothing.
  virtual std::unique_ptr<PhysicalChunk> map(uintptr_t address, size_t bytes) = 0;
  // True where freshly mapped memory always reads as zeros (the saver then never zeroes it).
  virtual bool mapsZeroed() const { return false; }
  // Gives the physical memory back; afterwards an access to the range faults.
  virtual void unmap(uintptr_t address, size_t bytes, std::unique_ptr<PhysicalChunk> chunk) = 0;
  // Bytes of [address, address + bytes) physically resident; `mapped` is what the saver mapped
  // (a backend that cannot ask the OS answers that).
  virtual size_t residentBytes(uintptr_t address, size_t bytes, size_t mapped) const = 0;

  // Host memory for backups: pinned where the device copies faster from pinned memory.
  virtual void* allocateHost(size_t bytes) = 0;
  virtual void freeHost(void* pointer, size_t bytes) = 0;

  // Copies are ordered on the device's stream; `synchronize` waits for all of them.
  virtual void copyToHost(void* destination, uintptr_t source, size_t bytes) = 0;
  virtual void copyFromHost(uintptr_t destination, const void* source, size_t bytes) = 0;
  virtual void fill(uintptr_t address, size_t bytes, uint8_t value) = 0;
  virtual uint64_t checksum(uintptr_t address, size_t bytes) = 0;
  virtual void copyOnDevice(uintptr_t destination, uintptr_t source, size_t bytes) = 0;
  // One count per range, all ranges scanned before the one wait.
  virtual std::vector<NonFiniteCount> countNonFinite(const std::vector<DeviceValues>& ranges) = 0;
  virtual void synchronize() = 0;
  virtual MemoryInfo memoryInfo() const = 0;
  // The model kernels of this backend (kernels/kernels.h), owned by the device.
  virtual Kernels& kernels() = 0;
  // Lets the kernels give back their scratch memory (called after every pause).
  virtual void trimScratch() {}

  // CUDA IPC: another process's allocation, by its cudaIpcMemHandle_t bytes, mapped here
  // (openIpc returns its address) until closeIpc; waitIpcEvent orders the stream after the
  // sender's event (cudaIpcEventHandle_t bytes). Backends without IPC throw.
  virtual uintptr_t openIpc(const uint8_t* /*handle*/, size_t /*bytes*/) { throw noIpc(); }
  virtual void closeIpc(uintptr_t /*address*/) { throw noIpc(); }
  virtual void waitIpcEvent(const uint8_t* /*event*/, size_t /*bytes*/) { throw noIpc(); }

 private:
  std::runtime_error noIpc() const {
    return std::runtime_error("CUDA IPC handles need the CUDA backend; this engine runs on " + name());
  }
};

std::unique_ptr<Device> createCpuDevice();
// Throws "no CUDA device: ..." when the build has no CUDA or the machine no GPU.
std::unique_ptr<Device> createCudaDevice(int deviceIndex);
bool cudaCompiledIn();
// GPUs the CUDA runtime sees; 0 without CUDA in the build, a driver or a GPU.
int cudaDeviceCount();

}  // namespace ts
