#pragma once

#include <napi.h>

namespace ts {

// countNonFinite(bytes: ArrayBufferView, dtype: 0 float32 | 1 bfloat16 | 2 float16)
//   → Promise<{ count, first }>: the NaN/±Inf values, scanned off the event loop; first is the
//   element index of the first one, -1 when there is none.
Napi::Value countNonFinite(const Napi::CallbackInfo& info);

}  // namespace ts
