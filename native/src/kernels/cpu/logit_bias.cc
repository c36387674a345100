// logits[rows[i], ids[i]] += values[i], one pair at a time in pair order, each add taken in
// float32 and stored in the dtype (fromFloat(toFloat(x) + value)), so a pair named twice adds
// twice, rounding after each add, as CUDA's kernel does. Every pair is checked before any is
// applied: a bad one throws naming the lowest bad pair (CUDA's message) and leaves the logits
// as they were. A few hundred pairs at most: no threads.
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/element_types.h"

namespace ts::cpu {

void CpuKernels::addLogitBias(const AddLogitBiasArgs& a) {
  if (a.count == 0) return;
  const auto* pairRows = at<const int32_t>(a.rows);
  const auto* pairIds = at<const int32_t>(a.ids);
  const auto* bias = at<const float>(a.values);
  for (int i = 0; i < a.count; ++i) {
    if (pairRows[i] < 0 || pairRows[i] >= a.numRows || pairIds[i] < 0 || pairIds[i] >= a.vocab) {
      throw std::invalid_argument("addLogitBias: pair " + std::to_string(i) + " (row " + std::to_string(pairRows[i]) +
                                  ", id " + std::to_string(pairIds[i]) + ") is outside the logits of " +
                                  std::to_string(a.numRows) + " rows x " + std::to_string(a.vocab) + " ids");
    }
  }
  withElementType(a.dtype, [&](auto element) {
    using T = decltype(element);
    T* x = at<T>(a.logits);
    for (int i = 0; i < a.count; ++i) {
      T& target = x[static_cast<size_t>(pairRows[i]) * a.vocab + pairIds[i]];
      target = fromFloat<T>(toFloat(target) + bias[i]);
    }
  });
}

}  // namespace ts::cpu
