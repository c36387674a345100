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

// row = row / sqrt(mean(row^2) + eps) * scale, in place, then stored to out in T.
template <typename T>
TS_INLINE void normalizeRow(T* out, float* row, const float* scale, int dim, float eps) {
  float inverseRms = 1.0f / std::sqrt(dot(row, row, dim) / static_cast<float>(dim) + eps);
  for (int i = 0; i < dim; ++i) row[i] = row[i] * inverseRms * scale[i];
  storeRow(out, row, dim);
}

template <typename T>
void normalizeRows(T* out, const T* x, const T* weight, size_t begin, size_t end, RowLayout layout, float eps) {
  int dim = layout.dim;
  std::vector<float> row(dim), scale(dim);
  loadRow(scale.data(), weight, dim);
  for (size_t r = begin; r < end; ++r) {
    loadRow(row.data(), x + layout.offset(r), dim);
    normalizeRow(out + layout.offset(r), row.data(), scale.data(), dim, eps);
  }
}

// Per row: residual += delta, rounded to T and stored; the norm then reads the rounded sums, as
// add followed by rmsNorm would.
template <typename T>
void addAndNormalizeRows(T* out, T* residual, const T* delta, const T* weight, size_t begin, size_t end, int dim,
                         float eps) {
  std::vector<float> row(dim), scale(dim);
  loadRow(scale.data(), weight, dim);
  for (size_t r = begin; r < end; ++r) {
    size_t offset = r * dim;
    for (int i = 0; i < dim; ++i) {
      T sum = fromFloat<T>(toFloat(residual[offset + i]) + toFloat(delta[offset + i]));
      residual[offset + i] = sum;
      row[i] = toFloat(sum);
    }
    normalizeRow(out + offset, row.data(), scale.data(), dim, eps);
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

void CpuKernels::addRmsNorm(uintptr_t out, uintptr_t residual, uintptr_t delta, uintptr_t weight, int rows, int dim,
                            float eps, DType dtype) {
  withElementType(dtype, [&](auto element) {
    using T = decltype(element);
    size_t grain = std::max<size_t>(1, 16384 / dim);
    ThreadPool::shared().parallelRanges(rows, grain, [&](size_t begin, size_t end) {
      addAndNormalizeRows(at<T>(out), at<T>(residual), at<const T>(delta), at<const T>(weight), begin, end, dim, eps);
    });
  });
}

}  // namespace ts::cpu
