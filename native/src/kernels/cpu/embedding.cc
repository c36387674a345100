#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/kernels.h"

namespace ts::cpu {

void CpuKernels::embedding(const EmbeddingArgs& a) {
  const auto* tokenIds = reinterpret_cast<const int32_t*>(a.ids);
  size_t rowBytes = static_cast<size_t>(a.dim) * dtypeSize(a.dtype);
  for (int t = 0; t < a.tokens; ++t) {
    if (tokenIds[t] < 0) {
      throw std::invalid_argument("embedding: ids[" + std::to_string(t) + "] is negative (" +
                                  std::to_string(tokenIds[t]) + ")");
    }
    auto* out = reinterpret_cast<void*>(a.out + t * rowBytes);
    int64_t row = static_cast<int64_t>(tokenIds[t]) - a.vocabStart;
    if (a.vocabRows > 0 && (row < 0 || row >= a.vocabRows)) {
      std::memset(out, 0, rowBytes);
      continue;
    }
    std::memcpy(out, reinterpret_cast<const void*>(a.table + static_cast<size_t>(row) * rowBytes), rowBytes);
  }
}

}  // namespace ts::cpu
