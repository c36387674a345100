#pragma once

#include <napi.h>

namespace ts {

// rawCopyBench(deviceIndex, bytes, repeats) → { pinMs, d2hMs: number[], h2dMs: number[] }
Napi::Value rawCopyBench(const Napi::CallbackInfo& info);

}  // namespace ts
