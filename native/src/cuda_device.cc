// The CUDA backend: driver virtual-memory management (reserve once, create + map + set access,
// unmap + release), pinned host backups, copies on one stream.
// The driver is reached through cudart's entry-point query, so libcuda is loaded at run time
// and one build works with and without a GPU.
#include "device.h"

#if !defined(TS_WITH_CUDA)

#include <stdexcept>

namespace ts {
bool cudaCompiledIn() { return false; }
int cudaDeviceCount() { return 0; }
std::unique_ptr<Device> createCudaDevice(int) {
  throw std::runtime_error("no CUDA device: this build has no CUDA backend (nvcc was not found when it was built)");
}
}  // namespace ts

#else

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "cuda_check.h"
#include "cuda_ipc_handles.h"
#include "cuda_kernels.h"
#include "kernels/cuda/cuda_kernels.h"

namespace ts {
namespace {

struct Driver {
  decltype(&cuGetErrorName) getErrorName;
  decltype(&cuMemAddressReserve) addressReserve;
  decltype(&cuMemAddressFree) addressFree;
  decltype(&cuMemCreate) create;
  decltype(&cuMemRelease) release;
  decltype(&cuMemMap) map;
  decltype(&cuMemUnmap) unmap;
  decltype(&cuMemSetAccess) setAccess;
  decltype(&cuMemGetAllocationGranularity) granularity;
};

template <typename F>
void load(F& function, const char* symbol) {
  cudaDriverEntryPointQueryResult found;
  void* pointer = nullptr;
  checkRuntime(cudaGetDriverEntryPointByVersion(symbol, &pointer, 12000, cudaEnableDefault, &found),
               std::string("cudaGetDriverEntryPointByVersion(") + symbol + ")");
  if (found != cudaDriverEntryPointSuccess || !pointer) throw std::runtime_error(std::string("driver lacks ") + symbol);
  function = reinterpret_cast<F>(pointer);
}

struct CudaChunk final : PhysicalChunk {
  CUmemGenericAllocationHandle handle;
  explicit CudaChunk(CUmemGenericAllocationHandle h) : handle(h) {}
};

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(int index) : index_(index) {
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      throw std::runtime_error(std::string("no CUDA device: cudaGetDeviceCount: ") + cudaGetErrorName(status) + " (" +
                               cudaGetErrorString(status) + ")");
    }
    if (index < 0 || index >= count) {
      throw std::runtime_error("no CUDA device: index " + std::to_string(index) + " of " + std::to_string(count));
    }
    bind();
    checkRuntime(cudaFree(nullptr), "cudaFree(0)");
    load(driver_.getErrorName, "cuGetErrorName");
    load(driver_.addressReserve, "cuMemAddressReserve");
    load(driver_.addressFree, "cuMemAddressFree");
    load(driver_.create, "cuMemCreate");
    load(driver_.release, "cuMemRelease");
    load(driver_.map, "cuMemMap");
    load(driver_.unmap, "cuMemUnmap");
    load(driver_.setAccess, "cuMemSetAccess");
    load(driver_.granularity, "cuMemGetAllocationGranularity");
    prop_.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop_.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop_.location.id = index;
    access_.location = prop_.location;
    access_.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    check(driver_.granularity(&granularity_, &prop_, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED), "cuMemGetAllocationGranularity");
    checkRuntime(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    checkRuntime(cudaMalloc(reinterpret_cast<void**>(&checksum_), sizeof(unsigned long long)), "cudaMalloc(checksum)");
    kernels_ = cuda::createCudaKernels(index, stream_);
  }

  ~CudaDevice() override {
    bind();
    kernels_.reset();
    cudaDeviceSynchronize();
    cudaFree(checksum_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda:" + std::to_string(index_); }
  size_t granularity() const override { return granularity_; }

  uintptr_t reserve(size_t bytes) override {
    bind();
    CUdeviceptr address = 0;
    check(driver_.addressReserve(&address, bytes, granularity_, 0, 0), "cuMemAddressReserve");
    return static_cast<uintptr_t>(address);
  }

  void unreserve(uintptr_t address, size_t bytes) override {
    check(driver_.addressFree(static_cast<CUdeviceptr>(address), bytes), "cuMemAddressFree");
  }

  std::unique_ptr<PhysicalChunk> map(uintptr_t address, size_t bytes) override {
    bind();
    CUmemGenericAllocationHandle handle;
    check(driver_.create(&handle, bytes, &prop_, 0), "cuMemCreate(" + std::to_string(bytes) + " bytes)");
    CUresult status = driver_.map(static_cast<CUdeviceptr>(address), bytes, 0, handle, 0);
    if (status == CUDA_SUCCESS) {
      status = driver_.setAccess(static_cast<CUdeviceptr>(address), bytes, &access_, 1);
      if (status != CUDA_SUCCESS) driver_.unmap(static_cast<CUdeviceptr>(address), bytes);
    }
    if (status != CUDA_SUCCESS) {
      driver_.release(handle);
      check(status, "cuMemMap/cuMemSetAccess");
    }
    return std::make_unique<CudaChunk>(handle);
  }

  void unmap(uintptr_t address, size_t bytes, std::unique_ptr<PhysicalChunk> chunk) override {
    check(driver_.unmap(static_cast<CUdeviceptr>(address), bytes), "cuMemUnmap");
    check(driver_.release(static_cast<CudaChunk&>(*chunk).handle), "cuMemRelease");
  }

  size_t residentBytes(uintptr_t, size_t, size_t mapped) const override { return mapped; }

  // Pinning is the slow part of a backup. mmap'd huge pages registered with one call pin
  // 16 GiB in about 3 s on the H100 host, against about 9 s for cudaMallocHost (bench:memory).
  void* allocateHost(size_t bytes) override {
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::runtime_error("mmap(host backup " + std::to_string(bytes) + " bytes) failed");
    madvise(base, bytes, MADV_HUGEPAGE);
    bind();
    cudaError_t status = cudaHostRegister(base, bytes, cudaHostRegisterDefault);
    if (status != cudaSuccess) {
      munmap(base, bytes);
      checkRuntime(status, "cudaHostRegister(" + std::to_string(bytes) + " bytes)");
    }
    return base;
  }

  void freeHost(void* pointer, size_t bytes) override {
    cudaHostUnregister(pointer);
    munmap(pointer, bytes);
  }

  // In pieces, so a long copy never holds the copy engine in one command.
  void copyToHost(void* destination, uintptr_t source, size_t bytes) override {
    bind();
    for (size_t done = 0; done < bytes; done += kCopyPiece) {
      size_t length = std::min(kCopyPiece, bytes - done);
      checkRuntime(cudaMemcpyAsync(static_cast<char*>(destination) + done, reinterpret_cast<const void*>(source + done),
                                   length, cudaMemcpyDeviceToHost, stream_),
                   "cudaMemcpyAsync(device to host)");
    }
  }

  uintptr_t openIpc(const uint8_t* handle, size_t bytes) override {
    bind();
    cudaIpcMemHandle_t h;
    if (bytes != sizeof h) throw std::runtime_error("a CUDA IPC handle is " + std::to_string(sizeof h) + " bytes");
    std::memcpy(&h, handle, sizeof h);
    return openIpcHandle(index_, h);
  }

  void closeIpc(uintptr_t address) override {
    bind();
    closeIpcHandle(index_, address);
  }

  void waitIpcEvent(const uint8_t* event, size_t bytes) override {
    bind();
    cudaIpcEventHandle_t h;
    if (bytes != sizeof h) throw std::runtime_error("a CUDA IPC event is " + std::to_string(sizeof h) + " bytes");
    std::memcpy(&h, event, sizeof h);
    cudaEvent_t opened = openIpcEvent(h);
    cudaError_t waited = cudaStreamWaitEvent(stream_, opened, 0);
    cudaEventDestroy(opened);
    checkRuntime(waited, "cudaStreamWaitEvent");
  }

  void copyFromHost(uintptr_t destination, const void* source, size_t bytes) override {
    bind();
    for (size_t done = 0; done < bytes; done += kCopyPiece) {
      size_t length = std::min(kCopyPiece, bytes - done);
      checkRuntime(cudaMemcpyAsync(reinterpret_cast<void*>(destination + done), static_cast<const char*>(source) + done,
                                   length, cudaMemcpyHostToDevice, stream_),
                   "cudaMemcpyAsync(host to device)");
    }
  }

  void fill(uintptr_t address, size_t bytes, uint8_t value) override {
    bind();
    checkRuntime(cudaMemsetAsync(reinterpret_cast<void*>(address), value, bytes, stream_), "cudaMemsetAsync");
  }

  uint64_t checksum(uintptr_t address, size_t bytes) override {
    bind();
    checkRuntime(cuda::launchChecksum(address, bytes, checksum_, stream_), "checksum kernel");
    unsigned long long result = 0;
    checkRuntime(cudaMemcpyAsync(&result, checksum_, sizeof(result), cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
    checkRuntime(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    return result;
  }

  void copyOnDevice(uintptr_t destination, uintptr_t source, size_t bytes) override {
    bind();
    checkRuntime(cudaMemcpyAsync(reinterpret_cast<void*>(destination), reinterpret_cast<const void*>(source), bytes,
                                 cudaMemcpyDeviceToDevice, stream_),
                 "cudaMemcpyAsync(device to device)");
  }

  std::vector<NonFiniteCount> countNonFinite(const std::vector<DeviceValues>& ranges) override {
    bind();
    std::vector<NonFiniteCount> counts(ranges.size());
    if (ranges.empty()) return counts;
    // counts[r] then firsts[r], one allocation for the call.
    size_t n = ranges.size();
    unsigned long long* found = nullptr;
    checkRuntime(cudaMallocAsync(reinterpret_cast<void**>(&found), 2 * n * sizeof(*found), stream_), "cudaMallocAsync");
    std::vector<unsigned long long> host(2 * n);
    try {
      checkRuntime(cudaMemsetAsync(found, 0, n * sizeof(*found), stream_), "cudaMemsetAsync");
      checkRuntime(cudaMemsetAsync(found + n, 0xff, n * sizeof(*found), stream_), "cudaMemsetAsync");
      for (size_t r = 0; r < n; ++r) {
        const DeviceValues& v = ranges[r];
        if (v.elements == 0) continue;
        int bytes = static_cast<int>(dtypeSize(v.dtype));
        uint32_t mask = v.dtype == DType::F32 ? 0x7f800000u : v.dtype == DType::BF16 ? 0x7f80u : 0x7c00u;
        checkRuntime(cuda::launchCountNonFinite(v.address, v.elements, bytes, mask, found + r, found + n + r, stream_),
                     "non-finite count kernel");
      }
      checkRuntime(cudaMemcpyAsync(host.data(), found, 2 * n * sizeof(*found), cudaMemcpyDeviceToHost, stream_),
                   "cudaMemcpyAsync");
      checkRuntime(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    } catch (...) {
      cudaFreeAsync(found, stream_);
      throw;
    }
    cudaFreeAsync(found, stream_);
    for (size_t r = 0; r < n; ++r) counts[r] = {host[r], host[r] > 0 ? host[n + r] : 0};
    return counts;
  }

  // Every stream, not only ours: nothing may still run on memory about to be unmapped.
  void synchronize() override {
    bind();
    checkRuntime(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }

  MemoryInfo memoryInfo() const override {
    bind();
    size_t free = 0, total = 0;
    checkRuntime(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
    return {free, total};
  }

  Kernels& kernels() override { return *kernels_; }
  void trimScratch() override { kernels_->trimScratch(); }

 private:
  static constexpr size_t kCopyPiece = size_t(256) << 20;

  void bind() const { checkRuntime(cudaSetDevice(index_), "cudaSetDevice"); }

  void check(CUresult status, const std::string& call) const {
    if (status == CUDA_SUCCESS) return;
    const char* name = nullptr;
    driver_.getErrorName(status, &name);
    throw std::runtime_error(call + " failed: " + (name ? name : std::to_string(status)));
  }

  int index_;
  Driver driver_{};
  CUmemAllocationProp prop_{};
  CUmemAccessDesc access_{};
  size_t granularity_ = 0;
  cudaStream_t stream_ = nullptr;
  unsigned long long* checksum_ = nullptr;
  std::unique_ptr<Kernels> kernels_;
};

}  // namespace

bool cudaCompiledIn() { return true; }

int cudaDeviceCount() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

std::unique_ptr<Device> createCudaDevice(int deviceIndex) { return std::make_unique<CudaDevice>(deviceIndex); }

}  // namespace ts

#endif
