// Decode attention on tensor cores, for bfloat16 / float16 caches with 64- or 128-wide heads.
// A block takes one 16-row work item (row f = token * group + g of one sequence's query heads on
// one kv head, as attendTiles) and one split of its keys. Each of its warps walks every
// kWarps-th tile of the split on its own: the tile's keys and values are copied into the warp's
// ring of kStages tiles in shared memory (cp.async, 16-byte chunks; DecodeShape says how rows are
// laid out), S = Q K^T and O += P V are m16n8k16 MMAs with float32 accumulators (P rounded to T
// for the second), and the softmax runs online in base 2. The warps'
// states merge in shared memory at the end; splits merge as attendTiles' do.
#pragma once

#include "kernels/cuda/attention_tile.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/overlapped_launch.cuh"

namespace ts::cuda {

constexpr int kDecodeRows = 16;  // query rows per item

// A decode block's shape: Warps warps, each walking Keys-key tiles (16 or 32: one softmax update
// per tile) through a ring of Stages tiles, its copies asking L2 for PrefetchBytes (0 or 128)
// around each 16-byte chunk. Ring rows are padded by 16 bytes (so ldmatrix's eight rows fall
// in distinct banks) or, without PaddedRows, unpadded with their chunks XOR-swizzled by key; a
// split has at least MinSplitKeys keys (an item of fewer keys takes fewer splits). The
// defaults read the most per second on the H200 over batches 1-256 and contexts 512-8192, the KV
// never in L2 (e2e/bench/attention_decode_probe.cu, SCRUB=1): three 16-key stages, a 54 KB ring at
// D = 64 and four blocks per multiprocessor, beat two 32-key stages (72 KB, three) by 18-20% at 64 x
// 512 and 64 x 2048 and match them within 1% elsewhere, and come within 3% of the best of 16 shapes
// everywhere; copies into a swizzled ring ask L2 for 2.0x the sectors DRAM delivers, into padded
// rows 1.5x (ncu); splits of 512+ keys rather than 128+: 1.93 vs 1.66 TB/s at 64 x 512.
template <int D, int Warps = 4, int Stages = 3, int Keys = 16, int PrefetchBytes = 128, bool PaddedRows = true,
          int MinSplitKeys = 512>
struct DecodeShape {
  static_assert(Keys == 16 || Keys == 32, "a tile is one or two 16-key MMA tiles");
  static constexpr int kWarps = Warps, kStages = Stages, kKeys = Keys, kPrefetch = PrefetchBytes;
  static constexpr bool kPadded = PaddedRows;
  static constexpr int kPitch = D * 2 + (PaddedRows ? 16 : 0);  // bytes per key row of a ring tile
  static constexpr int kTileBytes = Keys * kPitch;               // the keys (or values) of one tile
  static constexpr int kRingBytes = Warps * Stages * 2 * kTileBytes;
  static constexpr int kMergePitch = D + 4;  // floats per row of a warp's output
  static constexpr int kMergeBytes = Warps * kDecodeRows * (kMergePitch + 2) * 4;
  static constexpr size_t kBytes = kRingBytes > kMergeBytes ? kRingBytes : kMergeBytes;
  static constexpr int kRound = Warps * Keys;  // keys the block takes per round
  static constexpr int kMinSplitKeys = MinSplitKeys;
};

// 2^x by the multi-function unit alone, results below 2^-126 flushed to zero (exp2f spends four
// more instructions on that range, which no softmax weight needs).
__device__ __forceinline__ float exp2Approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// The byte offset of 16-byte chunk `chunk` of key row `key` in a ring tile.
template <typename Shape>
__device__ __forceinline__ int ringOffset(int key, int chunk) {
  if constexpr (Shape::kPadded) return key * Shape::kPitch + chunk * 16;
  return key * Shape::kPitch + ((chunk ^ (key & 7)) * 16);
}

template <typename T, int D, typename Shape = DecodeShape<D>>
__global__ void __launch_bounds__(Shape::kWarps * 32) attendDecode(AttentionParams p) {
  constexpr int kWarps = Shape::kWarps, kKeys = Shape::kKeys;
  constexpr int kChunks = D / 8;  // 16-byte chunks per key row
  constexpr int kDimTiles = D / 16;
  // Without a settled plan the grid waits first (the plan was just written); with one, it waits
  // once the metadata and the first page-table entries are read, before Q or any key is.
  if (!p.planSettled) {
    waitForPriorGrid();
    allowNextGrid();
  }
  int itemIndex = p.itemOffset + static_cast<int>(blockIdx.x);
  if (itemIndex >= *p.itemCount) return;
  extern __shared__ float4 sharedRaw[];
  char* shared = reinterpret_cast<char*>(sharedRaw);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

  int2 item = p.items[itemIndex];
  int seq = item.x, firstRow = item.y, kvHead = blockIdx.y, split = blockIdx.z;
  int qStart = p.queryStart[seq], qLen = p.queryStart[seq + 1] - qStart;
  int firstPosition = p.seqLens[seq] - qLen;
  int rows = min(kDecodeRows, qLen * p.group - firstRow);
  int keyCount = firstPosition + (firstRow + rows - 1) / p.group + 1;
  // An item's keys split in at most p.splits parts of at least kMinSplitKeys (or in fixed
  // chunks, keyRange); the blocks of parts it does not have return.
  int wanted = min(p.splits, (keyCount + Shape::kMinSplitKeys - 1) / Shape::kMinSplitKeys);
  KeyRange range = keyRange(p, keyCount, split, wanted, Shape::kRound);
  int splits = range.splits, keyBegin = range.begin, keyEnd = range.end;
  if (split >= splits) return;

  const T* kCache = static_cast<const T*>(p.kCache);
  const T* vCache = static_cast<const T*>(p.vCache);
  const int32_t* pages = p.pageTable + static_cast<size_t>(seq) * p.pageTableStride;
  KvLayout layout{p.kvHeads, D, p.pageSize};
  char* ring = shared + warp * Shape::kStages * 2 * Shape::kTileBytes;
  int tiles = max(0, (keyEnd - keyBegin + kKeys - 1) / kKeys);
  int warpTiles = tiles > warp ? (tiles - warp + kWarps - 1) / kWarps : 0;
  auto tileStart = [&](int i) { return keyBegin + (warp + kWarps * i) * kKeys; };

  // This lane's key (lane % kKeys) in the warp's i-th tile, or -1 past the split; its page-table
  // entry (a load the loop does not wait for until the tile after); its offset in the cache.
  auto laneKey = [&](int i) {
    int key = tileStart(i) + lane % kKeys;
    return i < warpTiles && key < keyEnd ? key : -1;
  };
  bool pagesOfTwoPower = (p.pageSize & (p.pageSize - 1)) == 0;
  int pageShift = __ffs(p.pageSize) - 1;
  auto lanePage = [&](int i) {
    int key = laneKey(i);
    if (key < 0) return -1;
    return pages[pagesOfTwoPower ? key >> pageShift : key / p.pageSize];
  };
  auto keyOffset = [&](int i, int page) {
    int key = laneKey(i);
    if (key < 0) return -1LL;
    int inPage = pagesOfTwoPower ? key & (p.pageSize - 1) : key % p.pageSize;
    return static_cast<long long>(layout.offset(page, inPage, kvHead));
  };
  // Issues the copies of this warp's i-th tile into ring stage i % kStages (a group either way).
  auto copyTile = [&](int i, long long offset) {
    if (i < warpTiles) {
      char* keys = ring + (i % Shape::kStages) * 2 * Shape::kTileBytes;
      char* values = keys + Shape::kTileBytes;
#pragma unroll
      for (int c = lane; c < kKeys * kChunks; c += 32) {
        int row = c / kChunks, chunk = c % kChunks;
        long long at = __shfl_sync(0xffffffffu, offset, row);
        bool valid = at >= 0;
        size_t element = valid ? static_cast<size_t>(at) + chunk * 8 : 0;
        copy16<Shape::kPrefetch>(keys + ringOffset<Shape>(row, chunk), kCache + element, valid);
        copy16<Shape::kPrefetch>(values + ringOffset<Shape>(row, chunk), vCache + element, valid);
      }
    }
    commitCopies();
  };

  int firstPages[Shape::kStages];
#pragma unroll
  for (int i = 0; i < Shape::kStages; ++i) firstPages[i] = lanePage(i);
  if (p.planSettled) {
    waitForPriorGrid();
    allowNextGrid();
  }

  // This thread's two rows of the m16n8 fragments, their last visible keys and Q as A fragments.
  int rowOf[2] = {lane / 4, lane / 4 + 8}, lastKey[2];
  uint32_t qa[kDimTiles][4];
  const T* q = static_cast<const T*>(p.q);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    int r = rowOf[h], f = firstRow + r;
    lastKey[h] = r < rows ? firstPosition + f / p.group : -1;
    const T* qRow = q + static_cast<size_t>(qStart + f / p.group) * p.qStride +
                    static_cast<size_t>(kvHead * p.group + f % p.group) * D + (lane % 4) * 2;
#pragma unroll
    for (int t = 0; t < kDimTiles; ++t) {
      qa[t][h] = r < rows ? *reinterpret_cast<const uint32_t*>(qRow + 16 * t) : 0u;
      qa[t][h + 2] = r < rows ? *reinterpret_cast<const uint32_t*>(qRow + 16 * t + 8) : 0u;
    }
  }

  float o[2 * kDimTiles][4] = {}, maxScore[2] = {-INFINITY, -INFINITY}, sum[2] = {};
#pragma unroll
  for (int i = 0; i < Shape::kStages - 1; ++i) copyTile(i, keyOffset(i, firstPages[i]));
  // Each page-table entry is read an iteration before the copy it addresses, so the loop waits for
  // it only after a tile's work.
  int nextPage = firstPages[Shape::kStages - 1];
  for (int i = 0; i < warpTiles; ++i) {
    waitCopies<Shape::kStages - 2>();
    __syncwarp();  // tile i is in; every lane is done with tile i - 1, whose stage is refilled now
    long long offset = keyOffset(i + Shape::kStages - 1, nextPage);
    nextPage = lanePage(i + Shape::kStages);
    copyTile(i + Shape::kStages - 1, offset);
    const char* keys = ring + (i % Shape::kStages) * 2 * Shape::kTileBytes;
    const char* values = keys + Shape::kTileBytes;
    int matrix = lane / 8;

    constexpr int kKeyTiles = kKeys / 8;
    float s[kKeyTiles][4] = {};  // keys 8n to 8n + 7 of the tile
#pragma unroll
    for (int m = 0; m < kKeys / 16; ++m) {
#pragma unroll
      for (int t = 0; t < kDimTiles; ++t) {
        uint32_t b[4];
        loadMatrices(b, keys + ringOffset<Shape>(16 * m + (matrix / 2) * 8 + lane % 8, 2 * t + matrix % 2));
        mma16816<T>(s[2 * m], qa[t], b[0], b[1]);
        mma16816<T>(s[2 * m + 1], qa[t], b[2], b[3]);
      }
    }

    int first = tileStart(i);
    float tileMax[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int key = first + 8 * n + (lane % 4) * 2 + (e & 1), h = e >> 1;
        s[n][e] = key < keyEnd && key <= lastKey[h] ? s[n][e] * p.scaleLog2 : -INFINITY;
        tileMax[h] = fmaxf(tileMax[h], s[n][e]);
      }
    }
    float correction[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      tileMax[h] = fmaxf(tileMax[h], __shfl_xor_sync(0xffffffffu, tileMax[h], 1));
      tileMax[h] = fmaxf(tileMax[h], __shfl_xor_sync(0xffffffffu, tileMax[h], 2));
      float newMax = fmaxf(maxScore[h], tileMax[h]);
      float base = newMax == -INFINITY ? 0.0f : newMax;
      // Exactly 1 while the max holds, so that keys a row does not see change none of its bits.
      correction[h] = newMax == maxScore[h] ? 1.0f : exp2Approx(maxScore[h] - base);
      maxScore[h] = newMax;
      sum[h] *= correction[h];
    }
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int h = e >> 1;
        s[n][e] = exp2Approx(s[n][e] - (maxScore[h] == -INFINITY ? 0.0f : maxScore[h]));
        sum[h] += s[n][e];
      }
    }
#pragma unroll
    for (int d = 0; d < 2 * kDimTiles; ++d) {
      o[d][0] *= correction[0], o[d][1] *= correction[0];
      o[d][2] *= correction[1], o[d][3] *= correction[1];
    }
#pragma unroll
    for (int m = 0; m < kKeys / 16; ++m) {
      uint32_t pa[4] = {packPair<T>(s[2 * m][0], s[2 * m][1]), packPair<T>(s[2 * m][2], s[2 * m][3]),
                        packPair<T>(s[2 * m + 1][0], s[2 * m + 1][1]), packPair<T>(s[2 * m + 1][2], s[2 * m + 1][3])};
#pragma unroll
      for (int t = 0; t < kDimTiles; ++t) {
        uint32_t b[4];
        loadMatricesTransposed(b, values + ringOffset<Shape>(16 * m + (matrix % 2) * 8 + lane % 8, 2 * t + matrix / 2));
        mma16816<T>(o[2 * t], pa, b[0], b[1]);
        mma16816<T>(o[2 * t + 1], pa, b[2], b[3]);
      }
    }
  }
  waitCopies<0>();

  // Each warp's rows (max, sum, unnormalized output) into shared memory, then one merge over warps.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 1);
    sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 2);
  }
  __syncthreads();  // every warp is done with its ring
  float* merge = reinterpret_cast<float*>(shared);
  float* warpOut = merge + warp * kDecodeRows * Shape::kMergePitch;
  float2* warpStats = reinterpret_cast<float2*>(merge + kWarps * kDecodeRows * Shape::kMergePitch);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (lane % 4 == 0) warpStats[warp * kDecodeRows + rowOf[h]] = make_float2(maxScore[h], sum[h]);
#pragma unroll
    for (int d = 0; d < 2 * kDimTiles; ++d) {
      *reinterpret_cast<float2*>(warpOut + rowOf[h] * Shape::kMergePitch + 8 * d + (lane % 4) * 2) =
          make_float2(o[d][2 * h], o[d][2 * h + 1]);
    }
  }
  __syncthreads();
  for (int c = threadIdx.x; c < rows * D; c += kWarps * 32) {
    int r = c / D, d = c % D, f = firstRow + r;
    float rowMax = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) rowMax = fmaxf(rowMax, warpStats[w * kDecodeRows + r].x);
    float total = 0.0f, value = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      float2 stats = warpStats[w * kDecodeRows + r];
      float weight = stats.x == -INFINITY ? 0.0f : exp2f(stats.x - rowMax);
      total += weight * stats.y;
      value += weight * merge[(w * kDecodeRows + r) * Shape::kMergePitch + d];
    }
    long long row = static_cast<long long>(qStart + f / p.group) * p.qHeads + kvHead * p.group + f % p.group;
    if (splits == 1) {
      static_cast<T*>(p.out)[row * D + d] = fromFloat<T>(value / total);
    } else {
      long long slot = p.chunkKeys > 0 ? chunkSlot(p, split, blockIdx.x, kvHead, r) : split * p.rowsAll + row;
      p.partialAcc[slot * D + d] = value;
      if (d == 0) p.partialStats[slot] = make_float2(rowMax, total);
    }
  }
  if (splits > 1 && p.chunkKeys > 0) foldChunksIfLast<T, true>(p, blockIdx.x, kvHead, qStart, firstRow, rows, splits);
  else if (splits > 1) mergeSplitsIfLast<T>(p, blockIdx.x, kvHead, qStart, firstRow, rows, splits);
}

// attendDecode<T, D, Shape> blocks resident per multiprocessor of the current device (at least 1;
// host code: it raises the kernel's dynamic shared memory limit to Shape::kBytes first).
template <typename T, int D, typename Shape = DecodeShape<D>>
int decodeBlocksPerMultiprocessor() {
  auto kernel = attendDecode<T, D, Shape>;
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Shape::kBytes));
  int blocks = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, Shape::kWarps * 32, Shape::kBytes);
  return blocks > 1 ? blocks : 1;
}

}  // namespace ts::cuda
