// out = a · wᵀ (+ bias): a few rows of a through gemv.cu, more through cuBLAS (blas.cc has the
// mapping onto its column-major call).
// A bias is written into every row of out first and cuBLAS adds the product to it (beta = 1):
// acc + bias is then rounded once, in float32, as on the CPU.
#include "kernels/cuda/blas.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemv.h"

namespace ts::cuda {
namespace {

template <typename T>
__global__ void broadcastRows(T* out, const T* row, int rows, int n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < size_t(rows) * n;
       i += size_t(gridDim.x) * blockDim.x) {
    out[i] = row[i % n];
  }
}

}  // namespace

void CudaKernels::gemm(uintptr_t out, uintptr_t a, uintptr_t w, uintptr_t bias, int m, int n, int k, DType dtype) {
  cudaStream_t stream = enter();
  needGivenScratch("gemm");
  if (launchGemv(stream, out, a, w, bias, m, n, k, dtype)) {
    checkLaunch("gemm (gemv)");
    return;
  }
  if (!blas_) {
    blas_ = std::make_unique<Blas>(stream);
    if (given_) blas_->useWorkspace(reinterpret_cast<void*>(given_), Blas::kWorkspaceBytes);
  }
  if (bias) {
    withElementType(dtype, [&](auto type) {
      using T = typename decltype(type)::type;
      broadcastRows<<<gridFor(size_t(m) * n, 256), 256, 0, stream>>>(at<T>(out), at<const T>(bias), m, n);
    });
    checkLaunch("gemm (bias)");
  }
  blas_->gemm(out, a, w, bias != 0, m, n, k, dtype);
}

}  // namespace ts::cuda
