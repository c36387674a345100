#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/kv_layout.h"

namespace ts::cpu {

// A negative slot skips its token (padding rows); each head goes where kv_layout.h puts it.
void CpuKernels::storeKv(const StoreKvArgs& a) {
  const auto* slot = reinterpret_cast<const int32_t*>(a.slots);
  size_t element = dtypeSize(a.dtype), headBytes = static_cast<size_t>(a.headDim) * element;
  KvLayout layout{a.kvHeads, a.headDim, a.pageSize};
  for (int t = 0; t < a.tokens; ++t) {
    if (slot[t] < 0) continue;
    for (int h = 0; h < a.kvHeads; ++h) {
      size_t to = layout.offset(slot[t], h) * element, from = static_cast<size_t>(h) * headBytes;
      std::memcpy(reinterpret_cast<void*>(a.kCache + to),
                  reinterpret_cast<const void*>(a.k + static_cast<size_t>(t) * a.kStride * element + from), headBytes);
      std::memcpy(reinterpret_cast<void*>(a.vCache + to),
                  reinterpret_cast<const void*>(a.v + static_cast<size_t>(t) * a.vStride * element + from), headBytes);
    }
  }
}

}  // namespace ts::cpu
