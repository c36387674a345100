// Batch-invariant attention's partials and their merge. Split s of an item holds keys
// [s * chunkKeys, (s + 1) * chunkKeys): the same keys for a query row whatever item, batch or
// cached prefix it comes with. A chunk's (max, sum, unnormalized output) per row goes to its own
// slot, and the last block of an (item, kv head) folds the chunks in ascending order with
// rounding written out, so a row's bits depend only on its chunks. A chunk with no visible key
// for a row (max -inf, sum 0) leaves the fold's bits as they were: a row whose keys fit one chunk
// comes out as the kernel's one-split write (value / sum, or value * (1 / sum)) does.
#pragma once

#include <cmath>

#include "kernels/cuda/attention_params.cuh"
#include "kernels/cuda/common.cuh"

namespace ts::cuda {

constexpr int kChunkRows = 16;  // query rows of a batch-invariant item

// The partial slot of row r of launched item `item` on `kvHead` in chunk `chunk`.
__device__ __forceinline__ long long chunkSlot(const AttentionParams& p, int chunk, int item, int kvHead, int r) {
  return ((static_cast<long long>(chunk) * p.launchItems + item) * p.kvHeads + kvHead) * kChunkRows + r;
}

// The weight of a part of running max `partMax` once the max is `max`: exactly 1 when it holds
// the max, exactly 0 when it saw no key.
__device__ __forceinline__ float chunkWeight(float partMax, float max) {
  return partMax == max ? 1.0f : exp2f(partMax - max);
}

// After this block wrote its chunk (`chunks` of them for this item), the last block of the
// (item, kv head) folds them into the output: Divide as attendDecode ends (value / sum), else as
// attendTiles does (value * (1 / sum)).
template <typename T, bool Divide>
__device__ void foldChunksIfLast(const AttentionParams& p, int item, int kvHead, int qStart, int firstRow, int rows,
                                 int chunks) {
  if (!finishesLastSplit(p, item, kvHead, chunks)) return;
  for (int c = threadIdx.x; c < rows * p.headDim; c += blockDim.x) {
    int r = c / p.headDim, d = c % p.headDim, f = firstRow + r;
    float max = -INFINITY, sum = 0.0f, value = 0.0f;
    for (int chunk = 0; chunk < chunks; ++chunk) {
      long long slot = chunkSlot(p, chunk, item, kvHead, r);
      float2 stats = __ldcg(p.partialStats + slot);
      float part = __ldcg(p.partialAcc + slot * p.headDim + d);
      if (chunk == 0) {
        max = stats.x, sum = stats.y, value = part;
        continue;
      }
      float merged = fmaxf(max, stats.x);
      float mine = chunkWeight(max, merged), theirs = chunkWeight(stats.x, merged);
      sum = __fadd_rn(__fmul_rn(sum, mine), __fmul_rn(stats.y, theirs));
      value = __fadd_rn(__fmul_rn(value, mine), __fmul_rn(part, theirs));
      max = merged;
    }
    long long row = static_cast<long long>(qStart + f / p.group) * p.qHeads + kvHead * p.group + f % p.group;
    float result = Divide ? __fdiv_rn(value, sum) : __fmul_rn(value, __frcp_rn(sum));
    static_cast<T*>(p.out)[row * p.headDim + d] = fromFloat<T>(result);
  }
}

}  // namespace ts::cuda
