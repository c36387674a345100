// The Node-API face of the model kernels: `new NativeOps(nativeMemorySaver)`, one synchronous
// method per kernel taking plain numbers (device addresses as safe-integer numbers).
#pragma once

#include <napi.h>

#include <memory>

#include "memory_saver.h"

namespace ts {

Napi::Function defineNativeOps(Napi::Env env);

// The saver behind a NativeMemorySaver object (defined in addon.cc); throws a TypeError for
// anything else.
std::shared_ptr<MemorySaver> memorySaverOf(const Napi::Value& value);

}  // namespace ts
