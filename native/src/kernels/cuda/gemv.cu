// Each warp owns one output column: its lanes stream the column's weight row 16 bytes at a time
// (cache-streaming loads: weights are read once per step) and multiply them with the same
// vectors of every row of a (read through L1, shared by the block's warps). Float32 sums, then
// a warp reduction; acc + bias is rounded once, as the cuBLAS path and the CPU do.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemv.h"

namespace ts::cuda {
namespace {

constexpr int kWarps = 4;

template <typename T, int M>
__global__ void __launch_bounds__(kWarps * 32)
    gemvColumns(T* __restrict__ out, const T* __restrict__ a, const T* __restrict__ w, const T* __restrict__ bias,
                int m, int n, int k) {
  constexpr int V = kVector<T>;
  int column = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (column >= n) return;
  const T* weights = w + static_cast<size_t>(column) * k;
  float acc[M] = {};
  int vectors = k / V;
#pragma unroll 4
  for (int c = lane; c < vectors; c += 32) {
    uint4 bits = __ldcs(reinterpret_cast<const uint4*>(weights) + c);
    const T* wv = reinterpret_cast<const T*>(&bits);
#pragma unroll
    for (int i = 0; i < M; ++i) {
      if (i >= m) break;
      float av[V];
      loadVector(a + static_cast<size_t>(i) * k + c * V, av);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[i] += toFloat(wv[j]) * av[j];
    }
  }
#pragma unroll
  for (int i = 0; i < M; ++i) {
    if (i >= m) break;
    float sum = warpSum(acc[i]);
    if (lane == 0) {
      out[static_cast<size_t>(i) * n + column] = fromFloat<T>(bias ? sum + toFloat(bias[column]) : sum);
    }
  }
}

template <typename T, int M>
void launchRows(cudaStream_t stream, uintptr_t out, uintptr_t a, uintptr_t w, uintptr_t bias, int m, int n, int k) {
  unsigned blocks = static_cast<unsigned>((n + kWarps - 1) / kWarps);
  gemvColumns<T, M><<<blocks, kWarps * 32, 0, stream>>>(at<T>(out), at<const T>(a), at<const T>(w),
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
    else if (m <= 4) launchRows<T, 4>(stream, out, a, w, bias, m, n, k);
    else launchRows<T, kGemvMaxRows>(stream, out, a, w, bias, m, n, k);
  });
  return suits;
}

}  // namespace ts::cuda
