// Log-probabilities under softmax(logits[r, :] / t) with t = temperature[r] where it is above 0,
// else 1, one block per row: rowSoftmax takes the block's maximum, then the block's sum of
// exp((x - max) / t), both in float32, and a token's logprob is (x - max) / t - log(sum). Both
// operations take the row's statistics from it with the same block size, so a token's logprob is
// the same bits in either. The row is read 16 bytes at a time from its first 16-byte boundary,
// with the elements before that boundary and after the last whole vector read one by one, so
// rows of any vocab (odd ones too) take the vector path.
//
// tokenLogprobs: thread 0 writes the id's logprob (the row is read twice, the second time mostly
// from L2). A bad id is a content error: the lowest bad row of the launch reports it (the row the
// CPU names), and every bad row's out is NaN.
//
// topLogprobs: k more passes over the row (from L2), pass j the block-wide greatest rankKey
// (kernels/sampling.h: logit descending, ties to the lower id) below pass j - 1's, so no list of
// the picks is kept; thread 0 writes each pick's id and logprob.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/content_error.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/sampling.h"

namespace ts::cuda {
namespace {

constexpr int kMaxThreads = 1024;

// The block size for a row of vocab elements: a thread per vector, up to kMaxThreads. Both
// operations use it, so their sums are taken in the same order.
template <typename T>
int threadsFor(int vocab) {
  int vectors = vocab / kVector<T> + 1;
  return std::min(kMaxThreads, (vectors + 31) / 32 * 32);
}

// Calls f(i, x[i]) (as float32) for every element of x[0, n) this thread reads (the block's
// threads read each once).
template <typename T, typename F>
__device__ __forceinline__ void forEachElement(const T* x, int n, F&& f) {
  constexpr int V = kVector<T>;
  uintptr_t address = reinterpret_cast<uintptr_t>(x);
  int head = address % sizeof(T) != 0 ? n : static_cast<int>((16 - address % 16) % 16 / sizeof(T));
  head = min(head, n);
  int vectors = (n - head) / V;
  for (int i = threadIdx.x; i < head; i += blockDim.x) f(i, toFloat(x[i]));
  const T* body = x + head;
  for (int c = threadIdx.x; c < vectors; c += blockDim.x) {
    float values[V];
    loadVector(body + c * V, values);
#pragma unroll
    for (int j = 0; j < V; ++j) f(head + c * V + j, values[j]);
  }
  for (int i = head + vectors * V + threadIdx.x; i < n; i += blockDim.x) f(i, toFloat(x[i]));
}

// A row's softmax statistics, the same in every thread: logprob(x) = (x - max) / t - log(sum).
struct RowSoftmax {
  float max;
  float inverseTemperature;
  float logSum;

  __device__ __forceinline__ float logprob(float value) const { return (value - max) * inverseTemperature - logSum; }
};

template <typename T>
__device__ __forceinline__ RowSoftmax rowSoftmax(const T* x, int vocab, float t, float* scratch32) {
  float maxLogit = -INFINITY;
  forEachElement(x, vocab, [&](int, float value) { maxLogit = fmaxf(maxLogit, value); });
  maxLogit = blockMax(maxLogit, scratch32);
  float inverseTemperature = t > 0.0f ? 1.0f / t : 1.0f;
  float sum = 0.0f;
  forEachElement(x, vocab, [&](int, float value) { sum += expf((value - maxLogit) * inverseTemperature); });
  sum = blockSum(sum, scratch32);
  return {maxLogit, inverseTemperature, logf(sum)};
}

// The greatest key over the block (blockDim.x a multiple of 32, at most 1024), returned to every thread.
__device__ unsigned long long blockMaxKey(unsigned long long key, unsigned long long* scratch32) {
  auto warpMaxKey = [](unsigned long long value) {
    for (int offset = 16; offset > 0; offset /= 2) {
      unsigned long long other = __shfl_xor_sync(0xffffffffu, value, offset);
      value = other > value ? other : value;
    }
    return value;
  };
  key = warpMaxKey(key);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();  // scratch32 may still be read by a previous call
  if (lane == 0) scratch32[warp] = key;
  __syncthreads();
  key = lane < warps ? scratch32[lane] : 0ull;
  return warpMaxKey(key);
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
  RowSoftmax softmax = rowSoftmax(x, vocab, temperature[row], scratch);
  if (threadIdx.x == 0) out[row] = softmax.logprob(toFloat(x[id]));
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    rowTopLogprobs(int32_t* outIds, float* outLogprobs, const T* logits, const float* temperature, int vocab, int k) {
  __shared__ float scratch[32];
  __shared__ unsigned long long keys[32];
  int row = blockIdx.x;
  const T* x = logits + static_cast<size_t>(row) * vocab;
  RowSoftmax softmax = rowSoftmax(x, vocab, temperature[row], scratch);
  unsigned long long previous = ~0ull;  // above every key
  for (int j = 0; j < k; ++j) {
    unsigned long long best = 0;  // below every key
    forEachElement(x, vocab, [&](int i, float value) {
      unsigned long long key = rankKey(value, i);
      if (key < previous && key > best) best = key;
    });
    best = blockMaxKey(best, keys);
    if (threadIdx.x == 0) {
      int id = rankKeyId(best);
      size_t at = static_cast<size_t>(row) * k + j;
      outIds[at] = id;
      outLogprobs[at] = softmax.logprob(toFloat(x[id]));
    }
    previous = best;
  }
}

}  // namespace

void CudaKernels::tokenLogprobs(const TokenLogprobsArgs& a) {
  cudaStream_t stream = enter();
  withElementType(a.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    rowLogprobs<T><<<a.rows, threadsFor<T>(a.vocab), 0, stream>>>(at<float>(a.out), at<const T>(a.logits),
                                                                  at<const int32_t>(a.ids),
                                                                  at<const float>(a.temperature), a.vocab, error_);
  });
  checkLaunch("tokenLogprobs");
}

void CudaKernels::topLogprobs(const TopLogprobsArgs& a) {
  cudaStream_t stream = enter();
  withElementType(a.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    rowTopLogprobs<T><<<a.rows, threadsFor<T>(a.vocab), 0, stream>>>(
        at<int32_t>(a.outIds), at<float>(a.outLogprobs), at<const T>(a.logits), at<const float>(a.temperature), a.vocab,
        a.k);
  });
  checkLaunch("topLogprobs");
}

}  // namespace ts::cuda
