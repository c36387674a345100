// One token per row: argmax for greedy rows; otherwise the kept set (top-k ∩ top-p, ranked by
// logit with ties to the lower id) and an inverse-CDF draw over it in token-id order, with the
// rules of kernels/sampling.h.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/element_types.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/sampling.h"

namespace ts::cpu {
namespace {

struct RowParams {
  float temperature;
  int topK;
  float topP;
  uint64_t key;
};

int argmax(const std::vector<float>& values) {
  int best = 0;
  for (int i = 1; i < static_cast<int>(values.size()); ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

// Tokens not in the result are outside the nucleus: the smallest prefix (by probability) whose
// mass reaches topP excludes everything below it, so only tokens above a threshold need sorting.
std::vector<int> nucleusCandidates(const std::vector<float>& weights, float total, float topP) {
  std::vector<int> candidates;
  for (float threshold : {1e-3f, 1e-6f, 0.0f}) {
    candidates.clear();
    float mass = 0.0f;
    for (int i = 0; i < static_cast<int>(weights.size()); ++i) {
      if (weights[i] >= threshold) {
        candidates.push_back(i);
        mass += weights[i];
      }
    }
    if (mass >= topP * total) break;
  }
  return candidates;
}

// The kept token ids in ascending order.
std::vector<int> keptTokens(const std::vector<float>& values, const std::vector<float>& weights, float total,
                            const RowParams& p) {
  int vocab = static_cast<int>(values.size());
  std::vector<int> ranked;
  if (p.topP < 1.0f) {
    ranked = nucleusCandidates(weights, total, p.topP);
  } else {
    ranked.resize(vocab);
    for (int i = 0; i < vocab; ++i) ranked[i] = i;
  }
  auto before = [&](int x, int y) { return values[x] > values[y] || (values[x] == values[y] && x < y); };
  size_t sorted = p.topK > 0 ? std::min<size_t>(p.topK, ranked.size()) : ranked.size();
  std::partial_sort(ranked.begin(), ranked.begin() + sorted, ranked.end(), before);
  std::vector<int> kept;
  float massBefore = 0.0f;
  for (size_t rank = 0; rank < sorted; ++rank) {
    if (!keepsToken(static_cast<int>(rank), massBefore, total, p.topK, p.topP)) break;
    kept.push_back(ranked[rank]);
    massBefore += weights[ranked[rank]];
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

int draw(const std::vector<float>& weights, const std::vector<int>& kept, uint64_t key) {
  float mass = 0.0f;
  for (int id : kept) mass += weights[id];
  float target = uniformFromKey(key) * mass;
  float running = 0.0f;
  for (int id : kept) {
    running += weights[id];
    if (running > target) return id;
  }
  return kept.back();
}

template <typename T>
int sampleRow(const T* logits, int vocab, const RowParams& p) {
  std::vector<float> values(vocab);
  loadRow(values.data(), logits, vocab);
  int best = argmax(values);
  if (!(p.temperature > 0.0f) || p.topK == 1) return best;
  std::vector<float> weights(vocab);  // softmax numerators: exp((logit - max) / temperature)
  float inverseTemperature = 1.0f / p.temperature;
  float total = 0.0f;
  for (int i = 0; i < vocab; ++i) {
    weights[i] = std::exp((values[i] - values[best]) * inverseTemperature);
    total += weights[i];
  }
  bool keepsAll = (p.topK <= 0 || p.topK >= vocab) && p.topP >= 1.0f;
  std::vector<int> kept;
  if (keepsAll) {
    kept.resize(vocab);
    for (int i = 0; i < vocab; ++i) kept[i] = i;
  } else {
    kept = keptTokens(values, weights, total, p);
  }
  return draw(weights, kept, p.key);
}

}  // namespace

void CpuKernels::sample(const SampleArgs& a) {
  withElementType(a.dtype, [&](auto element) {
    using T = decltype(element);
    ThreadPool::shared().parallelFor(a.rows, [&](size_t r) {
      RowParams params{at<const float>(a.temperature)[r], at<const int32_t>(a.topK)[r], at<const float>(a.topP)[r],
                       at<const uint64_t>(a.randomKeys)[r]};
      at<int32_t>(a.out)[r] = sampleRow(at<const T>(a.logits) + r * a.vocab, a.vocab, params);
    });
  });
}

}  // namespace ts::cpu
