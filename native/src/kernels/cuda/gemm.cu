// out = a · wᵀ (+ bias): a few rows of a through gemv.cu, more through cuBLAS (blas.cc has the
// mapping onto its column-major call); batch-invariant calls through gemm_invariant.cu.
// A bias is written into every row of out first and cuBLAS adds the product to it (beta = 1):
// acc + bias is then rounded once, in float32, as on the CPU.
#include "kernels/cuda/blas.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_invariant.h"
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

void CudaKernels::gemm(const GemmArgs& args) {
  cudaStream_t stream = enter();
  needGivenScratch("gemm");
  if (args.batchInvariant) {
    launchInvariantGemm(stream, args);
    checkLaunch("gemm (batch-invariant)");
    return;
  }
  if (launchGemv(stream, args.out, args.a, args.w, args.bias, args.m, args.n, args.k, args.dtype)) {
    checkLaunch("gemm (gemv)");
    return;
  }
  if (!blas_) {
    blas_ = std::make_unique<Blas>(stream);
    if (given_) blas_->useWorkspace(reinterpret_cast<void*>(given_), Blas::kWorkspaceBytes);
  }
  if (args.bias) {
    withElementType(args.dtype, [&](auto type) {
      using T = typename decltype(type)::type;
      broadcastRows<<<gridFor(size_t(args.m) * args.n, 256), 256, 0, stream>>>(at<T>(args.out), at<const T>(args.bias),
                                                                               args.m, args.n);
    });
    checkLaunch("gemm (bias)");
  }
  blas_->gemm(args.out, args.a, args.w, args.bias != 0, args.m, args.n, args.k, args.dtype);
}

}  // namespace ts::cuda
