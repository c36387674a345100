// out[r] = log softmax(logits[r, :] / t)[ids[r]] with t = temperature[r] where it is above 0, else
// 1, one block per row: the block's maximum, then the block's sum of exp((x - max) / t), both in
// float32; thread 0 writes (x[id] - max) / t - log(sum). The row is read twice (the second time
// mostly from L2), 16 bytes at a time from its first 16-byte boundary, with the elements before
// that boundary and after the last whole vector read one by one, so rows of any vocab (odd ones
// too) take the vector path. A bad id is a content error: the lowest bad row of the launch reports
// it (the row the CPU names), and every bad row's out is NaN.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/content_error.h"
#include "kernels/cuda/cuda_kernels.h"

namespace ts::cuda {
namespace {

constexpr int kMaxThreads = 1024;

// Calls f(value) for every element of x[0, n) this thread reads (the block's threads read each once).
template <typename T, typename F>
__device__ __forceinline__ void forEachValue(const T* x, int n, F&& f) {
  constexpr int V = kVector<T>;
  uintptr_t address = reinterpret_cast<uintptr_t>(x);
  int head = address % sizeof(T) != 0 ? n : static_cast<int>((16 - address % 16) % 16 / sizeof(T));
  head = min(head, n);
  int vectors = (n - head) / V;
  for (int i = threadIdx.x; i < head; i += blockDim.x) f(toFloat(x[i]));
  const T* body = x + head;
  for (int c = threadIdx.x; c < vectors; c += blockDim.x) {
    float values[V];
    loadVector(body + c * V, values);
#pragma unroll
    for (int j = 0; j < V; ++j) f(values[j]);
  }
  for (int i = head + vectors * V + threadIdx.x; i < n; i += blockDim.x) f(toFloat(x[i]));
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    rowLogprobs(float* out, const T* logits, const int32_t* ids, const float* temperature, int vocab,
                ContentError* error) {
  __shared__ float scratch[32];
  int row = blockIdx.x;
  int id = ids[row];
  if (id < 0 || id >= vocab) {  // the same for the whole block
    int lowerBad = 0;
    for (int r = threadIdx.x; r < row; r += blockDim.x) lowerBad |= ids[r] < 0 || ids[r] >= vocab;
    if (!__syncthreads_or(lowerBad) && threadIdx.x == 0) {
      reportContentError(error, kLogprobIdOutOfRange, row, id, vocab);
    }
    if (threadIdx.x == 0) out[row] = __int_as_float(0x7fc00000);  // NaN
    return;
  }
  const T* x = logits + static_cast<size_t>(row) * vocab;
  float maxLogit = -INFINITY;
  forEachValue(x, vocab, [&](float value) { maxLogit = fmaxf(maxLogit, value); });
  maxLogit = blockMax(maxLogit, scratch);
  float t = temperature[row];
  float inverseTemperature = t > 0.0f ? 1.0f / t : 1.0f;
  float sum = 0.0f;
  forEachValue(x, vocab, [&](float value) { sum += expf((value - maxLogit) * inverseTemperature); });
  sum = blockSum(sum, scratch);
  if (threadIdx.x == 0) out[row] = (toFloat(x[id]) - maxLogit) * inverseTemperature - logf(sum);
}

}  // namespace

void CudaKernels::tokenLogprobs(uintptr_t out, uintptr_t logits, uintptr_t ids, uintptr_t temperature, int rows,
                                int vocab, DType dtype) {
  cudaStream_t stream = enter();
  withElementType(dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    int vectors = vocab / kVector<T> + 1;  // a thread per vector, up to kMaxThreads
    int threads = std::min(kMaxThreads, (vectors + 31) / 32 * 32);
    rowLogprobs<T><<<rows, threads, 0, stream>>>(at<float>(out), at<const T>(logits), at<const int32_t>(ids),
                                                 at<const float>(temperature), vocab, error_);
  });
  checkLaunch("tokenLogprobs");
}

}  // namespace ts::cuda
