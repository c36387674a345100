#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/kernels.h"

namespace ts::cpu {

void CpuKernels::embedding(uintptr_t out, uintptr_t table, uintptr_t ids, int tokens, int dim, DType dtype) {
  const auto* tokenIds = reinterpret_cast<const int32_t*>(ids);
  size_t rowBytes = static_cast<size_t>(dim) * dtypeSize(dtype);
  for (int t = 0; t < tokens; ++t) {
    if (tokenIds[t] < 0) {
      throw std::invalid_argument("embedding: ids[" + std::to_string(t) + "] is negative (" +
                                  std::to_string(tokenIds[t]) + ")");
    }
    std::memcpy(reinterpret_cast<void*>(out + t * rowBytes),
                reinterpret_cast<const void*>(table + static_cast<size_t>(tokenIds[t]) * rowBytes), rowBytes);
  }
}

}  // namespace ts::cpu
