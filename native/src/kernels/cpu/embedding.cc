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
    std::memcpy(reinterpret_cast<void*>(a.out + t * rowBytes),
                reinterpret_cast<const void*>(a.table + static_cast<size_t>(tokenIds[t]) * rowBytes), rowBytes);
  }
}

}  // namespace ts::cpu
