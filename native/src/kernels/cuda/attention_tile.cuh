// The attention work item: one block takes kRows query rows of one (sequence, kv head) — row
// f = token * group + g of the sequence's query heads on that kv head — and one split of their
// keys, and walks the keys kKeyTile at a time through shared memory with an online softmax
// (base 2: q is pre-multiplied by scale * log2(e)). Threads form 16 row groups of 8: a group
// owns RT rows; thread tx of a group scores keys tx + 8j of a tile and accumulates the output
// columns 32c + 4tx .. 32c + 4tx + 3. Shared memory is read 16 bytes at a time: rows are padded
// by 4 floats, so the 8 threads of a group that read 8 key rows at once hit distinct banks.
#pragma once

#include <cmath>
#include <type_traits>

#include "kernels/cuda/attention_chunks.cuh"
#include "kernels/cuda/attention_params.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/kv_layout.h"

namespace ts::cuda {

template <int D, int RT>
struct TileShape {
  static constexpr int kRows = 16 * RT;
  static constexpr int kQPitch = D + 4, kKPitch = D + 4, kPPitch = kKeyTile + 4;
  static constexpr int kFloats = kRows * kQPitch + kKeyTile * kKPitch + kKeyTile * D + kRows * kPPitch;
  static constexpr size_t kBytes = kFloats * sizeof(float) + kKeyTile * sizeof(long long);
  static_assert(kFloats % 4 == 0 && D % 32 == 0, "16-byte aligned rows and whole column groups");
};

__device__ __forceinline__ float4 load4(const float* at) { return *reinterpret_cast<const float4*>(at); }
__device__ __forceinline__ float dot4(float4 a, float4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }
// The output column of a thread's accumulator c: 4 consecutive columns per 32.
__device__ __forceinline__ int column(int c, int tx) { return 8 * (c & ~3) + 4 * tx + (c & 3); }

template <typename T>
__device__ __forceinline__ T halfFromBits(unsigned short bits) {
  if constexpr (std::is_same_v<T, __half>) {
    return __ushort_as_half(bits);
  } else {
    return __ushort_as_bfloat16(bits);
  }
}

// The 16 / sizeof(T) elements of a 16-byte load as float32.
template <typename T>
__device__ __forceinline__ void unpack16(uint4 bits, float* out) {
  uint32_t words[4] = {bits.x, bits.y, bits.z, bits.w};
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    if constexpr (sizeof(T) == 4) {
      out[k] = __uint_as_float(words[k]);
    } else {
      out[2 * k] = toFloat(halfFromBits<T>(static_cast<unsigned short>(words[k] & 0xffffu)));
      out[2 * k + 1] = toFloat(halfFromBits<T>(static_cast<unsigned short>(words[k] >> 16)));
    }
  }
}

// Loads the tile's keys and values (rows with offset < 0 become zeros) as float32.
template <typename T, int D>
__device__ void loadKv(float* ks, float* vs, const long long* offsets, const AttentionParams& p) {
  const T* k = static_cast<const T*>(p.kCache);
  const T* v = static_cast<const T*>(p.vCache);
  constexpr int kPitch = D + 4;
  if (p.vectorKv) {
    constexpr int kVec = 16 / sizeof(T);
    int pieces = p.headDim / kVec;
    for (int c = threadIdx.x; c < kKeyTile * pieces; c += kAttentionThreads) {
      int j = c / pieces, d = (c % pieces) * kVec;
      float kf[kVec] = {}, vf[kVec] = {};
      if (offsets[j] >= 0) {
        unpack16<T>(*reinterpret_cast<const uint4*>(k + offsets[j] + d), kf);
        unpack16<T>(*reinterpret_cast<const uint4*>(v + offsets[j] + d), vf);
      }
      for (int e = 0; e < kVec; e += 4) {
        *reinterpret_cast<float4*>(ks + j * kPitch + d + e) = make_float4(kf[e], kf[e + 1], kf[e + 2], kf[e + 3]);
        *reinterpret_cast<float4*>(vs + j * D + d + e) = make_float4(vf[e], vf[e + 1], vf[e + 2], vf[e + 3]);
      }
    }
  } else {
    for (int c = threadIdx.x; c < kKeyTile * p.headDim; c += kAttentionThreads) {
      int j = c / p.headDim, d = c % p.headDim;
      bool valid = offsets[j] >= 0;
      ks[j * kPitch + d] = valid ? toFloat(k[offsets[j] + d]) : 0.0f;
      vs[j * D + d] = valid ? toFloat(v[offsets[j] + d]) : 0.0f;
    }
  }
}

// Merges query row `row`'s partial softmaxes over the splits, a warp at a time: lane s holds
// split s's (max, sum); every lane then weighs its columns' partial sums with the splits'
// weights, the loads of all splits in flight together. The partials come from other blocks of
// this launch: read past L1 (__ldcg).
template <typename T>
__device__ void combineRow(const AttentionParams& p, long long row, int lane, int splits) {
  float2 stats = lane < splits ? __ldcg(p.partialStats + lane * p.rowsAll + row) : make_float2(-INFINITY, 0.0f);
  float maxScore = stats.x;
  for (int offset = 16; offset > 0; offset /= 2) maxScore = fmaxf(maxScore, __shfl_xor_sync(0xffffffffu, maxScore, offset));
  float weight = stats.x == -INFINITY ? 0.0f : exp2f(stats.x - maxScore);
  float inverse = 1.0f / warpSum(weight * stats.y);
  float weights[kMaxSplits];
#pragma unroll
  for (int s = 0; s < kMaxSplits; ++s) weights[s] = __shfl_sync(0xffffffffu, weight, s);
  for (int c = lane; c < p.headDim; c += 32) {
    float value = 0.0f;
#pragma unroll
    for (int s = 0; s < kMaxSplits; ++s) {
      if (s < splits && weights[s] != 0.0f) {
        value += weights[s] * __ldcg(p.partialAcc + (s * p.rowsAll + row) * p.headDim + c);
      }
    }
    static_cast<T*>(p.out)[row * p.headDim + c] = fromFloat<T>(value * inverse);
  }
}

// With more than one split (`splits` of them for this item), the block of an (item, kv head) that
// finishes last (finishesLastSplit) merges the splits' partials of its rows.
template <typename T>
__device__ void mergeSplitsIfLast(const AttentionParams& p, int item, int kvHead, int qStart, int firstRow, int rows,
                                  int splits) {
  if (!finishesLastSplit(p, item, kvHead, splits)) return;
  for (int r = threadIdx.x / 32; r < rows; r += blockDim.x / 32) {
    int f = firstRow + r;
    combineRow<T>(p, static_cast<long long>(qStart + f / p.group) * p.qHeads + kvHead * p.group + f % p.group,
                  threadIdx.x % 32, splits);
  }
}

template <typename T, int D, int RT>
__global__ void __launch_bounds__(kAttentionThreads) attendTiles(AttentionParams p) {
  using Shape = TileShape<D, RT>;
  constexpr int kCols = D / 8, kKeys = kKeyTile / 8;
  int itemIndex = p.itemOffset + static_cast<int>(blockIdx.x);
  if (itemIndex >= *p.itemCount) return;
  extern __shared__ float4 sharedRaw[];
  float* qs = reinterpret_cast<float*>(sharedRaw);
  float* ks = qs + Shape::kRows * Shape::kQPitch;
  float* vs = ks + kKeyTile * Shape::kKPitch;
  float* ps = vs + kKeyTile * D;
  long long* offsets = reinterpret_cast<long long*>(ps + Shape::kRows * Shape::kPPitch);
  for (int i = threadIdx.x; i < Shape::kFloats; i += kAttentionThreads) qs[i] = 0.0f;

  int2 item = p.items[itemIndex];
  int seq = item.x, firstRow = item.y, kvHead = blockIdx.y, split = blockIdx.z;
  int qStart = p.queryStart[seq], qLen = p.queryStart[seq + 1] - qStart;
  int firstPosition = p.seqLens[seq] - qLen;
  int rows = min(Shape::kRows, qLen * p.group - firstRow);
  int keyCount = firstPosition + (firstRow + rows - 1) / p.group + 1;
  KeyRange range = keyRange(p, keyCount, split, p.splits, kKeyTile);
  if (split >= range.splits) return;  // a whole block: before any barrier
  int splits = range.splits, keyBegin = range.begin, keyEnd = range.end;
  __syncthreads();

  const T* q = static_cast<const T*>(p.q);
  for (int c = threadIdx.x; c < rows * p.headDim; c += kAttentionThreads) {
    int r = c / p.headDim, d = c % p.headDim, f = firstRow + r;
    size_t source = static_cast<size_t>(qStart + f / p.group) * p.qStride +
                    static_cast<size_t>(kvHead * p.group + f % p.group) * p.headDim + d;
    qs[r * Shape::kQPitch + d] = toFloat(q[source]) * p.scaleLog2;
  }

  int ty = threadIdx.x / 8, tx = threadIdx.x % 8;
  float acc[RT][kCols] = {}, maxScore[RT], sum[RT] = {};
  int lastKey[RT];
#pragma unroll
  for (int i = 0; i < RT; ++i) {
    int r = ty * RT + i;
    maxScore[i] = -INFINITY;
    lastKey[i] = r < rows ? firstPosition + (firstRow + r) / p.group : -1;
  }
  const int32_t* pages = p.pageTable + static_cast<size_t>(seq) * p.pageTableStride;
  KvLayout layout{p.kvHeads, p.headDim, p.pageSize};

  for (int tileStart = keyBegin; tileStart < keyEnd; tileStart += kKeyTile) {
    __syncthreads();  // the previous tile is consumed
    if (threadIdx.x < kKeyTile) {
      int key = tileStart + threadIdx.x;
      offsets[threadIdx.x] =
          key < keyEnd ? static_cast<long long>(layout.offset(pages[key / p.pageSize], key % p.pageSize, kvHead)) : -1;
    }
    __syncthreads();
    loadKv<T, D>(ks, vs, offsets, p);
    __syncthreads();

    float s[RT][kKeys] = {};
#pragma unroll 2
    for (int d = 0; d < D; d += 4) {
      float4 kv[kKeys];
#pragma unroll
      for (int jj = 0; jj < kKeys; ++jj) kv[jj] = load4(ks + (tx + 8 * jj) * Shape::kKPitch + d);
#pragma unroll
      for (int i = 0; i < RT; ++i) {
        float4 qv = load4(qs + (ty * RT + i) * Shape::kQPitch + d);
#pragma unroll
        for (int jj = 0; jj < kKeys; ++jj) s[i][jj] += dot4(qv, kv[jj]);
      }
    }
#pragma unroll
    for (int i = 0; i < RT; ++i) {
      float tileMax = -INFINITY;
#pragma unroll
      for (int jj = 0; jj < kKeys; ++jj) {
        int key = tileStart + tx + 8 * jj;
        if (key >= keyEnd || key > lastKey[i]) s[i][jj] = -INFINITY;
        tileMax = fmaxf(tileMax, s[i][jj]);
      }
      for (int offset = 1; offset < 8; offset *= 2) {
        tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, offset));
      }
      float newMax = fmaxf(maxScore[i], tileMax);
      float correction = maxScore[i] == -INFINITY ? 0.0f : exp2f(maxScore[i] - newMax);
      float tileSum = 0.0f;
#pragma unroll
      for (int jj = 0; jj < kKeys; ++jj) {
        float weight = s[i][jj] == -INFINITY ? 0.0f : exp2f(s[i][jj] - newMax);
        tileSum += weight;
        ps[(ty * RT + i) * Shape::kPPitch + tx + 8 * jj] = weight;
      }
      for (int offset = 1; offset < 8; offset *= 2) tileSum += __shfl_xor_sync(0xffffffffu, tileSum, offset);
      sum[i] = sum[i] * correction + tileSum;
      maxScore[i] = newMax;
#pragma unroll
      for (int c = 0; c < kCols; ++c) acc[i][c] *= correction;
    }
    __syncwarp();
    for (int j = 0; j < kKeyTile; j += 4) {
      float weights[RT][4];
#pragma unroll
      for (int i = 0; i < RT; ++i) {
        float4 w = load4(ps + (ty * RT + i) * Shape::kPPitch + j);
        weights[i][0] = w.x, weights[i][1] = w.y, weights[i][2] = w.z, weights[i][3] = w.w;
      }
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
#pragma unroll
        for (int c = 0; c < kCols; c += 4) {
          float4 v = load4(vs + (j + jj) * D + 8 * c + 4 * tx);
#pragma unroll
          for (int i = 0; i < RT; ++i) {
            acc[i][c] += weights[i][jj] * v.x;
            acc[i][c + 1] += weights[i][jj] * v.y;
            acc[i][c + 2] += weights[i][jj] * v.z;
            acc[i][c + 3] += weights[i][jj] * v.w;
          }
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < RT; ++i) {
    int r = ty * RT + i;
    if (r >= rows) continue;
    int f = firstRow + r;
    long long row = static_cast<long long>(qStart + f / p.group) * p.qHeads + kvHead * p.group + f % p.group;
    if (splits == 1) {
      T* out = static_cast<T*>(p.out) + row * p.headDim;
      float inverse = 1.0f / sum[i];
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        if (column(c, tx) < p.headDim) out[column(c, tx)] = fromFloat<T>(acc[i][c] * inverse);
      }
    } else {
      long long slot = p.chunkKeys > 0 ? chunkSlot(p, split, blockIdx.x, kvHead, r) : split * p.rowsAll + row;
      float* out = p.partialAcc + slot * p.headDim;
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        if (column(c, tx) < p.headDim) out[column(c, tx)] = acc[i][c];
      }
      if (tx == 0) p.partialStats[slot] = make_float2(maxScore[i], sum[i]);
    }
  }
  if (splits > 1 && p.chunkKeys > 0) foldChunksIfLast<T, false>(p, blockIdx.x, kvHead, qStart, firstRow, rows, splits);
  else if (splits > 1) mergeSplitsIfLast<T>(p, blockIdx.x, kvHead, qStart, firstRow, rows, splits);
}

}  // namespace ts::cuda
