// A decoder layer's rotary and KV store in one launch, a block per token: its angles once into
// shared memory, then a thread per rotation item (HeadVectors) of a q or k head, rotated k also
// written into the token's cache slot, and a thread per 16-byte vector of a v head, copied into
// its slot (kv_layout.h). Other shapes run rotary then storeKv. On the H200 (1B, decode at 512
// keys) it takes 62 us a step at batch 64 where rotary and storeKv took 55 + 42 (ncu), and decode
// ran 2.3% / 1.9% faster at batch 64 / 256 (three alternated pairs in one call).
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/rotary.cuh"
#include "kernels/cuda/store_kv.cuh"

namespace ts::cuda {
namespace {

constexpr int kMaxThreads = 512;

struct StoreShape {
  int vStride;  // v's row stride
  KvLayout layout;
};

template <typename T>
__global__ void rotateAndStoreToken(T* q, T* k, const T* v, T* kCache, T* vCache, const int32_t* positions,
                                    const int32_t* slots, const float* invFreq, RotaryShape s, StoreShape store,
                                    int chunksPerHead) {
  constexpr int V = kVector<T>;
  waitForPriorGrid();
  allowNextGrid();
  __shared__ float sines[kMaxHalf], cosines[kMaxHalf];
  int t = blockIdx.x, rotations = (s.qHeads + s.kvHeads) * chunksPerHead;
  int items = rotations + s.kvHeads * (s.headDim / V);
  int slot = slots[t];
  int item = threadIdx.x;
  HeadVectors<T> mine(q, k, s, t, item < rotations ? item : 0, chunksPerHead);
  tokenAngles(static_cast<float>(positions[t]), invFreq, s.half, sines, cosines);
  for (; item < items; item += blockDim.x) {
    if (item < rotations) {
      HeadVectors<T> head = item == threadIdx.x ? mine : HeadVectors<T>(q, k, s, t, item, chunksPerHead);
      T* copy = head.head >= s.qHeads && slot >= 0 ? kCache + store.layout.offset(slot, head.head - s.qHeads) : nullptr;
      head.rotateAndStore(s, sines, cosines, copy);
    } else if (slot >= 0) {
      int vector = item - rotations, headVectors = s.headDim / V;
      const uint4* from = reinterpret_cast<const uint4*>(v + static_cast<size_t>(t) * store.vStride);
      T* to = vCache + store.layout.offset(slot, vector / headVectors) + (vector % headVectors) * V;
      *reinterpret_cast<uint4*>(to) = from[vector];
    }
  }
}

// The one-launch form covers the whole head (rotaryDim = headDim) and the store of the rotated k.
bool fused(const RotaryStoreKvArgs& a) {
  const RotaryArgs& r = a.rotary;
  const StoreKvArgs& s = a.store;
  return rotaryVectorsFit(r) && storeVectorsFit(s) && r.rotaryDim == r.headDim && r.rotaryDim / 2 <= kMaxHalf &&
         s.k == r.k && s.kStride == r.kStride && s.tokens == r.tokens && s.kvHeads == r.kvHeads &&
         s.headDim == r.headDim && s.dtype == r.dtype;
}

}  // namespace

void CudaKernels::rotaryStoreKv(const RotaryStoreKvArgs& a) {
  if (!fused(a)) {
    rotary(a.rotary);
    storeKv(a.store);
    return;
  }
  cudaStream_t stream = enter();
  const RotaryArgs& r = a.rotary;
  const StoreKvArgs& s = a.store;
  withElementType(r.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    int chunksPerHead = rotaryVectorSpan(r) / kVector<T>;
    int items = (r.qHeads + r.kvHeads) * chunksPerHead + r.kvHeads * (r.headDim / kVector<T>);
    int threads = std::min(kMaxThreads, (items + 31) / 32 * 32);
    StoreShape store{s.vStride, KvLayout{s.kvHeads, s.headDim, s.pageSize}};
    if (r.tokens > 0) {
      launchOverlapped(rotateAndStoreToken<T>, r.tokens, threads, 0, stream, at<T>(r.q), at<T>(r.k), at<const T>(s.v),
                       at<T>(s.kCache), at<T>(s.vCache), at<const int32_t>(r.positions), at<const int32_t>(s.slots),
                       at<const float>(r.invFreq), rotaryShape(r), store, chunksPerHead);
    }
  });
  checkLaunch("rotaryStoreKv");
}

}  // namespace ts::cuda
