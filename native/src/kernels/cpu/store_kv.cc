#include <cstring>

#include "kernels/cpu/cpu_kernels.h"

namespace ts::cpu {

// A negative slot skips its token (padding rows).
void CpuKernels::storeKv(const StoreKvArgs& a) {
  const auto* slot = reinterpret_cast<const int32_t*>(a.slots);
  size_t element = dtypeSize(a.dtype);
  size_t rowBytes = static_cast<size_t>(a.kvHeads) * a.headDim * element;
  for (int t = 0; t < a.tokens; ++t) {
    if (slot[t] < 0) continue;
    size_t cacheOffset = static_cast<size_t>(slot[t]) * rowBytes;
    std::memcpy(reinterpret_cast<void*>(a.kCache + cacheOffset),
                reinterpret_cast<const void*>(a.k + static_cast<size_t>(t) * a.kStride * element), rowBytes);
    std::memcpy(reinterpret_cast<void*>(a.vCache + cacheOffset),
                reinterpret_cast<const void*>(a.v + static_cast<size_t>(t) * a.vStride * element), rowBytes);
  }
}

}  // namespace ts::cpu
