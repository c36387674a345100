// Launchers for the saver's own CUDA kernels (compiled by nvcc, called from host code).
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

namespace ts::cuda {

// Adds the checksum of [address, address + bytes) into *result (device memory, zeroed first).
cudaError_t launchChecksum(uintptr_t address, size_t bytes, unsigned long long* result, cudaStream_t stream);

// Counts the values of `elementBytes` (2 or 4) at `address` whose bits under `exponentMask`
// are all ones (NaN, ±Inf): adds to *count and lowers *first to the first one's index (both
// device memory, set by the caller to 0 and to all ones first).
cudaError_t launchCountNonFinite(uintptr_t address, size_t elements, int elementBytes, uint32_t exponentMask,
                                 unsigned long long* count, unsigned long long* first, cudaStream_t stream);

}  // namespace ts::cuda
