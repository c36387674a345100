// Copies each token's k and v heads into their cache slots (kv_layout.h); a negative slot skips its token.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/store_kv.cuh"

namespace ts::cuda {
namespace {

constexpr int kThreads = 128;

// One block per token, its heads one after another.
__global__ void storeRows(char* kCache, char* vCache, const char* k, const char* v, const int32_t* slots,
                          KvLayout layout, size_t element, size_t kStrideBytes, size_t vStrideBytes) {
  waitForPriorGrid();
  allowNextGrid();
  int t = blockIdx.x;
  int slot = slots[t];
  if (slot < 0) return;
  size_t headBytes = layout.headDim * element;
  for (int h = 0; h < layout.kvHeads; ++h) {
    size_t to = layout.offset(slot, h) * element;
    blockCopy(kCache + to, k + t * kStrideBytes + h * headBytes, headBytes);
    blockCopy(vCache + to, v + t * vStrideBytes + h * headBytes, headBytes);
  }
}

// The same copy where heads and strides are 16-byte aligned: a thread per 16-byte vector of a
// token's k or v row, so a decode step's few tokens still spread over the GPU.
__global__ void storeVectors(uint4* kCache, uint4* vCache, const uint4* k, const uint4* v, const int32_t* slots,
                             KvLayout layout, int headVectors, int kStrideVectors, int vStrideVectors,
                             long long vectors) {
  waitForPriorGrid();
  allowNextGrid();
  long long c = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= vectors) return;
  int rowVectors = layout.kvHeads * headVectors;
  int i = static_cast<int>(c % rowVectors);
  long long pair = c / rowVectors;
  int t = static_cast<int>(pair / 2);
  int slot = slots[t];
  if (slot < 0) return;
  int head = i / headVectors;
  size_t to = layout.offset(slot, head) / (layout.headDim / headVectors) + i % headVectors;
  if (pair % 2 == 0) kCache[to] = k[static_cast<size_t>(t) * kStrideVectors + i];
  else vCache[to] = v[static_cast<size_t>(t) * vStrideVectors + i];
}

}  // namespace

void CudaKernels::storeKv(const StoreKvArgs& a) {
  cudaStream_t stream = enter();
  size_t element = dtypeSize(a.dtype);
  size_t headBytes = static_cast<size_t>(a.headDim) * element;
  size_t kStrideBytes = a.kStride * element, vStrideBytes = a.vStride * element;
  KvLayout layout{a.kvHeads, a.headDim, a.pageSize};
  if (storeVectorsFit(a)) {
    long long vectors = static_cast<long long>(a.tokens) * 2 * a.kvHeads * (headBytes / 16);
    unsigned blocks = static_cast<unsigned>((vectors + kThreads - 1) / kThreads);
    if (blocks > 0) {
      launchOverlapped(storeVectors, blocks, kThreads, 0, stream, at<uint4>(a.kCache), at<uint4>(a.vCache),
                       at<const uint4>(a.k), at<const uint4>(a.v), at<const int32_t>(a.slots), layout,
                       static_cast<int>(headBytes / 16), static_cast<int>(kStrideBytes / 16),
                       static_cast<int>(vStrideBytes / 16), vectors);
    }
    checkLaunch("storeKv");
    return;
  }
  launchOverlapped(storeRows, a.tokens, 128, 0, stream, at<char>(a.kCache), at<char>(a.vCache), at<const char>(a.k),
                   at<const char>(a.v), at<const int32_t>(a.slots), layout, element, kStrideBytes, vStrideBytes);
  checkLaunch("storeKv");
}

}  // namespace ts::cuda
