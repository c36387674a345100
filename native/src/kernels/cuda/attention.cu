// Paged causal attention on the device, in three launches on the stream:
//  1. planItems (one block) checks the batch metadata like the CPU backend (a bad batch is a
//     content error and plans no work) and lists the work items (sequence, first row); a call
//     with reusePlan (the later layers of a forward pass) keeps the previous call's plan;
//  2. attendTiles (attention_tile.cuh) runs a block per (item, kv head, split of the keys); with
//     more than one split, the block of an (item, kv head) that finishes last merges the splits'
//     partial softmaxes (a counter per pair, which planItems zeroes and that block resets).
// The host does not read the metadata: it sizes the grid from upper bounds, and blocks past the
// planned item count return at once. Decode-like batches (few query rows per sequence) take
// 16-row items (on tensor cores, attention_decode.cuh, for bfloat16 / float16 heads of 64 or
// 128); longer queries take 64-row items (32 for head sizes above 128). Keys are split when the
// items alone would not fill the GPU twice over, or for the tensor-core kernel as
// attention_splits.h works out (its items split no further than DecodeShape::kMinSplitKeys a part).
// Batch-invariant calls take 16-row items in every phase and split keys in fixed chunks
// (attention_chunks.cuh), so prefill, chunked prefill, decode and a cached prefix agree bit for bit.
#include <algorithm>

#include "kernels/cuda/attention_decode.cuh"
#include "kernels/cuda/attention_splits.h"
#include "kernels/cuda/attention_tile.cuh"
#include "kernels/cuda/content_error.h"
#include "kernels/cuda/cuda_kernels.h"

namespace ts::cuda {
namespace {

constexpr int kPlanThreads = 1024;
constexpr size_t kMaxPartialBytes = size_t(64) << 20;
// A split launch has a counter per (item, kv head) block: more blocks than fit here are not split.
constexpr size_t kMaxCounterBytes = size_t(64) << 10;
// Keys per chunk of a batch-invariant launch: a multiple of both kernels' key rounds (64, 32).
constexpr int kChunkKeys = 512;

struct PlanArgs {
  const int32_t* queryStart;
  const int32_t* seqLens;
  const int32_t* pageTable;
  int numSeqs, pageTableStride, pageSize, tokens, group, rowsPerItem;
  long long itemBound;
  int2* items;
  int* itemCount;
  ContentError* error;
  int* splitCounters;  // [counterCount]: zeroed here, for attendTiles
  int counterCount;
};

// Orders failures as the CPU backend finds them: batch-wide checks, then by sequence and check.
__device__ unsigned long long failureKey(int seq, int check, int index) {
  return (static_cast<unsigned long long>(seq + 1) << 33) | (static_cast<unsigned long long>(check) << 31) |
         static_cast<unsigned>(index);
}

__device__ void reportFailure(const PlanArgs& a, unsigned long long key) {
  int seq = static_cast<int>(key >> 33) - 1, check = static_cast<int>((key >> 31) & 3), index = key & 0x7fffffff;
  if (seq < 0) {
    if (check == 0) reportContentError(a.error, kQueryStartFirst, a.queryStart[0], 0);
    else reportContentError(a.error, kQueryStartLast, a.tokens, a.queryStart[a.numSeqs]);
    return;
  }
  int qLen = a.queryStart[seq + 1] - a.queryStart[seq];
  int codes[4] = {kQueryStartDecreases, kQueryLongerThanSeq, kTooManyPages, kNegativePage};
  reportContentError(a.error, codes[check], seq, check == 1 ? qLen : index);
}

__global__ void __launch_bounds__(kPlanThreads) planItems(PlanArgs a) {
  __shared__ unsigned long long firstFailure;
  __shared__ int warpTotals[32];
  __shared__ long long carry;
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int i = threadIdx.x; i < a.counterCount; i += kPlanThreads) a.splitCounters[i] = 0;
  if (threadIdx.x == 0) {
    carry = 0;
    firstFailure = a.queryStart[0] != 0                  ? failureKey(-1, 0, 0)
                   : a.queryStart[a.numSeqs] != a.tokens ? failureKey(-1, 1, 0)
                                                         : ~0ull;
  }
  __syncthreads();
  for (int s = warp; s < a.numSeqs; s += kPlanThreads / 32) {
    int qLen = a.queryStart[s + 1] - a.queryStart[s], seqLen = a.seqLens[s];
    long long pagesNeeded = (static_cast<long long>(seqLen) + a.pageSize - 1) / a.pageSize;
    int check = qLen < 0 ? 0 : qLen > seqLen ? 1 : pagesNeeded > a.pageTableStride ? 2 : 3;
    if (check < 3) {
      if (lane == 0) atomicMin(&firstFailure, failureKey(s, check, 0));
      continue;
    }
    const int32_t* pages = a.pageTable + static_cast<size_t>(s) * a.pageTableStride;
    for (int i = lane; i < pagesNeeded; i += 32) {
      if (pages[i] < 0) {
        atomicMin(&firstFailure, failureKey(s, 3, i));
        break;
      }
    }
  }
  __syncthreads();
  if (firstFailure != ~0ull) {
    if (threadIdx.x == 0) {
      reportFailure(a, firstFailure);
      *a.itemCount = 0;
    }
    return;
  }
  for (int base = 0; base < a.numSeqs; base += kPlanThreads) {
    int s = base + threadIdx.x;
    int count = 0;
    if (s < a.numSeqs) {
      long long rows = static_cast<long long>(a.queryStart[s + 1] - a.queryStart[s]) * a.group;
      count = static_cast<int>((rows + a.rowsPerItem - 1) / a.rowsPerItem);
    }
    int inclusive = count;
    for (int offset = 1; offset < 32; offset *= 2) {
      int other = __shfl_up_sync(0xffffffffu, inclusive, offset);
      if (lane >= offset) inclusive += other;
    }
    if (lane == 31) warpTotals[warp] = inclusive;
    __syncthreads();
    if (warp == 0) {
      int total = warpTotals[lane];
      for (int offset = 1; offset < 32; offset *= 2) {
        int other = __shfl_up_sync(0xffffffffu, total, offset);
        if (lane >= offset) total += other;
      }
      warpTotals[lane] = total;
    }
    __syncthreads();
    long long first = carry + (warp > 0 ? warpTotals[warp - 1] : 0) + inclusive - count;
    for (int k = 0; k < count && first + k < a.itemBound; ++k) a.items[first + k] = make_int2(s, k * a.rowsPerItem);
    __syncthreads();
    if (threadIdx.x == 0) carry += warpTotals[31];
    __syncthreads();
  }
  if (threadIdx.x == 0) *a.itemCount = static_cast<int>(min(carry, a.itemBound));
}

template <typename T, int D, int RT>
void launchTiles(const AttentionParams& p, dim3 grid, cudaStream_t stream) {
  constexpr size_t bytes = TileShape<D, RT>::kBytes;
  if (bytes > 48 * 1024) {
    cudaFuncSetAttribute(attendTiles<T, D, RT>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  }
  attendTiles<T, D, RT><<<grid, kAttentionThreads, bytes, stream>>>(p);
}

// Decode items of bfloat16 / float16 caches with 64- or 128-wide heads run on tensor cores.
bool tensorCoreDecode(DType dtype, int headDim, bool vectorKv, int qStride, uintptr_t q) {
  return dtype != DType::F32 && (headDim == 64 || headDim == 128) && vectorKv && qStride % 2 == 0 && q % 4 == 0;
}

template <typename T, int D>
void launchForDim(const AttentionParams& p, dim3 grid, bool decode, bool tensorCores, cudaStream_t stream) {
  if constexpr (!std::is_same_v<T, float> && (D == 64 || D == 128)) {
    if (decode && tensorCores) {
      using Shape = DecodeShape<D>;
      cudaFuncSetAttribute(attendDecode<T, D, Shape>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(Shape::kBytes));
      launchOverlapped(attendDecode<T, D, Shape>, grid, Shape::kWarps * 32, Shape::kBytes, stream, p);
      return;
    }
  }
  if (decode) {
    launchTiles<T, D, 1>(p, grid, stream);
  } else {
    launchTiles<T, D, (D > 128 ? 2 : 4)>(p, grid, stream);
  }
}

// Blocks of the tensor-core decode kernel resident per multiprocessor. Worked out once per
// process: every GPU of one process is taken to be of one kind (a wrong count only costs speed).
template <typename T, int D>
long long decodeResidencyFor() {
  static const long long resident = decodeBlocksPerMultiprocessor<T, D>();
  return resident;
}

long long decodeResidency(DType dtype, int dim) {
  bool half = dtype == DType::F16;
  if (dim == 64) return half ? decodeResidencyFor<__half, 64>() : decodeResidencyFor<__nv_bfloat16, 64>();
  return half ? decodeResidencyFor<__half, 128>() : decodeResidencyFor<__nv_bfloat16, 128>();
}

size_t aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

// What attention() below takes at most: items for every query row, the item count, and
// partial results capped at kMaxPartialBytes.
size_t CudaKernels::attentionScratchBound(int maxTokens, int group) {
  size_t rows = static_cast<size_t>(maxTokens) * group;
  return aligned(rows * sizeof(int2)) + aligned(sizeof(int)) + kMaxCounterBytes + kMaxPartialBytes + 2 * 256;
}

void CudaKernels::attention(const AttentionArgs& a) {
  const AttentionBatch& batch = a.batch;
  if (a.headDim > 256) {
    throw std::invalid_argument("attention: headDim above 256 is not supported on CUDA, got " +
                                std::to_string(a.headDim));
  }
  cudaStream_t stream = enter();
  int group = a.qHeads / a.kvHeads;
  int dim = a.headDim <= 32 ? 32 : a.headDim <= 64 ? 64 : a.headDim <= 128 ? 128 : 256;
  long long rowsTotal = static_cast<long long>(a.tokens) * group;
  bool invariant = a.batchInvariant;
  bool decode = invariant || rowsTotal <= 16LL * batch.numSeqs;
  int rowsPerItem = decode ? 16 : dim > 128 ? 32 : 64;
  long long itemBound =
      std::min(rowsTotal, (rowsTotal + static_cast<long long>(batch.numSeqs) * (rowsPerItem - 1)) / rowsPerItem);
  if (itemBound >= (1LL << 31)) throw std::invalid_argument("attention: too many query rows for one launch");
  long long rowsAll = static_cast<long long>(a.tokens) * a.qHeads;
  long long blocks = itemBound * a.kvHeads;
  size_t vector = 16 / dtypeSize(a.dtype);
  bool vectorKv = a.headDim % vector == 0 && a.kCache % 16 == 0 && a.vCache % 16 == 0;
  bool tensorCores = decode && tensorCoreDecode(a.dtype, a.headDim, vectorKv, a.qStride, a.q);
  // The tile kernels split until there are twice as many blocks as multiprocessors. The decode
  // kernel's count is for the blocks likely to have an item (itemBound is an upper bound): one per
  // sequence, or more where its rows fill more items (a decode step: exactly one per sequence).
  long long likelyItems = std::min(itemBound, std::max<long long>(batch.numSeqs, (rowsTotal + 15) / 16));
  int splits = tensorCores ? decodeKeySplits(likelyItems * a.kvHeads, multiprocessors_,
                                             decodeResidency(a.dtype, dim) * multiprocessors_, kMaxSplits)
                           : static_cast<int>(std::clamp<long long>(
                                 (2LL * multiprocessors_ + blocks - 1) / blocks, 1, kMaxSplits));
  if (blocks * static_cast<long long>(sizeof(int)) > static_cast<long long>(kMaxCounterBytes)) splits = 1;
  while (splits > 1 && splits * rowsAll * (a.headDim + 2) * sizeof(float) > kMaxPartialBytes) splits /= 2;
  long long launchItems = itemBound;
  if (invariant) {
    // As many chunks as the longest sequence the page table holds; items launched in groups whose
    // partials fit the scratch.
    long long maxKeys = std::max(1LL, static_cast<long long>(batch.pageTableStride) * batch.pageSize);
    long long chunks = (maxKeys + kChunkKeys - 1) / kChunkKeys;
    if (chunks > 65535) throw std::invalid_argument("attention: page tables past 65535 chunks of keys");
    splits = static_cast<int>(chunks);
    long long partialBytesPerItem = chunks * a.kvHeads * kChunkRows * (a.headDim + 2) * sizeof(float);
    long long fit = std::min(static_cast<long long>(kMaxPartialBytes) / partialBytesPerItem,
                             static_cast<long long>(kMaxCounterBytes / sizeof(int)) / a.kvHeads);
    if (splits > 1) launchItems = std::min(itemBound, fit);
    if (launchItems < 1) throw std::invalid_argument("attention: a batch-invariant item's partials exceed the scratch");
  }

  int counterCount = splits > 1 ? static_cast<int>(invariant ? launchItems * a.kvHeads : blocks) : 0;
  long long partialRows = invariant ? static_cast<long long>(launchItems) * a.kvHeads * kChunkRows : rowsAll;
  size_t itemBytes = aligned(itemBound * sizeof(int2)), countBytes = aligned(sizeof(int));
  size_t counterBytes = aligned(counterCount * sizeof(int));
  size_t accBytes = splits > 1 ? aligned(splits * partialRows * a.headDim * sizeof(float)) : 0;
  size_t statsBytes = splits > 1 ? aligned(splits * partialRows * sizeof(float2)) : 0;
  char* base = static_cast<char*>(scratch(itemBytes + countBytes + counterBytes + accBytes + statsBytes));
  auto* items = reinterpret_cast<int2*>(base);
  auto* itemCount = reinterpret_cast<int*>(base + itemBytes);
  auto* counters = reinterpret_cast<int*>(base + itemBytes + countBytes);
  char* partials = base + itemBytes + countBytes + counterBytes;

  PlanArgs plan{batch.queryStart, batch.seqLens, batch.pageTable, batch.numSeqs, batch.pageTableStride, batch.pageSize,
                a.tokens, group, rowsPerItem, itemBound, items, itemCount, error_, counters, counterCount};
  PlanKey key{batch.queryStart, batch.seqLens, batch.pageTable, batch.numSeqs, batch.pageTableStride, batch.pageSize,
              a.tokens, group, rowsPerItem, a.kvHeads, splits, itemBound, base};
  bool planSettled = batch.reusePlan && planValid_ && key == lastPlan_;
  if (!planSettled) {
    planItems<<<1, kPlanThreads, 0, stream>>>(plan);
    checkLaunch("attention (plan)");
    lastPlan_ = key;
    planValid_ = true;
  }

  AttentionParams p{};
  p.out = reinterpret_cast<void*>(a.out);
  p.q = reinterpret_cast<const void*>(a.q);
  p.kCache = reinterpret_cast<const void*>(a.kCache);
  p.vCache = reinterpret_cast<const void*>(a.vCache);
  p.queryStart = batch.queryStart;
  p.seqLens = batch.seqLens;
  p.pageTable = batch.pageTable;
  p.pageTableStride = batch.pageTableStride;
  p.pageSize = batch.pageSize;
  p.qHeads = a.qHeads;
  p.kvHeads = a.kvHeads;
  p.headDim = a.headDim;
  p.qStride = a.qStride;
  p.group = group;
  p.splits = splits;
  p.scaleLog2 = a.scale * 1.4426950408889634f;
  p.vectorKv = vectorKv;
  p.planSettled = planSettled;
  p.rowsAll = rowsAll;
  p.items = items;
  p.itemCount = itemCount;
  p.splitCounters = counters;
  p.partialAcc = splits > 1 ? reinterpret_cast<float*>(partials) : nullptr;
  p.partialStats = splits > 1 ? reinterpret_cast<float2*>(partials + accBytes) : nullptr;
  p.chunkKeys = invariant ? kChunkKeys : 0;
  p.launchItems = static_cast<int>(launchItems);

  for (long long first = 0; first < itemBound; first += launchItems) {
    p.itemOffset = static_cast<int>(first);
    dim3 grid(static_cast<unsigned>(std::min(launchItems, itemBound - first)), a.kvHeads, splits);
    withElementType(a.dtype, [&](auto type) {
      using T = typename decltype(type)::type;
      switch (dim) {
        case 32: launchForDim<T, 32>(p, grid, decode, tensorCores, stream); break;
        case 64: launchForDim<T, 64>(p, grid, decode, tensorCores, stream); break;
        case 128: launchForDim<T, 128>(p, grid, decode, tensorCores, stream); break;
        default: launchForDim<T, 256>(p, grid, decode, tensorCores, stream); break;
      }
      checkLaunch("attention");
    });
  }
}

}  // namespace ts::cuda
