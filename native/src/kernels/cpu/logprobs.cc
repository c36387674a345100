// out[r] = log softmax(logits[r, :] / t)[ids[r]] with t = temperature[r] where it is above 0, else
// 1: the maximum first, then the sum of exp((x - max) / t) (float32, in chunks so a long row
// loses little to rounding), out = (x[id] - max) / t - log(sum). Every id is checked before any
// row is computed, so a bad one throws naming the lowest row, as CUDA's message does.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/element_types.h"
#include "kernels/cpu/thread_pool.h"

namespace ts::cpu {
namespace {

constexpr int kChunk = 256;

template <typename T>
float rowLogprob(const T* logits, int vocab, int id, float temperature, std::vector<float>& values) {
  loadRow(values.data(), logits, vocab);
  float max = -INFINITY;
  for (int i = 0; i < vocab; ++i) max = std::fmax(max, values[i]);
  float inverseTemperature = temperature > 0.0f ? 1.0f / temperature : 1.0f;
  float total = 0.0f;
  for (int begin = 0; begin < vocab; begin += kChunk) {
    int end = begin + kChunk < vocab ? begin + kChunk : vocab;
    float chunk = 0.0f;
    for (int i = begin; i < end; ++i) chunk += std::exp((values[i] - max) * inverseTemperature);
    total += chunk;
  }
  return (values[id] - max) * inverseTemperature - std::log(total);
}

}  // namespace

void CpuKernels::tokenLogprobs(uintptr_t out, uintptr_t logits, uintptr_t ids, uintptr_t temperature, int rows,
                               int vocab, DType dtype) {
  const auto* tokenIds = at<const int32_t>(ids);
  for (int r = 0; r < rows; ++r) {
    if (tokenIds[r] < 0 || tokenIds[r] >= vocab) {
      throw std::invalid_argument("tokenLogprobs: id " + std::to_string(tokenIds[r]) + " of row " + std::to_string(r) +
                                  " is outside the vocabulary of " + std::to_string(vocab));
    }
  }
  withElementType(dtype, [&](auto element) {
    using T = decltype(element);
    size_t grain = std::max<size_t>(1, 16384 / vocab);
    ThreadPool::shared().parallelRanges(rows, grain, [&](size_t begin, size_t end) {
      std::vector<float> values(vocab);
      for (size_t r = begin; r < end; ++r) {
        at<float>(out)[r] = rowLogprob(at<const T>(logits) + r * vocab, vocab, tokenIds[r],
                                       at<const float>(temperature)[r], values);
      }
    });
  });
}

}  // namespace ts::cpu
