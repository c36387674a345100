#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"

namespace ts::cpu {
namespace {

struct RowLayout {
  int dim;
  size_t rowsPerGroup;
  size_t groupStride;
  size_t offset(size_t r) const { return r / rowsPerGroup * groupStride + r % rowsPerGroup * dim; }
};

template <typename T>
void normalizeRows(T* out, const T* x, const T* weight, size_t begin, size_t end, RowLayout layout, float eps) {
  int dim = layout.dim;
  std::vector<float> row(dim), scale(dim);
  loadRow(scale.data(), weight, dim);
  for (size_t r = begin; r < end; ++r) {
    loadRow(row.data(), x + layout.offset(r), dim);
    float inverseRms = 1.0f / std::sqrt(dot(row.data(), row.data(), dim) / static_cast<float>(dim) + eps);
    for (int i = 0; i < dim; ++i) row[i] = row[i] * inverseRms * scale[i];
    storeRow(out + layout.offset(r), row.data(), dim);
  }
}

}  // namespace

void CpuKernels::rmsNorm(uintptr_t out, uintptr_t x, uintptr_t weight, int rows, int dim, int rowsPerGroup,
                         size_t groupStride, float eps, DType dtype) {
  RowLayout layout{dim, static_cast<size_t>(rowsPerGroup), groupStride};
  withElementType(dtype, [&](auto element) {
    using T = decltype(element);
    size_t grain = std::max<size_t>(1, 16384 / dim);
    ThreadPool::shared().parallelRanges(rows, grain, [&](size_t begin, size_t end) {
      normalizeRows(at<T>(out), at<const T>(x), at<const T>(weight), begin, end, layout, eps);
    });
  });
}

}  // namespace ts::cpu
