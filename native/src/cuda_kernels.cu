#include <algorithm>

#include "checksum.h"
#include "cuda_kernels.h"

namespace ts::cuda {
namespace {

constexpr int kThreads = 256;

// 16-byte loads a thread issues before it uses any (bench:decode's checksum, one 8-byte load at a
// time, read 1 GiB at 2.35 TB/s on the H200).
constexpr int kLoadsInFlight = 4;

// kLoadsInFlight words of a grid-stride walk over `count` 16-byte words, and their indices (an
// index past the end: a zero word, not valid).
struct WordBatch {
  uint4 words[kLoadsInFlight];
  size_t at[kLoadsInFlight];
  __device__ bool valid(int u, size_t count) const { return at[u] < count; }
};

__device__ __forceinline__ WordBatch loadWords(const uint4* data, size_t count, size_t first, size_t stride) {
  WordBatch b;
#pragma unroll
  for (int u = 0; u < kLoadsInFlight; ++u) {
    b.at[u] = first + u * stride;
    b.words[u] = b.at[u] < count ? __ldcs(data + b.at[u]) : make_uint4(0, 0, 0, 0);
  }
  return b;
}

__global__ void checksumKernel(const unsigned char* data, size_t bytes, unsigned long long* result) {
  size_t words = bytes / 8;
  const uint64_t* wordData = reinterpret_cast<const uint64_t*>(data);
  uint64_t sum = 0;
  size_t first = blockIdx.x * size_t(blockDim.x) + threadIdx.x, stride = size_t(gridDim.x) * blockDim.x;
  if (reinterpret_cast<uintptr_t>(data) % 16 == 0) {
    size_t pairs = words / 2;  // 8-byte words two to a 16-byte load, the odd last one alone
    for (size_t i = first; i < pairs; i += kLoadsInFlight * stride) {
      WordBatch b = loadWords(reinterpret_cast<const uint4*>(data), pairs, i, stride);
#pragma unroll
      for (int u = 0; u < kLoadsInFlight; ++u) {
        if (!b.valid(u, pairs)) continue;
        const uint4& w = b.words[u];
        sum += mixWord((uint64_t(w.y) << 32) | w.x, 2 * b.at[u]) + mixWord((uint64_t(w.w) << 32) | w.z, 2 * b.at[u] + 1);
      }
    }
    if (first == 0 && words % 2 != 0) sum += mixWord(wordData[words - 1], words - 1);
  } else {
    for (size_t i = first; i < words; i += stride) sum += mixWord(wordData[i], i);
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

// 16-byte words per thread across the grid, kLoadsInFlight at a time; the few elements before the
// first whole word and after the last are the first block's.
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
  size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t w = blockIdx.x * size_t(blockDim.x) + threadIdx.x; w < words; w += kLoadsInFlight * stride) {
    WordBatch b = loadWords(body, words, w, stride);
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      if (!b.valid(u, words)) continue;
      const Lane* lanes = reinterpret_cast<const Lane*>(&b.words[u]);
#pragma unroll
      for (size_t l = 0; l < kLanes; ++l) look(lanes[l], head + b.at[u] * kLanes + l);
    }
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
