// out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight, one block per row (out may be x:
// every element is read, and the sum taken, before any is written); rows may sit in strided
// groups (kernels.h).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace ts::cuda {
namespace {

template <typename T>
__global__ void normalizeRows(T* out, const T* x, const T* weight, int dim, int rowsPerGroup, size_t groupStride,
                              float eps) {
  __shared__ float scratch[32];
  size_t offset = blockIdx.x / rowsPerGroup * groupStride + static_cast<size_t>(blockIdx.x % rowsPerGroup) * dim;
  const T* row = x + offset;
  float squares = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float value = toFloat(row[i]);
    squares += value * value;
  }
  float inverseRms = 1.0f / sqrtf(blockSum(squares, scratch) / static_cast<float>(dim) + eps);
  T* target = out + offset;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    target[i] = fromFloat<T>(toFloat(row[i]) * inverseRms * toFloat(weight[i]));
  }
}

}  // namespace

void CudaKernels::rmsNorm(uintptr_t out, uintptr_t x, uintptr_t weight, int rows, int dim, int rowsPerGroup,
                          size_t groupStride, float eps, DType dtype) {
  cudaStream_t stream = enter();
  int threads = dim >= 4096 ? 1024 : dim >= 1024 ? 512 : 128;
  withElementType(dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    normalizeRows<<<rows, threads, 0, stream>>>(at<T>(out), at<const T>(x), at<const T>(weight), dim, rowsPerGroup,
                                                groupStride, eps);
  });
  checkLaunch("rmsNorm");
}

}  // namespace ts::cuda
