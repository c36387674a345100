#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/element_types.h"
#include "kernels/cpu/thread_pool.h"

namespace ts::cpu {
namespace {

template <typename T>
void rotateHeads(T* row, int heads, int headDim, int rotaryDim, const float* cosines, const float* sines,
                 RotaryLayout layout) {
  int half = rotaryDim / 2;
  bool adjacent = layout == RotaryLayout::Adjacent;
  for (int h = 0; h < heads; ++h) {
    T* x = row + static_cast<size_t>(h) * headDim;
    for (int i = 0; i < half; ++i) {
      int first = adjacent ? 2 * i : i;
      int second = adjacent ? 2 * i + 1 : i + half;
      float x1 = toFloat(x[first]);
      float x2 = toFloat(x[second]);
      x[first] = fromFloat<T>(x1 * cosines[i] - x2 * sines[i]);
      x[second] = fromFloat<T>(x2 * cosines[i] + x1 * sines[i]);
    }
  }
}

}  // namespace

void CpuKernels::rotary(const RotaryArgs& a) {
  const auto* position = reinterpret_cast<const int32_t*>(a.positions);
  const auto* frequency = reinterpret_cast<const float*>(a.invFreq);
  int half = a.rotaryDim / 2;
  withElementType(a.dtype, [&](auto element) {
    using T = decltype(element);
    ThreadPool::shared().parallelRanges(a.tokens, 16, [&](size_t begin, size_t end) {
      std::vector<float> cosines(half), sines(half);
      for (size_t t = begin; t < end; ++t) {
        for (int i = 0; i < half; ++i) {
          float angle = static_cast<float>(position[t]) * frequency[i];
          cosines[i] = std::cos(angle);
          sines[i] = std::sin(angle);
        }
        rotateHeads(at<T>(a.q) + t * a.qStride, a.qHeads, a.headDim, a.rotaryDim, cosines.data(), sines.data(),
                    a.layout);
        rotateHeads(at<T>(a.k) + t * a.kStride, a.kvHeads, a.headDim, a.rotaryDim, cosines.data(), sines.data(),
                    a.layout);
      }
    });
  });
}

}  // namespace ts::cpu
