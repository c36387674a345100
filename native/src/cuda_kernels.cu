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

// 16-byte words per thread across the grid; the few elements before the first whole word and
// after the last are the first block's.
template <typename Lane>
__global__ void countNonFiniteKernel(const Lane* data, size_t elements, Lane mask, unsigned long long* count,
                                     unsigned long long* first) {
  constexpr size_t kLanes = 16 / sizeof(Lane);
  size_t head = (16 - reinterpret_cast<uintptr_t>(data) % 16) % 16 / sizeof(Lane);
  if (head > elements) head = elements;
  size_t words = (elements - head) / kLanes;
  const uint4* body = reinterpret_cast<const uint4*>(data + head);
  unsigned long long found = 0, earliest = ~0ull;
  auto look = [&](Lane v, size_t i) {
    if ((v & mask) == mask) {
      ++found;
      earliest = min(earliest, static_cast<unsigned long long>(i));
    }
  };
  for (size_t w = blockIdx.x * size_t(blockDim.x) + threadIdx.x; w < words; w += size_t(gridDim.x) * blockDim.x) {
    uint4 word = body[w];
    const Lane* lanes = reinterpret_cast<const Lane*>(&word);
#pragma unroll
    for (size_t l = 0; l < kLanes; ++l) look(lanes[l], head + w * kLanes + l);
  }
  if (blockIdx.x == 0) {
    for (size_t i = threadIdx.x; i < head; i += blockDim.x) look(data[i], i);
    for (size_t i = head + words * kLanes + threadIdx.x; i < elements; i += blockDim.x) look(data[i], i);
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    found += __shfl_down_sync(0xffffffffu, found, offset);
    earliest = min(earliest, __shfl_down_sync(0xffffffffu, earliest, offset));
  }
  if (threadIdx.x % 32 == 0 && found > 0) {
    atomicAdd(count, found);
    atomicMin(first, earliest);
  }
}

}  // namespace

cudaError_t launchCountNonFinite(uintptr_t address, size_t elements, int elementBytes, uint32_t exponentMask,
                                 unsigned long long* count, unsigned long long* first, cudaStream_t stream) {
  size_t words = elements * elementBytes / 16 + 1;
  int blocks = static_cast<int>(std::min<size_t>((words + kThreads - 1) / kThreads, 4096));
  if (elementBytes == 4) {
    countNonFiniteKernel<<<blocks, kThreads, 0, stream>>>(reinterpret_cast<const uint32_t*>(address), elements,
                                                          exponentMask, count, first);
  } else {
    countNonFiniteKernel<<<blocks, kThreads, 0, stream>>>(reinterpret_cast<const uint16_t*>(address), elements,
                                                          static_cast<uint16_t>(exponentMask), count, first);
  }
  return cudaGetLastError();
}

cudaError_t launchChecksum(uintptr_t address, size_t bytes, unsigned long long* result, cudaStream_t stream) {
  cudaError_t status = cudaMemsetAsync(result, 0, sizeof(*result), stream);
  if (status != cudaSuccess) return status;
  size_t words = bytes / 8 + 1;
  int blocks = static_cast<int>(std::min<size_t>((words + kThreads - 1) / kThreads, 4096));
  checksumKernel<<<blocks, kThreads, 0, stream>>>(reinterpret_cast<const unsigned char*>(address), bytes, result);
  return cudaGetLastError();
}

}  // namespace ts::cuda
