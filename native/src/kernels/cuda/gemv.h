// out = a · wᵀ (+ bias) for a few rows of a (small decode batches): a block per 8 output columns
// streams their weight rows once for every row of a. cuBLAS's kernels for such shapes read the
// smaller weights at well under the memory's bandwidth (ncu, H200, m = 1: 1.3-2.2 TB/s).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/kernels.h"

namespace ts::cuda {

// The most rows of a the warp-per-column kernel takes.
constexpr int kGemvMaxRows = 4;

// Launches it and returns true when the shape suits it (m <= kGemvMaxRows, rows of 16-byte
// vectors); else returns false and launches nothing.
bool launchGemv(cudaStream_t stream, uintptr_t out, uintptr_t a, uintptr_t w, uintptr_t bias, int m, int n, int k,
                DType dtype);

}  // namespace ts::cuda
