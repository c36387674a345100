// The parts of `Kernels::sample` every backend must compute alike, so that a random key picks
// the same token wherever it runs (up to float rounding at a boundary). The draw: walking the
// kept tokens in ascending token id and summing their mass, the chosen token is the first whose
// running sum exceeds uniformFromKey(key) * keptMass (the last kept one if rounding leaves none).
// Also the rank order `Kernels::topLogprobs` picks its tokens in (rankKey).
#pragma once

#include <cstdint>
#include <cstring>

#include "host_device.h"

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

// A token's place in the rank order as one integer, a greater key ranking first: by logit as
// float32, highest first (-0 ties with +0, NaN below every number, -infinity included), ties to
// the lower id. The keys of distinct ids differ; every key is above 0. id: in [0, 2^31).
TS_HOST_DEVICE inline uint64_t rankKey(float value, int id) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  uint32_t ordered;
  if (value != value) ordered = 0u;  // NaN
  else if (value == 0.0f) ordered = 0x80000000u;
  else ordered = bits >> 31 != 0u ? ~bits : bits | 0x80000000u;
  return static_cast<uint64_t>(ordered) << 32 | (0xffffffffu - static_cast<uint32_t>(id));
}

// The id a rankKey was made from.
TS_HOST_DEVICE inline int rankKeyId(uint64_t key) {
  return static_cast<int>(0xffffffffu - static_cast<uint32_t>(key));
}

}  // namespace ts
