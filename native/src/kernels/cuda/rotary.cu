// Rotary embedding of q and k in place.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/rotary.cuh"

namespace ts::cuda {
namespace {

constexpr int kBlockPairs = 256;
constexpr int kMaxTokenThreads = 512;

// One thread per (head, pair): a block holds headsPerBlock heads of one token (blockIdx.x), each
// thread working out its own angle, so that a decode step's few tokens still spread over the GPU.
template <typename T>
__global__ void rotatePairs(T* q, T* k, const int32_t* positions, const float* invFreq, RotaryShape s) {
  waitForPriorGrid();
  allowNextGrid();
  int t = blockIdx.x;
  int head = blockIdx.y * s.headsPerBlock + threadIdx.x / s.half, i = threadIdx.x % s.half;
  if (threadIdx.x >= s.headsPerBlock * s.half || head >= s.qHeads + s.kvHeads) return;
  float sine, cosine;
  sincosf(static_cast<float>(positions[t]) * invFreq[i], &sine, &cosine);
  T* x = head < s.qHeads ? q + static_cast<size_t>(t) * s.qStride + head * s.headDim
                         : k + static_cast<size_t>(t) * s.kStride + (head - s.qHeads) * s.headDim;
  int first = s.adjacent ? 2 * i : i;
  int second = s.adjacent ? 2 * i + 1 : i + s.half;
  float x1 = toFloat(x[first]), x2 = toFloat(x[second]);
  x[first] = fromFloat<T>(x1 * cosine - x2 * sine);
  x[second] = fromFloat<T>(x2 * cosine + x1 * sine);
}

// The same rotation, 16 bytes at a time (HeadVectors), where every row and stride is 16-byte
// aligned, a block per token: the token's angles are worked out once into shared memory while the
// first vectors load, not once per head.
template <typename T>
__global__ void rotateTokenVectors(T* q, T* k, const int32_t* positions, const float* invFreq, RotaryShape s,
                                   int chunksPerHead) {
  waitForPriorGrid();
  allowNextGrid();
  __shared__ float sines[kMaxHalf], cosines[kMaxHalf];
  int t = blockIdx.x, items = (s.qHeads + s.kvHeads) * chunksPerHead;
  int item = threadIdx.x;
  HeadVectors<T> mine(q, k, s, t, item < items ? item : 0, chunksPerHead);
  tokenAngles(static_cast<float>(positions[t]), invFreq, s.half, sines, cosines);
  if (item < items) mine.rotateAndStore(s, sines, cosines);
  for (item += blockDim.x; item < items; item += blockDim.x) {
    HeadVectors<T>(q, k, s, t, item, chunksPerHead).rotateAndStore(s, sines, cosines);
  }
}

}  // namespace

void CudaKernels::rotary(const RotaryArgs& a) {
  if (a.rotaryDim / 2 > kMaxHalf) {
    throw std::invalid_argument("rotary: rotaryDim above " + std::to_string(2 * kMaxHalf) +
                                " is not supported on CUDA");
  }
  cudaStream_t stream = enter();
  int half = a.rotaryDim / 2;
  int headsPerBlock = std::max(1, kBlockPairs / half);
  RotaryShape shape = rotaryShape(a, headsPerBlock);
  int threads = (headsPerBlock * half + 31) / 32 * 32;
  dim3 grid(a.tokens, (a.qHeads + a.kvHeads + headsPerBlock - 1) / headsPerBlock);
  withElementType(a.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    if (rotaryVectorsFit(a)) {
      int chunksPerHead = rotaryVectorSpan(a) / kVector<T>;
      int items = (a.qHeads + a.kvHeads) * chunksPerHead;
      int vectorThreads = std::min(kMaxTokenThreads, (items + 31) / 32 * 32);
      if (a.tokens > 0) {
        launchOverlapped(rotateTokenVectors<T>, a.tokens, vectorThreads, 0, stream, at<T>(a.q), at<T>(a.k),
                         at<const int32_t>(a.positions), at<const float>(a.invFreq), shape, chunksPerHead);
      }
      return;
    }
    launchOverlapped(rotatePairs<T>, grid, threads, 0, stream, at<T>(a.q), at<T>(a.k), at<const int32_t>(a.positions),
                     at<const float>(a.invFreq), shape);
  });
  checkLaunch("rotary");
}

}  // namespace ts::cuda
