// One token per row, one block per row, with the rules of kernels/sampling.h: the argmax (lowest
// id on ties) for greedy rows; otherwise the kept set is the top K* ranks, K* = max(1, min(topK,
// Kp)) with Kp the ranks whose mass before them is below topP * total, and the draw walks the
// kept tokens in ascending id. No sort: Kp and the K*-th key come from radix descents over the
// keys (sample_select.cuh), which run over candidates in shared memory (the tokens within ~2^-16
// of the top weight) when those are few and provably hold every kept token, else over the row.
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/sample_select.cuh"
#include "kernels/sampling.h"

namespace ts::cuda {
namespace {

struct SampleRows {
  int32_t* out;
  const void* logits;
  int vocab;
  const float* temperature;
  const int32_t* topK;
  const float* topP;
  const uint64_t* keys;
};

template <typename T>
__device__ void argmaxRow(const T* x, int n, SampleShared& sh, float& bestValue, int& bestIndex) {
  float value = -INFINITY;
  int index = n;
  for (int i = threadIdx.x; i < n; i += kSampleThreads) {
    float v = toFloat(x[i]);
    if (v > value || (v == value && i < index)) value = v, index = i;
  }
  for (int round = 0; round < 2; ++round) {
    for (int offset = 16; offset > 0; offset /= 2) {
      float otherValue = __shfl_xor_sync(0xffffffffu, value, offset);
      int otherIndex = __shfl_xor_sync(0xffffffffu, index, offset);
      if (otherValue > value || (otherValue == value && otherIndex < index)) value = otherValue, index = otherIndex;
    }
    if (round == 1) break;
    __syncthreads();
    if (threadIdx.x % 32 == 0) sh.warpValue[threadIdx.x / 32] = value, sh.warpIndex[threadIdx.x / 32] = index;
    __syncthreads();
    value = sh.warpValue[threadIdx.x % 32];
    index = sh.warpIndex[threadIdx.x % 32];
  }
  bestValue = value;
  bestIndex = index < n ? index : 0;  // every logit NaN
}

// How many of the boundary's tied tokens (all of weight tieMass / ties) start below target.
__device__ Mass tiesBelow(const Boundary& b, double target) {
  Mass weight = b.tieMass / b.ties;
  if (weight == 0) return b.ties;
  double steps = ceil((target - static_cast<double>(b.massAbove)) / static_cast<double>(weight));
  return steps < 1.0 ? 1 : steps >= static_cast<double>(b.ties) ? b.ties : static_cast<Mass>(steps);
}

// The kept set of a bounded row (see the top) and the draw over it; returns a source index.
template <typename Source>
__device__ int keepAndDraw(const Source& source, long long topK, float topP, double target, float uniform,
                           SampleShared& sh) {
  long long kp = 1LL << 62;
  if (!(topP >= 1.0f)) {
    Boundary nucleus = descend(source, true, target, sh);
    kp = nucleus.found ? static_cast<long long>(nucleus.countAbove + tiesBelow(nucleus, target)) : 0;
  }
  long long kept = max(1LL, min(topK, kp));
  Boundary last = descend(source, false, static_cast<double>(kept), sh);  // the kept-th key: found
  Mass need = min(static_cast<Mass>(kept) - last.countAbove, last.ties);
  int lastTie = 0x7fffffff;
  if (need < last.ties) {
    lastTie = findFirst(
        source,
        [&](int i) {
          uint32_t key;
          Mass mass;
          return source.at(i, key, mass) && key == last.key ? Mass(1) : Mass(0);
        },
        need - 1, sh);
  }
  Mass keptMass = last.massAbove + need * (last.tieMass / last.ties);
  auto keptWeight = [&](int i) {
    uint32_t key;
    Mass mass;
    if (!source.at(i, key, mass)) return Mass(0);
    return key > last.key || (key == last.key && i <= lastTie) ? mass : Mass(0);
  };
  return findFirst(source, keptWeight, static_cast<Mass>(floor(uniform * static_cast<double>(keptMass))), sh);
}

template <typename T>
__global__ void __launch_bounds__(kSampleThreads) sampleRows(SampleRows a) {
  __shared__ SampleShared sh;
  int row = blockIdx.x, vocab = a.vocab;
  const T* x = static_cast<const T*>(a.logits) + static_cast<size_t>(row) * vocab;
  float temperature = a.temperature[row], topP = a.topP[row];
  int topK = a.topK[row];
  float maxLogit;
  int best;
  argmaxRow(x, vocab, sh, maxLogit, best);
  if (!(temperature > 0.0f) || topK == 1) {
    if (threadIdx.x == 0) a.out[row] = best;
    return;
  }
  // Masses are exp(...) * 2^shift with vocab * 2^shift < 2^62, so no sum overflows.
  Weights weights{maxLogit, 1.0f / temperature, __int_as_float((127 + 30 + __clz(vocab)) << 23)};
  float candidateFloor = maxLogit - 11.1f * temperature;  // weight e^-11.1 ~ 2^-16
  RowSource<T> all{x, vocab, weights, -INFINITY};

  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int segment = ((vocab + 31) / 32 + 31) / 32 * 32;
  int begin = min(vocab, warp * segment), end = min(vocab, begin + segment);
  Mass total = 0, candidateMass = 0;
  unsigned candidates = 0;
  for (int i = begin + lane; i < end; i += 32) {
    float value = toFloat(x[i]);
    Mass mass = weights.mass(value);
    total += mass;
    if (value >= candidateFloor) candidateMass += mass, ++candidates;
  }
  total = warpSum(total), candidateMass = warpSum(candidateMass), candidates = warpSum(candidates);
  if (lane == 0) sh.warpMass[warp] = total, sh.warpOther[warp] = candidateMass, sh.warpCount[warp] = candidates;
  __syncthreads();
  total = 0, candidateMass = 0, candidates = 0;
  unsigned offset = 0;
  for (int w = 0; w < 32; ++w) {
    total += sh.warpMass[w], candidateMass += sh.warpOther[w], candidates += sh.warpCount[w];
    if (w < warp) offset += sh.warpCount[w];
  }

  long long kk = topK > 0 && topK < vocab ? topK : vocab;
  float uniform = uniformFromKey(a.keys[row]);
  int index;
  if (kk == vocab && topP >= 1.0f) {
    index = findFirst(all, [&](int i) { return weights.mass(toFloat(x[i])); },
                      static_cast<Mass>(floor(uniform * static_cast<double>(total))), sh);
  } else {
    double target = static_cast<double>(topP) * static_cast<double>(total);
    bool bounded = kk <= candidates || (topP < 1.0f && static_cast<double>(candidateMass) >= target);
    if (bounded && candidates <= kCandidates) {
      for (int chunk = begin; chunk < end; chunk += 32) {
        int i = chunk + lane;
        float value = i < end ? toFloat(x[i]) : -INFINITY;
        bool candidate = i < end && value >= candidateFloor;
        unsigned ballot = __ballot_sync(0xffffffffu, candidate);
        if (candidate) {
          unsigned slot = offset + __popc(ballot & ((1u << lane) - 1));
          sh.keys[slot] = orderedKey(value), sh.masses[slot] = weights.mass(value), sh.ids[slot] = i;
        }
        offset += __popc(ballot);
      }
      SharedSource source{&sh, static_cast<int>(candidates)};
      index = keepAndDraw(source, kk, topP, target, uniform, sh);
      index = index < 0 ? -1 : sh.ids[index];
    } else {
      RowSource<T> source{x, vocab, weights, bounded ? candidateFloor : -INFINITY};
      index = keepAndDraw(source, kk, topP, target, uniform, sh);
    }
  }
  // The integer sums are exact and the draw is below the kept mass, so index is never -1.
  if (threadIdx.x == 0) a.out[row] = index < 0 ? best : index;
}

}  // namespace

void CudaKernels::sample(const SampleArgs& a) {
  cudaStream_t stream = enter();
  SampleRows args{at<int32_t>(a.out),          reinterpret_cast<const void*>(a.logits), a.vocab,
                  at<const float>(a.temperature), at<const int32_t>(a.topK),              at<const float>(a.topP),
                  at<const uint64_t>(a.randomKeys)};
  withElementType(a.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    sampleRows<T><<<a.rows, kSampleThreads, 0, stream>>>(args);
  });
  checkLaunch("sample");
}

}  // namespace ts::cuda
