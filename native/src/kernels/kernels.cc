#include "kernels/kernels.h"

#include <stdexcept>
#include <string>

namespace ts {

size_t dtypeSize(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return 4;
    case DType::BF16:
    case DType::F16:
      return 2;
  }
  throw std::invalid_argument("dtype must be 0 (float32), 1 (bfloat16) or 2 (float16), got " +
                              std::to_string(static_cast<int>(dtype)));
}

void Kernels::beginCapture() {
  throw std::logic_error("beginCapture: this backend has no graphs (check canCapture first)");
}

}  // namespace ts
