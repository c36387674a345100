// out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight, one block per row; rows may sit in
// strided groups (kernels.h). addRmsNorm first adds delta into the residual row (stored in the
// dtype, as add would) and normalizes that. Where rows are 16-byte aligned, each thread holds up
// to kMaxVectors 16-byte vectors of the row in registers, so the row is read once; else a loop
// reads it twice. Every element is read, and the sum taken, before any is written: out may be x.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/overlapped_launch.cuh"

namespace ts::cuda {
namespace {

constexpr int kMaxVectors = 4;

struct NormRows {
  int dim, rowsPerGroup;
  size_t groupStride;
  float eps;
  __device__ size_t offset() const {
    return blockIdx.x / rowsPerGroup * groupStride + static_cast<size_t>(blockIdx.x % rowsPerGroup) * dim;
  }
};

// x is the row to normalize; with kAdd it is the residual, and delta is added into it first.
template <typename T, int K, bool kAdd>
__global__ void normalizeHeldRows(T* out, T* x, const T* delta, const T* weight, NormRows s) {
  constexpr int V = kVector<T>;
  int vectors = s.dim / V;
  uint4 weights[K];  // loaded before the wait: no kernel of the step writes them
#pragma unroll
  for (int k = 0; k < K; ++k) {
    int c = threadIdx.x + k * blockDim.x;
    if (c < vectors) weights[k] = *reinterpret_cast<const uint4*>(weight + c * V);
  }
  waitForPriorGrid();
  allowNextGrid();
  __shared__ float scratch[32];
  size_t offset = s.offset();
  float values[K][V];
  float squares = 0.0f;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    int c = threadIdx.x + k * blockDim.x;
    if (c >= vectors) continue;
    loadVector(x + offset + c * V, values[k]);
    if constexpr (kAdd) {
      float added[V];
      loadVector(delta + offset + c * V, added);
#pragma unroll
      for (int j = 0; j < V; ++j) values[k][j] = toFloat(fromFloat<T>(values[k][j] + added[j]));
      storeVector(x + offset + c * V, values[k]);
    }
#pragma unroll
    for (int j = 0; j < V; ++j) squares += values[k][j] * values[k][j];
  }
  float inverseRms = 1.0f / sqrtf(blockSum(squares, scratch) / static_cast<float>(s.dim) + s.eps);
#pragma unroll
  for (int k = 0; k < K; ++k) {
    int c = threadIdx.x + k * blockDim.x;
    if (c >= vectors) continue;
    float scale[V];
    loadVector(reinterpret_cast<const T*>(&weights[k]), scale);
#pragma unroll
    for (int j = 0; j < V; ++j) values[k][j] = values[k][j] * inverseRms * scale[j];
    storeVector(out + offset + c * V, values[k]);
  }
}

template <typename T, bool kAdd>
__global__ void normalizeRows(T* out, T* x, const T* delta, const T* weight, NormRows s) {
  waitForPriorGrid();
  allowNextGrid();
  __shared__ float scratch[32];
  size_t offset = s.offset();
  T* row = x + offset;
  float squares = 0.0f;
  for (int i = threadIdx.x; i < s.dim; i += blockDim.x) {
    float value = toFloat(row[i]);
    if constexpr (kAdd) {
      T sum = fromFloat<T>(value + toFloat(delta[offset + i]));
      row[i] = sum;
      value = toFloat(sum);
    }
    squares += value * value;
  }
  float inverseRms = 1.0f / sqrtf(blockSum(squares, scratch) / static_cast<float>(s.dim) + s.eps);
  T* target = out + offset;
  for (int i = threadIdx.x; i < s.dim; i += blockDim.x) {
    target[i] = fromFloat<T>(toFloat(row[i]) * inverseRms * toFloat(weight[i]));
  }
}

template <typename T, bool kAdd>
void launchNorm(cudaStream_t stream, uintptr_t out, uintptr_t x, uintptr_t delta, uintptr_t weight, int rows,
                NormRows s) {
  constexpr int V = kVector<T>;
  int vectors = s.dim / V;
  bool aligned = (out | x | delta | weight) % 16 == 0 && s.dim % V == 0 && s.groupStride % V == 0;
  if (aligned && vectors <= kMaxVectors * 1024) {
    int threads = std::min(1024, (vectors + 31) / 32 * 32);
    int perThread = (vectors + threads - 1) / threads;
    auto launch = [&](auto kernel) {
      launchOverlapped(kernel, rows, threads, 0, stream, at<T>(out), at<T>(x), at<const T>(delta), at<const T>(weight),
                       s);
    };
    if (perThread == 1) launch(normalizeHeldRows<T, 1, kAdd>);
    else if (perThread == 2) launch(normalizeHeldRows<T, 2, kAdd>);
    else launch(normalizeHeldRows<T, kMaxVectors, kAdd>);
    return;
  }
  int threads = s.dim >= 4096 ? 1024 : s.dim >= 1024 ? 512 : 128;
  launchOverlapped(normalizeRows<T, kAdd>, rows, threads, 0, stream, at<T>(out), at<T>(x), at<const T>(delta),
                   at<const T>(weight), s);
}

}  // namespace

void CudaKernels::rmsNorm(const RmsNormArgs& a) {
  cudaStream_t stream = enter();
  withElementType(a.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    launchNorm<T, false>(stream, a.out, a.x, 0, a.weight, a.rows,
                         NormRows{a.dim, a.rowsPerGroup, a.groupStride, a.eps});
  });
  checkLaunch("rmsNorm");
}

void CudaKernels::addRmsNorm(const AddRmsNormArgs& a) {
  cudaStream_t stream = enter();
  withElementType(a.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    launchNorm<T, true>(stream, a.out, a.residual, a.delta, a.weight, a.rows,
                        NormRows{a.dim, a.rows, static_cast<size_t>(a.rows) * a.dim, a.eps});
  });
  checkLaunch("addRmsNorm");
}

}  // namespace ts::cuda
