// Launchers for the saver's own CUDA kernels (compiled by nvcc, called from host code).
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

namespace ts::cuda {

// Adds the checksum of [address, address + bytes) into *result (device memory, zeroed first).
cudaError_t launchChecksum(uintptr_t address, size_t bytes, unsigned long long* result, cudaStream_t stream);

}  // namespace ts::cuda
