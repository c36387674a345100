#include <algorithm>

#include "checksum.h"
#include "cuda_kernels.h"

namespace ts::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void checksumKernel(const unsigned char* data, size_t bytes, unsigned long long* result) {
  size_t words = bytes / 8;
  const uint64_t* wordData = reinterpret_cast<const uint64_t*>(data);
  uint64_t sum = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < words; i += size_t(gridDim.x) * blockDim.x) {
    sum += mixWord(wordData[i], i);
  }
  if (blockIdx.x == 0 && threadIdx.x == 0 && bytes % 8 != 0) {
    uint64_t word = 0;
    for (size_t b = 0; b < bytes % 8; ++b) word |= uint64_t(data[words * 8 + b]) << (8 * b);
    sum += mixWord(word, words);
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  __shared__ uint64_t warpSums[kThreads / 32];
  if (threadIdx.x % 32 == 0) warpSums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    uint64_t total = 0;
    for (int w = 0; w < kThreads / 32; ++w) total += warpSums[w];
    atomicAdd(result, static_cast<unsigned long long>(total));
  }
}

}  // namespace

cudaError_t launchChecksum(uintptr_t address, size_t bytes, unsigned long long* result, cudaStream_t stream) {
  cudaError_t status = cudaMemsetAsync(result, 0, sizeof(*result), stream);
  if (status != cudaSuccess) return status;
  size_t words = bytes / 8 + 1;
  int blocks = static_cast<int>(std::min<size_t>((words + kThreads - 1) / kThreads, 4096));
  checksumKernel<<<blocks, kThreads, 0, stream>>>(reinterpret_cast<const unsigned char*>(address), bytes, result);
  return cudaGetLastError();
}

}  // namespace ts::cuda
