// out = a · wᵀ (+ bias). Tasks are (block of a's rows × block of w's rows); each walks k in
// slices, converts both slices to float32 panels padded to whole vectors (cache-resident), and
// multiplies them in register tiles of dot products.
#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"

namespace ts::cpu {
namespace {

constexpr int kRowBlock = 64;    // rows of a per task
constexpr int kColBlock = 64;    // rows of w (output columns) per task
constexpr int kDepthBlock = 256;  // k per panel

template <int Rows, int Cols>
TS_INLINE void tile(const float* a, const float* w, int depth, float* acc) {
  Vec8 sums[Rows][Cols] = {};
  for (int k = 0; k < depth; k += kLanes) {
    Vec8 wv[Cols];
    for (int j = 0; j < Cols; ++j) wv[j] = loadVec(w + static_cast<size_t>(j) * depth + k);
    for (int i = 0; i < Rows; ++i) {
      Vec8 av = loadVec(a + static_cast<size_t>(i) * depth + k);
      for (int j = 0; j < Cols; ++j) sums[i][j] += av * wv[j];
    }
  }
  for (int i = 0; i < Rows; ++i) {
    for (int j = 0; j < Cols; ++j) acc[i * kColBlock + j] += sumLanes(sums[i][j]);
  }
}

template <int Rows>
TS_INLINE void tileRow(const float* a, const float* w, int cols, int depth, float* acc) {
  int j = 0;
  for (; j + 4 <= cols; j += 4) tile<Rows, 4>(a, w + static_cast<size_t>(j) * depth, depth, acc + j);
  for (; j < cols; ++j) tile<Rows, 1>(a, w + static_cast<size_t>(j) * depth, depth, acc + j);
}

// acc[rows, kColBlock] += aPanel[rows, depth] · wPanel[cols, depth]ᵀ; depth is a multiple of 8.
TS_SIMD_CLONES void multiplyPanels(const float* aPanel, int rows, const float* wPanel, int cols, int depth,
                                   float* acc) {
  int i = 0;
  for (; i + 2 <= rows; i += 2) {
    tileRow<2>(aPanel + static_cast<size_t>(i) * depth, wPanel, cols, depth, acc + i * kColBlock);
  }
  if (i < rows) tileRow<1>(aPanel + static_cast<size_t>(i) * depth, wPanel, cols, depth, acc + i * kColBlock);
}

template <typename T>
void packPanel(float* panel, const T* source, int rows, int k, int k0, int depth, int padded) {
  for (int r = 0; r < rows; ++r) {
    float* row = panel + static_cast<size_t>(r) * padded;
    loadRow(row, source + static_cast<size_t>(r) * k + k0, depth);
    std::fill(row + depth, row + padded, 0.0f);
  }
}

template <typename T>
void gemmTask(T* out, const T* a, const T* w, const T* bias, int m, int n, int k, int rowBlock, int colBlock) {
  int firstRow = rowBlock * kRowBlock, rows = std::min(kRowBlock, m - firstRow);
  int firstCol = colBlock * kColBlock, cols = std::min(kColBlock, n - firstCol);
  thread_local std::vector<float> aPanel, wPanel, acc, result;
  aPanel.resize(static_cast<size_t>(kRowBlock) * kDepthBlock);
  wPanel.resize(static_cast<size_t>(kColBlock) * kDepthBlock);
  acc.assign(static_cast<size_t>(kRowBlock) * kColBlock, 0.0f);
  result.resize(kColBlock);
  for (int k0 = 0; k0 < k; k0 += kDepthBlock) {
    int depth = std::min(kDepthBlock, k - k0);
    int padded = (depth + kLanes - 1) / kLanes * kLanes;
    packPanel(aPanel.data(), a + static_cast<size_t>(firstRow) * k, rows, k, k0, depth, padded);
    packPanel(wPanel.data(), w + static_cast<size_t>(firstCol) * k, cols, k, k0, depth, padded);
    multiplyPanels(aPanel.data(), rows, wPanel.data(), cols, padded, acc.data());
  }
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      result[c] = acc[r * kColBlock + c] + (bias ? toFloat(bias[firstCol + c]) : 0.0f);
    }
    storeRow(out + static_cast<size_t>(firstRow + r) * n + firstCol, result.data(), cols);
  }
}

}  // namespace

void CpuKernels::gemm(const GemmArgs& args) {
  int rowBlocks = (args.m + kRowBlock - 1) / kRowBlock;
  int colBlocks = (args.n + kColBlock - 1) / kColBlock;
  withElementType(args.dtype, [&](auto element) {
    using T = decltype(element);
    ThreadPool::shared().parallelFor(static_cast<size_t>(rowBlocks) * colBlocks, [&](size_t task) {
      gemmTask(at<T>(args.out), at<const T>(args.a), at<const T>(args.w), at<const T>(args.bias), args.m, args.n,
               args.k, static_cast<int>(task / colBlocks), static_cast<int>(task % colBlocks));
    });
  });
}

}  // namespace ts::cpu
