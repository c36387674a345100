#include <cstring>

#include "kernels/cpu/cpu_kernels.h"

namespace ts::cpu {

// A negative slot skips its token (padding rows).
void CpuKernels::storeKv(uintptr_t kCache, uintptr_t vCache, uintptr_t k, uintptr_t v, uintptr_t slots, int tokens,
                         int kvHeads, int headDim, int kStride, int vStride, DType dtype) {
  const auto* slot = reinterpret_cast<const int32_t*>(slots);
  size_t element = dtypeSize(dtype);
  size_t rowBytes = static_cast<size_t>(kvHeads) * headDim * element;
  for (int t = 0; t < tokens; ++t) {
    if (slot[t] < 0) continue;
    size_t cacheOffset = static_cast<size_t>(slot[t]) * rowBytes;
    std::memcpy(reinterpret_cast<void*>(kCache + cacheOffset),
                reinterpret_cast<const void*>(k + static_cast<size_t>(t) * kStride * element), rowBytes);
    std::memcpy(reinterpret_cast<void*>(vCache + cacheOffset),
                reinterpret_cast<const void*>(v + static_cast<size_t>(t) * vStride * element), rowBytes);
  }
}

}  // namespace ts::cpu
