// Vector helpers written with GCC/Clang vector extensions (8 floats; two SSE registers on the
// baseline, one AVX register in the x86-64-v3 clone) and the clone attribute for hot functions:
// TS_SIMD_CLONES compiles a function for the baseline and for AVX2 + FMA, picked at load time.
// Helpers are always inlined, so they take the target of the clone that calls them.
#pragma once

#include <cstring>

#include "kernels/cpu/element_types.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TS_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TS_SIMD_CLONES
#endif

namespace ts::cpu {

typedef float Vec8 __attribute__((vector_size(32)));
constexpr int kLanes = 8;

TS_INLINE Vec8 loadVec(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

TS_INLINE float sumLanes(Vec8 v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

TS_INLINE float dot(const float* a, const float* b, int n) {
  Vec8 acc0 = {}, acc1 = {};
  int i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    acc0 += loadVec(a + i) * loadVec(b + i);
    acc1 += loadVec(a + i + kLanes) * loadVec(b + i + kLanes);
  }
  for (; i + kLanes <= n; i += kLanes) acc0 += loadVec(a + i) * loadVec(b + i);
  float sum = sumLanes(acc0 + acc1);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y = y * scale + alpha * x
TS_INLINE void scaleAndAdd(float* y, float scale, float alpha, const float* x, int n) {
  for (int i = 0; i < n; ++i) y[i] = y[i] * scale + alpha * x[i];
}

}  // namespace ts::cpu
