// Copies each token's k and v rows into their cache slots, one block per token; a negative
// slot skips its token.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace ts::cuda {
namespace {

__global__ void storeRows(char* kCache, char* vCache, const char* k, const char* v, const int32_t* slots,
                          size_t rowBytes, size_t kStrideBytes, size_t vStrideBytes) {
  int t = blockIdx.x;
  int slot = slots[t];
  if (slot < 0) return;
  blockCopy(kCache + static_cast<size_t>(slot) * rowBytes, k + t * kStrideBytes, rowBytes);
  blockCopy(vCache + static_cast<size_t>(slot) * rowBytes, v + t * vStrideBytes, rowBytes);
}

}  // namespace

void CudaKernels::storeKv(const StoreKvArgs& a) {
  cudaStream_t stream = enter();
  size_t element = dtypeSize(a.dtype);
  size_t rowBytes = static_cast<size_t>(a.kvHeads) * a.headDim * element;
  storeRows<<<a.tokens, 128, 0, stream>>>(at<char>(a.kCache), at<char>(a.vCache), at<const char>(a.k),
                                          at<const char>(a.v), at<const int32_t>(a.slots), rowBytes,
                                          a.kStride * element, a.vStride * element);
  checkLaunch("storeKv");
}

}  // namespace ts::cuda
