// Rotary embedding of q and k in place.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/overlapped_launch.cuh"

namespace ts::cuda {
namespace {

constexpr int kMaxHalf = 1024;  // rotaryDim / 2: one block's threads
constexpr int kBlockPairs = 256;
constexpr int kVectorThreads = 128;

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


// The same rotation, 16 bytes at a time, where every row and stride is 16-byte aligned: a thread
// takes V consecutive pairs of one head of one token (half-split: x[i..i+V) with x[half+i..];
// adjacent: the V / 2 pairs of one 16-byte vector), so a decode step's q and k move in a few
// vector loads per thread.
template <typename T>
__global__ void rotateVectors(T* q, T* k, const int32_t* positions, const float* invFreq, RotaryShape s,
                              int chunksPerHead, long long chunks) {
  waitForPriorGrid();
  allowNextGrid();
  constexpr int V = kVector<T>;
  long long c = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= chunks) return;
  int chunk = static_cast<int>(c % chunksPerHead);
  long long headOfToken = c / chunksPerHead;
  int heads = s.qHeads + s.kvHeads;
  int head = static_cast<int>(headOfToken % heads), t = static_cast<int>(headOfToken / heads);
  T* x = head < s.qHeads ? q + static_cast<size_t>(t) * s.qStride + head * s.headDim
                         : k + static_cast<size_t>(t) * s.kStride + (head - s.qHeads) * s.headDim;
  float position = static_cast<float>(positions[t]);
  if (s.adjacent) {
    float v[V];
    loadVector(x + chunk * V, v);
#pragma unroll
    for (int j = 0; j < V / 2; ++j) {
      float sine, cosine;
      sincosf(position * invFreq[chunk * V / 2 + j], &sine, &cosine);
      float x1 = v[2 * j], x2 = v[2 * j + 1];
      v[2 * j] = x1 * cosine - x2 * sine;
      v[2 * j + 1] = x2 * cosine + x1 * sine;
    }
    storeVector(x + chunk * V, v);
    return;
  }
  float first[V], second[V];
  loadVector(x + chunk * V, first);
  loadVector(x + s.half + chunk * V, second);
#pragma unroll
  for (int j = 0; j < V; ++j) {
    float sine, cosine;
    sincosf(position * invFreq[chunk * V + j], &sine, &cosine);
    float x1 = first[j], x2 = second[j];
    first[j] = x1 * cosine - x2 * sine;
    second[j] = x2 * cosine + x1 * sine;
  }
  storeVector(x + chunk * V, first);
  storeVector(x + s.half + chunk * V, second);
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
      long long chunks = static_cast<long long>(a.tokens) * (a.qHeads + a.kvHeads) * chunksPerHead;
      unsigned blocks = static_cast<unsigned>((chunks + kVectorThreads - 1) / kVectorThreads);
      if (blocks > 0) {
        launchOverlapped(rotateVectors<T>, blocks, kVectorThreads, 0, stream, at<T>(a.q), at<T>(a.k),
                         at<const int32_t>(a.positions), at<const float>(a.invFreq), shape, chunksPerHead, chunks);
      }
      return;
    }
    launchOverlapped(rotatePairs<T>, grid, threads, 0, stream, at<T>(a.q), at<T>(a.k), at<const int32_t>(a.positions),
                     at<const float>(a.invFreq), shape);
  });
  checkLaunch("rotary");
}

}  // namespace ts::cuda
