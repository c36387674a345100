// The rotary embedding's 16-byte form, shared by rotary.cu and rotary_store_kv.cu.
#pragma once

#include "kernels/cuda/common.cuh"
#include "kernels/kernels.h"

namespace ts::cuda {

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

// Whether rotateVector can take every head of a: rows, strides and spans in whole 16-byte vectors.
inline bool rotaryVectorsFit(const RotaryArgs& a) {
  int vector = static_cast<int>(16 / dtypeSize(a.dtype));
  return (a.q | a.k) % 16 == 0 && a.qStride % vector == 0 && a.kStride % vector == 0 && a.headDim % vector == 0 &&
         rotaryVectorSpan(a) % vector == 0;
}

// Rotates vector `chunk` of head x (V pairs: half-split x[i..i+V) with x[half+i..]; adjacent the
// V / 2 pairs of one vector) at `position`, in place, and into `copy` (the same head elsewhere)
// unless it is null.
template <typename T>
__device__ __forceinline__ void rotateVector(T* x, T* copy, int chunk, float position, const float* invFreq,
                                             const RotaryShape& s) {
  constexpr int V = kVector<T>;
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
    if (copy) storeVector(copy + chunk * V, v);
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
  if (copy) {
    storeVector(copy + chunk * V, first);
    storeVector(copy + s.half + chunk * V, second);
  }
}

}  // namespace ts::cuda
