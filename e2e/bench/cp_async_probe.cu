// How the ways of copying a decode tile from global to shared memory load L2: each warp streams
// 16-key tiles (16 rows of 128 bytes, rows `rowStride` bytes apart in global memory: 128 for a
// contiguous page, 1024 for one kv head of the [slot][8 heads][64] rows Llama-3.2-1B's caches
// had before kv_layout.h) through a ring of 3 stages, and sums what lands. attendDecode's
// copies asked L2 for twice the sectors DRAM gave (ncu, session 2026-12-02 #5); cuDNN's for
// once. Run it under
//   ncu --metrics lts__t_sectors_srcunit_tex_op_read.sum,lts__t_requests_srcunit_tex_op_read.sum,dram__sectors_read.sum
// to see sectors per request for each way.
//   nvcc -std=c++20 -O3 -arch=sm_90 -o /tmp/cpp e2e/bench/cp_async_probe.cu && /tmp/cpp
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#include "runtime_check.h"

constexpr int kRows = 16, kRowBytes = 128, kTileBytes = kRows * kRowBytes, kStages = 3, kWarps = 4;

enum Way { kCpAsync, kCpAsyncZfill, kCpAsyncPrefetch, kLoadStore, kCpAsyncSwizzled };
const char* kNames[] = {"cp.async.cg 16 B", "cp.async.cg 16 B, src-size register (zfill form)",
                        "cp.async.cg.L2::128B 16 B", "ld.global.v4 + st.shared", "cp.async.cg 16 B, XOR-swizzled rows"};

__device__ __forceinline__ unsigned shared(const void* at) {
  return static_cast<unsigned>(__cvta_generic_to_shared(at));
}

template <int W>
__device__ __forceinline__ void copy(char* to, const char* from, int valid) {
  if constexpr (W == kCpAsync || W == kCpAsyncSwizzled) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(shared(to)), "l"(from));
  } else if constexpr (W == kCpAsyncZfill) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared(to)), "l"(from), "r"(valid));
  } else if constexpr (W == kCpAsyncPrefetch) {
    asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16;\n" ::"r"(shared(to)), "l"(from));
  } else {
    *reinterpret_cast<uint4*>(to) = __ldcg(reinterpret_cast<const uint4*>(from));
  }
}

// Block b, warp w takes tiles w, w + kWarps, ... of the block's `tilesPerBlock`; tile t's row r
// is at (t * kRows + r) * rowStride.
template <int W>
__global__ void __launch_bounds__(kWarps * 32) stream(const char* data, int tilesPerBlock, int rowStride, float* sink) {
  __shared__ __align__(128) char ring[kWarps][kStages][kTileBytes];
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const char* base = data + static_cast<size_t>(blockIdx.x) * tilesPerBlock * kRows * rowStride;
  int tiles = (tilesPerBlock - warp + kWarps - 1) / kWarps;
  auto issue = [&](int i) {
    if (i < tiles) {
      int tile = warp + kWarps * i;
#pragma unroll
      for (int c = lane; c < kRows * 8; c += 32) {
        int row = c / 8, chunk = c % 8;
        int slot = W == kCpAsyncSwizzled ? chunk ^ (row & 7) : chunk;
        copy<W>(ring[warp][i % kStages] + row * kRowBytes + slot * 16,
                base + static_cast<size_t>(tile * kRows + row) * rowStride + chunk * 16, 16);
      }
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };
  float acc = 0;
  for (int i = 0; i < kStages - 1; ++i) issue(i);
  for (int i = 0; i < tiles; ++i) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(kStages - 2));
    __syncwarp();
    issue(i + kStages - 1);
    const float4* tile = reinterpret_cast<const float4*>(ring[warp][i % kStages]);
#pragma unroll
    for (int k = lane; k < kTileBytes / 16; k += 32) acc += tile[k].x + tile[k].w;
  }
  if (acc == 12345.0f) *sink = acc;
}

template <int W>
void run(const char* data, size_t bytes, int rowStride, int multiprocessors, float* sink) {
  // As many 16-key tiles as the rows at this stride cover, 8 blocks a multiprocessor's worth of blocks.
  size_t tiles = bytes / (static_cast<size_t>(kRows) * rowStride);
  int blocks = multiprocessors * 8;
  int tilesPerBlock = static_cast<int>(tiles / blocks);
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  stream<W><<<blocks, kWarps * 32>>>(data, tilesPerBlock, rowStride, sink);
  CHECK(cudaEventRecord(start));
  for (int r = 0; r < 5; ++r) stream<W><<<blocks, kWarps * 32>>>(data, tilesPerBlock, rowStride, sink);
  CHECK(cudaEventRecord(stop));
  CHECK(cudaEventSynchronize(stop));
  CHECK(cudaGetLastError());
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, start, stop));
  double read = 5.0 * blocks * tilesPerBlock * kTileBytes;
  std::printf("| %s | %d | %.2f |\n", kNames[W], rowStride, read / (ms / 1e3) / 1e12);
}

int main() {
  int multiprocessors = 0;
  CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, 0));
  size_t bytes = size_t(4) << 30;
  char* data = nullptr;
  float* sink = nullptr;
  CHECK(cudaMalloc(&data, bytes));
  CHECK(cudaMalloc(&sink, sizeof(float)));
  CHECK(cudaMemset(data, 1, bytes));
  std::printf("| copy | row stride (bytes) | TB/s of the rows read |\n| --- | --- | --- |\n");
  for (int stride : {128, 1024}) {
    run<kCpAsync>(data, bytes, stride, multiprocessors, sink);
    run<kCpAsyncZfill>(data, bytes, stride, multiprocessors, sink);
    run<kCpAsyncPrefetch>(data, bytes, stride, multiprocessors, sink);
    run<kLoadStore>(data, bytes, stride, multiprocessors, sink);
    run<kCpAsyncSwizzled>(data, bytes, stride, multiprocessors, sink);
  }
  return 0;
}
