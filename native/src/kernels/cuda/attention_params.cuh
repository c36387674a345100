// What the attention kernels take (attention.cu fills it): the batch, its planned work items, the
// split of the keys and where the splits' partial results go.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ts::cuda {

constexpr int kAttentionThreads = 128;
constexpr int kKeyTile = 32;
constexpr int kMaxSplits = 16;

struct AttentionParams {
  void* out;
  const void* q;
  const void* kCache;
  const void* vCache;
  const int32_t* queryStart;
  const int32_t* seqLens;
  const int32_t* pageTable;
  int pageTableStride, pageSize;
  int qHeads, kvHeads, headDim, qStride, group, splits;
  float scaleLog2;
  bool vectorKv;  // cache rows can be read 16 bytes at a time
  // No kernel of this step writes the items or the batch metadata (an earlier call planned them):
  // the decode kernel reads them, and its first page-table entries, before its grid wait.
  bool planSettled;
  long long rowsAll;  // tokens * qHeads
  const int2* items;  // (sequence, first row)
  const int* itemCount;
  int* splitCounters;    // splits > 1: [items, kvHeads] blocks done, zero between launches
  float* partialAcc;     // splits > 1: [splits, rowsAll, headDim], unnormalized
  float2* partialStats;  // splits > 1: [splits, rowsAll] (running max, sum)
  // Batch-invariant launches (chunkKeys > 0): split s holds keys [s * chunkKeys, (s + 1) *
  // chunkKeys) of every item, and the partials are per launched item (attention_chunks.cuh); a
  // launch takes items itemOffset .. itemOffset + gridDim.x.
  int chunkKeys;
  int itemOffset;
  int launchItems;
};

// An item's keys [begin, end) in split `split` of `splits`.
struct KeyRange {
  int splits, begin, end;
};

// Fixed chunks of p.chunkKeys in batch-invariant launches; else `splits` parts of whole tiles.
__device__ __forceinline__ KeyRange keyRange(const AttentionParams& p, int keyCount, int split, int splits, int tile) {
  if (p.chunkKeys > 0) {
    int begin = split * p.chunkKeys;
    return {(keyCount + p.chunkKeys - 1) / p.chunkKeys, begin, min(keyCount, begin + p.chunkKeys)};
  }
  int perSplit = ((keyCount + tile - 1) / tile + splits - 1) / splits * tile;
  return {splits, split * perSplit, min(keyCount, split * perSplit + perSplit)};
}

// Whether this block is the last of the `splits` blocks of its (item, kv head) to finish (the
// threadfence-reduction pattern): then the other blocks' partials are visible to it. The last one
// resets the counter for the next launch, as a captured graph replays this one. Every thread of
// the block calls it.
__device__ __forceinline__ bool finishesLastSplit(const AttentionParams& p, int item, int kvHead, int splits) {
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int* counter = p.splitCounters + static_cast<size_t>(item) * p.kvHeads + kvHead;
    last = atomicAdd(counter, 1) == splits - 1;
    if (last) *counter = 0;
  }
  __syncthreads();
  if (last) __threadfence();
  return last;
}

}  // namespace ts::cuda
