// Copies each token's k and v rows into their cache slots; a negative slot skips its token.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/store_kv.cuh"

namespace ts::cuda {
namespace {

constexpr int kThreads = 128;

// One block per token.
__global__ void storeRows(char* kCache, char* vCache, const char* k, const char* v, const int32_t* slots,
                          size_t rowBytes, size_t kStrideBytes, size_t vStrideBytes) {
  waitForPriorGrid();
  allowNextGrid();
  int t = blockIdx.x;
  int slot = slots[t];
  if (slot < 0) return;
  blockCopy(kCache + static_cast<size_t>(slot) * rowBytes, k + t * kStrideBytes, rowBytes);
  blockCopy(vCache + static_cast<size_t>(slot) * rowBytes, v + t * vStrideBytes, rowBytes);
}

// The same copy where rows and strides are 16-byte aligned: a thread per 16-byte vector of a
// token's k or v row, so a decode step's few tokens still spread over the GPU.
__global__ void storeVectors(uint4* kCache, uint4* vCache, const uint4* k, const uint4* v, const int32_t* slots,
                             int rowVectors, int kStrideVectors, int vStrideVectors, long long vectors) {
  waitForPriorGrid();
  allowNextGrid();
  long long c = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= vectors) return;
  int i = static_cast<int>(c % rowVectors);
  long long pair = c / rowVectors;
  int t = static_cast<int>(pair / 2);
  int slot = slots[t];
  if (slot < 0) return;
  size_t to = static_cast<size_t>(slot) * rowVectors + i;
  if (pair % 2 == 0) kCache[to] = k[static_cast<size_t>(t) * kStrideVectors + i];
  else vCache[to] = v[static_cast<size_t>(t) * vStrideVectors + i];
}

}  // namespace

void CudaKernels::storeKv(const StoreKvArgs& a) {
  cudaStream_t stream = enter();
  size_t element = dtypeSize(a.dtype);
  size_t rowBytes = static_cast<size_t>(a.kvHeads) * a.headDim * element;
  size_t kStrideBytes = a.kStride * element, vStrideBytes = a.vStride * element;
  if (storeVectorsFit(a)) {
    long long vectors = static_cast<long long>(a.tokens) * 2 * (rowBytes / 16);
    unsigned blocks = static_cast<unsigned>((vectors + kThreads - 1) / kThreads);
    if (blocks > 0) {
      launchOverlapped(storeVectors, blocks, kThreads, 0, stream, at<uint4>(a.kCache), at<uint4>(a.vCache),
                       at<const uint4>(a.k), at<const uint4>(a.v), at<const int32_t>(a.slots),
                       static_cast<int>(rowBytes / 16), static_cast<int>(kStrideBytes / 16),
                       static_cast<int>(vStrideBytes / 16), vectors);
    }
    checkLaunch("storeKv");
    return;
  }
  launchOverlapped(storeRows, a.tokens, 128, 0, stream, at<char>(a.kCache), at<char>(a.vCache), at<const char>(a.k),
                   at<const char>(a.v), at<const int32_t>(a.slots), rowBytes, kStrideBytes, vStrideBytes);
  checkLaunch("storeKv");
}

}  // namespace ts::cuda
