// Block-wide selection over one row of logits, for sample.cu. Tokens are seen through a source:
// the row itself (optionally only tokens at or above a value), or candidates gathered into
// shared memory in ascending id. A token's key orders it by value (the rank order up to ties,
// which go to the lower id); its mass is its softmax numerator as a fixed-point integer, so
// that sums are exact and do not depend on the order of summation.
#pragma once

#include <cmath>

#include "kernels/cuda/common.cuh"

namespace ts::cuda {

constexpr int kSampleThreads = 1024;  // 32 warps; the helpers below assume it
constexpr int kCandidates = 2048;
using Mass = unsigned long long;

struct SampleShared {
  uint32_t keys[kCandidates];
  Mass masses[kCandidates];
  int32_t ids[kCandidates];
  Mass binMass[256];
  unsigned binCount[256];
  Mass warpMass[32], warpOther[32];
  unsigned warpCount[32];
  float warpValue[32];
  int warpIndex[32];
  int bin, crossWarp, found;
  unsigned binTies;
  Mass binAboveMass, binAboveCount, binTieMass, carry;
};

__device__ __forceinline__ uint32_t orderedKey(float value) {
  uint32_t bits = __float_as_uint(value == 0.0f ? 0.0f : value);  // -0 ties with +0
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

struct Weights {
  float max, inverseTemperature, scale;
  __device__ Mass mass(float value) const { return __float2ull_rn(expf((value - max) * inverseTemperature) * scale); }
};

template <typename T>
struct RowSource {
  const T* logits;
  int n;
  Weights weights;
  float floor;  // tokens below it (and NaN) are not in the source
  __device__ bool at(int i, uint32_t& key, Mass& mass) const {
    float value = toFloat(logits[i]);
    if (!(value >= floor)) return false;
    key = orderedKey(value);
    mass = weights.mass(value);
    return true;
  }
  __device__ int id(int i) const { return i; }
};

struct SharedSource {
  const SampleShared* shared;
  int n;
  __device__ bool at(int i, uint32_t& key, Mass& mass) const {
    key = shared->keys[i];
    mass = shared->masses[i];
    return true;
  }
  __device__ int id(int i) const { return shared->ids[i]; }
};

struct Boundary {
  bool found;
  uint32_t key;
  Mass countAbove, massAbove;  // of the tokens with a greater key
  Mass ties, tieMass;          // of the tokens with this key
};

// Warp 0: among the 256 bins (bin 255 holds the greatest keys), the lowest non-empty one whose
// tokens above it count (or weigh) less than limit.
__device__ void selectBin(SampleShared& sh, bool byMass, double limit, Mass baseCount, Mass baseMass) {
  int lane = threadIdx.x;
  Mass mass[8], count[8], laneMass = 0, laneCount = 0;
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    int bin = 255 - 8 * lane - k;
    mass[k] = sh.binMass[bin];
    count[k] = sh.binCount[bin];
    laneMass += mass[k];
    laneCount += count[k];
  }
  Mass aboveMass = laneMass, aboveCount = laneCount;
  for (int offset = 1; offset < 32; offset *= 2) {
    Mass otherMass = __shfl_up_sync(0xffffffffu, aboveMass, offset);
    Mass otherCount = __shfl_up_sync(0xffffffffu, aboveCount, offset);
    if (lane >= offset) aboveMass += otherMass, aboveCount += otherCount;
  }
  aboveMass += baseMass - laneMass;
  aboveCount += baseCount - laneCount;
  int best = -1;
  Mass bestMass = 0, bestCount = 0, tieMass = 0, ties = 0;
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    double measure = byMass ? static_cast<double>(aboveMass) : static_cast<double>(aboveCount);
    if (count[k] > 0 && measure < limit) {
      best = 255 - 8 * lane - k;
      bestMass = aboveMass, bestCount = aboveCount, tieMass = mass[k], ties = count[k];
    }
    aboveMass += mass[k];
    aboveCount += count[k];
  }
  unsigned lanes = __ballot_sync(0xffffffffu, best >= 0);
  if (lanes == 0) {
    if (lane == 0) sh.bin = -1;
  } else if (lane == 31 - __clz(lanes)) {
    sh.bin = best;
    sh.binAboveMass = bestMass, sh.binAboveCount = bestCount, sh.binTieMass = tieMass;
    sh.binTies = static_cast<unsigned>(ties);
  }
}

// The lowest key whose greater keys count (or weigh) less than limit: a radix descent, one
// byte of the key per pass.
template <typename Source>
__device__ Boundary descend(const Source& source, bool byMass, double limit, SampleShared& sh) {
  uint32_t prefix = 0, mask = 0;
  Mass baseCount = 0, baseMass = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    __syncthreads();
    if (threadIdx.x < 256) sh.binMass[threadIdx.x] = 0, sh.binCount[threadIdx.x] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < source.n; i += kSampleThreads) {
      uint32_t key;
      Mass mass;
      if (source.at(i, key, mass) && (key & mask) == prefix) {
        int bin = (key >> shift) & 255;
        atomicAdd(&sh.binCount[bin], 1u);
        if (mass) atomicAdd(&sh.binMass[bin], mass);
      }
    }
    __syncthreads();
    if (threadIdx.x < 32) selectBin(sh, byMass, limit, baseCount, baseMass);
    __syncthreads();
    if (sh.bin < 0) return Boundary{false, 0, 0, 0, 0, 0};
    prefix |= static_cast<uint32_t>(sh.bin) << shift;
    mask |= 0xffu << shift;
    baseCount = sh.binAboveCount;
    baseMass = sh.binAboveMass;
  }
  return Boundary{true, prefix, baseCount, baseMass, sh.binTies, sh.binTieMass};
}

// The first index (in source order: ascending token id) at which the running sum of value(i)
// exceeds threshold, or -1. Each warp sums a contiguous segment; the warp whose segment crosses
// the threshold walks it again, 32 at a time.
template <typename Source, typename Value>
__device__ int findFirst(const Source& source, Value value, Mass threshold, SampleShared& sh) {
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int segment = ((source.n + 31) / 32 + 31) / 32 * 32;
  int begin = min(source.n, warp * segment), end = min(source.n, begin + segment);
  Mass sum = 0;
  for (int i = begin + lane; i < end; i += 32) sum += value(i);
  sum = warpSum(sum);
  __syncthreads();
  if (lane == 0) sh.warpMass[warp] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    Mass carry = 0;
    sh.crossWarp = -1;
    sh.found = -1;
    for (int w = 0; w < 32 && sh.crossWarp < 0; ++w) {
      if (carry + sh.warpMass[w] > threshold) sh.crossWarp = w, sh.carry = carry;
      carry += sh.warpMass[w];
    }
  }
  __syncthreads();
  if (warp == sh.crossWarp) {
    Mass carry = sh.carry;
    for (int chunk = begin; chunk < end; chunk += 32) {
      int i = chunk + lane;
      Mass running = i < end ? value(i) : 0;
      for (int offset = 1; offset < 32; offset *= 2) {
        Mass other = __shfl_up_sync(0xffffffffu, running, offset);
        if (lane >= offset) running += other;
      }
      running += carry;
      unsigned hit = __ballot_sync(0xffffffffu, i < end && running > threshold);
      if (hit) {
        if (lane == __ffs(hit) - 1) sh.found = i;
        break;
      }
      carry = __shfl_sync(0xffffffffu, running, 31);
    }
  }
  __syncthreads();
  return sh.found;
}

}  // namespace ts::cuda
