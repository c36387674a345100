// Rotary embedding in place, one block per token: the block computes the token's cosines and
// sines once, then rotates every (head, pair) of q and k.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace ts::cuda {
namespace {

constexpr int kMaxHalf = 512;  // rotaryDim / 2 held in shared memory

struct RotaryShape {
  int qHeads, kvHeads, headDim, half, qStride, kStride;
  bool adjacent;
};

template <typename T>
__global__ void rotateToken(T* q, T* k, const int32_t* positions, const float* invFreq, RotaryShape s) {
  __shared__ float cosines[kMaxHalf], sines[kMaxHalf];
  int t = blockIdx.x;
  float position = static_cast<float>(positions[t]);
  for (int i = threadIdx.x; i < s.half; i += blockDim.x) sincosf(position * invFreq[i], &sines[i], &cosines[i]);
  __syncthreads();
  int pairs = (s.qHeads + s.kvHeads) * s.half;
  for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
    int head = p / s.half, i = p % s.half;
    T* x = head < s.qHeads ? q + static_cast<size_t>(t) * s.qStride + head * s.headDim
                           : k + static_cast<size_t>(t) * s.kStride + (head - s.qHeads) * s.headDim;
    int first = s.adjacent ? 2 * i : i;
    int second = s.adjacent ? 2 * i + 1 : i + s.half;
    float x1 = toFloat(x[first]), x2 = toFloat(x[second]);
    x[first] = fromFloat<T>(x1 * cosines[i] - x2 * sines[i]);
    x[second] = fromFloat<T>(x2 * cosines[i] + x1 * sines[i]);
  }
}

}  // namespace

void CudaKernels::rotary(uintptr_t q, uintptr_t k, uintptr_t positions, int tokens, int qHeads, int kvHeads,
                         int headDim, int rotaryDim, int qStride, int kStride, uintptr_t invFreq, RotaryLayout layout,
                         DType dtype) {
  if (rotaryDim / 2 > kMaxHalf) {
    throw std::invalid_argument("rotary: rotaryDim above " + std::to_string(2 * kMaxHalf) +
                                " is not supported on CUDA");
  }
  cudaStream_t stream = enter();
  RotaryShape shape{qHeads, kvHeads, headDim, rotaryDim / 2, qStride, kStride, layout == RotaryLayout::Adjacent};
  withElementType(dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    rotateToken<<<tokens, 128, 0, stream>>>(at<T>(q), at<T>(k), at<const int32_t>(positions),
                                            at<const float>(invFreq), shape);
  });
  checkLaunch("rotary");
}

}  // namespace ts::cuda
