// out[t, :] = table[ids[t], :], one block per token; a negative id is a content error.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/content_error.h"
#include "kernels/cuda/cuda_kernels.h"

namespace ts::cuda {
namespace {

__global__ void gatherRows(char* out, const char* table, const int32_t* ids, size_t rowBytes, ContentError* error) {
  int t = blockIdx.x;
  int id = ids[t];
  if (id < 0) {
    if (threadIdx.x == 0) {
      unsigned long long packed = (static_cast<unsigned long long>(t) << 32) | static_cast<uint32_t>(id);
      atomicMax(&error->firstBadId, ~packed);
      atomicCAS(&error->code, kNoError, kNegativeId);
    }
    return;
  }
  blockCopy(out + t * rowBytes, table + static_cast<size_t>(id) * rowBytes, rowBytes);
}

}  // namespace

void CudaKernels::embedding(const EmbeddingArgs& a) {
  cudaStream_t stream = enter();
  size_t rowBytes = static_cast<size_t>(a.dim) * dtypeSize(a.dtype);
  gatherRows<<<a.tokens, 128, 0, stream>>>(at<char>(a.out), at<const char>(a.table), at<const int32_t>(a.ids),
                                           rowBytes, error_);
  checkLaunch("embedding");
}

}  // namespace ts::cuda
