// The batch-invariant GEMM (gemm_invariant.h). bfloat16 / float16 with 16-byte rows: a block of
// four warps owns a 64 x 64 tile of out and walks k 32 at a time through a ring of three stages
// in shared memory (cp.async, rows padded by 16 bytes for ldmatrix); each warp's 32 x 32 quarter
// is eight m16n8k16 MMAs per 16 of k. Other shapes and float32: a 64 x 64 tile on CUDA cores,
// 4 x 4 outputs a thread, one fmaf per k in ascending order. The grid runs the m tiles of one n
// tile side by side, so the weights stream from HBM about once however many m tiles there are.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm_invariant.h"
#include "kernels/cuda/mma.cuh"

namespace ts::cuda {
namespace {

constexpr int kTile = 64;      // rows of a and of w per block
constexpr int kDepth = 32;     // k per stage
constexpr int kStages = 3;
constexpr int kPitch = kDepth + 8;  // elements per shared row: 64 + 16 bytes
constexpr int kThreads = 128;

template <typename T>
__device__ __forceinline__ void copyStage(T (*rows)[kPitch], const T* source, int first, int limit, int k, int k0) {
#pragma unroll
  for (int c = threadIdx.x; c < kTile * (kDepth / 8); c += kThreads) {
    int row = c / (kDepth / 8), chunk = c % (kDepth / 8), at = k0 + chunk * 8;
    bool valid = first + row < limit && at < k;
    const T* from = valid ? source + static_cast<size_t>(first + row) * k + at : source;
    copy16(&rows[row][chunk * 8], from, valid);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    gemmTensorCores(T* __restrict__ out, const T* __restrict__ a, const T* __restrict__ w, const T* __restrict__ bias,
                    int m, int n, int k) {
  __shared__ __align__(16) T aRing[kStages][kTile][kPitch];
  __shared__ __align__(16) T wRing[kStages][kTile][kPitch];
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int m0 = blockIdx.x * kTile, n0 = blockIdx.y * kTile;
  int warpRow = (warp / 2) * 32, warpColumn = (warp % 2) * 32;
  int steps = (k + kDepth - 1) / kDepth;
  float acc[2][4][4] = {};

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < steps) {
      copyStage(aRing[s], a, m0, m, k, s * kDepth);
      copyStage(wRing[s], w, n0, n, k, s * kDepth);
    }
    commitCopies();
  }
  for (int step = 0; step < steps; ++step) {
    waitCopies<kStages - 2>();
    __syncthreads();  // stage `step` is in; every warp is done with the stage refilled below
    int next = step + kStages - 1;
    if (next < steps) {
      copyStage(aRing[next % kStages], a, m0, m, k, next * kDepth);
      copyStage(wRing[next % kStages], w, n0, n, k, next * kDepth);
    }
    commitCopies();
    T (*aStage)[kPitch] = aRing[step % kStages];
    T (*wStage)[kPitch] = wRing[step % kStages];
#pragma unroll
    for (int kk = 0; kk < kDepth; kk += 16) {
      uint32_t af[2][4], wf[2][4];
#pragma unroll
      for (int i = 0; i < 2; ++i) loadMatrices(af[i], &aStage[warpRow + 16 * i + lane % 16][kk + (lane / 16) * 8]);
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        loadMatrices(wf[j], &wStage[warpColumn + 16 * j + (lane / 16) * 8 + lane % 8][kk + ((lane / 8) % 2) * 8]);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          mma16816<T>(acc[i][2 * j], af[i], wf[j][0], wf[j][1]);
          mma16816<T>(acc[i][2 * j + 1], af[i], wf[j][2], wf[j][3]);
        }
      }
    }
  }
  waitCopies<0>();

#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int row = m0 + warpRow + 16 * i + lane / 4 + (e >= 2 ? 8 : 0);
        int col = n0 + warpColumn + 8 * j + (lane % 4) * 2 + (e & 1);
        if (row < m && col < n) {
          float value = acc[i][j][e];
          out[static_cast<size_t>(row) * n + col] = fromFloat<T>(bias ? value + toFloat(bias[col]) : value);
        }
      }
    }
  }
}

constexpr int kCoreDepth = 16;
constexpr int kCoreThreads = 256;  // 16 x 16, each 4 x 4 outputs

template <typename T>
__global__ void __launch_bounds__(kCoreThreads)
    gemmCudaCores(T* __restrict__ out, const T* __restrict__ a, const T* __restrict__ w, const T* __restrict__ bias,
                  int m, int n, int k) {
  __shared__ float aTile[kTile][kCoreDepth + 1];
  __shared__ float wTile[kTile][kCoreDepth + 1];
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  int m0 = blockIdx.x * kTile, n0 = blockIdx.y * kTile;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < k; k0 += kCoreDepth) {
    __syncthreads();
    for (int c = threadIdx.x; c < kTile * kCoreDepth; c += kCoreThreads) {
      int row = c / kCoreDepth, kk = c % kCoreDepth, at = k0 + kk;
      aTile[row][kk] = m0 + row < m && at < k ? toFloat(a[static_cast<size_t>(m0 + row) * k + at]) : 0.0f;
      wTile[row][kk] = n0 + row < n && at < k ? toFloat(w[static_cast<size_t>(n0 + row) * k + at]) : 0.0f;
    }
    __syncthreads();
    int depth = min(kCoreDepth, k - k0);
    for (int kk = 0; kk < depth; ++kk) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(aTile[ty + 16 * i][kk], wTile[tx + 16 * j][kk], acc[i][j]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      int row = m0 + ty + 16 * i, col = n0 + tx + 16 * j;
      if (row < m && col < n) {
        out[static_cast<size_t>(row) * n + col] = fromFloat<T>(bias ? acc[i][j] + toFloat(bias[col]) : acc[i][j]);
      }
    }
  }
}

}  // namespace

void launchInvariantGemm(cudaStream_t stream, const GemmArgs& args) {
  if (args.m <= 0 || args.n <= 0) return;
  if (args.n > 65535 * kTile) throw std::invalid_argument("gemm: n above 65535 x 64 is not supported batch-invariant");
  dim3 grid((args.m + kTile - 1) / kTile, (args.n + kTile - 1) / kTile);
  withElementType(args.dtype, [&](auto type) {
    using T = typename decltype(type)::type;
    bool vectors = args.k % 8 == 0 && (args.a | args.w) % 16 == 0;
    if constexpr (!std::is_same_v<T, float>) {
      if (vectors) {
        gemmTensorCores<T><<<grid, kThreads, 0, stream>>>(at<T>(args.out), at<const T>(args.a), at<const T>(args.w),
                                                           at<const T>(args.bias), args.m, args.n, args.k);
        return;
      }
    }
    gemmCudaCores<T><<<grid, kCoreThreads, 0, stream>>>(at<T>(args.out), at<const T>(args.a), at<const T>(args.w),
                                                         at<const T>(args.bias), args.m, args.n, args.k);
  });
}

}  // namespace ts::cuda
