// The Node-API face of the CPU communicator: `new NativeCommunicator(saver, groupId, worldSize,
// rank, timeoutMs)`, with synchronous collectives on device addresses of that saver.
#pragma once

#include <napi.h>

namespace ts {

Napi::Function defineNativeCommunicator(Napi::Env env);

}  // namespace ts
