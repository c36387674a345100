// A failed CUDA runtime call as an exception. The call's error also stays as the thread's last
// error, which the next kernel-launch check would report as its own: it is cleared here.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace ts {

inline void checkRuntime(cudaError_t status, const std::string& call) {
  if (status != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(call + " failed: " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
  }
}

}  // namespace ts
