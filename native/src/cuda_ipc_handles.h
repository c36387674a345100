// CUDA lets a process map another process's allocation once per context: a second
// cudaIpcOpenMemHandle of the same handle answers cudaErrorAlreadyMapped. Data-parallel ranks
// are threads of one process sharing each device's primary context, and one update may name
// one allocation twice, so opens are counted per device and handle and the last close unmaps.
#pragma once

#if defined(TS_WITH_CUDA)

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ts {

uintptr_t openIpcHandle(int device, const cudaIpcMemHandle_t& handle);
void closeIpcHandle(int device, uintptr_t base);
// cudaIpcOpenEventHandle of one handle from two threads at once is not promised to work.
cudaEvent_t openIpcEvent(const cudaIpcEventHandle_t& handle);

}  // namespace ts

#endif
