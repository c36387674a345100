// add, siluAndMul and convert: one pass over the elements, split over the pool in large pieces.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/element_types.h"
#include "kernels/cpu/thread_pool.h"

namespace ts::cpu {
namespace {

constexpr size_t kGrain = 1 << 16;

template <typename T>
void addRange(T* out, const T* a, const T* b, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) out[i] = fromFloat<T>(toFloat(a[i]) + toFloat(b[i]));
}

template <typename T>
void siluAndMulRow(T* out, const T* gateUp, int inter) {
  for (int i = 0; i < inter; ++i) {
    float gate = toFloat(gateUp[i]);
    out[i] = fromFloat<T>(gate / (1.0f + std::exp(-gate)) * toFloat(gateUp[inter + i]));
  }
}

template <typename Out, typename In>
void convertRange(Out* out, const In* in, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) out[i] = fromFloat<Out>(toFloat(in[i]));
}

}  // namespace

void CpuKernels::add(uintptr_t out, uintptr_t a, uintptr_t b, size_t n, DType dtype) {
  withElementType(dtype, [&](auto element) {
    using T = decltype(element);
    ThreadPool::shared().parallelRanges(n, kGrain, [&](size_t begin, size_t end) {
      addRange(at<T>(out), at<const T>(a), at<const T>(b), begin, end);
    });
  });
}

void CpuKernels::siluAndMul(const SiluAndMulArgs& a) {
  withElementType(a.dtype, [&](auto element) {
    using T = decltype(element);
    size_t grain = std::max<size_t>(1, kGrain / a.inter);
    ThreadPool::shared().parallelRanges(a.rows, grain, [&](size_t begin, size_t end) {
      for (size_t r = begin; r < end; ++r) {
        siluAndMulRow(at<T>(a.out) + r * a.inter, at<const T>(a.gateUp) + r * 2 * a.inter, a.inter);
      }
    });
  });
}

void CpuKernels::convert(uintptr_t out, DType outType, uintptr_t in, DType inType, size_t n) {
  withElementType(outType, [&](auto outElement) {
    withElementType(inType, [&](auto inElement) {
      using Out = decltype(outElement);
      using In = decltype(inElement);
      ThreadPool::shared().parallelRanges(n, kGrain, [&](size_t begin, size_t end) {
        convertRange(at<Out>(out), at<const In>(in), begin, end);
      });
    });
  });
}

}  // namespace ts::cpu
