#pragma once

#include <napi.h>

#include "device.h"

namespace ts {

// countNonFinite(bytes: ArrayBufferView, dtype: 0 float32 | 1 bfloat16 | 2 float16)
//   → Promise<{ count, first }>: the NaN/±Inf values, scanned off the event loop; first is the
//   element index of the first one, -1 when there is none.
Napi::Value countNonFinite(const Napi::CallbackInfo& info);

// A dtype code (0 float32, 1 bfloat16, 2 float16); anything else throws.
DType dtypeOf(const Napi::Value& value);
// { count, first } as countNonFinite answers it.
Napi::Object nonFiniteCountOf(Napi::Env env, const NonFiniteCount& found);

}  // namespace ts
