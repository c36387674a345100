// Log-probabilities under softmax(logits[r, :] / t) with t = temperature[r] where it is above 0,
// else 1: the maximum first, then the sum of exp((x - max) / t) (float32, in chunks so a long row
// loses little to rounding), a token's logprob = (x - max) / t - log(sum). Both operations take
// the row's statistics from rowSoftmax, so a token's logprob is the same bits in either.
//
// tokenLogprobs: every id is checked before any row is computed, so a bad one throws naming the
// lowest row, as CUDA's message does. topLogprobs: the k best tokens of each row by rankKey
// (kernels/sampling.h: logit descending, ties to the lower id), kept in a k-sized heap.
#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/element_types.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/sampling.h"

namespace ts::cpu {
namespace {

constexpr int kChunk = 256;

// A row's softmax statistics: logprob(x) = (x - max) * inverseTemperature - logSum.
struct RowSoftmax {
  float max;
  float inverseTemperature;
  float logSum;

  float logprob(float value) const { return (value - max) * inverseTemperature - logSum; }
};

// values: the row as float32 (loadRow).
RowSoftmax rowSoftmax(const float* values, int vocab, float temperature) {
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
  return {max, inverseTemperature, std::log(total)};
}

// Rows [0, rows) split over the thread pool; body(r, values) with values a float32 scratch row.
template <typename Body>
void forEachRow(int rows, int vocab, Body&& body) {
  size_t grain = std::max<size_t>(1, 16384 / vocab);
  ThreadPool::shared().parallelRanges(rows, grain, [&](size_t begin, size_t end) {
    std::vector<float> values(vocab);
    for (size_t r = begin; r < end; ++r) body(r, values);
  });
}

}  // namespace

void CpuKernels::tokenLogprobs(const TokenLogprobsArgs& a) {
  const auto* tokenIds = at<const int32_t>(a.ids);
  for (int r = 0; r < a.rows; ++r) {
    if (tokenIds[r] < 0 || tokenIds[r] >= a.vocab) {
      throw std::invalid_argument("tokenLogprobs: id " + std::to_string(tokenIds[r]) + " of row " + std::to_string(r) +
                                  " is outside the vocabulary of " + std::to_string(a.vocab));
    }
  }
  withElementType(a.dtype, [&](auto element) {
    using T = decltype(element);
    forEachRow(a.rows, a.vocab, [&](size_t r, std::vector<float>& values) {
      loadRow(values.data(), at<const T>(a.logits) + r * a.vocab, a.vocab);
      RowSoftmax softmax = rowSoftmax(values.data(), a.vocab, at<const float>(a.temperature)[r]);
      at<float>(a.out)[r] = softmax.logprob(values[tokenIds[r]]);
    });
  });
}

void CpuKernels::topLogprobs(const TopLogprobsArgs& a) {
  withElementType(a.dtype, [&](auto element) {
    using T = decltype(element);
    forEachRow(a.rows, a.vocab, [&](size_t r, std::vector<float>& values) {
      loadRow(values.data(), at<const T>(a.logits) + r * a.vocab, a.vocab);
      RowSoftmax softmax = rowSoftmax(values.data(), a.vocab, at<const float>(a.temperature)[r]);
      // A min-heap of the best k keys so far: its front is the worst of them.
      uint64_t best[64];
      for (int i = 0; i < a.k; ++i) best[i] = rankKey(values[i], i);
      std::make_heap(best, best + a.k, std::greater<>());
      for (int i = a.k; i < a.vocab; ++i) {
        uint64_t key = rankKey(values[i], i);
        if (key > best[0]) {
          std::pop_heap(best, best + a.k, std::greater<>());
          best[a.k - 1] = key;
          std::push_heap(best, best + a.k, std::greater<>());
        }
      }
      std::sort_heap(best, best + a.k, std::greater<>());  // best first
      for (int j = 0; j < a.k; ++j) {
        int id = rankKeyId(best[j]);
        at<int32_t>(a.outIds)[r * a.k + j] = id;
        at<float>(a.outLogprobs)[r * a.k + j] = softmax.logprob(values[id]);
      }
    });
  });
}

}  // namespace ts::cpu
