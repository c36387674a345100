#pragma once

#include "kernels/kernels.h"
#include "kernels/kv_layout.h"

namespace ts::cuda {

// Whether the KV store can move 16-byte vectors: caches, heads and strides all 16-byte aligned.
inline bool storeVectorsFit(const StoreKvArgs& a) {
  size_t element = dtypeSize(a.dtype);
  size_t headBytes = static_cast<size_t>(a.headDim) * element;
  return (a.kCache | a.vCache | a.k | a.v | headBytes | a.kStride * element | a.vStride * element) % 16 == 0;
}

}  // namespace ts::cuda
