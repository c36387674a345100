// The rotary embedding's 16-byte form, a block per token, shared by rotary.cu and rotary_store_kv.cu.
#pragma once

#include "kernels/cuda/common.cuh"
#include "kernels/kernels.h"

namespace ts::cuda {

constexpr int kMaxHalf = 1024;  // rotaryDim / 2: rotatePairs' threads, a token's angles in shared memory

struct RotaryShape {
  int qHeads, kvHeads, headDim, half, qStride, kStride, headsPerBlock;
  bool adjacent;
};

inline RotaryShape rotaryShape(const RotaryArgs& a, int headsPerBlock = 1) {
  return {a.qHeads, a.kvHeads, a.headDim, a.rotaryDim / 2, a.qStride, a.kStride, headsPerBlock,
          a.layout == RotaryLayout::Adjacent};
}

// Elements of a head that one thread's vectors start in: the first half (half-split, each
// vector paired with the one half a head later) or the whole rotated span (adjacent pairs).
inline int rotaryVectorSpan(const RotaryArgs& a) {
  return a.layout == RotaryLayout::Adjacent ? a.rotaryDim : a.rotaryDim / 2;
}

// Whether HeadVectors can take every head of a: rows, strides and spans in whole 16-byte vectors.
inline bool rotaryVectorsFit(const RotaryArgs& a) {
  int vector = static_cast<int>(16 / dtypeSize(a.dtype));
  return (a.q | a.k) % 16 == 0 && a.qStride % vector == 0 && a.kStride % vector == 0 && a.headDim % vector == 0 &&
         rotaryVectorSpan(a) % vector == 0;
}

// Rotation item `item` of token t (head item / chunksPerHead, q heads before k heads): V
// consecutive pairs of one head (half-split: x[i..i+V) with x[half+i..]; adjacent: the V / 2
// pairs of one 16-byte vector), loaded at construction so that the loads overlap the angles'.
template <typename T>
struct HeadVectors {
  static constexpr int V = kVector<T>;
  T* x;
  int head, chunk;
  float first[V], second[V];

  __device__ HeadVectors(T* q, T* k, const RotaryShape& s, int t, int item, int chunksPerHead) {
    head = item / chunksPerHead;
    chunk = item % chunksPerHead;
    x = head < s.qHeads ? q + static_cast<size_t>(t) * s.qStride + head * s.headDim
                        : k + static_cast<size_t>(t) * s.kStride + (head - s.qHeads) * s.headDim;
    loadVector(x + chunk * V, first);
    if (!s.adjacent) loadVector(x + s.half + chunk * V, second);
  }

  // Rotates by the token's angles, in place and into the same elements of `copy` unless it is null.
  __device__ void rotateAndStore(const RotaryShape& s, const float* sines, const float* cosines, T* copy = nullptr) {
    if (s.adjacent) {
#pragma unroll
      for (int j = 0; j < V / 2; ++j) {
        int pair = chunk * V / 2 + j;
        float x1 = first[2 * j], x2 = first[2 * j + 1];
        first[2 * j] = x1 * cosines[pair] - x2 * sines[pair];
        first[2 * j + 1] = x2 * cosines[pair] + x1 * sines[pair];
      }
      storeVector(x + chunk * V, first);
      if (copy) storeVector(copy + chunk * V, first);
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
    if (copy) {
      storeVector(copy + chunk * V, first);
      storeVector(copy + s.half + chunk * V, second);
    }
  }
};

// Token t's angles (position * invFreq[i]) as sines and cosines in shared memory, by the block.
__device__ __forceinline__ void tokenAngles(float position, const float* invFreq, int half, float* sines,
                                            float* cosines) {
  for (int i = threadIdx.x; i < half; i += blockDim.x) sincosf(position * invFreq[i], &sines[i], &cosines[i]);
  __syncthreads();
}

}  // namespace ts::cuda
