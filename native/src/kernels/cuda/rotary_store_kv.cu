// A decoder layer's rotary and KV store in one launch: a thread per 16-byte vector of a head of
// a token, q heads rotated in place, k heads rotated in place and into their cache slot, v heads
// copied to theirs. Other shapes run rotary then storeKv.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/rotary.cuh"
#include "kernels/cuda/store_kv.cuh"

namespace ts::cuda {
namespace {

constexpr int kThreads = 128;

struct StoreShape {
  int vStride, rowElements;  // v's row stride; a cache slot's elements (kvHeads * headDim)
};

template <typename T>
__global__ void rotateAndStoreVectors(T* q, T* k, const T* v, T* kCache, T* vCache, const int32_t* positions,
                                      const int32_t* slots, const float* invFreq, RotaryShape s, StoreShape store,
                                      int chunksPerHead, long long chunks) {
  waitForPriorGrid();
  allowNextGrid();
  constexpr int V = kVector<T>;
  long long c = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= chunks) return;
  int chunk = static_cast<int>(c % chunksPerHead);
  long long headOfToken = c / chunksPerHead;
  int heads = s.qHeads + 2 * s.kvHeads;
  int head = static_cast<int>(headOfToken % heads), t = static_cast<int>(headOfToken / heads);
  float position = static_cast<float>(positions[t]);
  if (head < s.qHeads) {
    rotateVector<T>(q + static_cast<size_t>(t) * s.qStride + head * s.headDim, nullptr, chunk, position, invFreq, s);
    return;
  }
  int slot = slots[t];
  int kvHead = head - s.qHeads;
  if (kvHead < s.kvHeads) {
    T* cached = slot < 0 ? nullptr : kCache + static_cast<size_t>(slot) * store.rowElements + kvHead * s.headDim;
    rotateVector<T>(k + static_cast<size_t>(t) * s.kStride + kvHead * s.headDim, cached, chunk, position, invFreq, s);
    return;
  }
  if (slot < 0) return;
  kvHead -= s.kvHeads;
  const uint4* from = reinterpret_cast<const uint4*>(v + static_cast<size_t>(t) * store.vStride + kvHead * s.headDim);
  uint4* to = reinterpret_cast<uint4*>(vCache + static_cast<size_t>(slot) * store.rowElements + kvHead * s.headDim);
  to[chunk] = from[chunk];
  if (!s.adjacent) to[chunk + s.half / V] = from[chunk + s.half / V];
}

// The one-launch form covers the whole head (rotaryDim = headDim) and the store of the rotated k.
bool fused(const RotaryStoreKvArgs& a) {
  const RotaryArgs& r = a.rotary;
  const StoreKvArgs& s = a.store;
  return rotaryVectorsFit(r) && storeVectorsFit(s) && r.rotaryDim == r.headDim && s.k == r.k &&
         s.kStride == r.kStride && s.tokens == r.tokens && s.kvHeads == r.kvHeads && s.headDim == r.headDim &&
         s.dtype == r.dtype;
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
    long long chunks = static_cast<long long>(r.tokens) * (r.qHeads + 2 * r.kvHeads) * chunksPerHead;
    unsigned blocks = static_cast<unsigned>((chunks + kThreads - 1) / kThreads);
    StoreShape store{s.vStride, s.kvHeads * s.headDim};
    launchOverlapped(rotateAndStoreVectors<T>, blocks, kThreads, 0, stream, at<T>(r.q), at<T>(r.k), at<const T>(s.v),
                     at<T>(s.kCache), at<T>(s.vCache), at<const int32_t>(r.positions), at<const int32_t>(s.slots),
                     at<const float>(r.invFreq), rotaryShape(r), store, chunksPerHead, chunks);
  });
  checkLaunch("rotaryStoreKv");
}

}  // namespace ts::cuda
