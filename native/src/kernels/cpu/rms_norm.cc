#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"

namespace ts::cpu {
namespace {

template <typename T>
void normalizeRows(T* out, const T* x, const T* weight, size_t begin, size_t end, int dim, float eps) {
  std::vector<float> row(dim), scale(dim);
  loadRow(scale.data(), weight, dim);
  for (size_t r = begin; r < end; ++r) {
    loadRow(row.data(), x + r * dim, dim);
    float inverseRms = 1.0f / std::sqrt(dot(row.data(), row.data(), dim) / static_cast<float>(dim) + eps);
    for (int i = 0; i < dim; ++i) row[i] = row[i] * inverseRms * scale[i];
    storeRow(out + r * dim, row.data(), dim);
  }
}

}  // namespace

void CpuKernels::rmsNorm(uintptr_t out, uintptr_t x, uintptr_t weight, int rows, int dim, float eps, DType dtype) {
  withElementType(dtype, [&](auto element) {
    using T = decltype(element);
    size_t grain = std::max<size_t>(1, 16384 / dim);
    ThreadPool::shared().parallelRanges(rows, grain, [&](size_t begin, size_t end) {
      normalizeRows(at<T>(out), at<const T>(x), at<const T>(weight), begin, end, dim, eps);
    });
  });
}

}  // namespace ts::cpu
