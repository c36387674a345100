// logits[rows[i], ids[i]] += values[i] for i < count, each add taken in float32 and stored in the
// dtype, in one block: the whole launch must see every pair checked before any is applied (a bad
// pair modifies nothing, as on the CPU), and one block's __syncthreads gives that without a
// second launch or a grid-wide flag.
//
// One thread per pair (a block-stride loop past 1024). A pair named more than once must add
// every value, in pair order, rounding to the dtype after each add (what the CPU does), so the
// thread of a pair's first occurrence owns that element: it applies its own value and those of
// the later pairs naming the same element, in order, and the threads of the later occurrences
// do nothing. Finding them compares each pair with every other: quadratic, but count is small
// (a few hundred bias entries of a batch), and it needs no sort and no atomics on the logits,
// and gives the CPU's bits.
//
// A bad pair is a content error: the lowest bad pair of the launch is reported (the one the CPU
// names), and nothing is written.
#include <climits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/content_error.h"
#include "kernels/cuda/cuda_kernels.h"

namespace ts::cuda {
namespace {

constexpr int kMaxThreads = 1024;

__device__ __forceinline__ unsigned long long pairKey(int row, int id) {
  return (static_cast<unsigned long long>(static_cast<uint32_t>(row)) << 32) | static_cast<uint32_t>(id);
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    addPairs(T* logits, const int32_t* rows, const int32_t* ids, const float* values, int count, int numRows,
             int vocab, ContentError* error) {
  __shared__ int firstBad;
  if (threadIdx.x == 0) firstBad = INT_MAX;
  __syncthreads();
  for (int i = threadIdx.x; i < count; i += blockDim.x) {
    int row = rows[i], id = ids[i];
    if (row < 0 || row >= numRows || id < 0 || id >= vocab) {
      atomicMin(&firstBad, i);
      break;  // this thread's later pairs are higher
    }
  }
  __syncthreads();
  if (firstBad != INT_MAX) {
    if (threadIdx.x == 0) {
      reportContentError(error, kLogitBiasOutOfRange, firstBad, rows[firstBad], ids[firstBad], numRows, vocab);
    }
    return;
  }
  for (int i = threadIdx.x; i < count; i += blockDim.x) {
    unsigned long long key = pairKey(rows[i], ids[i]);
    bool repeat = false;
    for (int j = 0; j < i && !repeat; ++j) repeat = pairKey(rows[j], ids[j]) == key;
    if (repeat) continue;  // the first occurrence's thread applies it
    T* element = logits + static_cast<size_t>(rows[i]) * vocab + ids[i];
    T x = fromFloat<T>(toFloat(*element) + values[i]);
    for (int j = i + 1; j < count; ++j) {
      if (pairKey(rows[j], ids[j]) == key) x = fromFloat<T>(toFloat(x) + values[j]);
    }
    *element = x;
  }
}

}  // namespace

void CudaKernels::addLogitBias(const AddLogitBiasArgs& a) {
  if (a.count == 0) return;
  cudaStream_t stream = enter();
  int threads = a.count >= kMaxThreads ? kMaxThreads : (a.count + 31) / 32 * 32;
  withElementType(a.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    addPairs<T><<<1, threads, 0, stream>>>(at<T>(a.logits), at<const int32_t>(a.rows), at<const int32_t>(a.ids),
                                           at<const float>(a.values), a.count, a.numRows, a.vocab, error_);
  });
  checkLaunch("addLogitBias");
}

}  // namespace ts::cuda
