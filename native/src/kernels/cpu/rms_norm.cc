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

void CpuKernels::rmsNorm(const RmsNormArgs& a) {
  RowLayout layout{a.dim, static_cast<size_t>(a.rowsPerGroup), a.groupStride};
  withElementType(a.dtype, [&](auto element) {
    using T = decltype(element);
    size_t grain = std::max<size_t>(1, 16384 / a.dim);
    ThreadPool::shared().parallelRanges(a.rows, grain, [&](size_t begin, size_t end) {
      normalizeRows(at<T>(a.out), at<const T>(a.x), at<const T>(a.weight), begin, end, layout, a.eps);
    });
  });
}

void CpuKernels::addRmsNorm(const AddRmsNormArgs& a) {
  withElementType(a.dtype, [&](auto element) {
    using T = decltype(element);
    size_t grain = std::max<size_t>(1, 16384 / a.dim);
    ThreadPool::shared().parallelRanges(a.rows, grain, [&](size_t begin, size_t end) {
      addAndNormalizeRows(at<T>(a.out), at<T>(a.residual), at<const T>(a.delta), at<const T>(a.weight), begin, end,
                          a.dim, a.eps);
    });
  });
}

}  // namespace ts::cpu
