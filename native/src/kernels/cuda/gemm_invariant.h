// out = a · wᵀ (+ bias) computed the same way for every row whatever the row count: each output
// sums its k products in one fixed order (ascending 16-wide MMA steps for bfloat16 / float16,
// ascending k on CUDA cores for float32), with no split of k and no choice made from m. So a
// row's bits do not depend on the batch it rides in (issue 17, spec rule 14). cuBLAS and
// gemv.cu pick kernels and split-k from the shape, which makes them faster and not that.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/kernels.h"

namespace ts::cuda {

void launchInvariantGemm(cudaStream_t stream, const GemmArgs& args);

}  // namespace ts::cuda
