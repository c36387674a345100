// The parts of `Kernels::sample` every backend must compute alike, so that a random key picks
// the same token wherever it runs (up to float rounding at a boundary). The draw: walking the
// kept tokens in ascending token id and summing their mass, the chosen token is the first whose
// running sum exceeds uniformFromKey(key) * keptMass (the last kept one if rounding leaves none).
#pragma once

#include <cstdint>

#if !defined(TS_HOST_DEVICE)
#if defined(__CUDACC__)
#define TS_HOST_DEVICE __host__ __device__
#else
#define TS_HOST_DEVICE
#endif
#endif

namespace ts {

TS_HOST_DEVICE inline uint64_t splitmix64(uint64_t key) {
  uint64_t z = key + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The draw in [0, 1): the top 24 bits of splitmix64(key), exact in float32.
TS_HOST_DEVICE inline float uniformFromKey(uint64_t key) {
  return static_cast<float>(splitmix64(key) >> 40) * (1.0f / 16777216.0f);
}

// Whether the token ranked `rank` is kept. Tokens rank by logit, highest first, ties to the lower
// id; masses are softmax(logits / temperature) numerators over the whole vocabulary (top-p is not
// renormalized after top-k: the kept set is the intersection). topK <= 0 keeps every rank;
// topP >= 1 keeps every mass; the top token is always kept.
TS_HOST_DEVICE inline bool keepsToken(int rank, float massBefore, float totalMass, int topK, float topP) {
  if (rank == 0) return true;
  if (topK > 0 && rank >= topK) return false;
  return topP >= 1.0f || massBefore < topP * totalMass;
}

}  // namespace ts
