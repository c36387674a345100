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

void CudaKernels::storeKv(uintptr_t kCache, uintptr_t vCache, uintptr_t k, uintptr_t v, uintptr_t slots, int tokens,
                          int kvHeads, int headDim, int kStride, int vStride, DType dtype) {
  cudaStream_t stream = enter();
  size_t element = dtypeSize(dtype);
  size_t rowBytes = static_cast<size_t>(kvHeads) * headDim * element;
  storeRows<<<tokens, 128, 0, stream>>>(at<char>(kCache), at<char>(vCache), at<const char>(k), at<const char>(v),
                                        at<const int32_t>(slots), rowBytes, kStride * element, vStride * element);
  checkLaunch("storeKv");
}

}  // namespace ts::cuda
