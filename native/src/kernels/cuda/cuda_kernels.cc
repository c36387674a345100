#include "kernels/cuda/cuda_kernels.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda_check.h"
#include "kernels/checked_kernels.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/content_error.h"

namespace ts::cuda {
namespace {

// Uploads up to this size (step metadata) go through pinned staging without a wait.
constexpr size_t kStagedUploadBytes = size_t(1) << 20;

}  // namespace

CudaKernels::CudaKernels(int device, cudaStream_t stream) : device_(device), stream_(stream) {
  enter();
  checkRuntime(cudaDeviceGetAttribute(&multiprocessors_, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  checkRuntime(cudaMalloc(reinterpret_cast<void**>(&error_), sizeof(ContentError)), "cudaMalloc(content error)");
  checkRuntime(cudaMallocHost(reinterpret_cast<void**>(&errorHost_), sizeof(ContentError)), "cudaMallocHost(content error)");
  checkRuntime(cudaMemsetAsync(error_, 0, sizeof(ContentError), stream_), "cudaMemsetAsync(content error)");
  for (Staging& slot : staging_)
    checkRuntime(cudaEventCreateWithFlags(&slot.free, cudaEventDisableTiming), "cudaEventCreate(staging)");
}

CudaKernels::~CudaKernels() {
  cudaSetDevice(device_);
  cudaStreamSynchronize(stream_);
  dropGraphs();
  blas_.reset();
  cudaFree(scratch_);
  cudaFreeHost(errorHost_);
  cudaFree(error_);
  for (Staging& slot : staging_) {
    cudaFreeHost(slot.bytes);
    cudaEventDestroy(slot.free);
  }
  for (PinnedDownload& d : downloads_) {
    cudaFreeHost(d.bytes);
    cudaFreeHost(d.error);
    if (d.copied) cudaEventDestroy(d.copied);
  }
}

cudaStream_t CudaKernels::enter() const {
  checkRuntime(cudaSetDevice(device_), "cudaSetDevice");
  return stream_;
}

void CudaKernels::needGivenScratch(const char* call) const {
  if (given_ && !givenMapped_) {
    throw std::logic_error(std::string(call) +
                           ": the kernels' scratch (useScratch) is released with its tag: resume it first");
  }
}

void* CudaKernels::scratch(size_t bytes) {
  if (given_) {
    needGivenScratch("scratch");
    size_t room = givenBytes_ - Blas::kWorkspaceBytes;
    if (bytes > room) {
      throw std::length_error("scratch: a call needs " + std::to_string(bytes) + " bytes, the scratch given with " +
                              "useScratch holds " + std::to_string(room) + " after the GEMM workspace");
    }
    return reinterpret_cast<void*>(given_ + Blas::kWorkspaceBytes);
  }
  if (bytes <= scratchBytes_) return scratch_;
  if (capturing_) throw std::logic_error("scratch cannot grow during a capture: run the step once before capturing it");
  dropGraphs();  // they read the scratch that is about to move
  size_t grown = std::max(bytes, scratchBytes_ * 2);
  if (scratch_) checkRuntime(cudaFreeAsync(scratch_, stream_), "cudaFreeAsync(scratch)");
  scratch_ = nullptr;
  scratchBytes_ = 0;
  checkRuntime(cudaMallocAsync(&scratch_, grown, stream_), "cudaMallocAsync(scratch of " + std::to_string(grown) + " bytes)");
  scratchBytes_ = grown;
  return scratch_;
}

void CudaKernels::finish(const char* call) {
  if (capturing_) throw std::logic_error(std::string(call) + ": cannot wait for the stream during a capture");
  checkRuntime(cudaMemcpyAsync(errorHost_, error_, sizeof(ContentError), cudaMemcpyDeviceToHost, stream_),
        std::string(call) + ": cudaMemcpyAsync(content error)");
  checkRuntime(cudaStreamSynchronize(stream_), std::string(call) + ": cudaStreamSynchronize");
  if (errorHost_->code == kNoError) return;
  std::string message = describe(*errorHost_);
  checkRuntime(cudaMemsetAsync(error_, 0, sizeof(ContentError), stream_), "cudaMemsetAsync(content error)");
  checkRuntime(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  throw std::invalid_argument(message);
}

void CudaKernels::upload(uintptr_t device, const void* host, size_t bytes) {
  planValid_ = false;
  if (capturing_) throw std::logic_error("upload: no host copies during a capture");
  cudaStream_t stream = enter();
  if (bytes > kStagedUploadBytes) {
    checkRuntime(cudaMemcpyAsync(reinterpret_cast<void*>(device), host, bytes, cudaMemcpyHostToDevice, stream),
          "upload: cudaMemcpyAsync");
    finish("upload");
    return;
  }
  // A step's metadata: copied to pinned staging and only queued, so the step's launches need
  // not wait for work still on the stream (a resume's KV zeroing).
  Staging& slot = staging_[nextStaging_];
  nextStaging_ = (nextStaging_ + 1) % kStagingSlots;
  checkRuntime(cudaEventSynchronize(slot.free), "upload: cudaEventSynchronize(staging)");
  if (!slot.bytes) checkRuntime(cudaMallocHost(&slot.bytes, kStagedUploadBytes), "upload: cudaMallocHost(staging)");
  std::memcpy(slot.bytes, host, bytes);
  checkRuntime(cudaMemcpyAsync(reinterpret_cast<void*>(device), slot.bytes, bytes, cudaMemcpyHostToDevice, stream),
        "upload: cudaMemcpyAsync");
  checkRuntime(cudaEventRecord(slot.free, stream), "upload: cudaEventRecord(staging)");
}

void CudaKernels::download(void* host, uintptr_t device, size_t bytes) {
  if (capturing_) throw std::logic_error("download: no host copies during a capture");
  checkRuntime(cudaMemcpyAsync(host, reinterpret_cast<const void*>(device), bytes, cudaMemcpyDeviceToHost, enter()),
        "download: cudaMemcpyAsync");
  finish("download");
}

int CudaKernels::queueDownload(uintptr_t device, size_t bytes) {
  if (capturing_) throw std::logic_error("queueDownload: no host copies during a capture");
  cudaStream_t stream = enter();
  int ticket = 0;
  int slot = queued_.queue(bytes, ticket);
  PinnedDownload& d = downloads_[slot];
  try {
    if (!d.copied) {
      checkRuntime(cudaEventCreateWithFlags(&d.copied, cudaEventDisableTiming), "queueDownload: cudaEventCreate");
      checkRuntime(cudaMallocHost(reinterpret_cast<void**>(&d.error), sizeof(ContentError)), "queueDownload: cudaMallocHost");
    }
    if (d.capacity < bytes) {  // a slot's earlier copy was waited for when it was taken
      cudaFreeHost(d.bytes);
      d.bytes = nullptr;
      d.capacity = 0;
      checkRuntime(cudaMallocHost(&d.bytes, bytes), "queueDownload: cudaMallocHost(" + std::to_string(bytes) + " bytes)");
      d.capacity = bytes;
    }
    checkRuntime(cudaMemcpyAsync(d.bytes, reinterpret_cast<const void*>(device), bytes, cudaMemcpyDeviceToHost, stream),
          "queueDownload: cudaMemcpyAsync");
    checkRuntime(cudaMemcpyAsync(d.error, error_, sizeof(ContentError), cudaMemcpyDeviceToHost, stream),
          "queueDownload: cudaMemcpyAsync(content error)");
    checkRuntime(cudaEventRecord(d.copied, stream), "queueDownload: cudaEventRecord");
  } catch (...) {
    queued_.take(ticket, bytes);
    throw;
  }
  return ticket;
}

void CudaKernels::takeDownload(int ticket, void* host, size_t bytes) {
  PinnedDownload& d = downloads_[queued_.take(ticket, bytes)];
  enter();
  checkRuntime(cudaEventSynchronize(d.copied), "takeDownload: cudaEventSynchronize");
  // A content error recorded before the copy: the usual report (it waits for the whole stream).
  if (d.error->code != kNoError) finish("takeDownload");
  std::memcpy(host, d.bytes, bytes);
}

size_t CudaKernels::scratchBytes(int maxTokens, int group) const {
  return Blas::kWorkspaceBytes + attentionScratchBound(maxTokens, group);
}

void CudaKernels::useScratch(uintptr_t address, size_t bytes) {
  planValid_ = false;
  if (capturing_) throw std::logic_error("useScratch: not during a capture");
  if (bytes < Blas::kWorkspaceBytes) {
    throw std::invalid_argument("useScratch: " + std::to_string(bytes) + " bytes is less than the GEMM workspace (" +
                                std::to_string(Blas::kWorkspaceBytes) + ")");
  }
  checkRuntime(cudaStreamSynchronize(enter()), "useScratch: cudaStreamSynchronize");
  dropGraphs();  // they read the scratch being replaced
  if (scratch_) checkRuntime(cudaFreeAsync(scratch_, stream_), "useScratch: cudaFreeAsync");
  scratch_ = nullptr;
  scratchBytes_ = 0;
  given_ = address;
  givenBytes_ = bytes;
  givenMapped_ = true;
  if (blas_) blas_->useWorkspace(reinterpret_cast<void*>(address), Blas::kWorkspaceBytes);
}

void CudaKernels::forgetScratch(uintptr_t begin, uintptr_t end) {
  planValid_ = false;
  if (!given_ || given_ < begin || given_ >= end) return;
  checkRuntime(cudaStreamSynchronize(enter()), "forgetScratch: cudaStreamSynchronize");
  dropGraphs();
  given_ = 0;
  givenBytes_ = 0;
  if (blas_) blas_->useOwnWorkspace();
}

void CudaKernels::scratchMapped(uintptr_t begin, uintptr_t end, bool mapped) {
  planValid_ = false;
  if (given_ && given_ >= begin && given_ < end) givenMapped_ = mapped;
}

void CudaKernels::trimScratch() {
  planValid_ = false;
  checkRuntime(cudaStreamSynchronize(enter()), "trimScratch: cudaStreamSynchronize");
  if (!given_) {  // scratch given with useScratch stays: its owner unmaps it, graphs stay valid
    dropGraphs();
    if (blas_) blas_->releaseWorkspace();  // the handle itself keeps 2 MiB (see blas.h)
    if (scratch_) checkRuntime(cudaFreeAsync(scratch_, stream_), "trimScratch: cudaFreeAsync");
    scratch_ = nullptr;
    scratchBytes_ = 0;
    checkRuntime(cudaStreamSynchronize(stream_), "trimScratch: cudaStreamSynchronize");
  }
  cudaMemPool_t pool;
  checkRuntime(cudaDeviceGetDefaultMemPool(&pool, device_), "cudaDeviceGetDefaultMemPool");
  checkRuntime(cudaMemPoolTrimTo(pool, 0), "cudaMemPoolTrimTo");
}

void CudaKernels::synchronize() {
  enter();
  finish("synchronize");
}

std::unique_ptr<Kernels> createCudaKernels(int device, cudaStream_t stream) {
  return withArgumentChecks(std::make_unique<CudaKernels>(device, stream));
}

}  // namespace ts::cuda
