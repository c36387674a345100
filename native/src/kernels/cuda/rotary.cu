// Rotary embedding of q and k in place.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/overlapped_launch.cuh"

namespace ts::cuda {
namespace {

constexpr int kMaxHalf = 1024;  // rotaryDim / 2: rotatePairs' threads, rotateTokenVectors' angles
constexpr int kBlockPairs = 256;
constexpr int kMaxTokenThreads = 512;

struct RotaryShape {
  int qHeads, kvHeads, headDim, half, qStride, kStride, headsPerBlock;
  bool adjacent;
};

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


// The same rotation, 16 bytes at a time, where every row and stride is 16-byte aligned, a block per
// token: a thread takes V consecutive pairs of one head (half-split: x[i..i+V) with x[half+i..];
// adjacent: the V / 2 pairs of one 16-byte vector). The token's angles are worked out once into
// shared memory while the first vectors load, not once per head.
template <typename T>
struct HeadVectors {
  static constexpr int V = kVector<T>;
  T* x;
  int chunk;
  float first[V], second[V];

  __device__ HeadVectors(T* q, T* k, const RotaryShape& s, int t, int item, int chunksPerHead) {
    int head = item / chunksPerHead;
    chunk = item % chunksPerHead;
    x = head < s.qHeads ? q + static_cast<size_t>(t) * s.qStride + head * s.headDim
                        : k + static_cast<size_t>(t) * s.kStride + (head - s.qHeads) * s.headDim;
    loadVector(x + chunk * V, first);
    if (!s.adjacent) loadVector(x + s.half + chunk * V, second);
  }

  __device__ void rotateAndStore(const RotaryShape& s, const float* sines, const float* cosines) {
    if (s.adjacent) {
#pragma unroll
      for (int j = 0; j < V / 2; ++j) {
        int pair = chunk * V / 2 + j;
        float x1 = first[2 * j], x2 = first[2 * j + 1];
        first[2 * j] = x1 * cosines[pair] - x2 * sines[pair];
        first[2 * j + 1] = x2 * cosines[pair] + x1 * sines[pair];
      }
      storeVector(x + chunk * V, first);
      return;
    }
#pragma unroll
    for (int j = 0; j < V; ++j) {
      int pair = chunk * V + j;
      float x1 = first[j], x2 = second[j];
      first[j] = x1 * cosines[pair] - x2 * sines[pair];
      second[j] = x2 * cosines[pair] + x1 * sines[pair];
    }
    storeVector(x + chunk * V, first);
    storeVector(x + s.half + chunk * V, second);
  }
};

template <typename T>
__global__ void rotateTokenVectors(T* q, T* k, const int32_t* positions, const float* invFreq, RotaryShape s,
                                   int chunksPerHead) {
  waitForPriorGrid();
  allowNextGrid();
  __shared__ float sines[kMaxHalf], cosines[kMaxHalf];
  int t = blockIdx.x, items = (s.qHeads + s.kvHeads) * chunksPerHead;
  int item = threadIdx.x;
  HeadVectors<T> mine(q, k, s, t, item < items ? item : 0, chunksPerHead);
  float position = static_cast<float>(positions[t]);
  for (int i = threadIdx.x; i < s.half; i += blockDim.x) sincosf(position * invFreq[i], &sines[i], &cosines[i]);
  __syncthreads();
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
  RotaryShape shape{a.qHeads, a.kvHeads, a.headDim, half, a.qStride, a.kStride, headsPerBlock,
                    a.layout == RotaryLayout::Adjacent};
  int threads = (headsPerBlock * half + 31) / 32 * 32;
  dim3 grid(a.tokens, (a.qHeads + a.kvHeads + headsPerBlock - 1) / headsPerBlock);
  withElementType(a.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    constexpr int V = kVector<T>;
    int perHead = shape.adjacent ? a.rotaryDim : half;  // elements a thread's vectors start in
    bool aligned = (a.q | a.k) % 16 == 0 && a.qStride % V == 0 && a.kStride % V == 0 && a.headDim % V == 0 &&
                   perHead % V == 0;
    if (aligned) {
      int chunksPerHead = perHead / V;
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
