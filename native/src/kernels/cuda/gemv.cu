// A block of kThreads owns kColumns output columns: each thread takes every kThreads-th 16-byte
// vector of k, loads that vector of all kColumns weight rows (cache-streaming loads: weights are
// read once per step) and of every row of a (once, for all columns), and keeps M x kColumns
// float32 sums; a block reduction ends it. So each thread has kColumns weight loads in flight
// however long k is, and a's loads are shared by the columns. acc + bias is rounded once, as
// the cuBLAS path and the CPU do.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/overlapped_launch.cuh"

namespace ts::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kColumns = 8;

template <typename T, int M>
__global__ void __launch_bounds__(kThreads)
    gemvColumns(T* __restrict__ out, const T* __restrict__ a, const T* __restrict__ w, const T* __restrict__ bias,
                int m, int n, int k) {
  constexpr int V = kVector<T>;
  __shared__ float partial[kThreads / 32][M * kColumns];
  int first = blockIdx.x * kColumns;
  int vectors = k / V;
  float acc[M][kColumns] = {};
  const uint4* rows[kColumns];
#pragma unroll
  for (int j = 0; j < kColumns; ++j) {
    rows[j] = reinterpret_cast<const uint4*>(w + static_cast<size_t>(min(first + j, n - 1)) * k);
    if (threadIdx.x < vectors) asm volatile("prefetch.global.L2 [%0];\n" ::"l"(rows[j] + threadIdx.x));
  }
  // The weights' first vectors are on their way to L2 while the kernel before this one finishes.
  waitForPriorGrid();
  allowNextGrid();
#pragma unroll 2
  for (int c = threadIdx.x; c < vectors; c += kThreads) {
    uint4 bits[kColumns];
#pragma unroll
    for (int j = 0; j < kColumns; ++j) bits[j] = __ldcs(rows[j] + c);
#pragma unroll
    for (int i = 0; i < M; ++i) {
      if (i >= m) break;
      float av[V];
      loadVector(a + static_cast<size_t>(i) * k + c * V, av);
#pragma unroll
      for (int j = 0; j < kColumns; ++j) {
        const T* wv = reinterpret_cast<const T*>(&bits[j]);
#pragma unroll
        for (int e = 0; e < V; ++e) acc[i][j] += toFloat(wv[e]) * av[e];
      }
    }
  }
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int i = 0; i < M; ++i) {
#pragma unroll
    for (int j = 0; j < kColumns; ++j) {
      float sum = warpSum(acc[i][j]);
      if (lane == 0) partial[warp][i * kColumns + j] = sum;
    }
  }
  __syncthreads();
  if (threadIdx.x >= M * kColumns) return;
  int i = threadIdx.x / kColumns, column = first + threadIdx.x % kColumns;
  if (i >= m || column >= n) return;
  float sum = 0.0f;
#pragma unroll
  for (int p = 0; p < kThreads / 32; ++p) sum += partial[p][threadIdx.x];
  out[static_cast<size_t>(i) * n + column] = fromFloat<T>(bias ? sum + toFloat(bias[column]) : sum);
}

template <typename T, int M>
void launchRows(cudaStream_t stream, uintptr_t out, uintptr_t a, uintptr_t w, uintptr_t bias, int m, int n, int k) {
  unsigned blocks = static_cast<unsigned>((n + kColumns - 1) / kColumns);
  launchOverlapped(gemvColumns<T, M>, blocks, kThreads, 0, stream, at<T>(out), at<const T>(a), at<const T>(w),
                   at<const T>(bias), m, n, k);
}

}  // namespace

bool launchGemv(cudaStream_t stream, uintptr_t out, uintptr_t a, uintptr_t w, uintptr_t bias, int m, int n, int k,
                DType dtype) {
  bool suits = false;
  withElementType(dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    if (m > kGemvMaxRows || k % kVector<T> != 0 || (a | w) % 16 != 0) return;
    suits = true;
    if (m == 1) launchRows<T, 1>(stream, out, a, w, bias, m, n, k);
    else if (m == 2) launchRows<T, 2>(stream, out, a, w, bias, m, n, k);
    else launchRows<T, kGemvMaxRows>(stream, out, a, w, bias, m, n, k);
  });
  return suits;
}

}  // namespace ts::cuda
